"""Transactions, partition side (issue 15): with no transaction coordinator, the test is one.
It takes producer ids with InitProducerId, produces transactional batches (hand-built magic-2
batches with the transactional bit), ends the transactions with hand-encoded WriteTxnMarkers
v0 frames, and checks what confluent-kafka consumers see with isolation.level
read_committed / read_uncommitted: aborted records hidden / visible, committed ones visible,
a read_committed consumer stopping at an open transaction (the last stable offset);
ListOffsets with isolation_level 1; the `.txnindex` entry Kafka's format; the marker errors;
and all of it again after kill -9 and a restart."""

import os
import struct
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lib import kraw
from lib.paths import SCRIPTS

UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_LEADER_OR_FOLLOWER = 6
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
TRANSACTION_COORDINATOR_FENCED = 52
INVALID_RECORD = 87


def txn_batch(values, pid, epoch, seq, transactional=True):
    now = int(time.time() * 1000)
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + kraw.varint(0) + kraw.varint(i) + kraw.varint(-1) + kraw.varint(len(v)) + v + kraw.varint(0)
        recs += kraw.varint(len(body)) + body
    attrs = 0x10 if transactional else 0
    after_crc = struct.pack(">hiqqqhii", attrs, len(values) - 1, now, now, pid, epoch, seq, len(values)) + recs
    after_len = struct.pack(">ibI", 0, 2, kraw.crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(after_len)) + after_len


def plain(v):
    return txn_batch([v], -1, -1, -1, transactional=False)


def write_txn_markers(conn, markers):
    """markers: (pid, epoch, commit, coordinator_epoch, {topic: [partitions]}). Returns
    {(pid, topic, partition): error}."""
    body = kraw.array([
        struct.pack(">qhb", pid, epoch, 1 if commit else 0)
        + kraw.array([kraw.kstr(t) + kraw.array([struct.pack(">i", p) for p in ps]) for t, ps in topics.items()])
        + struct.pack(">i", ce)
        for pid, epoch, commit, ce, topics in markers
    ])
    r = conn.call(27, 0, body)
    out = {}
    for _ in range(r.take(">i")):
        pid = r.take(">q")
        for _ in range(r.take(">i")):
            t = r.string()
            for _ in range(r.take(">i")):
                p, err = r.take(">ih")
                out[(pid, t, p)] = err
    return out


def list_latest(conn, topic, isolation):
    body = struct.pack(">ib", -1, isolation) + kraw.array([kraw.kstr(topic) + kraw.array([struct.pack(">iq", 0, -1)])])
    r = conn.call(2, 2, body)
    r.take(">i")  # throttle
    r.take(">i")
    r.string()
    r.take(">i")
    _p, err, _ts, off = r.take(">ihqq")
    return err, off


def consume(bootstrap, topic, isolation, want, wait=10.0, settle=2.0):
    """Values read from offset 0: until `want` arrived, then `settle` more seconds to be
    sure nothing else comes (bounded by `wait`)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "txn-check", "enable.auto.commit": False, "isolation.level": isolation})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.time() + wait
    stop = None
    while time.time() < deadline and (stop is None or time.time() < stop):
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            out.append(m.value())
        if stop is None and len(out) >= want:
            stop = time.time() + settle
    c.close()
    return out


def txnindex(logdir, topic):
    path = os.path.join(logdir, "%s-0" % topic, "%020d.txnindex" % 0)
    with open(path, "rb") as f:
        data = f.read()
    return [struct.unpack(">hqqqq", data[i:i + 34]) for i in range(0, len(data) - len(data) % 34, 34)]


def wait_leader(port, topic, timeout=30):
    deadline = time.time() + timeout
    while True:
        conn = None
        try:
            conn = kraw.Conn(port)
            err, off = list_latest(conn, topic, 0)
            if err == 0:
                return conn
        except (OSError, AssertionError):
            pass
        if conn is not None:
            conn.close()
        assert time.time() < deadline, "no leader for %s after a restart" % topic
        time.sleep(0.2)


def test_markers_lso_aborted_list_index_and_restart(fresh_cluster):
    c = fresh_cluster(1)
    br = c.brokers[0]
    t = "txn-markers"
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    admin.create_topics([NewTopic(t, 1, 1)], operation_timeout=10)[t].result(15)
    conn = wait_leader(br.port, t)
    pids = []
    for _ in range(4):
        err, pid, epoch = kraw.init_producer_id(conn)
        assert (err, epoch) == (0, 0)
        pids.append(pid)
    a, b, cc, d = pids
    assert kraw.produce(conn, t, 0, plain(b"n0")) == (0, 0)
    assert kraw.produce(conn, t, 0, txn_batch([b"a0", b"a1"], a, 0, 0)) == (0, 1)
    assert kraw.produce(conn, t, 0, txn_batch([b"b0"], b, 0, 0)) == (0, 3)
    # A transactional batch without a producer id; a non-transactional one inside an open txn.
    assert kraw.produce(conn, t, 0, txn_batch([b"x"], -1, -1, -1))[0] == INVALID_RECORD
    assert kraw.produce(conn, t, 0, txn_batch([b"x"], a, 0, 2, transactional=False))[0] == INVALID_TXN_STATE
    res = write_txn_markers(conn, [(a, 0, False, 5, {t: [0]}), (b, 0, True, 5, {t: [0]})])
    assert res == {(a, t, 0): 0, (b, t, 0): 0}
    assert kraw.produce(conn, t, 0, plain(b"n1")) == (0, 6)
    assert kraw.produce(conn, t, 0, txn_batch([b"c0"], cc, 0, 0)) == (0, 7)
    assert kraw.produce(conn, t, 0, plain(b"n2")) == (0, 8)

    everything = [b"n0", b"a0", b"a1", b"b0", b"n1", b"c0", b"n2"]
    stable = [b"n0", b"b0", b"n1"]

    def check():
        assert list_latest(conn, t, 0) == (0, 9)
        assert list_latest(conn, t, 1) == (0, 7), "read_committed latest is the LSO (pid c's open transaction)"
        assert consume(c.bootstrap, t, "read_uncommitted", len(everything)) == everything
        assert consume(c.bootstrap, t, "read_committed", len(stable)) == stable
        # Kafka's AbortedTxn: version, producer id, first offset, last offset (the marker),
        # LSO once complete (pid b's transaction from offset 3 was still open).
        assert txnindex(br.logdir, t) == [(0, a, 1, 4, 3)]

    check()
    br.kill9()
    br.start()
    conn.close()
    conn = wait_leader(br.port, t)
    check()

    # Marker errors: unknown partition, an older coordinator epoch, an older producer epoch.
    res = write_txn_markers(conn, [(b, 0, True, 4, {t: [0], "no-such-topic": [0]})])
    assert res[(b, t, 0)] == TRANSACTION_COORDINATOR_FENCED
    assert res[(b, "no-such-topic", 0)] == UNKNOWN_TOPIC_OR_PARTITION
    assert write_txn_markers(conn, [(d, 2, True, 0, {t: [0]})]) == {(d, t, 0): 0}
    assert write_txn_markers(conn, [(d, 1, True, 0, {t: [0]})]) == {(d, t, 0): INVALID_PRODUCER_EPOCH}
    # Committing pid c's transaction moves the LSO to the end.
    assert write_txn_markers(conn, [(cc, 0, True, 5, {t: [0]})]) == {(cc, t, 0): 0}
    err, end = list_latest(conn, t, 0)
    assert err == 0 and list_latest(conn, t, 1) == (0, end)
    committed = [b"n0", b"b0", b"n1", b"c0", b"n2"]
    assert consume(c.bootstrap, t, "read_committed", len(committed)) == committed
    conn.close()

    # kafka-dump-log on the live segment and its .txnindex, as Kafka 2.5's DumpLogSegments
    # prints them: transactional batches, control batches with their markers, the index entry.
    seg = os.path.join(br.logdir, "%s-0" % t, "%020d.log" % 0)
    out = dump_log("--files", seg, "--deep-iteration")
    batches = [l for l in out.splitlines() if l.startswith("baseOffset:")]
    assert any("producerId: %d" % a in l and "isTransactional: true isControl: false" in l for l in batches), out
    markers = [l for l in out.splitlines() if "endTxnMarker:" in l]
    assert any("endTxnMarker: ABORT coordinatorEpoch: 5" in l for l in markers), out
    assert sum("endTxnMarker: COMMIT" in l for l in markers) == 3, out
    assert sum("isControl: true" in l for l in batches) == 4, out
    idx = dump_log("--files", seg[:-len(".log")] + ".txnindex")
    assert "version: 0 producerId: %d firstOffset: 1 lastOffset: 4 lastStableOffset: 3" % a in idx, idx


def dump_log(*args):
    r = subprocess.run([os.path.join(SCRIPTS, "kafka-dump-log.sh")] + list(args),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def test_write_txn_markers_is_advertised(cluster):
    conn = kraw.Conn(cluster.brokers[0].port)
    r = conn.call(18, 0, b"")
    assert r.take(">h") == 0
    keys = {}
    for _ in range(r.take(">i")):
        k, lo, hi = r.take(">hhh")
        keys[k] = (lo, hi)
    assert keys[27][0] == 0
    conn.close()
