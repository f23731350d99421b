"""The seeds' command sequence, in order, against a freshly started zk-server + kafka-server,
with every output checked against Kafka 2.5's formats. Group-dependent steps skip (with the
reason) while the broker does not offer the group APIs."""

import json
import os
import re
import time

import pytest

from tharness import run, supports

WARN = ("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could "
        "collide. To avoid issues it is best to use either, but not both.")


@pytest.fixture(scope="module")
def groups(cluster):
    return supports(cluster.bootstrap, "FindCoordinator") and supports(cluster.bootstrap, "JoinGroup")


def need_groups(groups):
    if not groups:
        pytest.skip("the broker does not offer FindCoordinator/JoinGroup yet (consumer groups are being built)")


def topics(cluster, *args):
    return run("kafka-topics", "--bootstrap-server", cluster.bootstrap, *args)


def describe_lines(cluster, topic):
    code, out, err = topics(cluster, "--describe", "--topic", topic)
    assert code == 0, err
    return out.splitlines()


def test_01_create_hello_kafka(cluster):
    code, out, err = topics(cluster, "--create", "--topic", "hello.kafka")
    assert code == 0, err
    assert out.splitlines() == [WARN, "Created topic hello.kafka."]


def test_02_create_with_partitions_and_retention(cluster):
    code, out, err = topics(cluster, "--create", "--topic", "hello.kafka.2", "--partitions", "3",
                            "--config", "retention.ms=172800000")
    assert code == 0, err
    assert out.splitlines()[-1] == "Created topic hello.kafka.2."


def test_03_create_existing_is_an_error(cluster):
    code, out, err = topics(cluster, "--create", "--topic", "hello.kafka")
    assert code == 1
    assert "Error while executing topic command : Topic 'hello.kafka' already exists." in err
    code, _, err = topics(cluster, "--create", "--topic", "hello.kafka", "--if-not-exists")
    assert code == 0, err


def test_04_list(cluster):
    code, out, err = topics(cluster, "--list")
    assert code == 0, err
    names = out.splitlines()
    assert "hello.kafka" in names and "hello.kafka.2" in names
    assert names == sorted(names)


def test_05_describe(cluster):
    lines = describe_lines(cluster, "hello.kafka.2")
    assert re.fullmatch(r"Topic: hello\.kafka\.2\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: (.*,)?retention\.ms=172800000(,.*)?", lines[0]), lines
    assert lines[1:] == ["\tTopic: hello.kafka.2\tPartition: %d\tLeader: 0\tReplicas: 0\tIsr: 0" % p for p in range(3)]
    code, out, err = topics(cluster, "--describe")
    assert code == 0, err
    assert "Topic: hello.kafka\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: " in out
    # The ZooKeeper path (Kafka 2.5's --zookeeper) prints the same lines.
    code, zout, err = run("kafka-topics", "--zookeeper", cluster.zk.connect, "--describe", "--topic", "hello.kafka.2")
    assert code == 0, err
    assert zout.splitlines()[1:] == lines[1:]
    code, zout, err = run("kafka-topics", "--zookeeper", cluster.zk.connect, "--list")
    assert code == 0 and "hello.kafka.2" in zout.splitlines(), err


def test_06_alter_partitions(cluster):
    code, out, err = topics(cluster, "--alter", "--topic", "hello.kafka.2", "--partitions", "4")
    assert code == 0, err
    lines = describe_lines(cluster, "hello.kafka.2")
    assert "\tPartitionCount: 4\t" in lines[0]
    assert lines[4] == "\tTopic: hello.kafka.2\tPartition: 3\tLeader: 0\tReplicas: 0\tIsr: 0"


def test_07_alter_retention_and_describe(cluster):
    code, out, err = run("kafka-configs", "--bootstrap-server", cluster.bootstrap, "--entity-type", "topics",
                         "--entity-name", "hello.kafka.2", "--alter", "--add-config", "retention.ms=86400000")
    assert code == 0, err
    assert out.strip() == "Completed updating config for topic hello.kafka.2."
    code, out, err = run("kafka-configs", "--bootstrap-server", cluster.bootstrap, "--entity-type", "topics",
                         "--entity-name", "hello.kafka.2", "--describe")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Dynamic configs for topic hello.kafka.2 are:"
    assert re.fullmatch(r"  retention\.ms=86400000 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:retention\.ms=86400000(, .*)?\}", lines[1]), lines
    assert "retention.ms=86400000" in describe_lines(cluster, "hello.kafka.2")[0]
    code, out, err = run("kafka-configs", "--bootstrap-server", cluster.bootstrap, "--entity-type", "topics",
                         "--entity-name", "hello.kafka.2", "--describe", "--all")
    assert code == 0 and out.splitlines()[0] == "All configs for topic hello.kafka.2 are:", err
    assert any(l.startswith("  cleanup.policy=delete sensitive=false synonyms={") for l in out.splitlines())


KEYED = ["k%d:value-%d" % (i % 5, i) for i in range(30)]


def test_08_produce_keyed_lines(cluster):
    for topic in ("hello.kafka", "hello.kafka.2"):
        code, out, err = run("kafka-console-producer", "--bootstrap-server", cluster.bootstrap, "--topic", topic,
                             "--property", "parse.key=true", "--property", "key.separator=:",
                             stdin="\n".join(KEYED) + "\n")
        assert code == 0, err
        assert out == ""  # no prompt when stdin is not a terminal


def test_09_missing_separator_names_the_line(cluster):
    code, out, err = run("kafka-console-producer", "--broker-list", cluster.bootstrap, "--topic", "hello.kafka",
                         "--property", "parse.key=true", "--property", "key.separator=:",
                         stdin="a:1\nno separator here\nb:2\n")
    assert code != 0
    assert "No key found on line 2: no separator here" in err


def consume(cluster, *args, timeout=60):
    return run("kafka-console-consumer", "--bootstrap-server", cluster.bootstrap, *args, timeout=timeout)


def test_10_consume_from_beginning_with_keys(cluster):
    code, out, err = consume(cluster, "--topic", "hello.kafka.2", "--from-beginning", "--property", "print.key=true",
                             "--max-messages", str(len(KEYED)))
    assert code == 0, err
    got = sorted(out.splitlines())
    assert got == sorted(l.replace(":", "\t", 1) for l in KEYED)
    assert err.strip().splitlines()[-1] == "Processed a total of %d messages" % len(KEYED)
    # Same key, same partition (Java's murmur2 partitioner): per-key order is kept.
    for k in range(5):
        vals = [l.split("\t")[1] for l in out.splitlines() if l.startswith("k%d\t" % k)]
        assert vals == ["value-%d" % i for i in range(30) if i % 5 == k]


def test_11_consume_timeout_and_formatter(cluster):
    code, out, err = consume(cluster, "--topic", "hello.kafka", "--from-beginning", "--timeout-ms", "1500",
                             "--property", "print.key=true", "--property", "key.separator=-",
                             "--property", "print.partition=true", "--property", "print.offset=true",
                             "--property", "print.timestamp=true")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) >= len(KEYED)
    assert re.fullmatch(r"CreateTime:\d+-Partition:0-Offset:0-k0-value-0", lines[0]), lines[0]
    assert "Processed a total of %d messages" % len(lines) in err


def test_12_consume_partition_and_offset(cluster):
    code, out, err = consume(cluster, "--topic", "hello.kafka", "--partition", "0", "--offset", "3",
                             "--max-messages", "2", "--property", "print.offset=true")
    assert code == 0, err
    assert out.splitlines() == ["Offset:3\tvalue-3", "Offset:4\tvalue-4"]


def test_13_consume_with_group_and_describe(cluster, groups):
    need_groups(groups)
    code, out, err = consume(cluster, "--topic", "hello.kafka.2", "--from-beginning", "--group", "hello-group",
                             "--property", "print.key=true", "--max-messages", str(len(KEYED)))
    assert code == 0, err
    assert len(out.splitlines()) == len(KEYED)
    code, out, err = run("kafka-consumer-groups", "--bootstrap-server", cluster.bootstrap, "--group", "hello-group", "--describe")
    assert code == 0, err
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0].split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
    rows = [l.split() for l in lines[1:]]
    assert rows and all(r[0] == "hello-group" and r[1] == "hello.kafka.2" for r in rows)
    assert all(r[5] == "0" for r in rows), out
    code, out, err = run("kafka-consumer-groups", "--bootstrap-server", cluster.bootstrap, "--list")
    assert code == 0 and "hello-group" in out.splitlines(), err


def test_14_reset_offsets(cluster, groups):
    need_groups(groups)
    base = ["--bootstrap-server", cluster.bootstrap, "--group", "hello-group", "--reset-offsets"]
    code, out, err = run("kafka-consumer-groups", *base, "--to-earliest", "--topic", "hello.kafka.2", "--execute")
    assert code == 0, err
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0].split() == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    assert all(l.split()[3] == "0" for l in lines[1:])
    code, out, err = run("kafka-consumer-groups", *base, "--to-offset", "10", "--topic", "hello.kafka.2:1", "--execute")
    assert code == 0, err
    row = [l.split() for l in out.splitlines() if l.startswith("hello-group")]
    assert len(row) == 1 and row[0][:3] == ["hello-group", "hello.kafka.2", "1"]
    code, out, err = run("kafka-consumer-groups", "--bootstrap-server", cluster.bootstrap, "--group", "hello-group", "--describe")
    assert code == 0, err
    assert any(l.split()[:4] == ["hello-group", "hello.kafka.2", "1", row[0][3]] for l in out.splitlines() if l.strip())


def test_15_verifiable_producer(cluster):
    code, out, err = run("kafka-verifiable-producer", "--bootstrap-server", cluster.bootstrap, "--topic", "hello.kafka",
                         "--max-messages", "10")
    assert code == 0, err
    events = [json.loads(l) for l in out.splitlines()]
    names = [e["name"] for e in events]
    assert names[0] == "startup_complete"
    assert names.count("producer_send_success") == 10
    assert names[-2:] == ["shutdown_complete", "tool_data"]
    assert events[-1]["sent"] == 10 and events[-1]["acked"] == 10
    ok = [e for e in events if e["name"] == "producer_send_success"]
    assert [e["value"] for e in ok] == [str(i) for i in range(10)]
    assert all(e["topic"] == "hello.kafka" and e["offset"] >= 0 for e in ok)


def test_16_verifiable_consumer(cluster, groups):
    need_groups(groups)
    code, out, err = run("kafka-verifiable-consumer", "--bootstrap-server", cluster.bootstrap, "--topic", "hello.kafka",
                         "--group-id", "verifiable-group", "--max-messages", "10")
    assert code == 0, err
    events = [json.loads(l) for l in out.splitlines()]
    names = [e["name"] for e in events]
    assert names[0] == "startup_complete" and names[-1] == "shutdown_complete"
    assert "partitions_assigned" in names and "offsets_committed" in names
    assert sum(e["count"] for e in events if e["name"] == "records_consumed") == 10


def test_17_delete_records_moves_log_start(cluster, tmp_path):
    f = tmp_path / "delete.json"
    f.write_text('{"partitions": [{"topic": "hello.kafka", "partition": 0, "offset": 5}], "version": 1}')
    code, out, err = run("kafka-delete-records", "--bootstrap-server", cluster.bootstrap, "--offset-json-file", str(f))
    assert code == 0, err
    assert out.splitlines() == ["Executing records delete operation", "Records delete operation completed:",
                                "partition: hello.kafka-0\tlow_watermark: 5"]
    code, out, err = consume(cluster, "--topic", "hello.kafka", "--from-beginning", "--max-messages", "1",
                             "--property", "print.offset=true")
    assert code == 0, err
    assert out.splitlines()[0].startswith("Offset:5\t")


def test_18_broker_api_versions(cluster):
    code, out, err = run("kafka-broker-api-versions", "--bootstrap-server", cluster.bootstrap)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "%s (id: 0 rack: null) -> (" % cluster.bootstrap
    assert lines[-1] == ")"
    assert re.fullmatch(r"\tProduce\(0\): \d+ to \d+ \[usable: 8\],", lines[1]), lines[1]
    assert re.fullmatch(r"\tFetch\(1\): \d+ to \d+ \[usable: 11\],", lines[2]), lines[2]
    assert "\tLeaderAndIsr(4): UNSUPPORTED," in lines
    assert lines[-2].startswith("\tOffsetDelete(47): ") and not lines[-2].endswith(",")


def test_19_dump_log(cluster):
    seg = os.path.join(cluster.logdir, "hello.kafka-0", "00000000000000000000.log")
    code, out, err = run("kafka-dump-log", "--files", seg, "--print-data-log")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Dumping " + seg and lines[1] == "Starting offset: 0"
    assert re.fullmatch(r"baseOffset: 0 lastOffset: \d+ count: \d+ baseSequence: -1 lastSequence: -1 producerId: -1 "
                        r"producerEpoch: -1 partitionLeaderEpoch: \d+ isTransactional: false isControl: false "
                        r"position: 0 CreateTime: \d+ size: \d+ magic: 2 compresscodec: NONE crc: \d+ isvalid: true", lines[2]), lines[2]
    assert re.fullmatch(r"\| offset: 0 CreateTime: \d+ keysize: 2 valuesize: 7 sequence: -1 headerKeys: \[\] key: k0 payload: value-0", lines[3]), lines[3]


def test_20_log_dirs(cluster):
    assert supports(cluster.bootstrap, "DescribeLogDirs")
    code, out, err = run("kafka-log-dirs", "--bootstrap-server", cluster.bootstrap, "--describe", "--topic-list", "hello.kafka")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == ["Querying brokers for log directories information", "Received log directory information from brokers 0"]
    data = json.loads(lines[-1])
    assert data["version"] == 1 and data["brokers"][0]["broker"] == 0
    d = data["brokers"][0]["logDirs"][0]
    assert d["logDir"] == os.path.abspath(cluster.logdir) and d["error"] is None
    parts = {p["partition"]: p for p in d["partitions"]}
    assert parts and all(k.startswith("hello.kafka-") for k in parts)
    # Sizes are the partitions' segment bytes.
    for k, p in parts.items():
        seg = os.path.join(cluster.logdir, k, "00000000000000000000.log")
        assert p["size"] == os.path.getsize(seg) and p["offsetLag"] == 0 and p["isFuture"] is False


def test_21_perf_tests(cluster):
    code, out, err = run("kafka-producer-perf-test", "--topic", "perf", "--num-records", "5000", "--record-size", "100",
                         "--throughput", "-1", "--producer-props", "bootstrap.servers=" + cluster.bootstrap, "acks=1")
    assert code == 0, err
    assert re.fullmatch(r"5000 records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, [\d.]+ ms max latency, "
                        r"\d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.", out.splitlines()[-1]), out
    code, out, err = run("kafka-consumer-perf-test", "--bootstrap-server", cluster.bootstrap, "--topic", "perf", "--messages", "5000")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
                        "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
    cols = lines[1].split(", ")
    assert len(cols) == 10 and cols[4] == "5000" and cols[2] == "0.4768"


def test_22_delete_topic(cluster):
    code, out, err = topics(cluster, "--delete", "--topic", "hello.kafka.2")
    assert code == 0, err
    deadline = time.time() + 20
    while time.time() < deadline:
        code, out, err = topics(cluster, "--list")
        if "hello.kafka.2" not in out.splitlines():
            break
        time.sleep(0.3)
    assert "hello.kafka.2" not in out.splitlines()
    assert "hello.kafka" in out.splitlines()
