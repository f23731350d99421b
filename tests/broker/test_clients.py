"""Produce/consume/metadata with stock clients: kcat (librdkafka CLI), confluent-kafka
(librdkafka), kafka-python."""

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def topic_name(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def kcat(bootstrap, *args, inp=None, timeout=30):
    r = subprocess.run(["kcat", "-b", bootstrap, *args], input=inp, capture_output=True, timeout=timeout, text=True)
    return r


def create(bootstrap, name, partitions=1, config=None):
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(name, partitions, 1, config=config or {})], operation_timeout=10)
    fs[name].result(15)


def consume_all(bootstrap, topic, partitions, expect, timeout=20, offset=0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, offset) for p in partitions])
    out = []
    deadline = time.time() + timeout
    while len(out) < expect and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        out.append(m)
    c.close()
    return out


def test_kcat_metadata_produce_consume(cluster):
    b = cluster.bootstrap
    r = kcat(b, "-L")
    assert r.returncode == 0, r.stderr
    assert "1 brokers:" in r.stdout and "broker 0 at %s (controller)" % b in r.stdout
    t = topic_name("kcat")
    r = kcat(b, "-t", t, "-P", "-K:", inp="k1:v1\nk2:v2\nk3:v3\n")
    assert r.returncode == 0, r.stderr
    r = kcat(b, "-t", t, "-C", "-o", "beginning", "-e", "-f", "%k=%s@%o\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["k1=v1@0", "k2=v2@1", "k3=v3@2"]
    r = kcat(b, "-L", "-t", t)
    assert "topic \"%s\" with 1 partitions" % t in r.stdout
    assert "leader 0, replicas: 0, isrs: 0" in r.stdout


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_every_compression(cluster, codec):
    b = cluster.bootstrap
    t = topic_name("z" + codec)
    lines = "".join("line-%d-%s\n" % (i, "x" * (i % 50)) for i in range(200))
    r = kcat(b, "-t", t, "-P", "-z", codec, inp=lines)
    assert r.returncode == 0, r.stderr
    r = kcat(b, "-t", t, "-C", "-o", "beginning", "-e")
    assert r.stdout.splitlines() == lines.splitlines()


@pytest.mark.parametrize("acks", [0, 1, -1])
def test_confluent_acks_and_keys(cluster, acks):
    b = cluster.bootstrap
    t = topic_name("acks")
    create(b, t, partitions=3)
    p = Producer({"bootstrap.servers": b, "acks": acks, "linger.ms": 5, "compression.type": "lz4"})
    delivered = []

    def cb(err, msg):
        assert err is None, err
        delivered.append((msg.key(), msg.partition(), msg.offset()))

    for i in range(300):
        p.produce(t, key=b"key-%d" % (i % 7), value=b"v-%d" % i, on_delivery=cb)
    assert p.flush(20) == 0
    assert len(delivered) == 300
    # Same key, same partition (the client partitions; the broker stores what it gets).
    by_key = {}
    for k, part, _ in delivered:
        by_key.setdefault(k, set()).add(part)
    assert all(len(s) == 1 for s in by_key.values())
    msgs = consume_all(b, t, range(3), 300)
    assert sorted(m.value() for m in msgs) == sorted(b"v-%d" % i for i in range(300))
    for part in range(3):
        offs = [m.offset() for m in msgs if m.partition() == part]
        assert offs == list(range(len(offs)))


def test_fetch_long_poll_is_woken_by_append(cluster):
    b = cluster.bootstrap
    t = topic_name("poll")
    create(b, t)
    c = Consumer({"bootstrap.servers": b, "group.id": "x", "fetch.wait.max.ms": 5000, "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 0)])
    c.poll(1.0)  # connected, fetch parked on the broker
    p = Producer({"bootstrap.servers": b})
    start = time.time()
    p.produce(t, b"wake")
    p.flush(10)
    m = None
    while m is None and time.time() - start < 10:
        m = c.poll(0.2)
    assert m is not None and m.value() == b"wake"
    assert time.time() - start < 3.0, "fetch was not woken by the append"
    c.close()


def test_offsets_by_timestamp(cluster):
    b = cluster.bootstrap
    t = topic_name("ts")
    create(b, t)
    p = Producer({"bootstrap.servers": b, "linger.ms": 0})
    base = 1_700_000_000_000
    for i in range(10):
        p.produce(t, b"m%d" % i, timestamp=base + i * 1000)
        p.flush(10)
    c = Consumer({"bootstrap.servers": b, "group.id": "x"})
    got = c.offsets_for_times([TopicPartition(t, 0, base + 4500)], timeout=10)
    assert got[0].offset == 5
    lo, hi = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)
    assert (lo, hi) == (0, 10)
    got = c.offsets_for_times([TopicPartition(t, 0, base + 99_000)], timeout=10)
    assert got[0].offset == -1
    c.close()


def test_kafka_python_produce_consume(cluster):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP

    b = cluster.bootstrap
    t = topic_name("kp")
    create(b, t, partitions=2)
    for codec in (None, "gzip"):
        # kafka-python 3.x enables idempotence by default with acks=all (InitProducerId, sequences).
        p = KafkaProducer(bootstrap_servers=b, acks="all", compression_type=codec)
        futs = [p.send(t, key=b"k%d" % (i % 3), value=b"val-%d" % i) for i in range(50)]
        for f in futs:
            md = f.get(timeout=10)
            assert md.offset >= 0
        p.close()
    c = KafkaConsumer(bootstrap_servers=b, enable_auto_commit=False, consumer_timeout_ms=3000)
    c.assign([KTP(t, 0), KTP(t, 1)])
    c.seek_to_beginning()
    vals = [m.value for m in c]
    c.close()
    assert sorted(vals) == sorted([b"val-%d" % i for i in range(50)] * 2)


def test_auto_create_on_metadata(cluster):
    b = cluster.bootstrap
    t = topic_name("auto")
    p = Producer({"bootstrap.servers": b})
    p.produce(t, b"hello")
    assert p.flush(15) == 0
    md = AdminClient({"bootstrap.servers": b}).list_topics(t, timeout=10)
    assert len(md.topics[t].partitions) == 1
