"""Durability: restart keeps data, kill -9 plus a torn tail recovers every acknowledged
record, meta.properties mismatches refuse to start."""

import glob
import os

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def produce(bootstrap, t, n, prefix=b"v"):
    p = Producer({"bootstrap.servers": bootstrap, "acks": -1, "linger.ms": 2, "batch.num.messages": 100})
    acked = []
    for i in range(n):
        p.produce(t, prefix + b"%d" % i, on_delivery=lambda e, m: acked.append(m.value()) if e is None else None)
    assert p.flush(20) == 0
    return acked


def read_all(bootstrap, t, expect):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "x", "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 0)])
    out = []
    import time
    deadline = time.time() + 20
    while len(out) < expect and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            out.append((m.offset(), m.value()))
    c.close()
    return out


def test_kill9_with_torn_tail_recovers(fresh_cluster):
    c = fresh_cluster(1, log_segment_bytes=5000)
    b = c.brokers[0]
    t = "durable"
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(t, 1, 1)], operation_timeout=10)[t].result(15)
    acked = produce(b.bootstrap, t, 2000)
    assert len(acked) == 2000
    b.kill9()
    segs = sorted(glob.glob(os.path.join(b.logdir, t + "-0", "*.log")))
    assert len(segs) > 1, "expected several segments"
    with open(segs[-1], "ab") as f:  # a half-written batch, as a crash mid-write leaves
        f.write(b"\x00\x00\x00\x00\x00\x00\x07\xd0\x00\x00\x01\x00\x00\x00\x00\x00\x02garbage")
    os.remove(segs[0].replace(".log", ".index"))  # a lost index is rebuilt
    b.start()
    assert "cutting" in b.output()
    got = read_all(b.bootstrap, t, 2000)
    assert [v for _, v in got] == acked
    assert [o for o, _ in got] == list(range(2000))
    more = produce(b.bootstrap, t, 10, prefix=b"after")
    got = read_all(b.bootstrap, t, 2010)
    assert [v for _, v in got][2000:] == more and got[-1][0] == 2009


def test_clean_restart_keeps_data_and_registration(fresh_cluster):
    c = fresh_cluster(1)
    b = c.brokers[0]
    t = "restart"
    acked = produce(b.bootstrap, t, 100)
    b.stop()
    assert "shut down completed" in b.output()
    for name in ("recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "replication-offset-checkpoint", "meta.properties"):
        assert os.path.exists(os.path.join(b.logdir, name)), name
    with open(os.path.join(b.logdir, "recovery-point-offset-checkpoint")) as f:
        assert f.read().splitlines()[:3] == ["0", "1", "restart 0 100"]
    b.start()
    assert [v for _, v in read_all(b.bootstrap, t, 100)] == acked


def test_cluster_id_mismatch_refuses_to_start(fresh_cluster):
    c = fresh_cluster(1)
    b = c.brokers[0]
    b.stop()
    meta = os.path.join(b.logdir, "meta.properties")
    text = open(meta).read()
    with open(meta, "w") as f:
        f.write("\n".join("cluster.id=AAAAAAAAAAAAAAAAAAAAAA" if l.startswith("cluster.id=") else l for l in text.splitlines()) + "\n")
    with pytest.raises(RuntimeError) as e:
        b.start(timeout=15)
    msg = str(e.value)
    assert "doesn't match stored clusterId" in msg and meta in msg and "AAAAAAAAAAAAAAAAAAAAAA" in msg
