"""Resource limits under abuse: 5,000 concurrent sessions, 100,000 watches, a znode with
100,000 children, requests at and over jute.maxbuffer, a 2 GiB length prefix followed by a
trickle, a client that sends requests but never reads its socket, and maxClientCnxns.

For each, other clients keep being served (a kazoo create/get/delete round trip) and the
server's RSS is measured and printed (run with -s; lines start with "LIMITS:"): memory per
idle session, per watch, per child. The figures are recorded in BENCHMARKS.md ("Resource
figures under abuse (ZooKeeper)"). ZK_SERVER=apache runs the same against Apache ZooKeeper
3.8 (the reference for every protocol-visible behaviour; memory bounds and the slow-reader
cut-off are ours and checked only for ours)."""

import os
import resource
import selectors
import socket
import struct
import subprocess
import time
import uuid

import pytest

from lib import zkraw
from lib.paths import CLIENT_CP
from lib.waiting import wait_until
from lib.zkraw import RawClient, p_bool, p_int, p_long, p_str
from lib.zookeeper import JUTE_MAXBUFFER

pytestmark = pytest.mark.timeout(170)


def rss_kib(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class PeakRss:
    """Samples the server's RSS every 20 ms in a thread until stop(); returns the peak."""

    def __init__(self, srv):
        import threading
        self.srv, self.peak, self.done = srv, rss_kib(srv), False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.done:
            try:
                self.peak = max(self.peak, rss_kib(self.srv))
            except OSError:
                return
            time.sleep(0.02)

    def stop(self):
        self.done = True
        self.t.join(5)
        return self.peak


def report(msg):
    print("LIMITS: " + msg)


def round_trip(kazoo_factory, srv):
    """A kazoo create, get and delete on a fresh client; returns the seconds it took."""
    t0 = time.time()
    zk = kazoo_factory(srv)
    p = "/rt-" + uuid.uuid4().hex[:10]
    zk.create(p, b"alive")
    assert zk.get(p)[0] == b"alive"
    zk.delete(p)
    zk.stop()
    return time.time() - t0


def connect_body(timeout_ms=30000):
    return p_int(0) + p_long(0) + p_int(timeout_ms) + p_long(0) + zkraw.p_buf(b"\0" * 16) + p_bool(False)


def closed_within(sock, seconds):
    """True if the server closes `sock` (EOF or reset) within `seconds`; data is drained."""
    deadline = time.time() + seconds
    sock.setblocking(True)
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            if sock.recv(1 << 20) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
    return False


def peer_closed(sock, seconds):
    """True if the server closes or resets `sock` within `seconds`, told from the socket's TCP
    state (TCP_INFO) without reading it: reading would make it a client that reads."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        if state in (7, 8):  # TCP_CLOSE (reset), TCP_CLOSE_WAIT (FIN received)
            return True
        time.sleep(0.05)
    return False


def open_sessions(port, n, timeout_ms, batch=500):
    """n raw connections with a session each, handshakes in flight `batch` at a time."""
    body = connect_body(timeout_ms)
    frame = p_int(len(body)) + body
    socks = []
    for start in range(0, n, batch):
        pending = {}
        sel = selectors.DefaultSelector()
        for _ in range(min(batch, n - start)):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(frame)
            s.setblocking(False)
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
        deadline = time.time() + 60
        while pending and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                data = s.recv(4096)
                assert data, "the server closed a connection during its handshake"
                pending[s] += data
                got = pending[s]
                if len(got) >= 4 and len(got) >= 4 + struct.unpack_from(">i", got)[0]:
                    sid = struct.unpack_from(">q", got, 12)[0]
                    assert sid != 0, "session refused"
                    sel.unregister(s)
                    del pending[s]
                    socks.append(s)
        sel.close()
        assert not pending, "%d handshakes unanswered after 60 s" % len(pending)
    return socks


def mntr(srv):
    out = {}
    for line in srv.four("mntr").splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


@pytest.fixture(autouse=True)
def enough_files():
    """5,000 sessions need more descriptors than the usual 1,024 (the server inherits them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield


def warm(srv, kazoo_factory):
    """A first round trip (lazy allocations happen), then the baseline RSS."""
    round_trip(kazoo_factory, srv)
    time.sleep(0.3)
    return rss_kib(srv)


# --------------------------------------------------------------------------- sessions
def test_5000_concurrent_sessions(make_server, kazoo_factory):
    n = 5000
    srv = make_server(extra={"maxSessionTimeout": 120000})
    before = warm(srv, kazoo_factory)
    t0 = time.time()
    socks = open_sessions(srv.port, n, timeout_ms=120000)
    took = time.time() - t0
    try:
        time.sleep(1.0)
        after = rss_kib(srv)
        m = mntr(srv)
        assert int(m.get("zk_num_alive_connections", "0")) >= n, m
        rt = round_trip(kazoo_factory, srv)
        per = (after - before) / n
        report("%d concurrent sessions opened in %.1f s; RSS %d -> %d KiB (%.1f KiB per idle session); "
               "kazoo round trip meanwhile %.0f ms" % (n, took, before, after, per, rt * 1000))
        if srv.kind == "ours":
            assert per < 64, "more than 64 KiB per idle session"
    finally:
        for s in socks:
            s.close()
    time.sleep(0.5)
    round_trip(kazoo_factory, srv)


# --------------------------------------------------------------------------- watches
def pipelined(c, requests, chunk=1000):
    """Sends (opname, body) requests in chunks and reads every reply; returns the error codes."""
    errs = []
    for i in range(0, len(requests), chunk):
        part = requests[i:i + chunk]
        xids = []
        buf = b""
        for op, body in part:
            xid = c.next_xid()
            xids.append(xid)
            payload = p_int(xid) + p_int(zkraw.OP[op]) + body
            buf += p_int(len(payload)) + payload
        c.send_raw(buf)
        for xid in xids:
            rep = c.read_reply(timeout=30)
            assert rep.xid == xid, (rep, xid)
            errs.append(rep.err)
    return errs


def watch_total(srv):
    for line in srv.four("wchs").splitlines():
        if line.startswith("Total watches:"):
            return int(line.split(":")[1])
    return -1


def test_100000_watches(make_server, kazoo_factory):
    sessions, per_session = 4, 25000
    srv = make_server()
    base = "/watched-" + uuid.uuid4().hex[:8]
    admin = RawClient(srv.port)
    admin.connect()
    assert admin.create(base)[0].err == 0
    before = warm(srv, kazoo_factory)
    clients = []
    t0 = time.time()
    for _ in range(sessions):
        c = RawClient(srv.port, timeout=30)
        c.connect(timeout_ms=30000)
        clients.append(c)
        reqs = [("exists", zkraw.body_path_watch("%s/n%05d" % (base, i), True)) for i in range(per_session)]
        errs = pipelined(c, reqs)
        assert set(errs) == {zkraw.NONODE}
    took = time.time() - t0
    total = sessions * per_session
    assert watch_total(srv) == total
    time.sleep(0.5)
    after = rss_kib(srv)
    rt = round_trip(kazoo_factory, srv)
    report("%d watches (%d sessions x %d exists watches) set in %.1f s; RSS %d -> %d KiB (%.0f bytes per watch); "
           "kazoo round trip meanwhile %.0f ms" % (total, sessions, per_session, took, before, after,
                                                   (after - before) * 1024.0 / total, rt * 1000))
    if srv.kind == "ours":
        assert after - before < 200 * 1024, "more than 2 KiB per watch"
    # Fire some: create 1,000 of the watched nodes; every session hears about each.
    fired = 1000
    t0 = time.time()
    for i in range(0, fired, 250):
        ops = [("create", zkraw.body_create("%s/n%05d" % (base, j))) for j in range(i, i + 250)]
        rep, _ = admin.multi(ops)
        assert rep.err == 0
    for c in clients:
        events = c.wait_events(fired, timeout=30)
        assert len(events) == fired, len(events)
        assert {e.type for e in events} == {zkraw.EV_CREATED}
    report("%d watches fired (%d nodes created, %d sessions each notified) in %.1f s" % (
        fired * sessions, fired, sessions, time.time() - t0))
    assert watch_total(srv) == total - fired * sessions
    round_trip(kazoo_factory, srv)
    for c in clients + [admin]:
        c.close()


# --------------------------------------------------------------------------- children
def test_znode_with_100000_children(make_server, kazoo_factory, server_kind):
    n, batch = 100000, 1000
    srv = make_server()
    parent = "/kids-" + uuid.uuid4().hex[:8]
    c = RawClient(srv.port, timeout=60)
    c.connect()
    assert c.create(parent)[0].err == 0
    before = warm(srv, kazoo_factory)
    t0 = time.time()
    for i in range(0, n, batch):
        ops = [("create", zkraw.body_create("%s/child-%06d" % (parent, j), b"")) for j in range(i, i + batch)]
        rep, res = c.multi(ops)
        assert rep.err == 0 and len(res) == batch
    took = time.time() - t0
    time.sleep(0.5)
    after = rss_kib(srv)
    rep, kids, st = c.children2(parent)
    assert rep.err == 0 and len(kids) == n and st.numChildren == n
    rep = c.call("getAllChildrenNumber", p_str(parent))
    assert rep.err == 0 and struct.unpack(">i", rep.body)[0] == n
    reply_bytes = 4 + sum(4 + len(k.encode()) for k in kids)
    zk = kazoo_factory(srv)
    t1 = time.time()
    assert len(zk.get_children(parent)) == n
    kazoo_ms = (time.time() - t1) * 1000
    rt = round_trip(kazoo_factory, srv)
    report("%d children created with %d multis of %d in %.1f s; RSS %d -> %d KiB (%.0f bytes per child); "
           "getChildren reply %d bytes (jute.maxbuffer %d) read by kazoo in %.0f ms; kazoo round trip %.0f ms" % (
               n, n // batch, batch, took, before, after, (after - before) * 1024.0 / n, reply_bytes,
               JUTE_MAXBUFFER, kazoo_ms, rt * 1000))
    # The reply is over jute.maxbuffer: the server sends it (as Apache ZooKeeper does), and a
    # Java client whose jute.maxbuffer is smaller refuses it with a clear error.
    assert reply_bytes > JUTE_MAXBUFFER
    r = subprocess.run(
        ["java", "-Djute.maxbuffer=%d" % JUTE_MAXBUFFER, "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNIO",
         "-cp", CLIENT_CP, "org.apache.zookeeper.ZooKeeperMain", "-server", srv.hosts, "ls", parent],
        capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    report("Java client (jute.maxbuffer %d) on getChildren of %d children: exit %d, %s" % (
        JUTE_MAXBUFFER, n, r.returncode, " | ".join(out.strip().splitlines()[-2:])))
    assert "child-000000" not in out, "a Java client read a reply over its jute.maxbuffer"
    assert "ConnectionLoss" in out or "out of range" in out, out[-2000:]
    if server_kind == "ours":
        assert after - before < 100 * 1024, "more than 1 KiB per child"
    c.close()


# --------------------------------------------------------------------------- jute.maxbuffer
def create_payload(path, size):
    return p_int(1) + p_int(zkraw.OP["create"]) + zkraw.body_create(path, b"d" * size)


def test_requests_at_and_over_jute_maxbuffer(fresh_server, kazoo_factory):
    """A request frame of exactly jute.maxbuffer bytes is served; one byte more closes the
    connection (Apache ZooKeeper: 'Len error ... greater than jute.maxbuffer'), nothing of it
    is done, and everyone else is served."""
    srv = fresh_server
    base = "/max-" + uuid.uuid4().hex[:8]
    overhead = len(create_payload(base + "/a", 0))
    at_limit = JUTE_MAXBUFFER - overhead
    c = RawClient(srv.port, timeout=30)
    c.connect()
    assert c.create(base)[0].err == 0
    payload = create_payload(base + "/a", at_limit)
    assert len(payload) == JUTE_MAXBUFFER
    c.send_frame(payload)
    rep = c.read_reply()
    assert rep.err == 0, rep
    rep, data, st = c.get(base + "/a")
    assert rep.err == 0 and len(data) == at_limit and st.dataLength == at_limit
    # setData at the limit too (its frame is shorter: no ACL), then read back by kazoo.
    set_overhead = len(p_int(1) + p_int(5) + zkraw.body_set_data(base + "/a", b""))
    rep, st = c.set(base + "/a", b"s" * (JUTE_MAXBUFFER - set_overhead))
    assert rep.err == 0 and st.dataLength == JUTE_MAXBUFFER - set_overhead
    zk = kazoo_factory(srv)
    assert len(zk.get(base + "/a")[0]) == JUTE_MAXBUFFER - set_overhead
    # One byte over.
    over = RawClient(srv.port, timeout=30)
    over.connect()
    payload = create_payload(base + "/b", at_limit + 1)
    assert len(payload) == JUTE_MAXBUFFER + 1
    try:
        over.send_frame(payload)
    except OSError:
        pass
    assert closed_within(over.sock, 5), "a frame of jute.maxbuffer + 1 bytes was not refused"
    assert c.exists(base + "/b")[0].err == zkraw.NONODE
    log = open(srv.log_path, errors="replace").read()
    assert "jute.maxbuffer" in log
    rt = round_trip(kazoo_factory, srv)
    report("jute.maxbuffer %d: a create frame of exactly %d bytes (data %d) served, setData of %d bytes served, "
           "a frame of %d bytes closed the connection; round trip after %.0f ms" % (
               JUTE_MAXBUFFER, JUTE_MAXBUFFER, at_limit, JUTE_MAXBUFFER - set_overhead, JUTE_MAXBUFFER + 1, rt * 1000))
    # The same before the handshake: a connect request over the limit is closed.
    pre = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    pre.sendall(p_int(JUTE_MAXBUFFER + 1) + b"\0" * 1024)
    assert closed_within(pre, 5)
    pre.close()
    over.close()
    c.close()


def test_2gib_length_prefix_then_trickle(fresh_server, kazoo_factory, server_kind):
    """A 2 GiB claim is refused on the length alone; a claim at the limit followed by a trickle
    holds only the bytes that really arrived."""
    srv = fresh_server
    before = warm(srv, kazoo_factory)
    huge = []
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        if i % 2:
            body = connect_body()
            s.sendall(p_int(len(body)) + body)  # a session first, then the claim
            s.settimeout(5)
            assert len(s.recv(64)) >= 40
        s.sendall(p_int(0x7fffffff) + b"\0" * 16)
        huge.append(s)
    for s in huge:
        assert closed_within(s, 5), "a 2 GiB length prefix was not refused"
        s.close()
    trickle = []
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        body = connect_body()
        s.sendall(p_int(len(body)) + body)
        s.settimeout(5)
        assert len(s.recv(64)) >= 40
        s.sendall(p_int(JUTE_MAXBUFFER) + p_int(1) + p_int(zkraw.OP["create"]))
        trickle.append(s)
    sent = 0
    for _ in range(20):
        for s in trickle:
            s.sendall(b"\0" * 64)
            sent += 64
        time.sleep(0.05)
    rt = round_trip(kazoo_factory, srv)
    grown = rss_kib(srv) - before
    report("50 connections refused on a 2 GiB length prefix; 50 claiming %d bytes then trickling %d bytes in all: "
           "RSS grew %d KiB (claims total %d KiB); round trip meanwhile %.0f ms" % (
               JUTE_MAXBUFFER, sent, grown, 50 * JUTE_MAXBUFFER // 1024, rt * 1000))
    if server_kind == "ours":
        assert grown < 8 * 1024, "memory followed the claimed lengths, not the bytes sent"
    for s in trickle:
        s.close()


# --------------------------------------------------------------------------- slow reader
def stuck_client(srv, timeout_ms):
    """A raw session whose socket is never read (and whose receive buffer is small)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = connect_body(timeout_ms)
    s.sendall(p_int(len(body)) + body)
    s.settimeout(5)
    assert len(s.recv(64)) >= 40
    s.setblocking(False)
    return s


def send_unread(s, data, seconds=10):
    """Sends `data` without reading anything; returns how many bytes went out."""
    off = 0
    t0 = time.time()
    while off < len(data) and time.time() - t0 < seconds:
        try:
            off += s.send(data[off:off + 65536])
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break  # closed by the server
    return off


def test_client_that_never_reads(fresh_server, kazoo_factory, server_kind):
    """A client pipelines 2,000 getData of a 200 KB node (400 MB of replies), 10 every 20 ms,
    and never reads: everyone else is served; ours stops reading from it once 1 MiB of replies
    wait, so the backlog stays small; its session then expires (no ping of it is read) and the
    connection is reset CLOSE_GRACE (5 s) after the close, with a log line."""
    srv = fresh_server
    path = "/big-" + uuid.uuid4().hex[:8]
    zk = kazoo_factory(srv)
    zk.create(path, b"v" * 200_000)
    before = warm(srv, kazoo_factory)
    stuck = stuck_client(srv, 2000)
    req = p_int(7) + p_int(zkraw.OP["getData"]) + p_str(path) + p_bool(False)
    frame = p_int(len(req)) + req
    rss = PeakRss(srv)
    t0 = time.time()
    sent = 0
    for _ in range(200):  # 10 requests every 20 ms: the pause engages before a big backlog
        sent += send_unread(stuck, frame * 10, seconds=1) // len(frame)
        time.sleep(0.02)
    rts = [round_trip(kazoo_factory, srv) for _ in range(3)]
    closed = peer_closed(stuck, 20) if server_kind == "ours" else None
    took = time.time() - t0
    rts.append(round_trip(kazoo_factory, srv))
    peak = rss.stop()
    report("a client that never reads sent %d getData requests for a 200 KB node (%.0f MB of replies asked for): "
           "RSS %d KiB before, peak %d KiB (+%d KiB); others' round trips %s ms; dropped by the server after %.1f s "
           "(session timeout 2 s + close grace 5 s): %s" % (
               sent, sent * 0.2, before, peak, peak - before, [int(r * 1000) for r in rts], took, closed))
    if server_kind == "ours":
        assert closed, "the non-reading client was not disconnected"
        assert "the client is not reading its replies" in open(srv.log_path, errors="replace").read()
        assert peak - before < 64 * 1024, "the backlog for a non-reading client was not bounded"
    stuck.close()


def test_client_that_never_reads_a_burst_past_the_backlog_limit(fresh_server, kazoo_factory, server_kind):
    """Five pipelined multiReads of 200 getData each (40 MB of replies apiece), never read:
    ours drops the connection at once when a reply would queue behind more than 32 MiB.
    (Apache ZooKeeper 3.8 with a 256 MB heap runs out of memory here and stops serving.)"""
    srv = fresh_server
    path = "/big-" + uuid.uuid4().hex[:8]
    zk = kazoo_factory(srv)
    zk.create(path, b"v" * 200_000)
    before = warm(srv, kazoo_factory)
    stuck = stuck_client(srv, 30000)
    body = zkraw.body_multi([("getData", zkraw.body_path_watch(path, False))] * 200)
    data = b""
    for xid in range(1, 6):
        req = p_int(xid) + p_int(zkraw.OP["multiRead"]) + body
        data += p_int(len(req)) + req
    rss = PeakRss(srv)
    t0 = time.time()
    send_unread(stuck, data)
    closed = peer_closed(stuck, 5) if server_kind == "ours" else None
    took = time.time() - t0
    try:
        rt = "%.0f ms" % (round_trip(kazoo_factory, srv) * 1000)
    except Exception as e:
        # Apache ZooKeeper 3.8 (-Xmx256m here) holds every reply and dies of OutOfMemoryError
        # ("Severe unrecoverable error, from thread : SyncThread:0"): noted, not our behaviour.
        if server_kind == "ours":
            raise
        rt = "failed (%s; server alive: %s)" % (type(e).__name__, srv.alive())
    peak = rss.stop()
    report("a client that never reads sent 5 multiReads of 200 getData of a 200 KB node (200 MB of replies): "
           "RSS %d KiB before, peak %d KiB (+%d KiB); dropped by the server within %.1f s: %s; round trip after: %s" % (
               before, peak, peak - before, took, closed, rt))
    if server_kind == "ours":
        assert closed, "the connection was not dropped past the backlog limit"
        assert "bytes of replies and notifications wait for it" in open(srv.log_path, errors="replace").read()
        assert peak - before < 160 * 1024
    stuck.close()


# --------------------------------------------------------------------------- maxClientCnxns
def test_max_client_cnxns_per_ip(make_server, kazoo_factory, server_kind):
    srv = make_server(extra={"maxClientCnxns": 5})
    held = []
    for _ in range(5):
        c = RawClient(srv.port)
        c.connect()
        held.append(c)
    extra = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    body = connect_body()
    try:
        extra.sendall(p_int(len(body)) + body)
    except OSError:
        pass
    assert closed_within(extra, 5), "a sixth connection from one address was served"
    extra.close()
    log = open(srv.log_path, errors="replace").read()
    if server_kind == "ours":
        assert "too many connections from this address (maxClientCnxns)" in log
    else:
        assert "Too many connections from" in log
    held.pop().close()
    time.sleep(0.5)
    rt = round_trip(kazoo_factory, srv)  # one place is free again
    for c in held:
        assert c.exists("/")[0].err == 0
        c.close()
    report("maxClientCnxns=5: the sixth connection from 127.0.0.1 was closed at once; after one closed a kazoo "
           "round trip took %.0f ms" % (rt * 1000))
