"""Consumer groups with stock clients: rebalances (join, SIGKILLed member evicted after its
session timeout), committed offsets (auto, manual sync/async) surviving consumer restarts and
kill -9 of the broker, kcat -G, and the admin APIs kafka-consumer-groups uses (describe, lag,
reset by OffsetCommit to an empty group, delete)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

try:
    from confluent_kafka import ConsumerGroupTopicPartitions
except ImportError:  # older confluent-kafka
    from confluent_kafka.admin import ConsumerGroupTopicPartitions

HERE = os.path.dirname(os.path.abspath(__file__))
SESSION_MS = 3000


def name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def create(bootstrap, topic, partitions):
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic].result(15)


def produce(bootstrap, topic, n, partitions):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, b"v%d" % i, partition=i % partitions)
    assert p.flush(20) == 0


class Member:
    """group_member.py in a subprocess; keeps its latest reported assignment."""

    def __init__(self, lib, bootstrap, topic, group, instance=None):
        args = [sys.executable, os.path.join(HERE, "group_member.py"), lib, bootstrap, topic, group, str(SESSION_MS)]
        if instance:
            args.append(instance)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.assigned = None
        self.history = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.assigned = json.loads(line)["assigned"]
                self.history.append(self.assigned)
            except ValueError:
                pass

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_partition_cover(members, partitions, timeout):
    """Waits until the members' assignments are disjoint, non-empty and cover all partitions."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = [m.assigned for m in members]
        if all(g for g in got):
            flat = sorted(p for g in got for p in g)
            if flat == list(range(partitions)):
                return got
        time.sleep(0.1)
    raise AssertionError("no stable disjoint cover of %d partitions: %s" % (partitions, [m.assigned for m in members]))


@pytest.mark.parametrize("lib", ["ck", "kp"])
def test_three_members_rebalance_and_sigkill_eviction(fresh_cluster, lib):
    c = fresh_cluster(1, group_min_session_timeout_ms=1000)
    b = c.bootstrap
    t = name("grp6")
    g = name("g-" + lib)
    create(b, t, 6)
    produce(b, t, 60, 6)
    members = []
    try:
        members.append(Member(lib, b, t, g))
        got = wait_partition_cover(members, 6, 30)
        assert got[0] == [0, 1, 2, 3, 4, 5]
        # A new member triggers a rebalance: the first one gives partitions up.
        members.append(Member(lib, b, t, g))
        members.append(Member(lib, b, t, g))
        got = wait_partition_cover(members, 6, 30)
        assert all(len(a) == 2 for a in got), got
        # SIGKILL one (no LeaveGroup): after its session timeout its partitions move.
        dead = members.pop()
        lost = dead.assigned
        killed_at = time.time()
        dead.kill9()
        got = wait_partition_cover(members, 6, SESSION_MS / 1000 + 20)
        took = time.time() - killed_at
        assert sorted(got[0] + got[1]) == [0, 1, 2, 3, 4, 5] and set(lost) <= set(got[0] + got[1])
        assert took >= 1.0, "partitions moved before any session timeout could pass (%.1fs)" % took
        a = AdminClient({"bootstrap.servers": b})
        d = a.describe_consumer_groups([g])[g].result(15)
        assert len(d.members) == 2
        assert str(d.state).endswith("STABLE")
    finally:
        for m in members:
            m.stop()


def consume(consumer, n, timeout=20):
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            out.append((m.partition(), m.offset()))
    return out


def committed(bootstrap, group, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)}
    finally:
        c.close()


def test_commits_survive_consumer_restart_and_broker_kill9(fresh_cluster):
    c = fresh_cluster(1)
    br = c.brokers[0]
    b = c.bootstrap
    t = name("commit")
    g = name("g")
    create(b, t, 3)
    produce(b, t, 90, 3)
    conf = {"bootstrap.servers": b, "group.id": g, "auto.offset.reset": "earliest"}
    # Manual, synchronous commits.
    c1 = Consumer(dict(conf, **{"enable.auto.commit": False}))
    c1.subscribe([t])
    first = consume(c1, 30)
    c1.commit(asynchronous=False)
    pos = {tp.partition: tp.offset for tp in c1.position(c1.assignment())}
    c1.close()
    assert committed(b, g, t, 3) == pos
    # Async commit of the next batch.
    c2 = Consumer(dict(conf, **{"enable.auto.commit": False}))
    c2.subscribe([t])
    second = consume(c2, 30)
    c2.commit(asynchronous=True)
    c2.close()  # close waits for outstanding commits
    # Auto commit of the rest.
    c3 = Consumer(dict(conf, **{"enable.auto.commit": True, "auto.commit.interval.ms": 100}))
    c3.subscribe([t])
    third = consume(c3, 30)
    time.sleep(0.5)
    c3.close()
    seen = first + second + third
    assert len(seen) == 90 and len(set(seen)) == 90, "a restarted consumer re-read or skipped records"
    before = committed(b, g, t, 3)
    assert before == {0: 30, 1: 30, 2: 30}
    # kill -9 the broker: commits are in __consumer_offsets and come back.
    br.kill9()
    br.start()
    assert committed(c.bootstrap, g, t, 3) == before
    c4 = Consumer(dict(conf, **{"enable.auto.commit": False}))
    c4.subscribe([t])
    assert consume(c4, 1, timeout=6) == []
    c4.close()
    # The group metadata on disk is Kafka's format: group key v2 and offset key v1 records.
    seg = os.path.join(br.logdir)
    parts = [d for d in os.listdir(seg) if d.startswith("__consumer_offsets-")]
    assert len(parts) == 50


def test_kafka_python_commits_and_committed(fresh_cluster):
    from kafka import KafkaConsumer, TopicPartition as KTP

    c = fresh_cluster(1)
    b = c.bootstrap
    t = name("kpc")
    g = name("kpg")
    create(b, t, 2)
    produce(b, t, 40, 2)
    k = KafkaConsumer(t, bootstrap_servers=b, group_id=g, enable_auto_commit=False, auto_offset_reset="earliest")
    n = 0
    deadline = time.time() + 20
    while n < 40 and time.time() < deadline:
        n += sum(len(v) for v in k.poll(timeout_ms=300).values())
    assert n == 40
    k.commit()
    assert {k.committed(KTP(t, p)) for p in (0, 1)} == {20}
    k.commit_async(offsets=None)
    k.close()
    k2 = KafkaConsumer(bootstrap_servers=b, group_id=g, enable_auto_commit=False)
    assert k2.committed(KTP(t, 0)) == 20 and k2.committed(KTP(t, 1)) == 20
    k2.close()
    assert committed(b, g, t, 2) == {0: 20, 1: 20}


def test_kcat_balanced_consumer(fresh_cluster):
    c = fresh_cluster(1)
    b = c.bootstrap
    t = name("kcatg")
    g = name("kg")
    create(b, t, 3)
    produce(b, t, 30, 3)
    r = subprocess.run(["kcat", "-b", b, "-G", g, t, "-e", "-q", "-X", "auto.offset.reset=earliest", "-f", "%p:%o\n"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.split())
    assert len(lines) == 30 and len(set(lines)) == 30
    time.sleep(0.5)
    assert committed(b, g, t, 3) == {0: 10, 1: 10, 2: 10}


def test_admin_describe_lag_reset_delete(fresh_cluster):
    c = fresh_cluster(1)
    b = c.bootstrap
    t = name("adm")
    g = name("ag")
    create(b, t, 3)
    produce(b, t, 60, 3)
    a = AdminClient({"bootstrap.servers": b})
    cons = Consumer({"bootstrap.servers": b, "group.id": g, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "client.id": "lag-client"})
    cons.subscribe([t])
    assert len(consume(cons, 30)) == 30
    cons.commit(asynchronous=False)
    # Describe while active: one member with all three partitions, Kafka's fields.
    d = a.describe_consumer_groups([g])[g].result(15)
    assert str(d.state).endswith("STABLE") and d.partition_assignor in ("range", "roundrobin")
    assert len(d.members) == 1
    m = d.members[0]
    assert m.client_id == "lag-client" and m.host.startswith("/127.0.0.1")
    assert sorted(tp.partition for tp in m.assignment.topic_partitions) == [0, 1, 2]
    listed = [x.group_id for x in a.list_consumer_groups().result(15).valid]
    assert g in listed
    # Lag = log end offset - committed offset.
    offs = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(15)
    got = {tp.partition: tp.offset for tp in offs.topic_partitions}
    # (a partition nothing was consumed from has no commit: its lag counts from 0)
    lag = sum(cons.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1] - got.get(p, 0) for p in range(3))
    assert sum(got.values()) == 30 and lag == 30
    # Reset and delete refuse an active group (OffsetCommit without a member id: UNKNOWN_MEMBER_ID).
    r = a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(g, [TopicPartition(t, 1, 10)])])[g]
    try:
        errs = [tp.error for tp in r.result(15).topic_partitions]
    except KafkaException as e:
        errs = [e.args[0]]
    assert errs and all(e is not None and "UNKNOWN_MEMBER_ID" in str(e) for e in errs), errs
    with pytest.raises(KafkaException) as e:
        a.delete_consumer_groups([g])[g].result(15)
    assert "NON_EMPTY_GROUP" in str(e.value)
    cons.close()
    # Inactive: kafka-consumer-groups --reset-offsets --to-offset 10 --topic t:1, then to earliest.
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(g, [TopicPartition(t, 1, 10)])])[g].result(15)
    assert committed(b, g, t, 3)[1] == 10
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(g, [TopicPartition(t, p, 0) for p in range(3)])])[g].result(15)
    assert committed(b, g, t, 3) == {0: 0, 1: 0, 2: 0}
    d = a.describe_consumer_groups([g])[g].result(15)
    assert str(d.state).endswith("EMPTY") and d.members == []
    a.delete_consumer_groups([g])[g].result(15)
    assert committed(b, g, t, 3) == {0: -1001, 1: -1001, 2: -1001}
    assert g not in [x.group_id for x in a.list_consumer_groups().result(15).valid]


def test_simple_assign_commits_without_group_membership(fresh_cluster):
    c = fresh_cluster(1)
    b = c.bootstrap
    t = name("simple")
    g = name("sg")
    create(b, t, 2)
    produce(b, t, 10, 2)
    cons = Consumer({"bootstrap.servers": b, "group.id": g, "enable.auto.commit": False})
    cons.assign([TopicPartition(t, 0, 0), TopicPartition(t, 1, 0)])
    assert len(consume(cons, 10)) == 10
    cons.commit(asynchronous=False)
    cons.close()
    assert committed(b, g, t, 2) == {0: 5, 1: 5}


def test_static_member_restart_keeps_assignment(fresh_cluster):
    c = fresh_cluster(1, group_min_session_timeout_ms=1000)
    b = c.bootstrap
    t = name("static")
    g = name("stg")
    create(b, t, 4)
    m1 = Member("ck", b, t, g, instance="inst-1")
    m2 = Member("ck", b, t, g, instance="inst-2")
    try:
        got = wait_partition_cover([m1, m2], 4, 30)
        # inst-1 restarts within its session timeout: same partitions, inst-2 undisturbed.
        m1.kill9()
        m1b = Member("ck", b, t, g, instance="inst-1")
        got2 = wait_partition_cover([m1b, m2], 4, 30)
        assert got2[0] == got[0] and m2.history[-1] == got[1]
        a = AdminClient({"bootstrap.servers": b})
        d = a.describe_consumer_groups([g])[g].result(15)
        assert sorted(x.group_instance_id for x in d.members) == ["inst-1", "inst-2"]
        m1b.stop()
    finally:
        m1.stop()
        m2.stop()


def java_hash(s):
    """Java's String.hashCode: over UTF-16 code units, 32-bit wrapping."""
    units = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (h * 31 + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def test_coordinator_placement_on_three_brokers(fresh_cluster):
    from lib import kraw

    c = fresh_cluster(3)
    b = c.bootstrap
    t = name("three")
    create(b, t, 3)
    produce(b, t, 30, 3)
    a = AdminClient({"bootstrap.servers": b})
    nodes = set()
    groups = [name("pg") for _ in range(4)]
    for g in groups:
        cons = Consumer({"bootstrap.servers": b, "group.id": g, "auto.offset.reset": "earliest", "enable.auto.commit": False})
        cons.subscribe([t])
        assert len(consume(cons, 30)) == 30
        cons.commit(asynchronous=False)
        cons.close()
        # Every broker names the same coordinator: the leader of partition
        # (javaHashCode(group) & 0x7fffffff) % 50 of __consumer_offsets.
        md = a.list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"]
        leader = md.partitions[(java_hash(g) & 0x7FFFFFFF) % len(md.partitions)].leader
        for br in c.brokers:
            conn = kraw.Conn(br.port)
            assert kraw.find_coordinator(conn, g) == (0, leader)
            conn.close()
        nodes.add(leader)
        assert committed(b, g, t, 3) == {0: 10, 1: 10, 2: 10}
    assert len(md.partitions) == 50
    assert len({p.leader for p in md.partitions.values()}) == 3, "offsets partitions spread over the brokers"


def test_kafka_python_admin_groups(fresh_cluster):
    from kafka import KafkaAdminClient, TopicPartition as KTP
    from kafka.admin import OffsetSpec
    from kafka.structs import OffsetAndMetadata

    c = fresh_cluster(1)
    b = c.bootstrap
    t = name("kpa")
    g = name("kpag")
    create(b, t, 2)
    produce(b, t, 20, 2)
    cons = Consumer({"bootstrap.servers": b, "group.id": g, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    cons.subscribe([t])
    assert len(consume(cons, 20)) == 20
    cons.commit(asynchronous=False)
    a = KafkaAdminClient(bootstrap_servers=b)
    try:
        assert {"group_id": g, "protocol_type": "consumer", "group_state": "Stable"} in a.list_groups(states_filter=["Stable"])
        d = a.describe_groups([g])[g]
        assert d["group_state"] == "Stable" and d["protocol_data"] == "range"
        assert d["members"][0]["member_metadata"]["topics"] == [t]
        offs = a.list_group_offsets({g: None})[g]
        assert {tp.partition: om.offset for tp, om in offs.items()} == {0: 10, 1: 10}
        cons.close()
        a.alter_group_offsets(g, {KTP(t, 0): OffsetAndMetadata(3, "", -1)})
        a.reset_group_offsets(g, {KTP(t, 1): OffsetSpec.EARLIEST})
        offs = a.list_group_offsets({g: None})[g]
        assert {tp.partition: om.offset for tp, om in offs.items()} == {0: 3, 1: 0}
        a.delete_group_offsets(g, [KTP(t, 1)])
        assert [tp.partition for tp in a.list_group_offsets({g: None})[g]] == [0]
        a.delete_groups([g])
        assert g not in [x["group_id"] for x in a.list_groups()]
    finally:
        a.close()
