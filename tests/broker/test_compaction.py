"""Log compaction (issue 14) against the real broker with real clients: a compacted topic
with tiny segments and many overwrites ends up with the latest value of each key at its
original offset (confluent-kafka and kafka-python read it), and less disk; tombstones stay
for delete.retention.ms and then go; min.compaction.lag.ms protects recent records; records
without a key are refused; an idempotent producer goes on across cleans and a kill -9; a
kill -9 at various points of a clean loses nothing and leaves no duplicate segment."""

import glob
import os
import re
import time
import uuid

import pytest

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lib import kraw

INVALID_RECORD = 87  # Kafka 2.5's LogValidator.validateKey

# Small segments and a cleaner that looks every 200 ms.
FAST = dict(log_cleaner_backoff_ms=200, log_cleaner_dedupe_buffer_size=4 << 20)


def create(bootstrap, t, **cfg):
    config = {"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0.01"}
    config.update({k.replace("_", "."): str(v) for k, v in cfg.items()})
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(t, 1, 1, config=config)], operation_timeout=10)[t].result(15)


def produce(bootstrap, t, items, **extra):
    """items: (key, value) pairs; returns key -> offset of its last write."""
    # Small batches, so that a segment holds many of them.
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "batch.size": 1500}
    conf.update(extra)
    p = Producer(conf)
    last = {}
    errors = []

    def done(err, msg):
        if err is not None:
            errors.append(err)
        else:
            last[msg.key()] = max(last.get(msg.key(), -1), msg.offset())

    for i, (k, v) in enumerate(items):
        p.produce(t, v, key=k, on_delivery=done)
        if i % 200 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors[:3]
    return last


def consume(bootstrap, t, timeout=20):
    """Every record from the log start to the high watermark: [(offset, key, value)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "check-%s" % uuid.uuid4().hex[:6], "enable.auto.commit": False})
    lo, hi = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)
    out = []
    if hi > lo:
        c.assign([TopicPartition(t, 0, lo)])
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error() is not None:
                continue
            out.append((m.offset(), m.key(), m.value()))
            if m.offset() >= hi - 1:
                break
    c.close()
    assert not out or out[-1][0] == hi - 1, "did not reach the high watermark %d: %s" % (hi, out[-3:])
    return out


def high_watermark(bootstrap, t):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "hw", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(t, 0), timeout=5)[1]
    except Exception:
        return -1
    finally:
        c.close()


def final_map(records):
    m = {}
    for o, k, v in records:
        m[k] = (o, v)
    return m


def segments(logdir, t):
    d = os.path.join(logdir, "%s-0" % t)
    return sorted(int(os.path.basename(p)[:20]) for p in glob.glob(os.path.join(d, "*.log")))


def disk_bytes(logdir, t):
    # The cleaner swaps and deletes segments while we look: a file listed by
    # glob may be gone by the time we stat it, so count what is still there.
    total = 0
    for p in glob.glob(os.path.join(logdir, "%s-0" % t, "*.log")):
        try:
            total += os.path.getsize(p)
        except FileNotFoundError:
            pass
    return total


def leftovers(logdir, t):
    d = os.path.join(logdir, "%s-0" % t)
    return [f for f in os.listdir(d) if f.endswith((".cleaned", ".swap", ".deleted"))]


def cleans(broker, t):
    return len(re.findall(r"cleaned log %s-0 " % re.escape(t), broker.output()))


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("not within %ss: %s" % (timeout, what))


def overwrites(keys, rounds, size=20):
    return [(b"key%03d" % k, (b"%d-%d-" % (k, r)).ljust(size, b"x")) for r in range(rounds) for k in range(keys)]


def check_compacted(records, expected_last, active_base):
    """The latest value of each key at the offset it was written at, one record per key
    below the active segment."""
    m = final_map(records)
    assert {k: o for k, (o, _) in m.items()} == expected_last
    below = [k for o, k, _ in records if o < active_base]
    assert len(below) == len(set(below)), "a key twice below the active segment"
    assert all(a[0] < b[0] for a, b in zip(records, records[1:]))


def test_compacted_topic_keeps_the_latest_value_per_key_at_its_offset(fresh_cluster):
    # Written with the cleaner off, then the broker restarts with it on: the sizes before
    # and after are both measured.
    c = fresh_cluster(1, log_cleaner_enable="false")
    br = c.brokers[0]
    t = "compact-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t)
    items = overwrites(50, 40)
    last = produce(c.bootstrap, t, items)
    before = consume(c.bootstrap, t)
    assert len(before) == len(items)
    size_before = disk_bytes(c.logdir, t)
    assert len(segments(c.logdir, t)) > 10
    br.stop()
    br.props.update({"log.cleaner.enable": "true", "log.cleaner.backoff.ms": "200"})
    br.start()
    wait_for(lambda: cleans(br, t) >= 1, 30, "a clean of %s" % t)
    wait_for(lambda: not leftovers(c.logdir, t), 10, "no clean in progress")
    after = consume(c.bootstrap, t)
    expected = {k: o for k, o in last.items()}
    check_compacted(after, expected, segments(c.logdir, t)[-1])
    assert {k: v for k, (_, v) in final_map(after).items()} == {k: v for k, (_, v) in final_map(before).items()}
    assert len(after) < len(before) / 5, (len(after), len(before))
    size_after = disk_bytes(c.logdir, t)
    assert size_after < size_before / 4, (size_before, size_after)
    line = [l for l in br.output().splitlines() if "cleaned log %s-0" % t in l][0]
    assert "size reduction" in line and "MB/sec" in line and "messages" in line, line
    assert os.path.exists(os.path.join(c.logdir, "cleaner-offset-checkpoint"))
    with open(os.path.join(c.logdir, "cleaner-offset-checkpoint")) as f:
        lines = f.read().splitlines()
    assert lines[0] == "0" and int(lines[1]) == len(lines) - 2
    assert any(l.startswith("%s 0 " % t) for l in lines[2:]), lines
    # kafka-python reads the same map (gaps and all).
    from kafka import KafkaConsumer, TopicPartition as KTP
    kc = KafkaConsumer(bootstrap_servers=c.bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    kc.assign([KTP(t, 0)])
    kc.seek_to_beginning()
    got = [(m.offset, m.key, m.value) for m in kc]
    kc.close()
    assert got == after
    # Restarted, the log is the same; writes go on at the next offset.
    br.stop()
    br.start()
    assert consume(c.bootstrap, t) == after
    more = produce(c.bootstrap, t, [(b"key000", b"new")])
    assert more[b"key000"] == after[-1][0] + 1


def test_tombstones_stay_for_delete_retention_ms_then_go(fresh_cluster):
    c = fresh_cluster(1, **FAST)
    br = c.brokers[0]
    t = "tomb-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t, delete_retention_ms=6000)
    produce(c.bootstrap, t, overwrites(20, 10))
    deleted = [b"key%03d" % k for k in range(5)]
    produce(c.bootstrap, t, [(k, None) for k in deleted])
    written = time.time()
    filler = 0

    def more():
        nonlocal filler
        produce(c.bootstrap, t, [(b"filler%d" % (filler % 30), b"f" * 100) for _ in range(60)])
        filler += 1

    more()
    wait_for(lambda: cleans(br, t) >= 1, 30, "a first clean")
    recs = consume(c.bootstrap, t)
    tomb = {k for _, k, v in recs if v is None}
    assert time.time() - written < 6, "the first clean took too long to check 'not before'"
    assert tomb == set(deleted), "tombstones are kept within delete.retention.ms: %s" % tomb
    # Keep writing (new segments, new cleans) until they are gone.
    gone_at = None
    deadline = time.time() + 60
    while time.time() < deadline:
        more()
        recs = consume(c.bootstrap, t)
        if not any(k in deleted for _, k, _ in recs):
            gone_at = time.time()
            break
        time.sleep(0.5)
    assert gone_at is not None, "tombstones still there after 60 s"
    assert gone_at - written >= 6, "gone %.1fs after they were written, before delete.retention.ms" % (gone_at - written)
    # The other keys are all there.
    m = final_map(recs)
    assert all(b"key%03d" % k in m for k in range(5, 20))


def test_min_compaction_lag_protects_recent_records(fresh_cluster):
    c = fresh_cluster(1, **FAST)
    br = c.brokers[0]
    lagged = "lag-%s" % uuid.uuid4().hex[:8]
    free = "free-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, lagged, min_compaction_lag_ms=600000)
    create(c.bootstrap, free)
    items = overwrites(20, 20)
    produce(c.bootstrap, lagged, items)
    produce(c.bootstrap, free, items)
    # The cleaner runs (it cleans the other topic) but leaves the lagged one whole.
    wait_for(lambda: cleans(br, free) >= 1, 30, "a clean of the topic without a lag")
    time.sleep(1)
    assert cleans(br, lagged) == 0
    assert len(consume(c.bootstrap, lagged)) == len(items)
    assert len(consume(c.bootstrap, free)) < len(items) / 2


def test_records_without_a_key_are_refused(fresh_cluster):
    c = fresh_cluster(1, **FAST)
    t = "nokey-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t)
    resp = kraw.send_recv(c.brokers[0].port, kraw.produce_v3(t, 0, kraw.record_batch([b"no key"])))
    _, parts = kraw.parse_produce_v3(resp)
    assert parts[0][2] == INVALID_RECORD, parts
    # librdkafka reports Kafka's code to the application.
    errs = []
    p = Producer({"bootstrap.servers": c.bootstrap, "retries": 0})
    p.produce(t, b"no key either", on_delivery=lambda err, msg: errs.append(err))
    assert p.flush(20) == 0
    assert len(errs) == 1 and errs[0] is not None and errs[0].code() == INVALID_RECORD, errs
    assert consume(c.bootstrap, t) == []
    assert 'Compacted topic cannot accept message without key in topic partition %s-0.' % t in c.brokers[0].output()


def test_an_idempotent_producer_goes_on_across_cleans_and_a_kill(fresh_cluster):
    c = fresh_cluster(1, **FAST)
    br = c.brokers[0]
    t = "idem-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t)
    p = Producer({"bootstrap.servers": c.bootstrap, "enable.idempotence": True, "linger.ms": 2, "batch.size": 1500, "message.timeout.ms": 60000})
    errors = []
    last = {}

    def done(err, msg):
        if err is not None:
            errors.append(err)
        else:
            last[msg.key()] = msg.offset()

    def burst(r):
        for k in range(30):
            p.produce(t, b"%d-%d" % (k, r), key=b"k%d" % k, on_delivery=done)
        p.poll(0)

    for r in range(40):
        burst(r)
        if r == 20:
            assert p.flush(30) == 0
            wait_for(lambda: cleans(br, t) >= 1, 30, "a clean while producing")
    assert p.flush(30) == 0
    wait_for(lambda: cleans(br, t) >= 2, 30, "another clean")
    br.kill9()
    br.start()
    for r in range(40, 60):
        burst(r)
    assert p.flush(60) == 0
    assert not errors, errors[:3]
    recs = consume(c.bootstrap, t)
    m = final_map(recs)
    assert {k: o for k, (o, _) in m.items()} == last
    assert all(v == b"%s-59" % k[1:] for k, (_, v) in m.items())


def kill_when(br, logdir, t, mode, timeout=15):
    """Kills the broker once a file of the clean's step `mode` appears (".cleaned": the
    cleaned segment is being written; ".swap": committed, not swapped in yet), or after
    `mode` seconds. Returns whether the kill landed inside a clean."""
    d = os.path.join(logdir, "%s-0" % t)
    if isinstance(mode, float):
        time.sleep(mode)
        caught = bool(leftovers(logdir, t))
        br.kill9()
        return caught
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            names = os.listdir(d)
        except OSError:
            names = []
        if any(n.endswith(mode) for n in names):
            br.kill9()
            return True
    br.kill9()
    return False


@pytest.mark.timeout(300)
def test_kill9_during_cleaning_loses_nothing(fresh_cluster):
    c = fresh_cluster(1, log_cleaner_enable="false")
    br = c.brokers[0]
    t = "crash-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t, segment_bytes=256 << 10)
    expected, values = {}, {}
    caught = 0
    modes = [".cleaned", ".swap", ".cleaned", ".swap", 0.1]
    for i, mode in enumerate(modes):
        # More overwrites of every key (the broker runs without its cleaner here).
        items = overwrites(1000, 12 if i == 0 else 3, size=100)
        items = [(k, v + b"-%d" % i) for k, v in items]
        expected.update(produce(c.bootstrap, t, items, **{"batch.size": 16384}))
        values.update(items)
        br.kill9()
        br.props["log.cleaner.enable"] = "true"
        br.props["log.cleaner.backoff.ms"] = "100"
        br.start()
        hit = kill_when(br, c.logdir, t, mode)
        caught += hit
        print("kill %r: inside a clean: %s; cleans so far: %d" % (mode, hit, cleans(br, t)))
        # What a restart makes of it: no leftovers, the same key -> value map, offsets
        # increasing (no segment twice).
        br.props["log.cleaner.enable"] = "false"
        br.start()
        assert not leftovers(c.logdir, t), leftovers(c.logdir, t)
        recs = consume(c.bootstrap, t, timeout=60)
        m = final_map(recs)
        assert {k: o for k, (o, _) in m.items()} == expected, "after a kill at %r" % (mode,)
        assert all(m[k][1] == values[k] for k in m)
        assert all(a[0] < b[0] for a, b in zip(recs, recs[1:]))
    assert caught >= 2, "only %d kills landed inside a clean" % caught
    # And once a clean completes, exactly one record per key below the active segment.
    items = [(k, v + b"-last") for k, v in overwrites(1000, 2, size=100)]
    expected.update(produce(c.bootstrap, t, items, **{"batch.size": 16384}))
    br.kill9()
    br.props["log.cleaner.enable"] = "true"
    seen = cleans(br, t)
    br.start()
    wait_for(lambda: cleans(br, t) > seen, 60, "a whole clean after the kills")
    wait_for(lambda: not leftovers(c.logdir, t), 10, "no clean in progress")
    check_compacted(consume(c.bootstrap, t, timeout=60), expected, segments(c.logdir, t)[-1])


def test_consumer_offsets_stop_growing_and_survive_a_restart(fresh_cluster):
    c = fresh_cluster(1, offsets_topic_num_partitions=1, offsets_topic_segment_bytes=8192, log_cleaner_min_cleanable_ratio="0.01", **FAST)
    br = c.brokers[0]
    t = "work-%s" % uuid.uuid4().hex[:8]
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    a.create_topics([NewTopic(t, 1, 1)], operation_timeout=10)[t].result(15)
    produce(c.bootstrap, t, [(b"k", b"v%d" % i) for i in range(10)])
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "g-compact", "enable.auto.commit": False})
    cons.assign([TopicPartition(t, 0, 0)])

    def commit_loop(n, start):
        for i in range(n):
            cons.commit(offsets=[TopicPartition(t, 0, start + i % 10)], asynchronous=False)

    commit_loop(2000, 0)
    wait_for(lambda: cleans(br, "__consumer_offsets") >= 1, 30, "a clean of __consumer_offsets")
    commit_loop(3000, 0)
    # 5000 commits wrote several hundred kB; cleaned, one record per key (plus the active
    # segment of offsets.topic.segment.bytes) is left.
    wait_for(lambda: disk_bytes(c.logdir, "__consumer_offsets") < 48 * 1024, 30,
             "__consumer_offsets back under 48 kB (%d bytes now)" % disk_bytes(c.logdir, "__consumer_offsets"))
    # Every commit appended a record (an offset commit record is > 50 bytes): far more than
    # 48 kB went through the log.
    _, end = cons.get_watermark_offsets(TopicPartition("__consumer_offsets", 0), timeout=10)
    assert end >= 5000, end
    cons.commit(offsets=[TopicPartition(t, 0, 7)], asynchronous=False)
    cons.close()
    wait_for(lambda: cleans(br, "__consumer_offsets") >= 4, 30, "a clean after the last commit")
    br.kill9()
    br.start()
    c2 = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "g-compact", "enable.auto.commit": False})
    got = None
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            got = c2.committed([TopicPartition(t, 0)], timeout=5)[0].offset
            break
        except Exception:
            time.sleep(0.5)
    c2.close()
    assert got == 7


@pytest.mark.timeout(240)
def test_every_replica_compacts_and_a_new_leader_serves_the_same_map(fresh_cluster):
    from test_replication import FAST as REPL_FAST, broker, create as create_rf, describe, wait_until

    c = fresh_cluster(3, **dict(REPL_FAST, **FAST))
    t = "rf3-%s" % uuid.uuid4().hex[:8]
    create_rf(c, t, 1, 3, {"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0.01"})
    items = overwrites(50, 30)
    last = produce(c.bootstrap, t, items)
    # Each broker cleans its own replica.
    for b in c.brokers:
        # A follower's first clean may come while it is still fetching: wait until its
        # cleans have caught up with the whole log, not just for the first one.
        wait_for(lambda b=b: cleans(b, t) >= 1 and disk_bytes(b.logdir, t) < len(items) * 30 / 3, 60,
                 "broker %d cleans its replica (%d bytes on disk now)" % (b.id, disk_bytes(b.logdir, t)))
    before = consume(c.bootstrap, t)
    assert {k: o for k, (o, _) in final_map(before).items()} == last
    assert len(before) < len(items) / 2
    leader = describe(c, t)[0][0]
    broker(c, leader).kill9()
    (new,) = wait_until(lambda: (lambda d: (d[0],) if d and d[0] not in (-1, leader) else None)(describe(c, t).get(0)), 30, "a new leader")
    # A new leader's high watermark catches up with the acknowledged end once the other
    # follower fetches from it (as in Kafka); read once it has.
    end = before[-1][0] + 1
    wait_for(lambda: high_watermark(c.bootstrap, t) >= end, 30, "the new leader's high watermark at %d" % end)
    after = consume(c.bootstrap, t)
    assert final_map(after) == final_map(before), "the new leader %d serves the same key -> value map" % new
    # Writes go on, and the old leader comes back and catches up through the gaps.
    more = produce(c.bootstrap, t, [(b"key000", b"after-failover")])
    broker(c, leader).start()
    wait_until(lambda: sorted(describe(c, t)[0][2]) == [0, 1, 2], 60, "the old leader back in the ISR")
    assert final_map(consume(c.bootstrap, t))[b"key000"] == (more[b"key000"], b"after-failover")


def test_dynamic_cleaner_configs_apply_live(fresh_cluster):
    from confluent_kafka.admin import ConfigResource

    c = fresh_cluster(1, log_cleaner_backoff_ms=600000)
    br = c.brokers[0]
    t = "dyn-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t)
    produce(c.bootstrap, t, overwrites(30, 20))
    # The cleaner thread looked once at startup and sleeps for 10 minutes.
    time.sleep(1.5)
    assert cleans(br, t) == 0
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    res = ConfigResource("broker", "0", set_config={"log.cleaner.backoff.ms": "200"})
    a.alter_configs([res])[res].result(15)
    wait_for(lambda: cleans(br, t) >= 1, 20, "a clean once log.cleaner.backoff.ms is 200")
    # And a topic switched to compact afterwards is cleaned too (cleanup.policy applies live).
    t2 = "dyn2-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t2, cleanup_policy="delete")
    produce(c.bootstrap, t2, overwrites(30, 20))
    time.sleep(1)
    assert cleans(br, t2) == 0
    res2 = ConfigResource("topic", t2, set_config={"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0.01"})
    a.alter_configs([res2])[res2].result(15)
    wait_for(lambda: cleans(br, t2) >= 1, 20, "a clean once %s is compacted" % t2)
    assert len(consume(c.bootstrap, t2)) < 30 * 20 / 2


def test_compact_delete_honours_both(fresh_cluster):
    c = fresh_cluster(1, **FAST)
    br = c.brokers[0]
    t = "cd-%s" % uuid.uuid4().hex[:8]
    create(c.bootstrap, t, cleanup_policy="compact,delete", retention_ms=4000)
    items = overwrites(30, 20)
    produce(c.bootstrap, t, items)
    # Compacted first (within the retention time) ...
    wait_for(lambda: cleans(br, t) >= 1, 20, "a clean of the compact,delete topic")
    recs = consume(c.bootstrap, t)
    assert len(recs) < len(items) / 2
    assert {k for _, k, _ in recs} == {k for k, _ in items}
    # ... then retention removes what is older than retention.ms.
    co = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "lw", "enable.auto.commit": False})
    try:
        wait_for(lambda: co.get_watermark_offsets(TopicPartition(t, 0), timeout=5)[0] > 0, 30, "retention moving the log start")
        lo, hi = co.get_watermark_offsets(TopicPartition(t, 0), timeout=5)
    finally:
        co.close()
    assert lo > recs[0][0]
