"""kafka-run-class.sh with the class names Kafka 2.5 guides use, and GetOffsetShell through it
(`topic:partition:offset` lines for --time -1, -2 and a timestamp; 2.5's errors) against our
broker with records produced by kafka-console-producer."""

import time

from tharness import run

RC = "kafka-run-class"
GOS = "kafka.tools.GetOffsetShell"


def produce(bootstrap, topic, lines):
    code, out, err = run("kafka-console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
                         "--request-required-acks", "all", stdin="".join(l + "\n" for l in lines), timeout=60)
    assert code == 0, err


def test_get_offset_shell(cluster):
    b = cluster.bootstrap
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "gos", "--partitions", "3",
                         "--replication-factor", "1")
    assert code == 0, err
    before = int(time.time() * 1000)
    produce(b, "gos", ["a", "b", "c", "d", "e"])
    # Latest (the default) and earliest, every partition, sorted by partition.
    code, out, err = run(RC, GOS, "--broker-list", b, "--topic", "gos")
    assert code == 0, err
    lines = out.splitlines()
    assert [l.rsplit(":", 1)[0] for l in lines] == ["gos:0", "gos:1", "gos:2"], out
    assert sum(int(l.rsplit(":", 1)[1]) for l in lines) == 5, out
    code, out, err = run(RC, GOS, "--broker-list", b, "--topic", "gos", "--time", "-2", "--offsets", "3")
    assert code == 0, err
    assert out == "gos:0:0\ngos:1:0\ngos:2:0\n"
    # A timestamp: the first offset at or after it, or nothing after the last record.
    code, out, err = run(RC, GOS, "--broker-list", b, "--topic", "gos", "--partitions", "0,1,2", "--time", str(before - 60000))
    assert code == 0, err
    latest = {int(l.split(":")[1]): int(l.split(":")[2]) for l in lines}
    assert out == "".join("gos:%d:%s\n" % (p, "0" if latest[p] > 0 else "") for p in range(3)), (out, latest)
    code, out, err = run(RC, GOS, "--broker-list", b, "--topic", "gos", "--time", str(int(time.time() * 1000) + 3600000))
    assert code == 0, err
    assert out == "gos:0:\ngos:1:\ngos:2:\n"
    # Some requested partitions missing: the others are answered.
    code, out, err = run(RC, GOS, "--broker-list", b, "--topic", "gos", "--partitions", "2,7", "--time", "-2")
    assert code == 0, err
    assert out == "gos:2:0\n"
    assert err == "Error: partition 7 does not exist\n"


def test_get_offset_shell_errors(cluster):
    b = cluster.bootstrap
    cases = [
        (["--topic", "x"], 'Missing required argument "[broker-list]"'),
        (["--broker-list", b], 'Missing required argument "[topic]"'),
        (["--broker-list", "nohost", "--topic", "x"], "Please provide valid host:port like host1:9091,host2:9092"),
        (["--broker-list", b, "--topic", "gos-none"], "Topic gos-none does not exist"),
        (["--broker-list", b, "--topic", "x", "--partitions", "0,a"],
         "--partitions expects a comma separated list of numeric partition ids, but received: 0,a"),
    ]
    for argv, msg in cases:
        code, out, err = run(RC, GOS, *argv)
        assert code == 1, argv
        assert err.strip() == msg, (argv, err)
        assert out == "", argv
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "gos1", "--partitions", "1",
                         "--replication-factor", "1")
    assert code == 0, err
    code, out, err = run(RC, GOS, "--broker-list", b, "--topic", "gos1", "--partitions", "4,5")
    assert code == 1
    assert err.strip() == "Topic gos1 does not have any of the requested partitions 4,5"


def test_run_class_maps_tools_and_refuses_unknown_classes(cluster):
    code, out, err = run(RC, "kafka.admin.TopicCommand", "--bootstrap-server", cluster.bootstrap, "--list")
    assert code == 0, err
    code, out, err = run(RC, "kafka.tools.NoSuchTool")
    assert code == 1
    assert err == ("Error: Could not find or load main class kafka.tools.NoSuchTool\n"
                   "Caused by: java.lang.ClassNotFoundException: kafka.tools.NoSuchTool\n")
