"""Follower fetching (KIP-392, Kafka 2.4+): brokers with `broker.rack`, leaders with
`replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector`; a consumer
that gives its rack (Fetch v11 `rack_id`, librdkafka's `client.rack`) is sent by the leader to
the replica of its rack (`preferred_read_replica`, no records) and reads from that follower,
up to the high watermark."""

import struct
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lib import kraw
from lib.kraw import array, kstr

SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
NOT_LEADER_OR_FOLLOWER = 6


def fetch(port, topic, offset, rack, version=11, replica_id=-1):
    """One partition-0 fetch: (error, high watermark, preferred read replica, record bytes)."""
    c = kraw.Conn(port)
    try:
        part = struct.pack(">iiqqi", 0, -1, offset, -1, 1 << 20)
        body = struct.pack(">iiiib", replica_id, 100, 1, 1 << 20, 0) + struct.pack(">ii", 0, -1)
        body += array([kstr(topic) + array([part])]) + array([])
        if version >= 11:
            body += kstr(rack)
        r = c.call(1, version, body)
        r.take(">i")  # throttle
        r.take(">h")  # error
        r.take(">i")  # session
        assert r.take(">i") == 1
        assert r.string() == topic
        assert r.take(">i") == 1
        _p, err, hw, _lso, _lso2 = r.take(">ihqqq")
        n = r.take(">i")
        for _ in range(max(n, 0)):
            r.take(">qq")
        preferred = r.take(">i") if version >= 11 else -1
        records = r.bytes_() or b""
        return err, hw, preferred, records
    finally:
        c.close()


def test_consumers_read_from_the_replica_of_their_rack(fresh_cluster):
    c = fresh_cluster(3, replica_selector_class=SELECTOR)
    for b in c.brokers:
        b.stop()
        b.props["broker.rack"] = "rack-%d" % b.id
        b.start()
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    t = "rack-%s" % uuid.uuid4().hex[:6]
    admin.create_topics([NewTopic(t, 1, 3)], operation_timeout=10)[t].result(15)
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all"})
    for i in range(100):
        p.produce(t, b"v%03d" % i, partition=0)
    assert p.flush(30) == 0
    deadline = time.time() + 30
    while True:
        md = admin.list_topics(t, timeout=10).topics[t].partitions[0]
        if md.leader >= 0 and len(md.isrs) == 3:
            break
        assert time.time() < deadline, "ISR not complete: %r" % md.isrs
        time.sleep(0.2)
    leader = next(b for b in c.brokers if b.id == md.leader)
    follower = next(b for b in c.brokers if b.id != md.leader)
    # The leader sends a consumer of the follower's rack there, with no records.
    err, hw, preferred, records = fetch(leader.port, t, 0, "rack-%d" % follower.id)
    assert (err, hw, preferred, records) == (0, 100, follower.id, b"")
    # A consumer of the leader's rack, or without a rack, is served by the leader.
    for rack in ("rack-%d" % leader.id, ""):
        err, hw, preferred, records = fetch(leader.port, t, 0, rack)
        assert (err, preferred) == (0, -1) and len(records) > 0
    # The follower serves consumers (v11+) up to its high watermark; older versions are not
    # served by followers, as in Kafka.
    # (The follower learns the high watermark from its next fetch answer.)
    deadline = time.time() + 15
    while True:
        err, hw, preferred, records = fetch(follower.port, t, 0, "rack-%d" % follower.id)
        if hw == 100 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert (err, hw, preferred) == (0, 100, -1) and b"v099" in records
    assert fetch(follower.port, t, 0, "", version=10)[0] == NOT_LEADER_OR_FOLLOWER
    # librdkafka with client.rack: every record, once.
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "rack-g-%s" % t, "client.rack": "rack-%d" % follower.id,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    cons.assign([TopicPartition(t, 0, 0)])
    got = []
    deadline = time.time() + 30
    while len(got) < 100 and time.time() < deadline:
        m = cons.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value())
    cons.close()
    assert got == [b"v%03d" % i for i in range(100)]


def test_unknown_selector_class_is_refused(fresh_cluster):
    import pytest
    with pytest.raises(RuntimeError) as e:
        fresh_cluster(1, replica_selector_class="com.example.Nope")
    assert "replica.selector.class" in str(e.value)
