"""Dynamic broker log configs (issue 16), as Kafka 2.5's DynamicLogConfig: the broker
synonyms of topic configs set per broker or cluster-wide (`--entity-default`) through
AlterConfigs / `kafka-configs`, applied to every topic without its own override within a
few seconds and without a restart; the per-broker value wins over the default, a topic
override over both; keys Kafka 2.5 does not make dynamic are refused with its message."""

import os
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from lib.paths import SCRIPTS
from lib.waiting import wait_until


def name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def produce_one(bootstrap, t, size):
    """None on success, else the delivery error's code name."""
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 10_000_000, "retries": 0,
                  "linger.ms": 0, "message.timeout.ms": 10000})
    out = []
    p.produce(t, b"x" * size, on_delivery=lambda err, msg: out.append(err))
    p.flush(15)
    assert out, "no delivery report"
    return None if out[0] is None else out[0].name()


def earliest(bootstrap, t):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": name("lo")})
    try:
        return c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)[0]
    finally:
        c.close()


def configs(bootstrap, *args):
    r = subprocess.run([os.path.join(SCRIPTS, "kafka-configs.sh"), "--bootstrap-server", bootstrap, "--entity-type", "brokers"]
                       + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def describe_broker(admin, broker_id):
    res = ConfigResource("broker", broker_id)
    return admin.describe_configs([res])[res].result(15)


def test_message_max_bytes_cluster_default_and_per_broker(fresh_cluster):
    c = fresh_cluster(1)
    b = c.bootstrap
    a = AdminClient({"bootstrap.servers": b})
    t = name("dyn-mmb")
    a.create_topics([NewTopic(t, 1, 1)], operation_timeout=10)[t].result(15)
    assert produce_one(b, t, 20_000) is None
    # Cluster-wide default: 2,000 bytes; a 20 kB record is refused within a few seconds.
    configs(b, "--entity-default", "--alter", "--add-config", "message.max.bytes=2000")
    wait_until(lambda: produce_one(b, t, 20_000) == "MSG_SIZE_TOO_LARGE", 20, "message.max.bytes=2000 refusing 20 kB")
    assert produce_one(b, t, 500) is None
    cfg = describe_broker(a, "0")
    assert cfg["message.max.bytes"].value == "2000"
    assert cfg["message.max.bytes"].source == 3  # DYNAMIC_DEFAULT_BROKER_CONFIG
    assert not cfg["message.max.bytes"].is_read_only
    # Per broker over the default; a topic override over both.
    res = ConfigResource("broker", "0", set_config={"message.max.bytes": "50000"})
    a.alter_configs([res])[res].result(15)
    wait_until(lambda: produce_one(b, t, 20_000) is None, 20, "the per-broker 50000 over the default 2000")
    assert describe_broker(a, "0")["message.max.bytes"].source == 2  # DYNAMIC_BROKER_CONFIG
    tr = ConfigResource("topic", t, set_config={"max.message.bytes": "1000"})
    a.alter_configs([tr])[tr].result(15)
    wait_until(lambda: produce_one(b, t, 5_000) == "MSG_SIZE_TOO_LARGE", 20, "the topic override 1000")
    topic_cfg = a.describe_configs([ConfigResource("topic", t)])[ConfigResource("topic", t)].result(15)
    assert topic_cfg["max.message.bytes"].value == "1000"


def test_log_retention_ms_deletes_without_restart(fresh_cluster):
    c = fresh_cluster(1)
    b = c.bootstrap
    a = AdminClient({"bootstrap.servers": b})
    t = name("dyn-ret")
    # Small segments (a topic override) so that old ones can go; retention is the broker's.
    a.create_topics([NewTopic(t, 1, 1, config={"segment.bytes": "2048"})], operation_timeout=10)[t].result(15)
    p = Producer({"bootstrap.servers": b, "linger.ms": 0})
    for i in range(200):
        p.produce(t, b"r%04d" % i + b"." * 100)
        p.flush(5)
    assert earliest(b, t) == 0
    time.sleep(2)
    # Through the shipped tool, as users do it: kafka-configs --entity-default.
    configs(b, "--entity-default", "--alter", "--add-config", "log.retention.ms=1000")
    wait_until(lambda: earliest(b, t) > 0, 30, "segments older than the dynamic log.retention.ms=1000 deleted")
    topic_cfg = a.describe_configs([ConfigResource("topic", t)])[ConfigResource("topic", t)].result(15)
    assert topic_cfg["retention.ms"].value == "1000"


def test_refusals(fresh_cluster):
    c = fresh_cluster(1)
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    for key, value, want in [("log.retention.ms", "soon", "Not a number"),
                             ("log.dirs", "/tmp/x", "Cannot update these configs dynamically"),
                             ("log.retention.hours", "1", "Cannot update these configs dynamically"),
                             ("log.cleanup.policy", "forever", "compact, delete")]:
        res = ConfigResource("broker", "0", set_config={key: value})
        with pytest.raises(KafkaException) as e:
            a.alter_configs([res])[res].result(15)
        assert want in str(e.value), (key, str(e.value))


def test_describe_all_is_kafka_25s_list(fresh_cluster):
    """`kafka-configs --describe --all` for a broker lists Kafka 2.5.0's 207 broker configs
    with the values, sources and synonyms a stock 2.5.0 broker gives for the same
    server.properties (tests/broker/data/kafka-2.5-broker-describe-all.txt, taken from one);
    keys the test harness sets are compared by what they must say instead."""
    c = fresh_cluster(1)
    br = c.brokers[0]
    out = configs(c.bootstrap, "--entity-name", "0", "--describe", "--all")
    ours = {}
    for line in out.splitlines():
        if line.startswith("  "):
            ours[line.strip().split("=", 1)[0]] = line
    expected = {}
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "kafka-2.5-broker-describe-all.txt")) as f:
        for line in f:
            if line.startswith("  "):
                expected[line.strip().split("=", 1)[0]] = line.rstrip("\n")
    assert len(expected) == 204
    missing = sorted(set(expected) - set(ours))
    assert not missing, missing
    harness = set(br.props)
    differ = [(k, expected[k], ours[k]) for k in expected if k not in harness and expected[k] != ours[k]]
    assert not differ, differ[:10]
    # A key the harness sets: static, with Kafka's default as its synonym.
    assert ours["num.partitions"] == ("  num.partitions=1 sensitive=false synonyms="
                                      "{STATIC_BROKER_CONFIG:num.partitions=1, DEFAULT_CONFIG:num.partitions=1}")
    # The case: log.retention.hours set in server.properties is named as such.
    configs(c.bootstrap, "--entity-default", "--alter", "--add-config", "log.retention.ms=604800000")
    wait_until(lambda: "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=604800000"
             in configs(c.bootstrap, "--entity-name", "0", "--describe", "--all"), 20, "the dynamic default described")


def _open_until_refused(port, most=10):
    """Opens connections until the broker closes one at once; returns how many stayed open."""
    import socket
    held = []
    try:
        for _ in range(most):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.settimeout(0.5)
            try:
                closed = s.recv(1) == b""
            except socket.timeout:
                closed = False
            if closed:
                s.close()
                return len(held)
            held.append(s)
        return len(held)
    finally:
        for s in held:
            s.close()


def test_connection_limits_and_thread_counts_are_dynamic(fresh_cluster):
    c = fresh_cluster(1)
    br = c.brokers[0]
    configs(c.bootstrap, "--entity-name", "0", "--alter", "--add-config", "max.connections.per.ip=3,num.io.threads=4")
    # Applied within a few seconds: a fourth connection from 127.0.0.1 is closed at once.
    wait_until(lambda: _open_until_refused(br.port) == 3, 20, "max.connections.per.ip=3 applied")
    configs(c.bootstrap, "--entity-name", "0", "--alter", "--delete-config", "max.connections.per.ip")
    wait_until(lambda: _open_until_refused(br.port, most=8) == 8, 20, "the limit lifted")
    out = configs(c.bootstrap, "--entity-name", "0", "--describe", "--all")
    assert "  num.io.threads=4 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:num.io.threads=4, DEFAULT_CONFIG:num.io.threads=8}" in out
