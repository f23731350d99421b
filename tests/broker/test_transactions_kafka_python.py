"""Transactions (issue 15) with a second client: kafka-python's own transactional producer
(its Java-style TransactionManager, not librdkafka's) and its consumer's isolation levels.

Commit and abort over three partitions: a read_committed kafka-python consumer sees exactly
the committed records, a read_uncommitted one sees every record; send_offsets_to_transaction
moves a group's committed offset only when the transaction commits."""

import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata


def name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def create(bootstrap, topic, partitions):
    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)], timeout_ms=15000)
    finally:
        a.close()


def producer(bootstrap, tid):
    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid, request_timeout_ms=15000)
    p.init_transactions()
    return p


def read(bootstrap, topic, partitions, isolation, expect, timeout=30):
    """Every value of the topic from the beginning (bounded: stops at `expect` records or
    `timeout` s, then polls 1 s more so that records beyond `expect` would show)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False,
                      group_id=None, consumer_timeout_ms=1000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        batch = c.poll(timeout_ms=500)
        for recs in batch.values():
            got.extend(r.value for r in recs)
        if len(got) >= expect:
            break
    extra_until = time.time() + 1
    while time.time() < extra_until:
        for recs in c.poll(timeout_ms=200).values():
            got.extend(r.value for r in recs)
    c.close()
    return sorted(got)


def test_kafka_python_commit_abort_and_isolation_levels(txn_cluster):
    b = txn_cluster.bootstrap
    t = name("kp-txn")
    create(b, t, 3)
    p = producer(b, name("kp-tid"))
    committed = [b"c1-%d" % i for i in range(30)]
    aborted = [b"a-%d" % i for i in range(30)]
    committed2 = [b"c2-%d" % i for i in range(30)]
    for values, commit in ((committed, True), (aborted, False), (committed2, True)):
        p.begin_transaction()
        for i, v in enumerate(values):
            p.send(t, v, partition=i % 3)
        # Sent before the end: an abort would otherwise drop the unsent batches in the
        # client (as Java's producer does) and the broker would never see them.
        p.flush(timeout=10)
        if commit:
            p.commit_transaction()
        else:
            p.abort_transaction()
    p.close(timeout=10)
    want = sorted(committed + committed2)
    assert read(b, t, 3, "read_committed", len(want)) == want
    everything = sorted(committed + aborted + committed2)
    assert read(b, t, 3, "read_uncommitted", len(everything)) == everything


def committed_offset(bootstrap, group, tp):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return c.committed(tp)
    finally:
        c.close()


def test_kafka_python_send_offsets_moves_offsets_only_on_commit(txn_cluster):
    b = txn_cluster.bootstrap
    src, dst = name("kp-in"), name("kp-out")
    create(b, src, 1)
    create(b, dst, 1)
    group = name("kp-group")
    tp = TopicPartition(src, 0)
    p = producer(b, name("kp-ctp"))
    # A commit at offset 10, then an aborted one at 20: the group stays at 10.
    for offset, commit in ((10, True), (20, False)):
        p.begin_transaction()
        p.send(dst, b"out-%d" % offset, partition=0)
        p.send_offsets_to_transaction({tp: OffsetAndMetadata(offset, "", -1)}, group)
        if commit:
            p.commit_transaction()
        else:
            p.abort_transaction()
        assert committed_offset(b, group, tp) == 10, "after the %s at %d" % ("commit" if commit else "abort", offset)
    p.close(timeout=10)
    assert read(b, dst, 1, "read_committed", 1) == [b"out-10"]
