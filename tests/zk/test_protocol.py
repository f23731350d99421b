"""Raw-socket protocol tests (struct-packed jute) and four-letter words."""

import random
import re
import socket
import struct
import time

import pytest

from lib import zkraw
from lib.waiting import wait_until
from lib.zkraw import RawClient, p_int, p_str, p_bool
from lib.zookeeper import JUTE_MAXBUFFER, TICK_MS, MIN_SESSION_MS, MAX_SESSION_MS


def connected(server, **kw):
    c = RawClient(server.port)
    c.connect(**kw)
    return c


def expect_closed(c, timeout=5.0):
    """The server must close this connection (EOF or reset) within timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            f = c.recv_frame(timeout=max(0.05, deadline - time.time()))
        except zkraw.Closed:
            return True
        except socket.timeout:
            break
        except AssertionError:
            return True
        else:
            # a reply to something queued earlier is fine; keep reading until EOF
            continue
    raise AssertionError("server did not close the connection within %.1fs" % timeout)


def healthy(server, witness):
    """The server is alive, an existing session still works and a new one can connect."""
    assert server.alive()
    rep, stat = witness.exists("/")
    assert rep.err == 0
    c = connected(server)
    try:
        assert c.exists("/")[0].err == 0
    finally:
        c.close()
    assert server.four("ruok") == "imok"


# ---------------------------------------------------------------------------- handshake
def test_handshake_44_and_45_bytes(server):
    a = RawClient(server.port)
    b = RawClient(server.port)
    try:
        tmo, sid, pw, ro = a.connect(timeout_ms=6000, legacy=True)  # 44-byte request
        assert tmo == 6000 and sid != 0 and len(pw) == 16
        assert ro is None and a.connect_response_len == 36
        tmo, sid2, pw2, ro2 = b.connect(timeout_ms=6000, read_only=False)  # 45-byte request
        assert sid2 not in (0, sid) and ro2 is False and b.connect_response_len == 37
        for c in (a, b):
            assert c.exists("/")[0].err == 0
            assert c.ping().err == 0
        # a read-only-capable client on a standalone read-write server gets readOnly=false
        c = RawClient(server.port)
        try:
            c.connect(read_only=True)
            assert c.read_only is False
            assert c.create("/ro-flag-%d" % random.randrange(10 ** 9), b"")[0].err == 0
        finally:
            c.close()
    finally:
        a.close()
        b.close()


def test_ping_and_reply_zxids(server):
    c = connected(server)
    try:
        path = "/zx-%d" % random.randrange(10 ** 9)
        rep, _ = c.create(path, b"")
        z = rep.zxid
        assert rep.err == 0 and z > 0
        p = c.ping()
        assert (p.xid, p.err) == (zkraw.PING_XID, 0) and p.zxid >= z
        z = p.zxid
        # a failed write still consumes a zxid; reads carry the last zxid
        steps = [
            (lambda: c.create(path, b"")[0], zkraw.NODEEXISTS, 1),
            (lambda: c.set(path + "/none", b"")[0], zkraw.NONODE, 1),
            (lambda: c.delete(path + "/none"), zkraw.NONODE, 1),
            (lambda: c.set(path, b"", version=9)[0], zkraw.BADVERSION, 1),
            (lambda: c.delete(path, version=9), zkraw.BADVERSION, 1),
            (lambda: c.get(path)[0], 0, 0),
            (lambda: c.exists(path + "/none")[0], zkraw.NONODE, 0),
            (lambda: c.get(path + "/none")[0], zkraw.NONODE, 0),
            (lambda: c.children2(path)[0], 0, 0),
            (lambda: c.set(path, b"v")[0], 0, 1),
            (lambda: c.call("sync", p_str(path)), 0, 0),
        ]
        for i, (f, err, dz) in enumerate(steps):
            rep = f()
            assert (rep.err, rep.zxid) == (err, z + dz), "step %d: %r (zxid before %d)" % (i, rep, z)
            z = rep.zxid
        assert c.ping().zxid == z
        # srvr reports the same last zxid
        assert "Zxid: 0x%x" % z in server.four("srvr")
    finally:
        c.close()


def test_pipelined_responses_in_xid_order(server):
    c = connected(server)
    try:
        base = "/pipe-%d" % random.randrange(10 ** 9)
        assert c.create(base, b"")[0].err == 0
        frames = []
        expect = {}
        xid = c.xid
        ops = []
        for i in range(60):
            p = "%s/n%d" % (base, i)
            ops += [
                ("create", zkraw.body_create(p, b"0")),
                ("getData", zkraw.body_path_watch(p)),
                ("setData", zkraw.body_set_data(p, b"1", 0)),
                ("exists", zkraw.body_path_watch(p + "/missing")),
                ("getData", zkraw.body_path_watch(p)),
                ("getChildren2", zkraw.body_path_watch(base)),
                ("setData", zkraw.body_set_data(p, b"x", 0)),  # BadVersion
                ("sync", p_str(p)),
            ]
        for name, body in ops:
            xid += 1
            frames.append(p_int(len(body) + 8) + p_int(xid) + p_int(zkraw.OP[name]) + body)
        c.xid = xid
        c.sock.sendall(b"".join(frames))
        reps = [c.read_reply(timeout=30) for _ in ops]
        xids = [r.xid for r in reps]
        assert xids == list(range(xid - len(ops) + 1, xid + 1)), "replies out of xid order"
        for k in range(60):  # results as if executed one by one, in order
            r = reps[8 * k:8 * k + 8]
            assert [x.err for x in r] == [0, 0, 0, zkraw.NONODE, 0, 0, zkraw.BADVERSION, 0], "group %d" % k
            d1 = zkraw.Reader(r[1].body).buf()
            assert d1 == b"0", (
                "group %d: getData right after create returned %r: it saw the setData pipelined after it" % (k, d1))
            d4 = zkraw.Reader(r[4].body).buf()
            assert d4 == b"1", "group %d: getData after setData returned %r" % (k, d4)
            assert len(zkraw.Reader(r[5].body).strs()) == k + 1, "group %d: getChildren2" % k
            assert r[2].zxid == r[0].zxid + 1 and r[6].zxid == r[2].zxid + 1, "group %d: write zxids" % k
        # each reply header carries the zxid of the state it was computed on: with replies in
        # request order, zxids never go backwards (reads and sync carry the last zxid so far)
        back = [(ops[i][0], reps[i - 1].zxid, reps[i].zxid, ops[i + 1][0] if i + 1 < len(ops) else None)
                for i in range(1, len(reps)) if reps[i].zxid < reps[i - 1].zxid]
        assert not back, "reply zxid went backwards %d times; first (op, previous zxid, zxid, next op): %s" % (
            len(back), [(o, hex(a), hex(b), n) for o, a, b, n in back[:3]])
        for k in range(60):
            r = reps[8 * k:8 * k + 8]
            for j in (1, 3, 4, 5, 7):  # reads and sync: the zxid of the write just before them
                assert r[j].zxid == r[2 if j < 6 else 6].zxid or (j == 1 and r[j].zxid == r[0].zxid), (
                    "group %d: %s reply zxid 0x%x, expected the last write's 0x%x" % (
                        k, ops[8 * k + j][0], r[j].zxid, (r[0] if j == 1 else r[2] if j < 6 else r[6]).zxid))
    finally:
        c.close()


def _connect_frame(session_id=0, passwd=b"\0" * 16, timeout_ms=10000):
    body = p_int(0) + zkraw.p_long(0) + p_int(timeout_ms) + zkraw.p_long(session_id) + zkraw.p_buf(passwd) + p_bool(False)
    return p_int(len(body)) + body


def _frame(xid, opname, body=b""):
    payload = p_int(xid) + p_int(zkraw.OP[opname] if isinstance(opname, str) else opname) + body
    return p_int(len(payload)) + payload


def _read_connect_response(c):
    """The next frame must be a ConnectResponse (36/37 bytes: protocol, timeout, session, passwd)."""
    f = c.recv_frame()
    r = zkraw.Reader(f)
    proto, tmo, sid, pw = r.int(), r.int(), r.long(), r.buf()
    assert len(f) in (36, 37) and proto == 0 and sid != 0 and pw is not None and len(pw) == 16, (
        "first frame back is not the ConnectResponse: %d bytes %s" % (len(f), f[:24].hex()))
    c.session_id, c.passwd = sid, pw
    return sid, pw


@pytest.mark.parametrize("op", ["exists", "getData", "create", "setData", "getChildren2", "ping", "auth",
                                "setWatches", "unimplemented"])
def test_request_in_the_connect_write_is_answered_after_the_connect(server, op):
    """A request sent in the same TCP write as the ConnectRequest is answered after the
    ConnectResponse, as ZooKeeper does (it reads nothing more until the session exists)."""
    base = "/cw-%s-%d" % (op, random.randrange(10 ** 9))
    setup = connected(server)
    try:
        assert setup.create(base, b"v0")[0].err == 0
    finally:
        setup.close()
    req = {
        "exists": (1, "exists", zkraw.body_path_watch(base)),
        "getData": (1, "getData", zkraw.body_path_watch(base)),
        "create": (1, "create", zkraw.body_create(base + "/c", b"x")),
        "setData": (1, "setData", zkraw.body_set_data(base, b"v1")),
        "getChildren2": (1, "getChildren2", zkraw.body_path_watch(base)),
        "ping": (zkraw.PING_XID, "ping", b""),
        "auth": (zkraw.AUTH_XID, "auth", p_int(0) + p_str("digest") + zkraw.p_buf("u:p")),
        "setWatches": (zkraw.SET_WATCHES_XID, "setWatches", zkraw.body_set_watches(0, [base])),
        "unimplemented": (1, 999, b""),
    }[op]
    for trial in range(10):
        c = RawClient(server.port)
        try:
            c.send_raw(_connect_frame() + _frame(*req))
            _read_connect_response(c)
            rep = c.read_reply()
            assert rep.xid == req[0], "trial %d: reply xid %d, expected %d" % (trial, rep.xid, req[0])
            want = zkraw.UNIMPLEMENTED if op == "unimplemented" else 0
            if op == "create" and trial > 0:
                want = zkraw.NODEEXISTS
            assert rep.err == want, (trial, rep)
        finally:
            c.close()


@pytest.mark.parametrize("reattach", [False, True], ids=["new-session", "reattach"])
def test_pipelined_requests_behind_the_connect_come_back_in_xid_order(server, reattach):
    """Connect + a mix of reads and writes in one write: the ConnectResponse first, then every
    reply in xid order, each seeing exactly the writes before it."""
    sid, pw = 0, b"\0" * 16
    if reattach:
        first = connected(server, timeout_ms=20000)
        sid, pw = first.session_id, first.passwd
        first.close()
    base = "/cwp-%d" % random.randrange(10 ** 9)
    ops = [
        ("exists", zkraw.body_path_watch(base), zkraw.NONODE),
        ("create", zkraw.body_create(base, b"a"), 0),
        ("getData", zkraw.body_path_watch(base), 0),
        ("setData", zkraw.body_set_data(base, b"b", 0), 0),
        ("getData", zkraw.body_path_watch(base), 0),
        ("create", zkraw.body_create(base + "/k", b""), 0),
        ("getChildren", zkraw.body_path_watch(base), 0),
        ("setData", zkraw.body_set_data(base, b"z", 0), zkraw.BADVERSION),
        ("sync", p_str(base), 0),
        ("delete", zkraw.body_path_version(base + "/k"), 0),
        ("exists", zkraw.body_path_watch(base + "/k"), zkraw.NONODE),
        ("getData", zkraw.body_path_watch(base), 0),
    ]
    c = RawClient(server.port)
    try:
        c.send_raw(_connect_frame(sid, pw, 20000) + b"".join(_frame(i + 1, name, body) for i, (name, body, _) in enumerate(ops)))
        got_sid, _ = _read_connect_response(c)
        if reattach:
            assert got_sid == sid
        reps = [c.read_reply(timeout=20) for _ in ops]
        assert [r.xid for r in reps] == list(range(1, len(ops) + 1)), "replies out of xid order"
        assert [r.err for r in reps] == [e for _, _, e in ops], [(ops[i][0], r.err) for i, r in enumerate(reps)]
        assert zkraw.Reader(reps[2].body).buf() == b"a"
        assert zkraw.Reader(reps[4].body).buf() == b"b"
        assert zkraw.Reader(reps[6].body).strs() == ["k"]
        assert zkraw.Reader(reps[11].body).buf() == b"b"
        zx = [r.zxid for r in reps]
        assert zx == sorted(zx), "reply zxids went backwards: %s" % [hex(z) for z in zx]
    finally:
        c.close()


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("case", ["negative", "huge", "over_maxbuffer_request", "max_int", "over_maxbuffer_before_connect"])
def test_bad_frame_length_closes_only_that_connection(server, case):
    witness = connected(server)
    bad = RawClient(server.port)
    try:
        if case != "over_maxbuffer_before_connect":
            bad.connect()
        if case == "negative":
            bad.send_raw(p_int(-5) + b"\x00" * 16)
        elif case == "huge":
            bad.send_raw(p_int(JUTE_MAXBUFFER * 4) + b"\x00" * 64)
        elif case == "max_int":
            bad.send_raw(p_int(0x7FFFFFFF))
        elif case == "over_maxbuffer_before_connect":
            bad.send_raw(p_int(JUTE_MAXBUFFER * 4) + b"\x00" * 64)
        else:  # a real create whose frame is larger than jute.maxbuffer
            body = zkraw.body_create("/too-big", b"x" * (JUTE_MAXBUFFER + 4096))
            try:
                bad.send("create", body)
            except OSError:
                pass
        expect_closed(bad)
        healthy(server, witness)
        # nothing was created by the oversized request
        assert witness.exists("/too-big")[0].err == zkraw.NONODE
    finally:
        bad.close()
        witness.close()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_garbage_bytes_do_not_hurt_others(server, seed):
    rnd = random.Random(seed)
    witness = connected(server)
    try:
        for i in range(5):
            bad = RawClient(server.port)
            try:
                if i % 2:
                    bad.connect()
                n = rnd.randrange(1, 200)
                junk = bytes(rnd.randrange(256) for _ in range(n))
                if i == 4:  # plausible length, garbage body
                    junk = p_int(len(junk)) + junk
                bad.send_raw(junk)
                try:
                    bad.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                expect_closed(bad)
            finally:
                bad.close()
        healthy(server, witness)
    finally:
        witness.close()


def test_request_before_connect_closes(server):
    witness = connected(server)
    bad = RawClient(server.port)
    try:
        bad.send_frame(p_int(1) + p_int(zkraw.OP["getData"]) + p_str("/") + p_bool(False))
        expect_closed(bad)
        healthy(server, witness)
    finally:
        bad.close()
        witness.close()


def test_malformed_requests_after_connect(server):
    witness = connected(server)
    try:
        # unknown opcode: ZooKeeper answers Unimplemented (-6) for that xid (and then drops
        # the connection; keeping it open is fine too)
        c = connected(server)
        c.send_frame(p_int(1) + p_int(999) + b"abc")
        rep = c.read_reply()
        assert (rep.xid, rep.err) == (1, zkraw.UNIMPLEMENTED)
        c.close()
        # truncated bodies: MarshallingError or the connection closed, never a crash
        for body in (b"", p_int(100) + b"/ab", p_str("/x"), p_int(-7)):
            c = connected(server)
            try:
                c.send_frame(p_int(1) + p_int(zkraw.OP["getData"]) + body)
                try:
                    rep = c.read_reply(timeout=5)
                    assert rep.xid == 1 and rep.err == zkraw.MARSHALLINGERROR, rep
                except zkraw.Closed:
                    pass
            finally:
                c.close()
        healthy(server, witness)
    finally:
        witness.close()


def test_invalid_paths(server):
    c = connected(server)
    try:
        base = "/paths-%d" % random.randrange(10 ** 9)
        assert c.create(base, b"")[0].err == 0
        for path, err in [("noslash", zkraw.BADARGUMENTS), ("", zkraw.BADARGUMENTS),
                          (base + "/", zkraw.BADARGUMENTS), (base + "/.", zkraw.BADARGUMENTS),
                          (base + "/..", zkraw.BADARGUMENTS), ("/", zkraw.NODEEXISTS)]:
            assert c.create(path, b"")[0].err == err, path
        for path in ("noslash", base + "/", base + "//x"):
            assert c.get(path)[0].err in (zkraw.BADARGUMENTS, zkraw.NONODE), path
        assert c.exists("/")[0].err == 0
    finally:
        c.close()


def test_close_session_then_eof(server, kazoo_factory):
    c = connected(server)
    path = "/closing-%d" % random.randrange(10 ** 9)
    assert c.create(path, b"", flags=zkraw.EPHEMERAL)[0].err == 0
    rep = c.close_session()
    assert rep.err == 0 and rep.xid == c.xid
    expect_closed(c)
    c.close()
    assert kazoo_factory(server).exists(path) is None


# ---------------------------------------------------------------------------- 4lw
def kv_lines(text, sep):
    out = {}
    for line in text.splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


def test_four_letter_words(server, kazoo_factory):
    zk = kazoo_factory(server)
    assert server.four("ruok") == "imok"
    assert server.four("isro").strip() == "rw"

    srvr = server.four("srvr")
    assert re.search(r"^Zookeeper version: \S+", srvr, re.M), srvr
    assert re.search(r"^Mode: standalone$", srvr, re.M), srvr
    assert re.search(r"^Zxid: 0x[0-9a-f]+$", srvr, re.M), srvr
    assert re.search(r"^Node count: \d+$", srvr, re.M), srvr
    assert re.search(r"^Latency min/avg/max: \d+/[\d.]+/\d+$", srvr, re.M), srvr
    assert re.search(r"^Connections: \d+$", srvr, re.M), srvr
    assert re.search(r"^Outstanding: \d+$", srvr, re.M), srvr

    stat = server.four("stat")
    assert re.search(r"^Zookeeper version: ", stat, re.M)
    assert re.search(r"^Clients:$", stat, re.M), stat
    assert re.search(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)$", stat, re.M), stat
    assert re.search(r"^Mode: standalone$", stat, re.M), stat

    conf = kv_lines(server.four("conf"), "=")
    assert conf.get("clientPort") == str(server.port), conf
    assert conf.get("dataDir", "").startswith(server.data_dir), conf
    assert conf.get("tickTime") == str(TICK_MS)
    assert conf.get("minSessionTimeout") == str(MIN_SESSION_MS)
    assert conf.get("maxSessionTimeout") == str(MAX_SESSION_MS)

    sid = zk.client_id[0]
    cons = server.four("cons")
    assert "sid=0x%x" % sid in cons, cons
    assert re.search(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+,sid=0x[0-9a-f]+", cons, re.M), cons

    envi = server.four("envi")
    assert envi.startswith("Environment:"), envi
    assert re.search(r"^zookeeper\.version=\d+\.\d+\.\d+", envi, re.M), envi

    dirs = server.four("dirs")
    assert re.search(r"^datadir_size: \d+$", dirs, re.M), dirs
    assert re.search(r"^logdir_size: \d+$", dirs, re.M), dirs

    assert "reset" in server.four("crst").lower()


def test_mntr_counts_and_wchs(server, kazoo_factory):
    zk = kazoo_factory(server)
    base = "/mntr-%d" % random.randrange(10 ** 9)

    def mntr():
        m = kv_lines(server.four("mntr"), "\t")
        for k in ("zk_version", "zk_server_state", "zk_znode_count", "zk_watch_count",
                  "zk_ephemerals_count", "zk_num_alive_connections", "zk_outstanding_requests",
                  "zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
                  "zk_packets_sent", "zk_approximate_data_size"):
            assert k in m, (k, m)
        return m

    m0 = mntr()
    assert m0["zk_server_state"] == "standalone"
    zk.create(base, b"abc")
    zk.create(base + "/a", b"")
    zk.create(base + "/b", b"", ephemeral=True)
    m1 = mntr()
    assert int(m1["zk_znode_count"]) == int(m0["zk_znode_count"]) + 3
    assert int(m1["zk_ephemerals_count"]) == int(m0["zk_ephemerals_count"]) + 1

    w0 = server.four("wchs")
    tot0 = int(re.search(r"Total watches:(\d+)", w0).group(1))
    assert re.search(r"^\d+ connections watching \d+ paths$", w0, re.M), w0
    zk.get(base + "/a", watch=lambda e: None)
    zk.exists(base + "/none", watch=lambda e: None)
    zk.get_children(base, watch=lambda e: None)
    w1 = server.four("wchs")
    # ZooKeeper's wchs counts data/exist watches only; counting the child watch too is fine
    assert tot0 + 2 <= int(re.search(r"Total watches:(\d+)", w1).group(1)) <= tot0 + 3, w1
    assert int(mntr()["zk_watch_count"]) >= 2

    sid = zk.client_id[0]
    wchc = server.four("wchc")
    assert "0x%x" % sid in wchc and "\t%s/a" % base in wchc, wchc
    wchp = server.four("wchp")
    assert re.search(r"^%s/a\n\t0x%x$" % (re.escape(base), sid), wchp, re.M), wchp
    dump = server.four("dump")
    assert "SessionTracker dump:" in dump and "ephemeral nodes dump:" in dump, dump
    assert "0x%x" % sid in dump and "\t%s/b" % base in dump, dump


def test_kazoo_server_version_and_command(server, kazoo_factory):
    zk = kazoo_factory(server)
    v = zk.server_version()
    assert isinstance(v, tuple) and len(v) >= 3 and all(isinstance(x, int) for x in v), v
    assert v >= (3, 5, 0), v
    assert zk.command(b"ruok") == "imok"
    assert "Mode: standalone" in zk.command(b"srvr")


def test_netcat_ruok(server):
    import shutil
    import subprocess
    if shutil.which("nc") is None:
        pytest.skip("nc (netcat-openbsd) missing")
    r = subprocess.run(["nc", "-N", "127.0.0.1", str(server.port)], input=b"ruok",
                       capture_output=True, timeout=15)
    assert r.stdout == b"imok", r
    r = subprocess.run(["nc", "-N", "127.0.0.1", str(server.port)], input=b"srvr",
                       capture_output=True, timeout=15)
    assert b"Mode: standalone" in r.stdout, r


def test_four_letter_word_whitelist(make_server):
    srv = make_server(extra={"4lw.commands.whitelist": "srvr, ruok"})
    assert srv.four("ruok") == "imok"
    assert "Mode: standalone" in srv.four("srvr")
    for cmd in ("stat", "mntr", "envi"):
        out = srv.four(cmd)
        assert out.strip() == "%s is not executed because it is not in the whitelist." % cmd, (cmd, out)


# ---------------------------------------------------------------------------- sessions, raw
def test_pings_keep_a_session_alive(server, kazoo_factory):
    obs = kazoo_factory(server)
    c = connected(server, timeout_ms=1500)
    path = "/alive-%d" % random.randrange(10 ** 9)
    try:
        assert c.create(path, b"", flags=zkraw.EPHEMERAL)[0].err == 0
        t_end = time.time() + 4.0
        while time.time() < t_end:
            assert c.ping().err == 0
            time.sleep(0.4)
        assert obs.exists(path) is not None
        assert c.exists(path)[0].err == 0
    finally:
        c.close()


def test_expired_session_connection_is_closed(server, kazoo_factory):
    obs = kazoo_factory(server)
    c = connected(server, timeout_ms=1500)
    path = "/expire-%d" % random.randrange(10 ** 9)
    try:
        assert c.create(path, b"", flags=zkraw.EPHEMERAL)[0].err == 0
        t0 = time.time()
        # no pings: the server expires the session and closes the connection
        expect_closed(c, timeout=10)
        assert time.time() - t0 >= 1.0
        # ZooKeeper closes the connection after the closeSession txn removed the ephemerals
        if obs.exists(path) is not None:
            t1 = time.time()
            try:
                wait_until(lambda: obs.exists(path) is None, 10)
                later = "removed %.2fs later" % (time.time() - t1)
            except AssertionError:
                later = "still there 10s later"
            raise AssertionError("connection closed at expiry while the session's ephemeral still existed (%s)" % later)
    finally:
        c.close()


def test_close_session_fires_own_watches_before_the_reply(server, kazoo_factory):
    """As in the captured reconnect: closeSession deletes the session's ephemerals and the
    session's own watches on them fire before the closeSession reply."""
    zk = kazoo_factory(server)
    base = "/own-%d" % random.randrange(10 ** 9)
    zk.create(base)
    c = connected(server)
    try:
        assert c.create(base + "/e", b"", flags=zkraw.EPHEMERAL)[0].err == 0
        c.get(base + "/e", watch=True)
        c.children(base, watch=True)
        rep = c.close_session()
        assert rep.err == 0
        assert sorted((e.type, e.path) for e in c.events) == sorted([
            (zkraw.EV_DELETED, base + "/e"), (zkraw.EV_CHILDREN_CHANGED, base)])
    finally:
        c.close()


def test_client_ahead_of_server_is_refused(server):
    witness = connected(server)
    try:
        z = witness.ping().zxid
        c = RawClient(server.port)
        try:
            with pytest.raises((zkraw.Closed, AssertionError, socket.timeout)):
                c.connect(last_zxid=z + 1000, recv_timeout=5)
                # some servers answer first and close right after; either way no usable session
                c.exists("/")
        finally:
            c.close()
        healthy(server, witness)
    finally:
        witness.close()


def test_event_arrives_before_the_new_data(server, kazoo_factory):
    zk = kazoo_factory(server)
    path = "/order-%d" % random.randrange(10 ** 9)
    zk.create(path, b"0")
    c = connected(server)
    try:
        assert c.get(path, watch=True)[0].err == 0
        zk.set_async(path, b"1")
        for _ in range(2000):
            rep, data, st = c.get(path)
            if st.version == 1:
                assert [(e.type, e.path) for e in c.events] == [(zkraw.EV_DATA_CHANGED, path)], \
                    "saw the new data before the watch event"
                break
        else:
            raise AssertionError("change never seen")
    finally:
        c.close()


def test_big_multi_and_big_data_and_unicode_paths(server):
    c = connected(server)
    base = "/big-%d" % random.randrange(10 ** 9)
    try:
        assert c.create(base, b"")[0].err == 0
        ops = [("create", zkraw.body_create("%s/n%04d" % (base, i), b"d" * 50)) for i in range(1000)]
        rep, res = c.multi(ops)
        assert rep.err == 0 and len(res) == 1000 and all(r[0] == zkraw.OP["create"] for r in res)
        rep, kids, st = c.children2(base)
        assert len(kids) == 1000 and st.numChildren == 1000 and st.pzxid == rep.zxid
        # all-or-nothing for a big one too
        ops = [("delete", zkraw.body_path_version("%s/n%04d" % (base, i))) for i in range(1000)]
        ops.append(("delete", zkraw.body_path_version(base + "/missing")))
        rep, res = c.multi(ops)
        assert res[-1] == (-1, zkraw.NONODE) and res[0] == (-1, 0)
        assert c.children2(base)[2].numChildren == 1000
        blob = bytes(range(256)) * 800  # 204800 bytes < jute.maxbuffer
        assert c.create(base + "/blob", blob)[0].err == 0
        rep, data, st = c.get(base + "/blob")
        assert data == blob and st.dataLength == len(blob)
        for name in ("ünïcødé", "space name", "日本語", "a:b@c", "x" * 200):
            p = base + "/" + name
            assert c.create(p, name.encode())[0].err == 0, p
            rep, data, _ = c.get(p)
            assert rep.err == 0 and data == name.encode()
        names = c.children(base)[1]
        assert {"ünïcødé", "space name", "日本語", "a:b@c", "x" * 200} <= set(names)
    finally:
        c.close()


def test_reply_body_shapes_per_opcode(fresh_server):
    """Exact reply body sizes for every opcode, as Apache ZooKeeper 3.8 sends them (a client
    that reads a response record fails on a missing or extra field)."""
    from lib.zkraw import (CONTAINER, OPEN_ACL_UNSAFE, WT_DATA, body_create, body_create_ttl, body_multi,
                       body_path_version, body_path_watch, body_set_acl, body_set_data, body_set_watches,
                       body_set_watches2)
    c = connected(fresh_server)
    try:
        got = []

        def rec(name, rep):
            got.append((name, rep.err, len(rep.body)))

        rec("create", c.call("create", body_create("/a", b"x")))
        rec("create2", c.call("create2", body_create("/b", b"x")))
        rec("createContainer", c.call("createContainer", body_create("/cc", b"", flags=CONTAINER)))
        rec("createTTL", c.call("createTTL", body_create_ttl("/tt", b"", ttl=100000)))
        rec("exists", c.call("exists", body_path_watch("/a", True)))
        rec("getData", c.call("getData", body_path_watch("/a", True)))
        rec("checkWatches", c.call("checkWatches", p_str("/a") + p_int(WT_DATA)))
        rec("removeWatches", c.call("removeWatches", p_str("/a") + p_int(WT_DATA)))
        rec("setData", c.call("setData", body_set_data("/a", b"y")))
        rec("getACL", c.call("getACL", p_str("/a")))
        rec("setACL", c.call("setACL", body_set_acl("/a", OPEN_ACL_UNSAFE)))
        rec("getChildren", c.call("getChildren", body_path_watch("/", True)))
        rec("getChildren2", c.call("getChildren2", body_path_watch("/", False)))
        rec("sync", c.call("sync", p_str("/a")))
        rec("addWatch", c.call("addWatch", p_str("/r") + p_int(0)))
        rec("setWatches", c.call("setWatches", body_set_watches(1, ["/a"], ["/zz"], ["/"])))
        rec("setWatches2", c.call("setWatches2", body_set_watches2(1, ["/a"], ["/zz"], ["/"], ["/p"], ["/q"])))
        rec("getEphemerals", c.call("getEphemerals", p_str("/")))
        rec("getAllChildrenNumber", c.call("getAllChildrenNumber", p_str("/")))
        rec("whoAmI", c.call("whoAmI"))
        rec("multi", c.call("multi", body_multi([("check", body_path_version("/a", -1))])))
        rec("multiRead", c.call("multiRead", body_multi([("getData", body_path_watch("/a"))])))
        rec("delete", c.call("delete", body_path_version("/b")))
        rec("auth", c.auth_digest("u", "p"))
        rec("ping", c.ping())
        rec("closeSession", c.call("closeSession"))
    finally:
        c.close()
    expected = [
        ("create", 0, 6), ("create2", 0, 74), ("createContainer", 0, 75), ("createTTL", 0, 75),
        ("exists", 0, 68), ("getData", 0, 73), ("checkWatches", 0, 0), ("removeWatches", 0, 0),
        ("setData", 0, 68), ("getACL", 0, 95), ("setACL", 0, 68), ("getChildren", 0, 39),
        ("getChildren2", 0, 107), ("sync", 0, 6),
        ("addWatch", 0, 4),  # an ErrorResponse(0) record: the Java client reads it
        ("setWatches", 0, 0), ("setWatches2", 0, 0), ("getEphemerals", 0, 4),
        ("getAllChildrenNumber", 0, 4), ("whoAmI", 0, 23), ("multi", 0, 18), ("multiRead", 0, 91),
        ("delete", 0, 0), ("auth", 0, 0), ("ping", 0, 0), ("closeSession", 0, 0),
    ]
    diffs = [(g, e) for g, e in zip(got, expected) if g != e]
    assert not diffs, "(name, err, body length) got vs expected: %s" % diffs
