"""Replication (issue 7) on three brokers and our ZooKeeper, all on 127.0.0.1: followers
fetch and fill the ISR, acks=all waits for it, min.insync.replicas refuses writes that
could not commit, leaders fail over inside the ISR, a returning broker truncates a divergent
tail by leader epoch, controlled shutdown and preferred election move leadership, the
ZooKeeper reassignment path moves replicas, and a checker in the spirit of Kafka's
replication system test kills, stops and restarts brokers under acks=all load and then
checks that no acknowledged record is lost and that every replica's log is identical below
the high watermark."""

import functools
import glob
import json
import os
import signal
import struct
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

import pytest

from lib import kraw
from lib.waiting import wait_until

NOT_ENOUGH_REPLICAS = 19

FAST = dict(
    replica_lag_time_max_ms=3000,
    zookeeper_session_timeout_ms=6000,
    controlled_shutdown_retry_backoff_ms=500,
    leader_imbalance_check_interval_seconds=2,
)


# Cluster-state polls (describe, list_topics) every 0.2 s; test_corruption imports it from here.
wait_until = functools.partial(wait_until, interval=0.2)


def admin(c):
    return AdminClient({"bootstrap.servers": c.bootstrap})


def describe(c, topic):
    """{partition: (leader, replicas, isr)} from Metadata."""
    md = admin(c).list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return {}
    return {p.id: (p.leader, list(p.replicas), sorted(p.isrs)) for p in t.partitions.values()}


def create(c, topic, partitions=3, rf=3, config=None, assignment=None):
    if assignment:
        nt = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment, config=config or {})
    else:
        nt = NewTopic(topic, partitions, rf, config=config or {})
    a = admin(c)
    a.create_topics([nt], operation_timeout=10)[topic].result(15)
    n = len(assignment) if assignment else partitions
    wait_until(lambda: full_isr(c, topic, n), 30, "every replica of %s in the ISR" % topic)


def full_isr(c, topic, n):
    d = describe(c, topic)
    return len(d) == n and all(l >= 0 and sorted(r) == isr for l, r, isr in d.values())


def broker(c, bid):
    return next(b for b in c.brokers if b.id == bid)


def alive(b):
    return b.proc is not None and b.proc.poll() is None


def segment_batches(partition_dir):
    """[(base_offset, last_offset, bytes)] of every batch in the partition's segments."""
    out = []
    for path in sorted(glob.glob(os.path.join(partition_dir, "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            total = 12 + length
            if pos + total > len(data):
                break
            last_delta = struct.unpack_from(">i", data, pos + 23)[0]
            out.append((base, base + last_delta, data[pos:pos + total]))
            pos += total
    return out


def checkpoint(logdir, name):
    out = {}
    try:
        with open(os.path.join(logdir, name)) as f:
            lines = f.read().split("\n")[2:]
    except OSError:
        return out
    for l in lines:
        parts = l.split()
        if len(parts) == 3:
            out[(parts[0], int(parts[1]))] = int(parts[2])
    return out


def compare_replicas(c, topic, partitions):
    """Every replica's batches below the high watermark are byte-identical. The high
    watermark is the leader's (the largest checkpointed: a follower learns it one fetch
    later); with the ISR full at the end every replica must hold all of it. Brokers must be
    stopped cleanly first (checkpoints written). Returns {p: hw}."""
    hws = {}
    for p in range(partitions):
        logs = {}
        hw = None
        for b in c.brokers:
            d = os.path.join(b.logdir, "%s-%d" % (topic, p))
            if not os.path.isdir(d):
                continue
            h = checkpoint(b.logdir, "replication-offset-checkpoint").get((topic, p))
            assert h is not None, "broker %d has no high watermark for %s-%d" % (b.id, topic, p)
            hw = h if hw is None else max(hw, h)
            logs[b.id] = d
        assert len(logs) >= 2, "partition %d has %d replica dirs" % (p, len(logs))
        ref = None
        for bid, d in sorted(logs.items()):
            batches = segment_batches(d)
            below = [(base, data) for base, last, data in batches if last < hw]
            end = max([last + 1 for _, last, _ in batches] or [0])
            assert end >= hw, "%s-%d: broker %d's log ends at %d, below the high watermark %d" % (topic, p, bid, end, hw)
            if ref is None:
                ref = (bid, below)
            else:
                assert below == ref[1], "%s-%d: broker %d and broker %d differ below the high watermark %d" % (topic, p, ref[0], bid, hw)
        hws[p] = hw
    return hws


def consume_all(c, topic, partitions, timeout=60):
    """{partition: [(offset, value)]} from the log start to the end offset of each."""
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "checker", "enable.auto.commit": False})
    out = {}
    try:
        for p in range(partitions):
            lo, hi = cons.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            out[p] = []
            if hi <= lo:
                continue
            cons.assign([TopicPartition(topic, p, lo)])
            deadline = time.time() + timeout
            while time.time() < deadline:
                m = cons.poll(0.5)
                if m is None or m.error():
                    continue
                out[p].append((m.offset(), m.value()))
                if m.offset() >= hi - 1:
                    break
    finally:
        cons.close()
    return out


def test_followers_fill_the_isr_and_logs_are_identical(fresh_cluster):
    c = fresh_cluster(3, **FAST)
    t = "rep3"
    create(c, t, 3, 3, {"min.insync.replicas": "2"})
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 2})
    errors = []
    for i in range(3000):
        p.produce(t, b"v%05d" % i, key=b"k%d" % (i % 13), on_delivery=lambda e, m: errors.append(e) if e else None)
        if i % 500 == 0:
            p.poll(0)
    assert p.flush(30) == 0 and not errors, errors[:3]
    # ISR changes and notifications as Kafka 2.5 writes them.
    zk = KazooClient(hosts=c.zk.connect)
    zk.start(10)
    try:
        st = json.loads(zk.get("/brokers/topics/%s/partitions/0/state" % t)[0])
        assert sorted(st["isr"]) == [0, 1, 2] and st["version"] == 1, st
        wait_until(lambda: zk.get_children("/isr_change_notification") == [], 15, "the controller to consume ISR notifications")
    finally:
        zk.stop()
    got = consume_all(c, t, 3)
    assert sum(len(v) for v in got.values()) == 3000
    for b in c.brokers:
        b.stop()
    hws = compare_replicas(c, t, 3)
    assert sum(hws.values()) == 3000, hws


def test_acks_all_refused_below_min_insync_replicas(fresh_cluster):
    c = fresh_cluster(3, **FAST)
    t = "minisr"
    create(c, t, 1, 3, {"min.insync.replicas": "2"}, assignment=[[0, 1, 2]])
    conn = kraw.Conn(c.brokers[0].port)
    assert produce_as_leader(conn, t, b"ok", -1) == (0, 0)
    c.brokers[1].kill9()
    c.brokers[2].kill9()
    wait_until(lambda: describe(c, t).get(0, (None, None, None))[2] == [0], 20, "the ISR to shrink to the leader")
    err, _ = kraw.produce(conn, t, 0, kraw.idempotent_batch([b"nope"], -1, -1, -1), acks=-1)
    assert err == NOT_ENOUGH_REPLICAS, err
    # acks=1 does not need the ISR; the refused record was never appended.
    assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"one"], -1, -1, -1), acks=1) == (0, 1)
    conn.close()
    got = consume_all(c, t, 1)
    assert [v for _, v in got[0]] == [b"ok", b"one"]


def test_leader_failover_keeps_every_acknowledged_record(fresh_cluster):
    c = fresh_cluster(3, **FAST)
    t = "failover"
    create(c, t, 1, 3, {"min.insync.replicas": "2"})
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "message.timeout.ms": 30000})
    acked = {}

    def cb(e, m):
        if e is None:
            acked[m.offset()] = m.value()

    for i in range(500):
        p.produce(t, b"a%d" % i, on_delivery=cb)
    assert p.flush(30) == 0
    leader, _, isr = describe(c, t)[0]
    zk = KazooClient(hosts=c.zk.connect)
    zk.start(10)
    try:
        epoch = json.loads(zk.get("/brokers/topics/%s/partitions/0/state" % t)[0])["leader_epoch"]
        broker(c, leader).kill9()
        # (the answer is a 1-tuple: broker 0 is a valid new leader but falsy)
        (new,) = wait_until(lambda: (lambda d: (d[0],) if d and d[0] not in (-1, leader) else None)(describe(c, t).get(0)), 20, "a new leader")
        st = json.loads(zk.get("/brokers/topics/%s/partitions/0/state" % t)[0])
        assert new in isr and st["leader"] == new and st["leader_epoch"] > epoch and leader not in st["isr"], st
    finally:
        zk.stop()
    for i in range(500):
        p.produce(t, b"b%d" % i, on_delivery=cb)
    assert p.flush(30) == 0
    assert len(acked) == 1000
    got = dict(consume_all(c, t, 1)[0])
    missing = [o for o, v in acked.items() if got.get(o) != v]
    assert not missing, "acknowledged offsets lost or changed: %r" % missing[:10]
    # The old leader comes back as a follower and rejoins the ISR.
    broker(c, leader).start()
    wait_until(lambda: full_isr(c, t, 1), 30, "the restarted broker to rejoin the ISR")


def produce_as_leader(conn, topic, value, acks, timeout=15):
    """Raw produce; retries (bounded) while the broker has not yet taken the leadership that
    metadata already shows (NOT_LEADER_OR_FOLLOWER / LEADER_NOT_AVAILABLE)."""
    deadline = time.time() + timeout
    while True:
        r = kraw.produce(conn, topic, 0, kraw.idempotent_batch([value], -1, -1, -1), acks=acks)
        if r[0] not in (5, 6) or time.time() > deadline:
            return r
        time.sleep(0.2)


def test_returning_leader_truncates_its_divergent_tail(fresh_cluster):
    """Unclean election (allowed for this topic) makes the follower with the shorter log the
    leader; the old leader's unreplicated acks=1 tail must go when it returns, replaced by the
    new leader's records at the same offsets (OffsetsForLeaderEpoch + truncation)."""
    c = fresh_cluster(2, **FAST)
    t = "diverge"
    create(c, t, 1, 2, {"min.insync.replicas": "1", "unclean.leader.election.enable": "true"}, assignment=[[0, 1]])
    conn = kraw.Conn(c.brokers[0].port)
    for i in range(10):
        assert produce_as_leader(conn, t, b"c%d" % i, -1) == (0, i)
    b0, b1 = c.brokers
    b1.proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: describe(c, t).get(0, (None, None, None))[2] == [0], 30, "broker 1 to leave the ISR")
        for i in range(5):
            assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"lost%d" % i], -1, -1, -1), acks=1) == (0, 10 + i)
    finally:
        conn.close()
        b0.kill9()
        b1.proc.send_signal(signal.SIGCONT)
    wait_until(lambda: describe(c, t).get(0, (-1,))[0] == 1, 40, "broker 1 to be elected (unclean)")
    conn = kraw.Conn(b1.port)
    for i in range(3):
        assert produce_as_leader(conn, t, b"new%d" % i, 1) == (0, 10 + i)
    conn.close()
    b0.start()
    wait_until(lambda: full_isr(c, t, 1), 40, "broker 0 to truncate, catch up and rejoin the ISR")
    assert "truncating" in b0.output()
    got = [v for _, v in consume_all(c, t, 1)[0]]
    assert got == [b"c%d" % i for i in range(10)] + [b"new%d" % i for i in range(3)], got
    b1.stop()
    b0.stop()
    compare_replicas(c, t, 1)


def test_controlled_shutdown_moves_leadership_first(fresh_cluster):
    c = fresh_cluster(3, **FAST)
    t = "cshut"
    create(c, t, 3, 3)
    before = describe(c, t)
    victim = before[0][0]
    vb = broker(c, victim)
    vb.stop()
    assert vb.proc.returncode is not None
    out = vb.output()
    assert "controlled shutdown succeeded" in out, out[-2000:]
    after = describe(c, t)
    assert all(l not in (-1, victim) for l, _, _ in after.values()), after
    assert all(victim not in isr for _, _, isr in after.values()), after
    # Leadership moved while the broker was still registered: its last leader epochs were
    # bumped by the controller, not by a failure election after the znode vanished.
    assert "proceeding to do an unclean shutdown" not in out


def test_preferred_leader_comes_back(fresh_cluster):
    c = fresh_cluster(3, **FAST)
    t = "preferred"
    create(c, t, 1, 3, assignment=[[0, 1, 2]])
    assert describe(c, t)[0][0] == 0
    c.brokers[0].kill9()
    wait_until(lambda: describe(c, t).get(0, (None,))[0] == 1, 20, "broker 1 to take over")
    c.brokers[0].start()
    # auto.leader.rebalance.enable (default true) on a 2 s check interval.
    wait_until(lambda: describe(c, t).get(0, (None,))[0] == 0 and full_isr(c, t, 1), 40, "the preferred replica to lead again")


def test_reassignment_through_zookeeper_path(fresh_cluster):
    c = fresh_cluster(3, **FAST)
    t = "moveme"
    create(c, t, 1, 1, assignment=[[0]])
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all"})
    for i in range(200):
        p.produce(t, b"m%d" % i, partition=0)
    assert p.flush(15) == 0
    zk = KazooClient(hosts=c.zk.connect)
    zk.start(10)
    try:
        zk.create("/admin/reassign_partitions", json.dumps({"version": 1, "partitions": [{"topic": t, "partition": 0, "replicas": [1, 2]}]}).encode())
        wait_until(lambda: not zk.exists("/admin/reassign_partitions"), 40, "the reassignment to finish")
        topic = json.loads(zk.get("/brokers/topics/%s" % t)[0])
        assert topic["partitions"]["0"] == [1, 2] and topic["adding_replicas"] == {} and topic["removing_replicas"] == {}, topic
    finally:
        zk.stop()
    leader, replicas, isr = describe(c, t)[0]
    assert replicas == [1, 2] and isr == [1, 2] and leader in (1, 2)
    wait_until(lambda: not os.path.isdir(os.path.join(c.brokers[0].logdir, "%s-0" % t)), 20, "broker 0 to delete its replica")
    got = [v for _, v in consume_all(c, t, 1)[0]]
    assert got == [b"m%d" % i for i in range(200)]


@pytest.mark.timeout(420)
def test_checker_kills_stops_and_restarts_under_acks_all(fresh_cluster, capsys):
    """Kafka's replication system test in small: acks=all producers record every
    acknowledged (partition, offset, value) while leaders are killed, the controller is
    killed, a broker is frozen past its session timeout and every broker is restarted in turn;
    then everything is consumed and every replica is compared."""
    c = fresh_cluster(3, **FAST)
    t = "checker"
    parts = 3
    create(c, t, parts, 3, {"min.insync.replicas": "2"})
    acked = {}
    failed = []
    stop = threading.Event()
    lock = threading.Lock()

    def produce_loop(tag):
        p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "enable.idempotence": True,
                      "linger.ms": 5, "message.timeout.ms": 60000, "request.timeout.ms": 10000})

        def cb(e, m):
            with lock:
                if e is None:
                    acked[(m.partition(), m.offset())] = m.value()
                else:
                    failed.append(e.code())

        i = 0
        while not stop.is_set():
            try:
                p.produce(t, b"%s-%d" % (tag, i), key=b"%d" % (i % 31), on_delivery=cb)
                i += 1
            except BufferError:
                p.poll(0.1)
            p.poll(0)
            if i % 50 == 0:
                time.sleep(0.01)
        p.flush(60)

    threads = [threading.Thread(target=produce_loop, args=(tag,)) for tag in (b"p1", b"p2")]
    for th in threads:
        th.start()
    steps = []
    try:
        time.sleep(2)
        for round_ in range(2):
            leader = describe(c, t)[0][0]
            steps.append("kill -9 leader %d" % leader)
            broker(c, leader).kill9()
            time.sleep(3)
            broker(c, leader).start()
            wait_until(lambda: full_isr(c, t, parts), 60, "full ISR after restarting %d" % leader)
        ctrl = admin(c).list_topics(timeout=10).controller_id
        steps.append("kill -9 controller %d" % ctrl)
        broker(c, ctrl).kill9()
        time.sleep(3)
        broker(c, ctrl).start()
        wait_until(lambda: full_isr(c, t, parts), 60, "full ISR after the controller restart")
        frozen = describe(c, t)[1][0]
        steps.append("SIGSTOP broker %d for 9 s" % frozen)
        broker(c, frozen).proc.send_signal(signal.SIGSTOP)
        time.sleep(9)
        broker(c, frozen).proc.send_signal(signal.SIGCONT)
        wait_until(lambda: full_isr(c, t, parts), 60, "full ISR after SIGCONT")
        for b in list(c.brokers):
            steps.append("clean restart of broker %d" % b.id)
            b.stop()
            b.start()
            wait_until(lambda: full_isr(c, t, parts), 60, "full ISR after restarting %d" % b.id)
        time.sleep(2)
    finally:
        stop.set()
        for th in threads:
            th.join(90)
    got = consume_all(c, t, parts, timeout=90)
    by_offset = {p: dict(recs) for p, recs in got.items()}
    lost = [(k, v) for k, v in acked.items() if by_offset.get(k[0], {}).get(k[1]) != v]
    values = [v for recs in got.values() for _, v in recs]
    dups = len(values) - len(set(values))
    for p in range(parts):
        offs = [o for o, _ in got[p]]
        assert offs == sorted(offs) and len(offs) == len(set(offs)), "partition %d offsets out of order or repeated" % p
    for b in c.brokers:
        b.stop()
    hws = compare_replicas(c, t, parts)
    with capsys.disabled():
        print("\nreplication checker: steps=%s acknowledged=%d lost=%d duplicated=%d failed_sends=%d (%s) consumed=%d high_watermarks=%s"
              % ("; ".join(steps), len(acked), len(lost), dups, len(failed), sorted(set(failed)), len(values), hws))
    assert len(acked) > 1000, "too little load to mean anything: %d" % len(acked)
    assert not lost, "acknowledged records lost: %r" % lost[:10]


def test_committed_offsets_survive_the_coordinator(fresh_cluster):
    """Offset commits are acknowledged once every in-sync replica of the group's
    __consumer_offsets partition has them: killing the coordinator right after the commit
    loses nothing."""
    c = fresh_cluster(3, offsets_topic_replication_factor=3, offsets_topic_num_partitions=3, **FAST)
    t = "commits"
    create(c, t, 1, 3)
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "g-survive", "enable.auto.commit": False})
    try:
        cons.commit(offsets=[TopicPartition(t, 0, 42)], asynchronous=False)
    finally:
        cons.close()
    a = admin(c)
    coordinator = a.describe_consumer_groups(["g-survive"])["g-survive"].result(15).coordinator.id
    broker(c, coordinator).kill9()

    def committed():
        k = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "g-survive", "enable.auto.commit": False})
        try:
            return k.committed([TopicPartition(t, 0)], timeout=5)[0].offset
        except Exception:
            return None
        finally:
            k.close()

    assert wait_until(lambda: committed() == 42, 40, "the commit to be read back from the new coordinator")
