"""Every tool against bad input: unknown or misspelled flags (one line on stderr), missing
required flags, --help, unknown topics, an unreachable bootstrap server (a clear error well
within the timeout, never a hang), malformed JSON files."""

import concurrent.futures
import time

import pytest

from lib.ports import closed_port
from tharness import run

NETWORK_TOOLS = {
    "kafka-topics": ["--list"],
    "kafka-configs": ["--entity-type", "topics", "--entity-name", "x", "--describe"],
    "kafka-console-producer": ["--topic", "x"],
    "kafka-console-consumer": ["--topic", "x", "--max-messages", "1"],
    "kafka-consumer-groups": ["--list"],
    "kafka-broker-api-versions": [],
    "kafka-log-dirs": ["--describe"],
    "kafka-verifiable-producer": ["--topic", "x", "--max-messages", "1"],
    "kafka-verifiable-consumer": ["--topic", "x", "--group-id", "g", "--max-messages", "1"],
    "kafka-consumer-perf-test": ["--topic", "x", "--messages", "1"],
}
ALL_TOOLS = list(NETWORK_TOOLS) + ["kafka-delete-records", "kafka-dump-log", "kafka-producer-perf-test", "kafka-streams-application-reset"]


@pytest.mark.parametrize("tool", ALL_TOOLS)
def test_unknown_flag_is_one_line(tool):
    code, out, err = run(tool, "--no-such-flag", "x")
    assert code == 1
    assert err.strip() == "no-such-flag is not a recognized option"


@pytest.mark.parametrize("tool", ALL_TOOLS)
def test_help(tool):
    code, out, err = run(tool, "--help")
    assert code == 0, err
    lines = out.splitlines()
    i = lines.index("Option                                   Description")
    assert lines[i + 1] == "------                                   -----------"
    assert any(l.startswith("--help ") for l in lines)


def test_missing_or_wrong_flags_are_one_line(cluster):
    b = cluster.bootstrap
    cases = [
        (("kafka-topics", "--bootstrap-server", b, "--create"), 'Missing required argument "[topic]"'),
        (("kafka-topics", "--bootstrap-server", b), "Command must include exactly one action: --list, --describe, --create, --alter or --delete"),
        (("kafka-topics", "--list"), "Only one of --bootstrap-server or --zookeeper must be specified"),
        (("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "t", "--partitions", "x"), "Cannot parse argument 'x' of option partitions"),
        (("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "t", "--partitions", "0"), "The partitions must be greater than 0"),
        (("kafka-console-producer", "--bootstrap-server", b), 'Missing required argument "[topic]"'),
        (("kafka-console-consumer", "--bootstrap-server", b), "Exactly one of whitelist/topic is required."),
        (("kafka-console-consumer", "--bootstrap-server", b, "--topic", "t", "--offset", "3"), "The partition is required when offset is specified."),
        (("kafka-console-consumer", "--bootstrap-server", b, "--topic", "t", "--partition", "0", "--offset", "-5"),
         "The provided offset value '-5' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."),
        (("kafka-configs", "--bootstrap-server", b, "--entity-type", "topics", "--entity-name", "t"), "Command must include exactly one action: --describe, --alter"),
        (("kafka-configs", "--bootstrap-server", b, "--entity-type", "nope", "--describe"),
         "Invalid entity type nope, the entity type must be one of users, brokers, clients, topics, broker-loggers"),
        (("kafka-consumer-groups", "--bootstrap-server", b, "--describe"), "Option [describe|delete|reset-offsets|delete-offsets] takes one of these options: [all-groups], [group]"),
        (("kafka-delete-records", "--bootstrap-server", b), 'Missing required argument "[offset-json-file]"'),
        (("kafka-dump-log",), None),
        (("kafka-producer-perf-test", "--topic", "t", "--num-records", "1", "--throughput", "-1", "--producer-props", "bootstrap.servers=" + b),
         "Either --record-size or --payload-file must be specified but not both."),
        (("kafka-console-producer", "--bootstrap-server", b, "--topic", "t", "--request-required-acks", "7"),
         "Invalid value 7 for configuration acks: String must be one of: all, -1, 0, 1"),
    ]
    for argv, msg in cases:
        code, out, err = run(*argv)
        assert code == 1, argv
        if msg is not None:
            assert err.strip() == msg, (argv, err)


def test_unknown_topic(cluster, tmp_path):
    b = cluster.bootstrap
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--describe", "--topic", "no.such.topic")
    assert code == 1 and err.strip() == "Error while executing topic command : Topic 'no.such.topic' does not exist as expected"
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--describe", "--topic", "no.such.topic", "--if-exists")
    assert code == 0 and out == "", err
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--alter", "--topic", "no.such.topic", "--partitions", "3")
    assert code == 1 and "Topic 'no.such.topic' does not exist as expected" in err
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--delete", "--topic", "no.such.topic")
    assert code == 1 and "Topic 'no.such.topic' does not exist as expected" in err
    code, out, err = run("kafka-configs", "--bootstrap-server", b, "--entity-type", "topics", "--entity-name", "no.such.topic", "--describe")
    assert code == 1 and "UnknownTopicOrPartitionException" in err
    f = tmp_path / "d.json"
    f.write_text('{"partitions": [{"topic": "no.such.topic", "partition": 0, "offset": 1}], "version": 1}')
    code, out, err = run("kafka-delete-records", "--bootstrap-server", b, "--offset-json-file", str(f))
    assert code == 1
    assert out.splitlines()[-1] == ("partition: no.such.topic-0\terror: org.apache.kafka.common.errors."
                                    "UnknownTopicOrPartitionException: This server does not host this topic-partition.")


def test_unreachable_bootstrap_fails_fast_and_clearly():
    addr = "127.0.0.1:%d" % closed_port()

    def one(tool):
        opt = "--broker-list" if tool == "kafka-verifiable-producer" else "--bootstrap-server"
        t0 = time.time()
        code, out, err = run(tool, opt, addr, *NETWORK_TOOLS[tool], stdin="a\n", timeout=40)
        return tool, code, err, time.time() - t0

    with concurrent.futures.ThreadPoolExecutor(len(NETWORK_TOOLS)) as ex:
        results = list(ex.map(one, NETWORK_TOOLS))
    for tool, code, err, took in results:
        assert code != 0, tool
        assert took < 20, (tool, took)
        assert "could not reach any bootstrap server (%s)" % addr in err, (tool, err)
    t0 = time.time()
    code, out, err = run("kafka-producer-perf-test", "--topic", "x", "--num-records", "1", "--record-size", "10",
                         "--throughput", "-1", "--producer-props", "bootstrap.servers=" + addr)
    assert code != 0 and "could not reach any bootstrap server" in err and time.time() - t0 < 20


def test_malformed_json(cluster, tmp_path):
    b = cluster.bootstrap
    cases = [
        ('{"partitions": [', "Error: The input string is not a valid JSON"),
        ('{"version": 1}', "Error: Missing partitions field"),
        ('{"partitions": [{"topic": "t", "partition": 0}], "version": 1}', "Error: Missing or invalid offset field in a partition entry"),
        ('{"partitions": [{"topic": "t", "partition": 0, "offset": 1}, {"topic": "t", "partition": 0, "offset": 2}], "version": 1}',
         "Error: Offset json file contains duplicate topic partitions: t-0"),
    ]
    for text, msg in cases:
        f = tmp_path / "bad.json"
        f.write_text(text)
        code, out, err = run("kafka-delete-records", "--bootstrap-server", b, "--offset-json-file", str(f))
        assert code == 1 and err.strip() == msg, (text, err)
    code, out, err = run("kafka-delete-records", "--bootstrap-server", b, "--offset-json-file", str(tmp_path / "missing.json"))
    assert code == 1 and "Cannot read" in err


def test_dump_log_bad_files(tmp_path):
    junk = tmp_path / "00000000000000000000.log"
    junk.write_bytes(b"\x00" * 7 + b"garbage that is not a batch" * 3)
    code, out, err = run("kafka-dump-log", "--files", str(junk))
    assert code == 0, err
    assert "invalid bytes at the end of the segment" in out
    code, out, err = run("kafka-dump-log", "--files", str(tmp_path / "none.log"))
    assert code == 1 and "cannot read" in err
