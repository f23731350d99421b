"""Draining shutdown (issue 13): on SIGTERM the broker runs controlled shutdown, stops
accepting, lets in-flight requests finish (within 5 s), flushes its logs and closes its
ZooKeeper session, in that order, logging each step. An acks=all produce that is waiting for
a follower when SIGTERM arrives is answered, and its record is on disk afterwards."""

import glob
import os
import signal
import socket
import struct
import time

import pytest

from lib import kraw
from test_replication import create, describe, wait_until


def test_sigterm_answers_in_flight_acks_all_produce_and_keeps_it(fresh_cluster):
    # No controlled shutdown, so that leadership stays here and the produce completes here
    # once the stopped follower leaves the ISR (replica.lag.time.max.ms).
    c = fresh_cluster(
        2,
        replica_lag_time_max_ms=1500,
        zookeeper_session_timeout_ms=6000,
        controlled_shutdown_enable="false",
    )
    t = "drain"
    create(c, t, assignment=[[0, 1]])
    assert describe(c, t)[0][0] == 0
    leader, follower = c.brokers[0], c.brokers[1]
    conn = kraw.Conn(leader.port)
    follower.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.3)
        # acks=all: the leader waits for the stopped follower until it leaves the ISR.
        body = kraw.kstr(None) + struct.pack(">hi", -1, 10000) + kraw.array(
            [kraw.kstr(t) + kraw.array([struct.pack(">i", 0) + kraw.kbytes(kraw.idempotent_batch([b"in-flight"], -1, -1, -1))])]
        )
        conn.s.sendall(kraw.frame(kraw.header(0, 3, 1) + body))
        time.sleep(0.4)
        sent_term = time.time()
        leader.proc.send_signal(signal.SIGTERM)
        conn.s.settimeout(15)
        resp = kraw.read_frame(conn.s)
        answered = time.time()
        assert resp is not None, "the in-flight produce was dropped:\n" + leader.output()[-3000:]
        r = kraw.Reader(resp)
        assert r.take(">i") == 1
        r.take(">i")
        r.string()
        r.take(">i")
        _p, err, base, _lat = r.take(">ihqq")
        assert err == 0, (err, leader.output()[-3000:])
        assert answered > sent_term
        # Nothing more is read from a draining broker: the connection closes.
        assert kraw.read_frame(conn.s) is None
        leader.proc.wait(20)
        assert leader.proc.returncode == 0, leader.output()[-3000:]
    finally:
        conn.close()
        follower.proc.send_signal(signal.SIGCONT)
    # Durable: the record is in the leader's segment files.
    data = b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(leader.logdir, "%s-0" % t, "*.log")))
    assert b"in-flight" in data
    out = leader.output()
    steps = [
        "shutdown: step 1/4: controlled shutdown",
        "shutdown: step 2/4: draining",
        "shutdown: stopped accepting connections",
        "shutdown: every in-flight request answered",
        "shutdown: flushing and checkpointing the logs",
        "shutdown: closing the ZooKeeper session",
        "shut down completed",
    ]
    at = [out.find(s) for s in steps]
    assert all(i >= 0 for i in at) and at == sorted(at), list(zip(steps, at))
    # The listener is closed.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", leader.port), timeout=2).close()
