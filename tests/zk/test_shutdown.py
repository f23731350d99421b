"""Draining shutdown: SIGTERM while a session has writes in flight.

The server stops accepting connections, lets the requests in flight finish, closes the
connections and exits 0 within its bounds (5 s drain + 3 s close), logging each step. Every
write a client saw acknowledged is there after a restart (acknowledged means durable)."""

import os
import signal
import time
import uuid

from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from lib import zkraw

SHUTDOWN_STEPS = [
    "SIGTERM received",
    "shutting down: no longer accepting connections",
    "draining: letting the requests in flight finish",
    "log flushed: every acknowledged write is durable",
    "closing client connections",
    "replication stopped",
    "stopped",
]


def _pending_writes(zk, base, n):
    """n creates sent without waiting for their answers."""
    return [("%s/n%05d" % (base, i), zk.create_async("%s/n%05d" % (base, i), b"v%05d" % i)) for i in range(n)]


def _outcomes(pending, timeout=20.0):
    """(acknowledged paths, count of writes that failed or were never answered)."""
    acked, lost = [], 0
    deadline = time.time() + timeout
    for path, r in pending:
        try:
            r.get(timeout=max(0.1, deadline - time.time()))
            acked.append(path)
        except (KazooException, KazooTimeoutError, Exception):  # ConnectionLoss, timeouts
            lost += 1
    return acked, lost


def test_sigterm_drains_writes_in_flight_and_keeps_every_acknowledged_one(make_server, kazoo_factory, server_kind):
    server = make_server()
    zk = kazoo_factory(server)
    base = "/drain-" + uuid.uuid4().hex[:8]
    zk.create(base)
    pending = _pending_writes(zk, base, 3000)
    t0 = time.time()
    os.killpg(server.proc.pid, signal.SIGTERM)
    rc = server.proc.wait(20)
    took = time.time() - t0
    acked, lost = _outcomes(pending)
    zk.stop()
    print("shutdown in %.2fs: %d writes acknowledged, %d not" % (took, len(acked), lost))
    assert rc == 0, "exit code %s\n%s" % (rc, server.log_tail(30))
    # drain (5 s) + close (3 s) + stopping replication: well within 12 s.
    assert took < 12, "shutdown took %.1fs\n%s" % (took, server.log_tail(30))
    assert acked, "some writes must have been acknowledged"
    if server_kind == "ours":
        log = open(server.log_path, errors="replace").read().split("===== start #0")[-1]
        at = 0
        for step in SHUTDOWN_STEPS:
            i = log.find(step, at)
            assert i >= 0, "missing or out of order: %r\n%s" % (step, server.log_tail(30))
            at = i
        assert "drained: no request in flight" in log, server.log_tail(30)
    server.start()
    check = kazoo_factory(server)
    missing = [p for p in acked if check.exists(p) is None]
    assert not missing, "%d acknowledged writes lost, e.g. %s" % (len(missing), missing[:5])
    assert check.get(acked[-1])[0] == b"v%05d" % int(acked[-1][-5:])


def test_sigterm_with_idle_sessions_exits_quickly_and_cleanly(make_server, kazoo_factory, server_kind):
    server = make_server()
    clients = [kazoo_factory(server) for _ in range(3)]
    clients[0].create("/idle-" + uuid.uuid4().hex[:8], b"x")
    t0 = time.time()
    os.killpg(server.proc.pid, signal.SIGTERM)
    rc = server.proc.wait(15)
    took = time.time() - t0
    for c in clients:
        c.stop()
    assert rc == 0, server.log_tail(30)
    if server_kind == "ours":
        # Nothing in flight: no waiting for the bounds.
        assert took < 3, "took %.1fs\n%s" % (took, server.log_tail(30))
        log = open(server.log_path, errors="replace").read()
        assert "drained: no request in flight" in log and "client connections closed" in log, server.log_tail(30)


def test_sigterm_with_pipelined_writes_answers_a_gapless_prefix(make_server, kazoo_factory, server_kind):
    """5,000 creates pipelined in one TCP write, SIGTERM right behind them: the replies that
    come back are exactly the first k requests, in order (nothing in the middle is dropped),
    all k are there after a restart, and the exit is clean."""
    server = make_server()
    base = "/pipe-" + uuid.uuid4().hex[:8]
    kazoo_factory(server).create(base)
    raw = zkraw.RawClient(server.port)
    raw.connect(timeout_ms=10000)
    n = 5000
    frames = b"".join(
        zkraw.p_int(len(b)) + b
        for b in (zkraw.p_int(i + 1) + zkraw.p_int(zkraw.OP["create"]) + zkraw.body_create("%s/n%05d" % (base, i), b"v") for i in range(n))
    )
    raw.send_raw(frames)
    os.killpg(server.proc.pid, signal.SIGTERM)
    answered = []
    try:
        while True:
            rep = raw.read_reply(timeout=15)
            answered.append((rep.xid, rep.err))
    except (zkraw.Closed, OSError):
        pass
    rc = server.proc.wait(20)
    print("pipelined: %d of %d answered before the connection closed" % (len(answered), n))
    assert rc == 0, server.log_tail(30)
    assert [x for x, _ in answered] == list(range(1, len(answered) + 1)), "replies must be a gapless prefix"
    assert all(e == 0 for _, e in answered), answered[:5]
    server.start()
    check = kazoo_factory(server)
    missing = [i for i in range(len(answered)) if check.exists("%s/n%05d" % (base, i)) is None]
    assert not missing, "%d acknowledged creates lost, e.g. %s" % (len(missing), missing[:5])
