"""kafka-mirror-maker.sh (MirrorMaker 1 as Kafka 2.5 ships it) between two real clusters of
ours: the whitelisted topics are copied with their keys, values, headers and timestamps, keys
keep their order, other topics are left alone, a topic created later is picked up, and on
SIGTERM the group's committed offsets on the source reach the end of what was copied.
Usage errors come before any connection."""

import os
import signal
import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from lib.kafka import Cluster
from lib.paths import SCRIPTS
from lib.ports import closed_port
from lib.waiting import wait_until
from tharness import run

MM = "kafka-mirror-maker"


@pytest.fixture
def two_clusters():
    source = Cluster(1)
    try:
        target = Cluster(1)
    except Exception:
        source.close()
        raise
    yield source, target
    target.close()
    source.close()


# An hour ago: kept by retention (7 days), and not the time of the copy.
STAMP = int(time.time() * 1000) - 3600 * 1000


def produce(bootstrap, topic, items):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in items:
        p.produce(topic, key=key, value=value, headers=[("origin", b"src")], timestamp=STAMP)
    assert p.flush(30) == 0


def read_all(bootstrap, topic, n, timeout=60):
    """(key, value, headers, timestamp) of the first n records of every partition of topic."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    try:
        deadline = time.time() + timeout
        # Not list_topics(topic): that would let the target auto-create it first.
        parts = wait_until(lambda: c.list_topics(timeout=10).topics.get(topic), timeout,
                           msg="topic %s on the target" % topic).partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out = []
        while len(out) < n and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append((m.partition(), m.key(), m.value(), m.headers(), m.timestamp()[1]))
        return out
    finally:
        c.close()


def write_props(tmp_path, name, props):
    p = tmp_path / name
    p.write_text("".join("%s=%s\n" % kv for kv in props.items()))
    return str(p)


def test_mirror_maker_usage_errors(tmp_path):
    cc = write_props(tmp_path, "c.properties", {"bootstrap.servers": "127.0.0.1:%d" % closed_port(), "group.id": "g"})
    pc = write_props(tmp_path, "p.properties", {"bootstrap.servers": "127.0.0.1:%d" % closed_port()})
    nogroup = write_props(tmp_path, "n.properties", {"bootstrap.servers": "127.0.0.1:1"})
    cases = [
        (["--producer.config", pc, "--whitelist", "x"], 'Missing required argument "[consumer.config]"'),
        (["--consumer.config", cc, "--whitelist", "x"], 'Missing required argument "[producer.config]"'),
        (["--consumer.config", cc, "--producer.config", pc], "whitelist must be specified"),
        (["--consumer.config", nogroup, "--producer.config", pc, "--whitelist", "x"], "you must provide a valid group.id"),
        (["--consumer.config", cc, "--producer.config", pc, "--whitelist", "x", "--abort.on.send.failure", "maybe"],
         'For input string: "maybe"'),
        (["--consumer.config", cc, "--producer.config", pc, "--whitelist", "x", "--message.handler", "com.example.H"],
         "java.lang.ClassNotFoundException: com.example.H"),
    ]
    for argv, msg in cases:
        start = time.time()
        code, out, err = run(MM, *argv, timeout=30)
        assert code == 1, (argv, err)
        assert msg in err, (argv, err)
        assert time.time() - start < 10, argv


def test_mirror_maker_copies_whitelisted_topics(two_clusters, tmp_path):
    source, target = two_clusters
    for t, parts in (("mm.a", 3), ("other", 1)):
        code, out, err = run("kafka-topics", "--bootstrap-server", source.bootstrap, "--create", "--topic", t,
                             "--partitions", str(parts), "--replication-factor", "1")
        assert code == 0, err
    # The target creates the mirrored topic on first use (auto.create.topics.enable).
    first = [(b"k%d" % (i % 5), b"v%d" % i) for i in range(50)]
    produce(source.bootstrap, "mm.a", first)
    produce(source.bootstrap, "other", [(None, b"not mirrored")])
    cc = write_props(tmp_path, "consumer.properties", {"bootstrap.servers": source.bootstrap, "group.id": "mm-test",
                                                        "auto.offset.reset": "earliest"})
    pc = write_props(tmp_path, "producer.properties", {"bootstrap.servers": target.bootstrap})
    mm = subprocess.Popen([os.path.join(SCRIPTS, MM + ".sh"), "--consumer.config", cc, "--producer.config", pc,
                           "--whitelist", r"mm\..*", "--offset.commit.interval.ms", "1000", "--num.streams", "2"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        got = read_all(target.bootstrap, "mm.a", 50)
        assert len(got) == 50, (got, mm.poll())
        # Each key's values arrive in the order they were produced, with headers and time.
        by_key = {}
        for part, k, v, headers, ts in got:
            by_key.setdefault(k, []).append(int(v[1:]))
            assert headers == [("origin", b"src")] and ts == STAMP, (k, v, headers, ts)
        assert sorted(by_key) == [b"k%d" % i for i in range(5)]
        for k, vs in by_key.items():
            assert vs == sorted(vs) and len(vs) == 10, (k, vs)
        # A topic that starts matching later is picked up (re-checked every 10 s).
        code, out, err = run("kafka-topics", "--bootstrap-server", source.bootstrap, "--create", "--topic", "mm.b",
                             "--partitions", "1", "--replication-factor", "1")
        assert code == 0, err
        produce(source.bootstrap, "mm.b", [(None, b"late")])
        assert [r[2] for r in read_all(target.bootstrap, "mm.b", 1, timeout=45)] == [b"late"]
        assert mm.poll() is None, mm.stderr.read()
    except Exception as e:
        if mm.poll() is None:
            os.killpg(mm.pid, signal.SIGTERM)
        try:
            _, err = mm.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(mm.pid, signal.SIGKILL)
            _, err = mm.communicate(timeout=10)
        topics = run("kafka-topics", "--bootstrap-server", target.bootstrap, "--list")
        topics = (topics, run("kafka-consumer-groups", "--bootstrap-server", source.bootstrap, "--describe", "--group", "mm-test"))
        raise AssertionError("%s\nmirror maker's stderr:\n%s\ntarget topics: %r" % (e, err, topics)) from None
    finally:
        if mm.poll() is None:
            os.killpg(mm.pid, signal.SIGTERM)
        try:
            out, err = mm.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(mm.pid, signal.SIGKILL)
            out, err = mm.communicate(timeout=10)
    assert mm.returncode == 0, err
    # Nothing else was copied, and the group committed everything it copied.
    code, out, err = run("kafka-topics", "--bootstrap-server", target.bootstrap, "--list")
    assert "other" not in out.split(), out
    c = Consumer({"bootstrap.servers": source.bootstrap, "group.id": "mm-test"})
    try:
        parts = [TopicPartition("mm.a", p) for p in range(3)] + [TopicPartition("mm.b", 0)]
        committed = {(tp.topic, tp.partition): tp.offset for tp in c.committed(parts, timeout=10)}
        ends = {(tp.topic, tp.partition): c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
    finally:
        c.close()
    assert committed == ends, (committed, ends)
