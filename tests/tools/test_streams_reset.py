"""kafka-streams-application-reset.sh as Kafka 2.5's StreamsResetter, on a consumer group named
like a Streams application with its internal topics: --dry-run changes nothing, the reset
commits earliest (default) / --to-offset / --shift-by offsets on input topics and the end on
intermediate topics, deletes `<app>-...-changelog|-repartition` topics (not others), and is
refused with 2.5's message while the group has members."""

import os
import subprocess
import time

from lib.paths import SCRIPTS
from tharness import run

APP = "sapp"


def offsets(b, group):
    code, out, _ = run("kafka-consumer-groups", "--bootstrap-server", b, "--describe", "--group", group)
    got = {}
    for line in out.splitlines():
        cols = line.split()
        if cols and cols[0] == group and cols[2].isdigit():
            got[(cols[1], int(cols[2]))] = cols[3]
    return got


def topics(b):
    code, out, _ = run("kafka-topics", "--bootstrap-server", b, "--list")
    return set(out.split())


def reset(b, *args):
    return run("kafka-streams-application-reset", "--bootstrap-servers", b, "--application-id", APP, *args)


def test_streams_reset(cluster):
    b = cluster.bootstrap
    for t in ["s.in", "s.mid", APP + "-store-changelog", APP + "-KSTREAM-AGG-0000000003-repartition", APP + "-out"]:
        code, _, err = run("kafka-topics", "--bootstrap-server", b, "--create", "--topic", t, "--partitions", "1", "--replication-factor", "1")
        assert code == 0, err
    for t in ["s.in", "s.mid"]:
        code, _, err = run("kafka-producer-perf-test", "--topic", t, "--num-records", "10", "--record-size", "10", "--throughput", "-1",
                           "--producer-props", "bootstrap.servers=" + b)
        assert code == 0, err
    # The application had consumed 4 of s.in and 2 of s.mid.
    for t, o in [("s.in", "4"), ("s.mid", "2")]:
        code, _, err = run("kafka-consumer-groups", "--bootstrap-server", b, "--group", APP, "--reset-offsets", "--topic", t,
                           "--to-offset", o, "--execute")
        assert code == 0, err
    assert offsets(b, APP) == {("s.in", 0): "4", ("s.mid", 0): "2"}

    code, out, err = reset(b, "--input-topics", "s.in", "--intermediate-topics", "s.mid", "--dry-run")
    assert code == 0, err
    assert out.splitlines() == [
        "----Dry run displays the actions which will be performed when running Streams Reset Tool----",
        "Reset-offsets for input topics [s.in]",
        "Seek-to-end for intermediate topics [s.mid]",
        "Following input topics offsets will be reset to (for consumer group sapp)",
        "Topic: s.in Partition: 0 Offset: 0",
        "Following intermediate topics offsets will be reset to end (for consumer group sapp)",
        "Topic: s.mid",
        "Done.",
        "Deleting all internal/auto-created topics for application sapp",
        "Topic: sapp-KSTREAM-AGG-0000000003-repartition",
        "Topic: sapp-store-changelog",
        "Done.",
    ], out
    assert offsets(b, APP) == {("s.in", 0): "4", ("s.mid", 0): "2"}
    assert APP + "-store-changelog" in topics(b)

    code, out, err = reset(b, "--input-topics", "s.in", "--intermediate-topics", "s.mid")
    assert code == 0, err
    assert offsets(b, APP) == {("s.in", 0): "0", ("s.mid", 0): "10"}
    deadline = time.time() + 20
    while time.time() < deadline and (APP + "-store-changelog") in topics(b):
        time.sleep(0.5)
    left = topics(b)
    assert APP + "-store-changelog" not in left and APP + "-KSTREAM-AGG-0000000003-repartition" not in left, left
    assert {APP + "-out", "s.in", "s.mid"} <= left, left

    code, out, err = reset(b, "--input-topics", "s.in", "--to-offset", "7")
    assert code == 0 and "Topic: s.in Partition: 0 Offset: 7" in out, out + err
    code, out, err = reset(b, "--input-topics", "s.in", "--shift-by", "-2")
    assert code == 0 and "Topic: s.in Partition: 0 Offset: 5" in out, out + err
    code, out, err = reset(b, "--input-topics", "s.in", "--to-offset", "99")
    assert code == 0 and "New offset (99) is higher than latest offset. Value will be set to 10" in out, out + err
    assert offsets(b, APP)[("s.in", 0)] == "10"
    code, out, err = reset(b, "--input-topics", "s.in,nope")
    assert code == 1 and "Following input topics are not found, skipping them\nTopic: nope\n" in out, out + err

    # A running member blocks the reset.
    p = subprocess.Popen([os.path.join(SCRIPTS, "kafka-console-consumer.sh"), "--bootstrap-server", b, "--topic", "s.in",
                          "--group", APP, "--timeout-ms", "20000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            code, out, err = reset(b, "--input-topics", "s.in")
            if code != 0:
                break
            time.sleep(0.5)
        assert code == 1 and err.startswith("ERROR: java.lang.IllegalStateException: Consumer group 'sapp' is still active and has following members: [(memberId=consumer-sapp-1-"), err
        assert err.rstrip().endswith("Make sure to stop all running application instances before running the reset tool."), err
    finally:
        p.kill()
        p.wait(10)


def test_usage_errors(cluster):
    code, _, err = run("kafka-streams-application-reset", "--bootstrap-servers", cluster.bootstrap, "--input-topics", "x")
    assert code == 1 and "Missing required option(s) [application-id]" in err, err
    code, _, err = reset(cluster.bootstrap, "--dry-run", "--execute")
    assert code == 1 and "Only one of --dry-run and --execute can be specified" in err, err
    code, _, err = reset(cluster.bootstrap, "--to-earliest", "--to-latest")
    assert code == 1 and "can't be used with option" in err, err
    code, _, err = reset(cluster.bootstrap, "--to-offset", "x")
    assert code == 1 and err.strip(), err
