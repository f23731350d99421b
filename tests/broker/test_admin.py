"""Topic administration and configs through the admin APIs (confluent-kafka AdminClient)."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewPartitions, NewTopic)


def name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def admin(c):
    return AdminClient({"bootstrap.servers": c.bootstrap})


def describe(a, t):
    res = ConfigResource(ConfigResource.Type.TOPIC, t)
    return a.describe_configs([res])[res].result(10)


def test_create_describe_alter_delete(cluster):
    a = admin(cluster)
    t = name("hello.kafka")
    fs = a.create_topics([NewTopic(t, 3, 1, config={"retention.ms": "172800000"})], operation_timeout=10)
    fs[t].result(15)
    md = a.list_topics(timeout=10)
    assert t in md.topics and len(md.topics[t].partitions) == 3
    assert all(p.leader == 0 and p.replicas == [0] and p.isrs == [0] for p in md.topics[t].partitions.values())
    cfg = describe(a, t)
    assert cfg["retention.ms"].value == "172800000"
    assert cfg["retention.ms"].source == ConfigResource.Type.TOPIC or cfg["retention.ms"].source == 1
    assert cfg["segment.bytes"].value == "1073741824" and cfg["segment.bytes"].is_default
    # already exists
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(t, 1, 1)])[t].result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    # replication factor above the broker count
    t2 = name("rf")
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(t2, 1, 3)])[t2].result(10)
    assert e.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR
    # bad config
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(t2, 1, 1, config={"retention.ms": "soon"})])[t2].result(10)
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    # add partitions
    a.create_partitions([NewPartitions(t, 4)])[t].result(15)
    deadline = time.time() + 10
    while time.time() < deadline and len(a.list_topics(t, timeout=5).topics[t].partitions) != 4:
        time.sleep(0.2)
    assert len(a.list_topics(t, timeout=5).topics[t].partitions) == 4
    with pytest.raises(KafkaException) as e:
        a.create_partitions([NewPartitions(t, 2)])[t].result(10)
    assert e.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    # incremental alter
    res = ConfigResource(ConfigResource.Type.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res])[res].result(10)
    assert describe(a, t)["retention.ms"].value == "86400000"
    # delete
    a.delete_topics([t], operation_timeout=10)[t].result(15)
    deadline = time.time() + 10
    while time.time() < deadline and t in a.list_topics(timeout=5).topics:
        time.sleep(0.2)
    assert t not in a.list_topics(timeout=5).topics
    with pytest.raises(KafkaException) as e:
        a.delete_topics([t], operation_timeout=5)[t].result(10)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_retention_takes_effect_live(cluster):
    a = admin(cluster)
    t = name("ret")
    a.create_topics([NewTopic(t, 1, 1, config={"segment.bytes": "2000"})], operation_timeout=10)[t].result(15)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "linger.ms": 0})
    for i in range(60):
        p.produce(t, b"x" * 100, timestamp=int(time.time() * 1000) - 3_600_000)
        p.flush(10)
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "x"})
    lo, hi = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)
    assert (lo, hi) == (0, 60)
    res = ConfigResource(ConfigResource.Type.TOPIC, t, set_config={"retention.ms": "60000", "segment.bytes": "2000"})
    a.alter_configs([res])[res].result(10)
    deadline = time.time() + 15
    while time.time() < deadline:
        lo, hi = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10, cached=False)
        if lo == 60:
            break
        time.sleep(0.3)
    c.close()
    assert (lo, hi) == (60, 60), "retention.ms did not delete the old segments"


def test_delete_records_moves_log_start(cluster):
    a = admin(cluster)
    t = name("dr")
    a.create_topics([NewTopic(t, 1, 1)], operation_timeout=10)[t].result(15)
    p = Producer({"bootstrap.servers": cluster.bootstrap})
    for i in range(20):
        p.produce(t, b"m%d" % i)
    p.flush(10)
    fs = a.delete_records([TopicPartition(t, 0, 7)])
    r = list(fs.values())[0].result(10)
    assert r.low_watermark == 7
    # No auto-commit: this consumer never subscribes. It reads the reset's answer before it
    # closes: librdkafka's close() racing an OFFSET_OUT_OF_RANGE fetch answer was seen to
    # block in rd_kafka_destroy (thrd_join) with the answer unread in its socket (~1 in 200).
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "x", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    assert c.get_watermark_offsets(TopicPartition(t, 0), timeout=10) == (7, 20)
    c.assign([TopicPartition(t, 0, 0)])  # below the start: the reset policy applies
    m, deadline = None, time.time() + 10
    while m is None and time.time() < deadline:
        m = c.poll(0.5)
    assert m is not None and m.error() is None and (m.offset(), m.value()) == (7, b"m7")
    c.close()
    with pytest.raises(KafkaException):
        list(a.delete_records([TopicPartition(t, 0, 99)]).values())[0].result(10)
