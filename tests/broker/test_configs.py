"""The shipped configs/server-{0,1,2}.properties make one three-broker cluster: each file is
started as it is, except that listeners, log.dirs and zookeeper.connect point at free ports
and temporary directories, and no key is reported unknown."""

import os
import re
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lib.kafka import Broker, start_zk
from lib.paths import REPO

CONFIGS = os.path.join(REPO, "configs")


def read_props(path):
    props = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or line.startswith("!"):
                continue
            k, _, v = line.partition("=")
            props[k.strip()] = v.strip()
    return props


def test_three_shipped_configs_start_one_cluster(tmp_path):
    files = [read_props(os.path.join(CONFIGS, "server-%d.properties" % i)) for i in range(3)]
    assert [f["broker.id"] for f in files] == ["0", "1", "2"]
    assert [f["listeners"] for f in files] == ["PLAINTEXT://127.0.0.1:%d" % p for p in (9092, 9093, 9094)]
    assert len({f["log.dirs"] for f in files}) == 3
    assert len({f["zookeeper.connect"] for f in files}) == 1
    zk = start_zk(tmp_path)
    brokers = []
    try:
        for i, f in enumerate(files):
            b = Broker(str(tmp_path), zk.connect, i)
            b.props = dict(f)
            b.props["listeners"] = "PLAINTEXT://127.0.0.1:%d" % b.port
            b.props["log.dirs"] = b.logdir
            b.props["zookeeper.connect"] = zk.connect
            brokers.append(b)
            b.start()
        for b in brokers:
            assert not re.search(r"isn't a known config", b.output()), b.output()[-2000:]
        bootstrap = ",".join(b.bootstrap for b in brokers)
        a = AdminClient({"bootstrap.servers": bootstrap})
        deadline = time.time() + 15
        while len(a.list_topics(timeout=10).brokers) < 3 and time.time() < deadline:
            time.sleep(0.2)
        md = a.list_topics(timeout=10)
        assert sorted(md.brokers) == [0, 1, 2]
        assert sorted(md.brokers[i].port for i in range(3)) == sorted(b.port for b in brokers)

        # Records through every broker, and a consumer group: its offsets topic gets the
        # files' offsets.topic.replication.factor=3.
        t = "three-%s" % uuid.uuid4().hex[:8]
        a.create_topics([NewTopic(t, 3, 1)], operation_timeout=10)[t].result(15)
        deadline = time.time() + 15
        while True:
            parts = a.list_topics(t, timeout=10).topics[t].partitions
            leaders = sorted(p.leader for p in parts.values())
            if -1 not in leaders or time.time() > deadline:
                break
            time.sleep(0.2)
        assert leaders == [0, 1, 2], leaders
        p = Producer({"bootstrap.servers": bootstrap})
        for i in range(30):
            p.produce(t, b"v%d" % i, partition=i % 3)
        assert p.flush(20) == 0
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "three", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False})
        c.subscribe([t])
        got = []
        deadline = time.time() + 30
        while len(got) < 30 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
        assert sorted(got) == sorted(b"v%d" % i for i in range(30))
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(t, i) for i in range(3)], timeout=10)
        c.close()
        assert sorted(x.offset for x in committed) == [10, 10, 10]
        md = a.list_topics("__consumer_offsets", timeout=10)
        assert all(len(x.replicas) == 3 for x in md.topics["__consumer_offsets"].partitions.values())
    finally:
        for b in brokers:
            b.kill9()
        zk.kill9()
