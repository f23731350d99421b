"""A topic's compression.type other than `producer`: the broker stores batches with that
codec whatever the producer used (Kafka recompresses), and consumers read the same records."""

import glob
import os
import struct
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def stored_codecs(logdir, topic):
    codecs = []
    for path in sorted(glob.glob(os.path.join(logdir, "%s-0" % topic, "*.log"))):
        data = open(path, "rb").read()
        pos = 0
        while pos + 61 <= len(data):
            _base, length = struct.unpack_from(">qi", data, pos)
            attrs = struct.unpack_from(">h", data, pos + 21)[0]
            codecs.append(attrs & 7)
            pos += 12 + length
    return codecs


def run(cluster, topic, topic_codec, producer_codec, codec_id):
    a = AdminClient({"bootstrap.servers": cluster.bootstrap})
    a.create_topics([NewTopic(topic, 1, 1, config={"compression.type": topic_codec})])[topic].result(15)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "compression.type": producer_codec, "linger.ms": 20})
    values = [b"value-%03d-" % i + b"x" * (i % 40) for i in range(200)]
    deadline = time.time() + 15
    for v in values:
        p.produce(topic, v, partition=0)
    assert p.flush(15) == 0
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "ct", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < len(values) and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value())
    c.close()
    assert got == values
    codecs = stored_codecs(cluster.brokers[0].logdir, topic)
    assert codecs and set(codecs) == {codec_id}, codecs


def test_topic_zstd_recompresses_uncompressed_batches(cluster):
    run(cluster, "ct-zstd", "zstd", "none", 4)


def test_topic_uncompressed_decompresses_gzip_batches(cluster):
    run(cluster, "ct-plain", "uncompressed", "gzip", 0)


def test_topic_snappy_and_lz4_from_other_codecs(cluster):
    run(cluster, "ct-snappy", "snappy", "lz4", 2)
    run(cluster, "ct-lz4", "lz4", "zstd", 3)
