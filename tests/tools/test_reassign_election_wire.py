"""The admin-API side of kafka-leader-election.sh and kafka-reassign-partitions.sh on the wire,
against a scripted broker (fakebroker.py) so it can be checked before any broker implements
ElectLeaders or the reassignment APIs: the versions chosen, what is sent (partitions = null for
--all-topic-partitions, election types, timeouts, replica lists), the controller being the
target (and a moved controller being followed), and how each kind of answer is printed."""

import pytest

from fakebroker import ALTER_REASSIGN, BROKER, DESCRIBE_CONFIGS, ELECT_LEADERS, INCREMENTAL_ALTER_CONFIGS, LIST_REASSIGN, TOPIC, FakeCluster
from rharness import run, write

RA = "kafka-reassign-partitions"
LE = "kafka-leader-election"


@pytest.fixture
def fake():
    made = []

    def make(**kw):
        f = FakeCluster(**kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def elections(f):
    return [(node, version, req) for node, _, version, req in f.recorded(ELECT_LEADERS)]


def test_all_partitions_sends_null_and_reports_each_outcome(fake):
    f = fake()
    f.controller = 1
    f.elect_results = lambda req: (0, [("t", 1, 0, None), ("t", 0, 0, None), ("a", 3, 0, None), ("t", 2, 84, None),
                                       ("t", 4, 80, "Failed to elect leader for partition t-4 under strategy PreferredReplicaPartitionLeaderElectionStrategy"),
                                       ("u", 0, 7, None)])
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(0), "--election-type", "preferred", "--all-topic-partitions")
    assert code == 1
    assert out == ("Successfully completed leader election (PREFERRED) for partitions a-3, t-0, t-1\n"
                   "Valid replica already elected for partitions t-2\n"
                   "Error completing leader election (PREFERRED) for partition: t-4: org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: "
                   "Failed to elect leader for partition t-4 under strategy PreferredReplicaPartitionLeaderElectionStrategy\n"
                   "Error completing leader election (PREFERRED) for partition: u-0: org.apache.kafka.common.errors.TimeoutException: The request timed out.\n")
    assert err.strip() == "kafka.common.AdminCommandFailedException: 2 replica(s) could not be elected"
    # One request, to the controller (node 1), at v2, partitions null, Kafka's 30 s timeout.
    assert elections(f) == [(1, 2, {"election_type": 0, "partitions": None, "timeout_ms": 30000})]


def test_single_partition_and_json_file(fake, tmp_path):
    f = fake(versions={18: (0, 2), 3: (0, 1), 43: (0, 1)})
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "UnClean", "--topic", "t", "--partition", "3")
    assert code == 0, err
    assert out == "Successfully completed leader election (UNCLEAN) for partitions t-3\n"
    j = write(tmp_path, "e.json", {"partitions": [{"topic": "b", "partition": 1}, {"topic": "a", "partition": 2}, {"topic": "b", "partition": 0}]})
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "preferred", "--path-to-json-file", j)
    assert code == 0, err
    assert out == "Successfully completed leader election (PREFERRED) for partitions a-2, b-0, b-1\n"
    sent = elections(f)
    assert [v for _, v, _ in sent] == [1, 1]
    assert sent[0][2] == {"election_type": 1, "partitions": [("t", [3])], "timeout_ms": 30000}
    assert sent[1][2]["election_type"] == 0
    assert sorted(sent[1][2]["partitions"]) == [("a", [2]), ("b", [0, 1])]
    # An empty list in the file is an empty (not null) request: nothing to report.
    empty = write(tmp_path, "none.json", {"partitions": []})
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "preferred", "--path-to-json-file", empty)
    assert code == 0 and out == "", err
    assert elections(f)[-1][2]["partitions"] == []


def test_version_zero_is_preferred_only(fake):
    f = fake(versions={18: (0, 2), 3: (0, 1), 43: (0, 0)})
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "unclean", "--all-topic-partitions")
    assert code == 1
    assert err.strip() == ("Error while making request: org.apache.kafka.common.errors.UnsupportedVersionException: "
                           "API Version 0 only supports PREFERRED election type")
    assert elections(f) == []
    f.elect_results = lambda req: (0, [("t", 0, 84, None)])
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "preferred", "--topic", "t", "--partition", "0")
    assert code == 0, err
    assert out == "Valid replica already elected for partitions t-0\n"
    assert elections(f) == [(0, 0, {"election_type": 0, "partitions": [("t", [0])], "timeout_ms": 30000})]


def test_request_level_errors(fake):
    f = fake()
    f.elect_results = lambda req: (31, [])
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "preferred", "--all-topic-partitions")
    assert code == 1
    assert out == "Not authorized to perform leader election\n"
    f.elect_results = lambda req: (42, [])
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "preferred", "--all-topic-partitions")
    assert code == 1 and out == ""
    assert err.strip().startswith("Error while making request: org.apache.kafka.common.errors.InvalidRequestException")
    g = fake(versions={18: (0, 2), 3: (0, 1)})
    code, out, err = run(LE, "--bootstrap-server", g.bootstrap(), "--election-type", "preferred", "--all-topic-partitions")
    assert code == 1
    assert err.strip() == "Error while making request: The broker at %s does not support ElectLeaders" % g.bootstrap()


def test_moved_controller_is_followed(fake, tmp_path):
    f = fake()
    f.not_controller_once = {ELECT_LEADERS}
    code, out, err = run(LE, "--bootstrap-server", f.bootstrap(), "--election-type", "preferred", "--topic", "t", "--partition", "0")
    assert code == 0, err
    assert out == "Successfully completed leader election (PREFERRED) for partitions t-0\n"
    assert [n for n, _, _ in elections(f)] == [0, 1]
    f.topics["t"] = {0: [0]}
    f.not_controller_once = {ALTER_REASSIGN}
    r = write(tmp_path, "r.json", {"partitions": [{"topic": "t", "partition": 0, "replicas": [2]}]})
    code, out, err = run(RA, "--bootstrap-server", f.bootstrap(0), "--execute", "--reassignment-json-file", r)
    assert code == 0, err
    # Node 1 now says NOT_CONTROLLER and hands over to node 0.
    assert [n for n, _, _, _ in f.recorded(ALTER_REASSIGN)] == [1, 0]


def test_reassignment_over_the_admin_api(fake, tmp_path):
    f = fake()
    f.topics = {"t": {0: [0], 1: [1]}, "u": {0: [2, 0]}}
    b = f.bootstrap()
    r = write(tmp_path, "r.json", {"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [1, 2]},
                                                                 {"topic": "u", "partition": 0, "replicas": [0, 1]}]})
    code, out, err = run(RA, "--bootstrap-server", b, "--execute", "--reassignment-json-file", r, "--timeout", "12000")
    assert code == 0, err
    assert out == ("Current partition replica assignment\n\n"
                   '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[0],"log_dirs":["any"]},'
                   '{"topic":"t","partition":1,"replicas":[1],"log_dirs":["any"]},'
                   '{"topic":"u","partition":0,"replicas":[2,0],"log_dirs":["any","any"]}]}\n\n'
                   "Save this to use as the --reassignment-json-file option during rollback\n"
                   "Successfully started reassignment of partitions.\n")
    (node, _, version, req), = f.recorded(ALTER_REASSIGN)
    assert (node, version) == (0, 0)
    assert req == {"timeout_ms": 12000, "topics": [("t", [(0, [1, 2])]), ("u", [(0, [0, 1])])]}
    # Before starting, the tool asked for every ongoing reassignment (topics = null).
    assert f.recorded(LIST_REASSIGN)[0][3]["topics"] is None
    code, out, err = run(RA, "--bootstrap-server", b, "--execute", "--reassignment-json-file", r)
    assert code == 1
    assert out == "There is an existing assignment running.\n"
    code, out, err = run(RA, "--bootstrap-server", b, "--verify", "--reassignment-json-file", r)
    assert code == 0, err
    assert out == ("Status of partition reassignment: \nReassignment of partition t-0 is still in progress\n"
                   "Reassignment of partition u-0 is still in progress\n")
    asked = f.recorded(LIST_REASSIGN)[-1][3]["topics"]
    assert sorted(asked) == [("t", [0]), ("u", [0])]
    f.complete()
    code, out, err = run(RA, "--bootstrap-server", b, "--verify", "--reassignment-json-file", r)
    assert code == 0, err
    assert out == ("Status of partition reassignment: \nReassignment of partition t-0 completed successfully\n"
                   "Reassignment of partition u-0 completed successfully\n")
    f.topics["u"][0] = [1, 0]
    code, out, err = run(RA, "--bootstrap-server", b, "--verify", "--reassignment-json-file", r)
    assert code == 1
    assert "Reassignment of partition u-0 failed\n" in out


def test_reassignment_errors_from_the_controller(fake, tmp_path):
    f = fake()
    f.topics = {"t": {0: [0], 1: [1]}}
    f.alter_errors = {("t", 1): (39, "Replica assignment has brokers that are not alive. Replica list: [2], live broker list: [0, 1]")}
    r = write(tmp_path, "r.json", {"partitions": [{"topic": "t", "partition": 0, "replicas": [1]}, {"topic": "t", "partition": 1, "replicas": [2]}]})
    code, out, err = run(RA, "--bootstrap-server", f.bootstrap(), "--execute", "--reassignment-json-file", r)
    assert code == 1
    assert out.endswith("Save this to use as the --reassignment-json-file option during rollback\n")
    assert err == ("Partitions reassignment failed due to Error reassigning partition(s):\n"
                   "t-1: Replica assignment has brokers that are not alive. Replica list: [2], live broker list: [0, 1]\n")


def test_throttle_over_the_admin_api(fake, tmp_path):
    f = fake()
    f.topics = {"t": {0: [0], 1: [1]}}
    f.configs = {(TOPIC, "t"): {"retention.ms": "5"}}
    r = write(tmp_path, "r.json", {"partitions": [{"topic": "t", "partition": 0, "replicas": [0, 2]}]})
    code, out, err = run(RA, "--bootstrap-server", f.bootstrap(), "--execute", "--reassignment-json-file", r, "--throttle", "3000")
    assert code == 0, err
    assert "The inter-broker throttle limit was set to 3000 B/s\n" in out
    assert f.configs[(TOPIC, "t")] == {"retention.ms": "5", "leader.replication.throttled.replicas": "0:0",
                                       "follower.replication.throttled.replicas": "0:2"}
    rate = {"leader.replication.throttled.rate": "3000", "follower.replication.throttled.rate": "3000"}
    # Brokers holding or receiving replicas of the topic, each told on its own connection.
    assert {k: v for k, v in f.configs.items() if k[0] == BROKER} == {(BROKER, "0"): rate, (BROKER, "1"): rate, (BROKER, "2"): rate}
    sent = [(n, req["resources"][0][1]) for n, _, _, req in f.recorded(INCREMENTAL_ALTER_CONFIGS) if req["resources"][0][0] == BROKER]
    assert sorted(sent) == [(0, "0"), (1, "1"), (2, "2")]
    code, out, err = run(RA, "--bootstrap-server", f.bootstrap(), "--verify", "--reassignment-json-file", r)
    assert code == 0 and "Throttle was removed." not in out, err
    f.complete()
    code, out, err = run(RA, "--bootstrap-server", f.bootstrap(), "--verify", "--reassignment-json-file", r)
    assert code == 0, err
    assert out == "Status of partition reassignment: \nReassignment of partition t-0 completed successfully\nThrottle was removed.\n"
    assert f.configs[(TOPIC, "t")] == {"retention.ms": "5"}
    assert all(not v for k, v in f.configs.items() if k[0] == BROKER)
    asked = {req["resources"][0][1] for _, _, _, req in f.recorded(DESCRIBE_CONFIGS)}
    assert asked == {"0", "1", "2", "t"}
    code, out, err = run(RA, "--bootstrap-server", f.bootstrap(), "--verify", "--reassignment-json-file", r)
    assert code == 0 and "Throttle was removed." not in out, err
