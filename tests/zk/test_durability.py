"""Crash tests: writers under load, kill -9 mid-load, restart on the same dataDir, every
acknowledged write must be there. Also sessions/ephemerals surviving a restart."""

import random
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from lib.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

WRITERS = 4
WINDOW = 16          # async creates in flight per writer
ROUNDS = 5


def writer(hosts, wid, round_no, acked, stop, errors):
    c = KazooClient(hosts=hosts, timeout=10.0, connection_retry=dict(max_tries=1, delay=0.1, max_delay=0.2),
                    command_retry=None)
    try:
        c.start(timeout=10)
    except Exception as e:  # noqa
        errors.append("writer %d could not connect: %r" % (wid, e))
        return
    parent = "/dur/r%d/w%d" % (round_no, wid)
    c.ensure_path(parent)
    i = 0
    try:
        while not stop.is_set():
            batch = []
            for _ in range(WINDOW):
                val = ("r%d-w%d-%d" % (round_no, wid, i)).encode()
                i += 1
                if i % 5 == 0:
                    # some multis too: a create + a setData of the writer's parent
                    t = c.transaction()
                    t.create(parent + "/m-", val, sequence=True)
                    t.set_data(parent, val)
                    batch.append(("multi", val, t.commit_async()))
                else:
                    batch.append(("create", val, c.create_async(parent + "/n-", val, sequence=True)))
            for kind, val, a in batch:
                try:
                    res = a.get(timeout=10)
                except Exception:
                    stop.set()
                    continue
                if kind == "multi":
                    if isinstance(res[0], Exception):
                        continue
                    acked.append((res[0], val))
                    acked.append((parent, None))
                else:
                    acked.append((res, val))
    finally:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


def verify(server, acked):
    hosts = server.hosts
    c = KazooClient(hosts=hosts, timeout=10.0)
    try:
        c.start(timeout=15)
    except Exception as e:
        raise AssertionError("cannot connect after restart (%r); server alive=%s; log tail:\n%s" % (
            e, server.alive(), server.log_tail(15)))
    try:
        pending = [(p, v, c.get_async(p)) for p, v in acked if v is not None]
        missing, wrong = [], []
        for p, v, a in pending:
            try:
                data, _ = a.get(timeout=30)
            except Exception as e:
                missing.append((p, type(e).__name__))
                continue
            if data != v:
                wrong.append((p, data, v))
        return missing, wrong
    finally:
        c.stop()
        c.close()


def test_kill9_under_load_loses_no_acknowledged_write(make_server):
    server = make_server(extra={"snapCount": 300})
    rnd = random.Random(1234)
    all_acked = []
    for rnd_no in range(ROUNDS):
        c = KazooClient(hosts=server.hosts, timeout=10.0)
        c.start(timeout=15)
        c.ensure_path("/dur/r%d" % rnd_no)
        c.stop()
        c.close()
        acked, errors, stop = [], [], threading.Event()
        threads = [threading.Thread(target=writer, args=(server.hosts, w, rnd_no, acked, stop, errors), daemon=True)
                   for w in range(WRITERS)]
        for t in threads:
            t.start()
        # let some writes be acknowledged, then crash at a random moment
        wait_until(lambda: len(acked) >= 100 or errors, 30, msg="first acknowledged writes")
        assert not errors, errors
        time.sleep(rnd.uniform(0.3, 1.5))
        server.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads), "writer threads stuck after the crash"
        n_acked = len(acked)
        assert n_acked >= 100
        all_acked.extend(acked)
        server.start()
        missing, wrong = verify(server, all_acked)
        assert not missing and not wrong, (
            "round %d: %d acknowledged writes (this round %d): %d missing %s, %d with wrong data %s" % (
                rnd_no, len(all_acked), n_acked, len(missing), missing[:10], len(wrong), wrong[:10]))
    # a graceful restart keeps everything too
    server.restart()
    missing, wrong = verify(server, all_acked)
    assert not missing and not wrong, (len(missing), missing[:10], wrong[:10])


@pytest.mark.parametrize("crash", [False, True], ids=["graceful", "kill9"])
def test_session_survives_restart_raw(make_server, crash):
    """Sessions are durable: after a restart the client resumes its session (same id and
    password) and its ephemerals are still owned by it."""
    from lib import zkraw
    server = make_server()
    c = zkraw.RawClient(server.port)
    tmo, sid, pw, _ = c.connect(timeout_ms=20000)
    assert c.create("/eph", b"e", flags=zkraw.EPHEMERAL)[0].err == 0
    last = c.last_zxid
    c.close()
    server.restart(crash=crash)
    c = zkraw.RawClient(server.port)
    try:
        tmo2, sid2, _, _ = c.connect(timeout_ms=20000, session_id=sid, passwd=pw, last_zxid=last)
        assert (sid2, tmo2) == (sid, 20000)
        rep, data, st = c.get("/eph")
        assert rep.err == 0 and data == b"e" and st.ephemeralOwner == sid
        assert rep.zxid >= last
        assert c.close_session().err == 0
    finally:
        c.close()
    c = zkraw.RawClient(server.port)
    try:
        c.connect()
        assert c.exists("/eph")[0].err == zkraw.NONODE
    finally:
        c.close()


def test_kazoo_session_survives_crash_restart(make_server):
    server = make_server()
    crash = True
    a = KazooClient(hosts=server.hosts, timeout=20.0)
    states = []
    a.add_listener(lambda s: states.append(s))
    a.start(timeout=15)
    try:
        a.create("/eph-survivor", b"still here", ephemeral=True)
        a.create("/persist", b"p")
        sid = a.client_id[0]
        server.restart(crash=crash)
        # kazoo reconnects with the same session: not LOST, same id, ephemeral kept
        wait_until(lambda: a.connected and a.exists("/persist") is not None, 30, msg="kazoo reconnected")
        assert KazooState.LOST not in states, states
        assert a.client_id[0] == sid
        st = a.exists("/eph-survivor")
        assert st is not None and st.ephemeralOwner == sid
        assert a.get("/eph-survivor")[0] == b"still here"
    finally:
        a.stop()
        a.close()
    b = KazooClient(hosts=server.hosts)
    b.start(timeout=15)
    try:
        assert b.exists("/eph-survivor") is None  # closing the session removed it
        assert b.get("/persist")[0] == b"p"
    finally:
        b.stop()
        b.close()


def test_expired_during_downtime_session_ephemerals_removed(make_server):
    """A session whose timeout passes while the server is down is expired after restart."""
    server = make_server()
    a = KazooClient(hosts=server.hosts, timeout=2.0, connection_retry=dict(max_tries=0))
    a.start(timeout=15)
    a.create("/short-lived", b"", ephemeral=True)
    sid = a.client_id[0]
    a._stopped.set()  # stop talking without closing the session
    try:
        import socket
        a._connection._socket.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass
    server.kill9()
    time.sleep(0.5)
    server.start()
    b = KazooClient(hosts=server.hosts)
    b.start(timeout=15)
    try:
        st = b.exists("/short-lived")
        assert st is None or st.ephemeralOwner == sid
        wait_until(lambda: b.exists("/short-lived") is None, 20, msg="ephemeral of the dead session removed")
    finally:
        b.stop()
        b.close()


def snapshot_tree(client, path="/"):
    """Every node's data, full Stat and ACL (the /zookeeper subtree excluded)."""
    out = {}
    data, st = client.get(path)
    acl, _ = client.get_acls(path)
    out[path] = (data, tuple(st), tuple((a.perms, a.id.scheme, a.id.id) for a in acl))
    for ch in sorted(client.get_children(path)):
        cp = path.rstrip("/") + "/" + ch
        if cp != "/zookeeper":
            out.update(snapshot_tree(client, cp))
    return out


@pytest.mark.parametrize("crash", [False, True], ids=["graceful", "kill9"])
def test_restart_reproduces_every_stat_exactly(make_server, crash):
    """Snapshot + log replay rebuild the same tree: data, every Stat field (czxid, mzxid,
    pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength,
    numChildren), ACLs; sequence counters and zxids continue."""
    from kazoo.security import make_digest_acl, ACL, Id
    server = make_server(extra={"snapCount": 50})
    c = KazooClient(hosts=server.hosts, timeout=20.0, auth_data=[("digest", "u:p")])
    c.start(timeout=15)
    try:
        c.create("/a", b"A")
        for i in range(30):
            c.create("/a/s-", b"%d" % i, sequence=True)
        for i in range(0, 30, 3):
            c.delete("/a/s-%010d" % i)
        c.create("/b", None, acl=[make_digest_acl("u", "p", all=True)])
        c.create("/b/c", b"c" * 1000, acl=[ACL(31, Id("auth", ""))])
        c.set("/b/c", b"cc")
        c.set_acls("/b", [make_digest_acl("u", "p", all=True), ACL(1, Id("world", "anyone"))])
        t = c.transaction()
        t.create("/m", b"m")
        t.create("/m/x", b"")
        t.set_data("/a", b"A2")
        t.delete("/a/s-0000000001")
        t.commit()
        c.create("/eph", b"e", ephemeral=True)
        c.create("/m/x/y", b"")
        c.delete("/m/x/y")
        for i in range(60):  # enough writes to cross snapCount a few times
            c.set("/m", b"%d" % i)
        before = snapshot_tree(c)
        sid = c.client_id[0]
        last = max(v[1][1] for v in before.values())  # highest mzxid
        server.restart(crash=crash)
        wait_until(lambda: c.connected and c.exists("/a") is not None, 30, msg="reconnected")
        assert c.client_id[0] == sid
        after = snapshot_tree(c)
        assert set(after) == set(before)
        diffs = [(p, before[p], after[p]) for p in before if before[p] != after[p]]
        assert not diffs, "nodes differ after restart:\n" + "\n".join(repr(d) for d in diffs[:10])
        # counters continue
        assert c.create("/a/s-", b"", sequence=True) == "/a/s-0000000030"
        assert c.exists("/a/s-0000000030").czxid > last
    finally:
        c.stop()
        c.close()


def _fill_and_crash(server, n=200):
    from lib import zkraw
    c = zkraw.RawClient(server.port)
    c.connect()
    c.create("/x", b"")
    for i in range(n):
        assert c.create("/x/n%03d" % i, b"v%03d" % i)[0].err == 0
    c.close()
    server.kill9()
    import glob
    import os
    logs = sorted(glob.glob(os.path.join(server.data_dir, "version-2", "log.*")) +
                  glob.glob(os.path.join(server.data_dir, "log.*")), key=os.path.getmtime)
    assert logs, "no transaction log found under %s" % server.data_dir
    return logs[-1]


@pytest.mark.parametrize("how", ["zeroed", "truncated"])
def test_torn_last_record_is_cut_off(make_server, how):
    server = make_server(extra={"snapCount": 100000})
    path = _fill_and_crash(server)
    b = bytearray(open(path, "rb").read())
    end = len(b.rstrip(b"\0"))
    if how == "zeroed":  # the tail of the last record never reached the disk
        b[end - 5:] = b"\0" * (len(b) - (end - 5))
    else:
        b = b[:end - 5]
    open(path, "wb").write(bytes(b))
    server.start()
    from lib import zkraw
    c = zkraw.RawClient(server.port)
    try:
        c.connect()
        rep, kids = c.children("/x")
        assert rep.err == 0
        assert sorted(kids) == ["n%03d" % i for i in range(199)], "only the torn last record may be lost"
        assert c.create("/x/after", b"")[0].err == 0  # and the log is writable again
    finally:
        c.close()
    server.restart()
    c = zkraw.RawClient(server.port)
    try:
        c.connect()
        assert len(c.children("/x")[1]) == 200
    finally:
        c.close()


def test_corrupt_record_in_the_middle_refuses_to_start(make_server, server_kind):
    server = make_server(extra={"snapCount": 100000})
    path = _fill_and_crash(server)
    b = bytearray(open(path, "rb").read())
    end = len(b.rstrip(b"\0"))
    b[end // 2] ^= 0xFF
    open(path, "wb").write(bytes(b))
    with pytest.raises(RuntimeError) as ei:
        server.start(timeout=20)
    assert server.proc.returncode not in (None, 0), "must exit non-zero"
    if server_kind == "ours":
        import os
        msg = str(ei.value)
        assert os.path.basename(path) in msg and "offset" in msg, msg


# ----------------------------------------------------------------------------- disk full
TMPFS_MB = 8
FILLER_MB = 2


@pytest.fixture
def tmpfs_server(make_server, server_kind):
    """A private server whose dataDir is a small tmpfs holding a filler file (freed by the test
    to give the disk room again). Needs root for mount; unmounted at the end."""
    import os
    import subprocess
    if server_kind != "ours":
        pytest.skip("Apache ZooKeeper exits on a log write error; this checks our read-only mode")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    server = make_server(start=False, extra={"snapCount": 400})
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MB, "tmpfs", server.data_dir],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    filler = os.path.join(server.data_dir, "filler")
    with open(filler, "wb") as f:
        f.write(b"\xa5" * (FILLER_MB << 20))
    try:
        server.start()
        yield server, filler
    finally:
        server.kill9()
        for _ in range(20):
            if subprocess.run(["umount", server.data_dir], capture_output=True, timeout=30).returncode == 0:
                break
            time.sleep(0.25)


def test_disk_full_refuses_writes_serves_reads_and_resumes(tmpfs_server):
    """dataDir on an 8 MiB tmpfs: creates until the disk is full. Writes are then refused
    (NotReadOnly / ConnectionLoss, never acknowledged), reads go on, the server stays up and
    says it is read-only; freeing space makes writes work again without a restart, and after a
    kill -9 and restart every acknowledged create is there with its data."""
    import os
    from kazoo.exceptions import ConnectionLoss, NotReadOnlyCallError, KazooException
    server, filler = tmpfs_server
    c = KazooClient(hosts=server.hosts, timeout=20.0,
                    connection_retry=dict(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0), command_retry=None)
    c.start(timeout=15)
    acked = {}
    errors = []
    payload = os.urandom(3000)
    try:
        c.ensure_path("/full")
        i = 0
        deadline = time.time() + 90
        while time.time() < deadline and i < 20000:
            path = "/full/n%06d" % i
            val = b"%06d:" % i + payload
            i += 1
            try:
                c.create(path, val)
                acked[path] = val
            except (NotReadOnlyCallError, ConnectionLoss) as e:
                errors.append(type(e).__name__)
                if len(errors) >= 5:
                    break
                wait_until(lambda: c.connected, 20, msg="kazoo reconnected")
            except KazooException as e:
                errors.append(type(e).__name__)
                raise AssertionError("unexpected error %r after %d acknowledged creates" % (e, len(acked)))
        assert len(errors) >= 5, "the disk never filled: %d creates acknowledged, errors %s" % (len(acked), errors)
        assert len(acked) > 100, "only %d creates fit before the first error" % len(acked)
        assert "NotReadOnlyCallError" in errors, errors
        # Full disk: the server is up, says read-only, and serves reads of everything acknowledged.
        assert server.alive()
        assert server.four("isro") == "ro"
        assert "Mode: read-only" in server.four("srvr")
        wait_until(lambda: c.connected, 20, msg="kazoo connected")
        kids = set(c.get_children("/full"))
        assert {p.rsplit("/", 1)[1] for p in acked} <= kids
        some = sorted(acked)[-1]
        assert c.get(some)[0] == acked[some]
        assert c.exists("/full/never") is None
        with pytest.raises(NotReadOnlyCallError):
            c.set("/full", b"x")
        assert "the Raft log cannot be written" in open(server.log_path, errors="replace").read()
        # Room again: writes resume by themselves, no restart.
        os.remove(filler)
        start = time.time()

        def one_write():
            try:
                c.create("/full/after-0", b"back")
                return True
            except (NotReadOnlyCallError, ConnectionLoss):
                return False
        wait_until(one_write, 30, interval=0.2, msg="writes accepted again after freeing space")
        resumed_after = time.time() - start
        acked["/full/after-0"] = b"back"
        for k in range(1, 50):
            c.create("/full/after-%d" % k, b"back %d" % k)
            acked["/full/after-%d" % k] = b"back %d" % k
        assert server.four("isro") == "rw"
        print("acknowledged %d creates before the disk filled; writes resumed %.1fs after freeing space"
              % (len(acked) - 50, resumed_after))
    finally:
        c.stop()
        c.close()
    server.kill9()
    server.start()
    missing, wrong = verify(server, list(acked.items()))
    assert not missing and not wrong, "%d of %d acknowledged creates lost after restart: %s; wrong data: %s" % (
        len(missing), len(acked), missing[:10], wrong[:5])


# ----------------------------------------------------------------------------- damaged snapshots
def _snapshots(server):
    import glob
    import os
    files = [p for p in glob.glob(os.path.join(server.data_dir, "version-2", "snapshot.*")) if not p.endswith(".tmp")]
    return sorted(files, key=lambda p: int(p.rsplit(".", 1)[1], 16))


def _damage(path, how):
    b = bytearray(open(path, "rb").read())
    if how == "flipped":
        for k in range(8):
            b[len(b) // 2 + 37 * k] ^= 0x5A
    else:
        b = b[:len(b) // 2]
    open(path, "wb").write(bytes(b))


def _write_nodes(server, first, n, parent="/snap"):
    from lib import zkraw
    c = zkraw.RawClient(server.port)
    try:
        c.connect()
        if first == 0:
            assert c.create(parent, b"")[0].err == 0
        for i in range(first, first + n):
            assert c.create("%s/n%05d" % (parent, i), b"v%05d" % i)[0].err == 0
    finally:
        c.close()
    return [("%s/n%05d" % (parent, i), b"v%05d" % i) for i in range(first, first + n)]


@pytest.mark.parametrize("how", ["flipped", "truncated"])
def test_damaged_newest_snapshot_falls_back_to_the_previous_one(make_server, server_kind, how):
    """The newest snapshot damaged: startup uses the previous one plus the log (as ZooKeeper
    does), names the damaged file, loses nothing, and goes on working."""
    import os
    server = make_server(extra={"snapCount": 200})
    acked = _write_nodes(server, 0, 700)
    server.stop()
    snaps = _snapshots(server)
    assert len(snaps) >= 2, snaps
    _damage(snaps[-1], how)
    server.start()
    missing, wrong = verify(server, acked)
    assert not missing and not wrong, (len(missing), missing[:5], wrong[:5])
    if server_kind == "ours":
        log = open(server.log_path, errors="replace").read()
        assert "damaged snapshot" in log and os.path.basename(snaps[-1]) in log and "byte offset" in log, server.log_tail(20)
    # it keeps working: more writes (new snapshots over the damaged one), another restart
    acked += _write_nodes(server, 700, 300)
    server.restart()
    missing, wrong = verify(server, acked)
    assert not missing and not wrong, (len(missing), missing[:5], wrong[:5])


@pytest.mark.parametrize("which", ["all", "two-newest"])
def test_damaged_snapshots_the_log_cannot_bridge_refuse_to_start(make_server, server_kind, which):
    """No valid snapshot that the log still reaches back to: exit non-zero with a message
    naming the damaged file and the byte offset (never start with transactions missing)."""
    import os
    if server_kind != "ours":
        pytest.skip("Apache keeps every log without autopurge and replays them from the start")
    server = make_server(extra={"snapCount": 200})
    _write_nodes(server, 0, 700)
    server.stop()
    snaps = _snapshots(server)
    assert len(snaps) >= 3, snaps
    for p in (snaps if which == "all" else snaps[-2:]):
        _damage(p, "flipped")
    with pytest.raises(RuntimeError) as ei:
        server.start(timeout=20)
    assert server.proc.returncode not in (None, 0), "must exit non-zero"
    msg = str(ei.value)
    assert os.path.basename(snaps[-1]) in msg and "byte offset" in msg and "refusing to start" in msg, msg
    assert "purged up to index" in msg, msg
