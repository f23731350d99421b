"""The seeds' replicated-topic commands on three brokers: kafka-topics.sh --create
--replication-factor 3, --describe with Leader / Replicas / Isr as the cluster really is,
--under-replicated-partitions and --unavailable-partitions while brokers are down, and
a replication factor above the broker count refused as Kafka does."""

import pytest

from lib.kafka import Cluster
from rharness import describe, run, wait_until

OVERRIDES = {"replica.lag.time.max.ms": "3000", "auto.leader.rebalance.enable": "false"}


@pytest.fixture
def cluster():
    c = Cluster(3, **OVERRIDES)
    yield c
    c.close()


def test_replication_factor_three_describe_and_failures(cluster):
    b = cluster.bootstrap
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "hello.rf3",
                         "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
    assert code == 0, err
    assert "Created topic hello.rf3." in out
    wait_until(lambda: all(len(p["isr"]) == 3 for p in describe(b, "hello.rf3").values()) and len(describe(b, "hello.rf3")) == 3,
               30, "every partition fully in sync")
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--describe", "--topic", "hello.rf3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Topic: hello.rf3\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: ") and "min.insync.replicas=2" in lines[0], lines[0]
    parts = describe(b, "hello.rf3")
    assert sorted(p["leader"] for p in parts.values()) == [0, 1, 2], parts
    for p in parts.values():
        assert sorted(p["replicas"]) == [0, 1, 2] and sorted(p["isr"]) == [0, 1, 2] and p["leader"] == p["replicas"][0]
    # Nothing is under-replicated or unavailable yet.
    code, out, _ = run("kafka-topics", "--bootstrap-server", b, "--describe", "--under-replicated-partitions")
    assert code == 0 and "hello.rf3" not in out
    # One broker down: its partitions get a new leader from the ISR; all are under-replicated.
    victim = cluster.brokers[2]
    victim.kill9()
    b = cluster.bootstrap
    wait_until(lambda: all(p["leader"] not in (None, 2) and 2 not in p["isr"] for p in describe(b, "hello.rf3").values()),
               30, "leaders and ISRs without broker 2")
    code, out, _ = run("kafka-topics", "--bootstrap-server", b, "--describe", "--topic", "hello.rf3", "--under-replicated-partitions")
    rows = [l for l in out.splitlines() if "Partition:" in l]
    assert code == 0 and len(rows) == 3, out
    code, out, _ = run("kafka-topics", "--bootstrap-server", b, "--describe", "--topic", "hello.rf3", "--unavailable-partitions")
    assert code == 0 and not [l for l in out.splitlines() if "Partition:" in l], out
    # The replication factor may not exceed the live brokers.
    code, out, err = run("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "too.many", "--partitions", "1", "--replication-factor", "3")
    assert code != 0 and "Replication factor: 3 larger than available brokers: 2." in (out + err), out + err
