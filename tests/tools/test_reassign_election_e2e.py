"""End to end on three brokers: kafka-reassign-partitions.sh moves a partition (through the
admin API and through /admin/reassign_partitions), --verify follows it to completion, the data
follows the replicas; kafka-leader-election.sh returns leadership to the preferred replica and
elects an out-of-sync replica when asked for an unclean election. Written against Kafka 2.5's
behaviour: a broker that does not advertise ElectLeaders / AlterPartitionReassignments /
ListPartitionReassignments in ApiVersions fails these tests (it does not skip them)."""

import json

import pytest

from lib.kafka import Cluster
from rharness import describe, run, wait_until, write
from tharness import supports

RA = "kafka-reassign-partitions"
LE = "kafka-leader-election"

# Kafka's defaults would rebalance leaders by themselves after 5 minutes; the tests want the
# elections to be theirs. A short lag time lets a stopped follower leave the ISR quickly.
OVERRIDES = {"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "3000"}


@pytest.fixture
def cluster():
    c = Cluster(3, **OVERRIDES)
    yield c
    c.close()


def require_apis(bootstrap, *names):
    missing = [n for n in names if not supports(bootstrap, n)]
    assert not missing, ("the broker does not advertise %s in ApiVersions; Kafka 2.5 brokers do, and these tests need them"
                         % ", ".join(missing))


def create_topic(bootstrap, topic, assignment):
    code, out, err = run("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic, "--replica-assignment", assignment)
    assert code == 0, err
    n = len(assignment.split(","))
    wait_until(lambda: len(describe(bootstrap, topic)) == n and all(p["leader"] is not None for p in describe(bootstrap, topic).values()),
               30, "leaders for %s" % topic)


def produce(bootstrap, topic, n):
    lines = "".join("m%d\n" % i for i in range(n))
    code, out, err = run("kafka-console-producer", "--bootstrap-server", bootstrap, "--topic", topic, "--request-required-acks", "all",
                         stdin=lines, timeout=60)
    assert code == 0, err


def consume_all(bootstrap, topic, n):
    code, out, err = run("kafka-console-consumer", "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
                         "--max-messages", str(n), "--timeout-ms", "20000", timeout=60)
    return out.split()


def verify_until_done(mode, f, tp, timeout=60):
    """Runs --verify until the partition is reported complete; it may be in progress meanwhile,
    never failed. Returns the output that reported completion."""
    seen = []

    def step():
        code, out, err = run(RA, *mode, "--verify", "--reassignment-json-file", f)
        seen.append(out + err)
        assert "failed" not in out, "verify reported a failure: %r %r" % (out, err)
        assert code == 0, err
        assert out.startswith("Status of partition reassignment: \n"), out
        if "Reassignment of partition %s completed successfully\n" % tp in out:
            return out
        assert "Reassignment of partition %s is still in progress\n" % tp in out, out
        return None

    try:
        return wait_until(step, timeout, "reassignment of %s reported complete by --verify" % tp, interval=0.5)
    except AssertionError as e:
        if "not reached within" not in str(e):
            raise
        raise AssertionError("reassignment of %s (%s) not complete after %ss; the controller must carry it out and "
                             "finish it (last --verify: %r)" % (tp, mode[0], timeout, seen[-1] if seen else None)) from None


def moved_away(broker, topic_partition):
    import os
    return not os.path.isdir(os.path.join(broker.logdir, topic_partition))


def rollback_text(current):
    return ("Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n"
            "Successfully started reassignment of partitions.\n" % current)


def test_reassign_over_admin_api(cluster, tmp_path):
    b = cluster.bootstrap
    require_apis(b, "AlterPartitionReassignments", "ListPartitionReassignments")
    create_topic(b, "moving", "0")
    produce(b, "moving", 50)
    f = write(tmp_path, "r.json", {"version": 1, "partitions": [{"topic": "moving", "partition": 0, "replicas": [1, 2]}]})
    code, out, err = run(RA, "--bootstrap-server", b, "--execute", "--reassignment-json-file", f)
    assert code == 0, err
    assert out == rollback_text('{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[0],"log_dirs":["any"]}]}')
    verify_until_done(["--bootstrap-server", b], f, "moving-0")
    state = wait_until(lambda: (lambda s: s if s.get(0, {}).get("isr") and sorted(s[0]["isr"]) == [1, 2] else None)(describe(b, "moving")),
                       30, "ISR [1, 2] for moving-0")
    assert state[0]["replicas"] == [1, 2]
    # The old leader is not a target replica: the first target replica leads.
    assert state[0]["leader"] == 1
    assert consume_all(b, "moving", 50) == ["m%d" % i for i in range(50)]
    # Broker 0 stops hosting the partition (Kafka renames the directory for deletion).
    wait_until(lambda: moved_away(cluster.brokers[0], "moving-0"), 30, "moving-0 gone from broker 0's log dir")
    # Still complete on a later run.
    code, out, err = run(RA, "--bootstrap-server", b, "--verify", "--reassignment-json-file", f)
    assert code == 0 and out == "Status of partition reassignment: \nReassignment of partition moving-0 completed successfully\n"


def test_reassign_over_zookeeper(cluster, tmp_path):
    from kazoo.client import KazooClient
    b = cluster.bootstrap
    create_topic(b, "zmove", "0,1")
    produce(b, "zmove", 20)
    f = write(tmp_path, "r.json", {"version": 1, "partitions": [{"topic": "zmove", "partition": 0, "replicas": [2, 1]}]})
    mode = ["--zookeeper", cluster.zk.connect]
    code, out, err = run(RA, *mode, "--execute", "--reassignment-json-file", f)
    assert code == 0, err
    assert out == rollback_text('{"version":1,"partitions":[{"topic":"zmove","partition":0,"replicas":[0],"log_dirs":["any"]},'
                                '{"topic":"zmove","partition":1,"replicas":[1],"log_dirs":["any"]}]}')
    kz = KazooClient(hosts=cluster.zk.connect, timeout=10)
    kz.start(timeout=15)
    try:
        # Kafka 2.5's controller removes each completed partition from the znode and deletes it
        # when none is left; until then --verify reports the partition in progress.
        verify_until_done(mode, f, "zmove-0")
        assert kz.exists("/admin/reassign_partitions") is None, "the controller must delete /admin/reassign_partitions when done"
        topic = json.loads(kz.get("/brokers/topics/zmove")[0].decode())
        assert topic["partitions"] == {"0": [2, 1], "1": [1]}
        assert not any(topic.get("adding_replicas", {}).values()) and not any(topic.get("removing_replicas", {}).values())
    finally:
        kz.stop()
        kz.close()
    state = wait_until(lambda: (lambda s: s if s.get(0, {}).get("isr") and sorted(s[0]["isr"]) == [1, 2] else None)(describe(b, "zmove")),
                       30, "ISR [1, 2] for zmove-0")
    assert state[0]["replicas"] == [2, 1] and state[0]["leader"] == 2
    assert sorted(consume_all(b, "zmove", 20)) == sorted("m%d" % i for i in range(20))
    # Nothing running now: a new --execute goes through (back to the original placement).
    back = write(tmp_path, "back.json", {"version": 1, "partitions": [{"topic": "zmove", "partition": 0, "replicas": [0]}]})
    code, out, err = run(RA, *mode, "--execute", "--reassignment-json-file", back)
    assert code == 0, err
    assert out.endswith("Successfully started reassignment of partitions.\n")
    verify_until_done(mode, back, "zmove-0")


def test_throttled_reassignment_clears_throttle(cluster, tmp_path):
    b = cluster.bootstrap
    require_apis(b, "AlterPartitionReassignments", "ListPartitionReassignments", "IncrementalAlterConfigs", "DescribeConfigs")
    create_topic(b, "slow", "0")
    produce(b, "slow", 20)
    f = write(tmp_path, "r.json", {"partitions": [{"topic": "slow", "partition": 0, "replicas": [0, 1]}]})
    code, out, err = run(RA, "--bootstrap-server", b, "--execute", "--reassignment-json-file", f, "--throttle", "50000000")
    assert code == 0, err
    assert "The inter-broker throttle limit was set to 50000000 B/s\n" in out
    assert out.endswith("Successfully started reassignment of partitions.\n")

    def dynamic(entity_type, name):
        code, out, err = run("kafka-configs", "--bootstrap-server", b, "--entity-type", entity_type, "--entity-name", name, "--describe")
        assert code == 0, err
        return out

    # Set on the brokers holding or receiving the partition, and on the topic.
    # Set on the brokers holding or receiving the partition, and on the topic; they stay until
    # a --verify sees the reassignment complete.
    for bid in ("0", "1"):
        cfg = dynamic("brokers", bid)
        assert "leader.replication.throttled.rate=50000000" in cfg and "follower.replication.throttled.rate=50000000" in cfg, cfg
    topic_cfg = dynamic("topics", "slow")
    assert "leader.replication.throttled.replicas=0:0" in topic_cfg, topic_cfg
    assert "follower.replication.throttled.replicas=0:1" in topic_cfg, topic_cfg
    final = verify_until_done(["--bootstrap-server", b], f, "slow-0")
    assert final.endswith("Throttle was removed.\n"), final
    for bid in ("0", "1", "2"):
        assert "throttled.rate" not in dynamic("brokers", bid)
    assert "throttled.replicas" not in dynamic("topics", "slow")


def leader_of(bootstrap, topic):
    return describe(bootstrap, topic).get(0, {}).get("leader")


def test_preferred_election_returns_leadership(cluster, tmp_path):
    b = cluster.bootstrap
    require_apis(b, "ElectLeaders")
    create_topic(b, "el", "1:2")
    wait_until(lambda: sorted(describe(b, "el")[0]["isr"]) == [1, 2], 30, "ISR [1, 2] for el-0")
    produce(b, "el", 10)
    code, out, err = run(LE, "--bootstrap-server", b, "--election-type", "preferred", "--topic", "el", "--partition", "0")
    assert code == 0, err
    assert out == "Valid replica already elected for partitions el-0\n"
    # Over every partition, the ones that need no election are not reported at all.
    code, out, err = run(LE, "--bootstrap-server", b, "--election-type", "PREFERRED", "--all-topic-partitions")
    assert code == 0, err
    assert out == ""
    # Move leadership away from the preferred replica 1, then bring 1 back in sync.
    cluster.brokers[1].kill9()
    b2 = cluster.bootstrap
    wait_until(lambda: leader_of(b2, "el") == 2, 30, "broker 2 leading el-0 after broker 1 died")
    cluster.brokers[1].start()
    b = cluster.bootstrap
    wait_until(lambda: sorted(describe(b, "el")[0]["isr"]) == [1, 2], 60, "broker 1 back in the ISR of el-0")
    assert leader_of(b, "el") == 2
    code, out, err = run(LE, "--bootstrap-server", b, "--election-type", "preferred", "--topic", "el", "--partition", "0")
    assert code == 0, err
    assert out == "Successfully completed leader election (PREFERRED) for partitions el-0\n"
    wait_until(lambda: leader_of(b, "el") == 1, 30, "broker 1 leading el-0 again")
    assert consume_all(b, "el", 10) == ["m%d" % i for i in range(10)]
    # A JSON file mixing a partition that needs nothing and one that does not exist.
    f = write(tmp_path, "e.json", {"partitions": [{"topic": "el", "partition": 0}, {"topic": "nope", "partition": 0}]})
    code, out, err = run(LE, "--bootstrap-server", b, "--election-type", "preferred", "--path-to-json-file", f)
    assert code == 1
    assert out == ("Valid replica already elected for partitions el-0\n"
                   "Error completing leader election (PREFERRED) for partition: nope-0: "
                   "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: The partition does not exist.\n")
    assert "1 replica(s) could not be elected" in err
    # Kafka 2.5's deprecated kafka-preferred-replica-election: over the brokers it reports a
    # partition whose preferred replica already leads as an error, as 2.5 does...
    pre = "kafka-preferred-replica-election"
    code, out, err = run(pre, "--bootstrap-server", b, "--path-to-json-file", write(tmp_path, "p.json", {"partitions": [{"topic": "el", "partition": 0}]}))
    assert code == 1
    assert out.endswith("Error completing preferred replica election for partition el-0: "
                        "org.apache.kafka.common.errors.ElectionNotNeededException: Leader election not needed for topic partition\n"), out
    assert "1 preferred replica(s) could not be elected" in err
    # ... and over ZooKeeper it writes the znode the controller acts on.
    cluster.brokers[1].kill9()
    b2 = cluster.bootstrap
    wait_until(lambda: leader_of(b2, "el") == 2, 30, "broker 2 leading el-0 after broker 1 died again")
    cluster.brokers[1].start()
    b = cluster.bootstrap
    wait_until(lambda: sorted(describe(b, "el")[0]["isr"]) == [1, 2], 60, "broker 1 back in the ISR of el-0 again")
    code, out, err = run(pre, "--zookeeper", cluster.zk.connect)
    assert code == 0, err
    assert "Successfully started preferred replica election for partitions Set(el-0)" in out, out
    wait_until(lambda: leader_of(b, "el") == 1, 30, "broker 1 leading el-0 after the znode-driven election")


def test_unclean_election(cluster, tmp_path):
    b = cluster.bootstrap
    require_apis(b, "ElectLeaders")
    create_topic(b, "un", "1:2")
    wait_until(lambda: sorted(describe(b, "un")[0]["isr"]) == [1, 2], 30, "ISR [1, 2] for un-0")
    code, out, err = run(LE, "--bootstrap-server", b, "--election-type", "unclean", "--topic", "un", "--partition", "0")
    assert code == 0, err
    assert out == "Valid replica already elected for partitions un-0\n"
    # Broker 2 falls behind and out of the ISR; then the only in-sync replica (1) dies.
    cluster.brokers[2].kill9()
    b = cluster.bootstrap
    produce(b, "un", 5)
    wait_until(lambda: describe(b, "un")[0]["isr"] == [1], 30, "ISR [1] for un-0 after broker 2 died")
    cluster.brokers[1].kill9()
    cluster.brokers[2].start()
    b = cluster.bootstrap
    wait_until(lambda: 0 in describe(b, "un") and describe(b, "un")[0]["leader"] is None, 30, "un-0 without a leader")
    # The preferred replica is down: a preferred election cannot help.
    code, out, err = run(LE, "--bootstrap-server", b, "--election-type", "preferred", "--topic", "un", "--partition", "0")
    assert code == 1
    assert out.startswith("Error completing leader election (PREFERRED) for partition: un-0: "
                          "org.apache.kafka.common.errors.PreferredLeaderNotAvailableException"), out
    # Unclean: the live out-of-sync replica takes over.
    code, out, err = run(LE, "--bootstrap-server", b, "--election-type", "unclean", "--topic", "un", "--partition", "0")
    assert code == 0, err
    assert out == "Successfully completed leader election (UNCLEAN) for partitions un-0\n"
    state = wait_until(lambda: (lambda s: s if s.get(0, {}).get("leader") == 2 else None)(describe(b, "un")), 30, "broker 2 leading un-0")
    assert state[0]["isr"] == [2]
