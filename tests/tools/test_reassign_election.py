"""kafka-reassign-partitions.sh and kafka-leader-election.sh without the broker-side APIs:
--help, every usage and JSON error (checked before any connection: the bootstrap/ZooKeeper
addresses here are closed ports, and the answer comes well before a connection attempt could
time out), --generate against 3 real brokers (both paths) and against hand-made znodes with
racks, and the ZooKeeper path's --execute/--verify/--throttle against hand-made znodes with
no controller behind them (what Kafka 2.5's tool writes, byte for byte). The end-to-end runs
that need a broker doing the reassignment and the elections are in
test_reassign_election_e2e.py."""

import json
import time

import pytest

from lib.kafka import Cluster
from lib.ports import closed_port
from rharness import FakeZk, describe, run, wait_until, write

RA = "kafka-reassign-partitions"
LE = "kafka-leader-election"


@pytest.fixture
def fzk():
    z = FakeZk()
    yield z
    z.close()


@pytest.fixture(scope="module")
def cluster3():
    c = Cluster(3)
    yield c
    c.close()


def create_topic(bootstrap, topic, *args):
    """kafka-topics --create, then wait (bounded) until every broker's metadata has it."""
    code, out, err = run("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic, *args)
    assert code == 0, err
    for one in bootstrap.split(","):
        wait_until(lambda: describe(one, topic), 30, "topic %s in the metadata of %s" % (topic, one))


def fast(argv):
    start = time.time()
    code, out, err = run(*argv)
    took = time.time() - start
    return code, out, err, took


# --- help and flags -------------------------------------------------------------------------

@pytest.mark.parametrize("tool,flags", [
    (LE, ["--admin.config", "--all-topic-partitions", "--bootstrap-server", "--election-type", "--partition",
          "--path-to-json-file", "--topic", "--version"]),
    (RA, ["--bootstrap-server", "--broker-list", "--command-config", "--disable-rack-aware", "--execute", "--generate",
          "--reassignment-json-file", "--replica-alter-log-dirs-throttle", "--throttle", "--timeout",
          "--topics-to-move-json-file", "--verify", "--version", "--zookeeper"]),
    ("kafka-preferred-replica-election", ["--admin.config", "--bootstrap-server", "--path-to-json-file", "--version", "--zookeeper"]),
])
def test_help(tool, flags):
    code, out, err = run(tool, "--help")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("This tool ")
    i = lines.index("Option                                   Description")
    assert lines[i + 1] == "------                                   -----------"
    listed = [l.split()[0] for l in lines[i + 2:] if l.startswith("--")]
    assert listed == sorted(flags + ["--help"]), listed
    # Kafka 2.5's tool has no --cancel, --list or --additional (they came with 2.6).
    assert "--cancel" not in out and "--list " not in out and "--additional" not in out


@pytest.mark.parametrize("tool", [LE, RA])
def test_unknown_flag_and_no_args(tool):
    code, out, err = run(tool, "--no-such-flag", "x")
    assert code == 1
    assert err.strip() == "no-such-flag is not a recognized option"
    code, out, err = run(tool)
    assert code == 1
    assert "Option                                   Description" in out


def test_leader_election_usage_errors(tmp_path):
    b = "127.0.0.1:%d" % closed_port()
    et = ["--election-type", "preferred"]
    one_of = "One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file"
    cases = [
        (["--topic", "t"], "Missing required option(s): election-type, bootstrap-server"),
        (["--bootstrap-server", b, "--topic", "t", "--partition", "0"], "Missing required option(s): election-type"),
        (["--election-type", "preferred", "--all-topic-partitions"], "Missing required option(s): bootstrap-server"),
        (["--bootstrap-server", b] + et, one_of),
        (["--bootstrap-server", b] + et + ["--topic", "t", "--partition", "0", "--all-topic-partitions"], one_of),
        (["--bootstrap-server", b] + et + ["--all-topic-partitions", "--path-to-json-file", "f"], one_of),
        (["--bootstrap-server", b] + et + ["--topic", "t"], "Missing required option(s): partition"),
        (["--bootstrap-server", b] + et + ["--all-topic-partitions", "--partition", "0"], "Option partition is only allowed if topic is used"),
        (["--bootstrap-server", b, "--election-type", "sideways", "--all-topic-partitions"], "Cannot parse argument 'sideways' of option election-type"),
        (["--bootstrap-server", b] + et + ["--topic", "t", "--partition", "x"], "Cannot parse argument 'x' of option partition"),
        (["--bootstrap-server", b, "--all-topic-partitions", "--election-type"], "Option election-type requires an argument"),
        (["--bootstrap-server", b] + et + ["--all-topic-partitions", "stray"], "Unexpected argument: stray"),
    ]
    for argv, msg in cases:
        code, out, err, took = fast([LE] + argv)
        assert code == 1, argv
        assert err.strip() == msg, argv
        assert out == "", argv
        assert took < 4, argv
    code, out, err, _ = fast([LE, "--bootstrap-server", b] + et + ["--path-to-json-file", str(tmp_path / "missing.json")])
    assert code == 1 and err.startswith("Cannot read %s" % (tmp_path / "missing.json")), err


def test_leader_election_bad_json(tmp_path):
    b = "127.0.0.1:%d" % closed_port()
    cases = [
        ("", "Replica election data is empty"),
        ("{nope", None),
        ("{}", 'Replica election data is missing "partitions" field'),
        ('{"partitions": {"topic": "a"}}', 'The "partitions" field of the replica election data must be an array'),
        ('{"partitions": [{"partition": 0}]}', 'Missing or invalid "topic" field in an entry of "partitions"'),
        ('{"partitions": [{"topic": "a", "partition": "zero"}]}', 'Missing or invalid "partition" field in the entry for topic a'),
        ('{"partitions": [{"topic": "a", "partition": 1}, {"topic": "b", "partition": 0}, {"topic": "a", "partition": 1}]}',
         "Replica election data contains duplicate partitions: a-1"),
    ]
    for i, (text, msg) in enumerate(cases):
        f = write(tmp_path, "e%d.json" % i, text)
        code, out, err, took = fast([LE, "--bootstrap-server", b, "--election-type", "PREFERRED", "--path-to-json-file", f])
        assert code == 1, text
        if msg is None:
            assert err.startswith("Replica election data is not valid JSON"), err
        else:
            assert err.strip() == msg, text
        assert took < 4, text


def test_leader_election_unreachable_cluster():
    b = "127.0.0.1:%d" % closed_port()
    code, out, err, took = fast([LE, "--bootstrap-server", b, "--election-type", "unclean", "--topic", "t", "--partition", "0"])
    assert code == 1
    assert "could not reach any bootstrap server" in err, err
    assert len(err.strip().splitlines()) == 1
    assert took < 20


PRE = "kafka-preferred-replica-election"
PRE_DEPRECATED = "This tool is deprecated. Please use kafka-leader-election tool. Tracking issue at: TBD\n"
ZK_DEPRECATED = ("Warning: --zookeeper is deprecated and will be removed in a future version of Kafka.\n"
                 "Use --bootstrap-server instead to specify a broker to connect to.\n")


def test_preferred_replica_election_usage_and_json_errors(tmp_path):
    """Kafka 2.5's deprecated tool: exactly one of --bootstrap-server/--zookeeper, its JSON
    messages, all before any connection (the addresses are closed ports)."""
    b = "127.0.0.1:%d" % closed_port()
    z = "127.0.0.1:%d" % closed_port()
    for argv in ([], ["--bootstrap-server", b, "--zookeeper", z], ["--path-to-json-file", "f"]):
        code, out, err, took = fast([PRE] + argv)
        assert code == 1, argv
        assert out.startswith(PRE_DEPRECATED), (argv, out)
        if argv:
            assert err.strip() == "Exactly one of '[bootstrap-server]' or '[zookeeper]' must be provided", argv
    cases = [
        ("", "Preferred replica election data is empty"),
        ("{}", "Preferred replica election data is empty"),
        ('{"partitions": [{"topic": "a", "partition": 1}, {"topic": "a", "partition": 1}]}',
         "Preferred replica election data contains duplicate partitions: a-1"),
    ]
    for i, (text, msg) in enumerate(cases):
        f = write(tmp_path, "p%d.json" % i, text)
        code, out, err, took = fast([PRE, "--zookeeper", z, "--path-to-json-file", f])
        assert code == 1, text
        assert err.strip() == "kafka.admin.AdminOperationException: " + msg, text
        assert took < 4, text


def test_preferred_replica_election_over_znodes(fzk, tmp_path):
    """--zookeeper writes /admin/preferred_replica_election for the partitions that exist (no
    controller here, so the znode stays) and refuses while one is there, as Kafka 2.5's does."""
    fzk.topic("a", {0: [1, 2], 1: [2, 1]})
    fzk.topic("b", {0: [2, 1]})
    f = write(tmp_path, "p.json", {"partitions": [{"topic": "a", "partition": 1}, {"topic": "nope", "partition": 0},
                                                 {"topic": "a", "partition": 7}]})
    code, out, err = run(PRE, "--zookeeper", fzk.connect, "--path-to-json-file", f)
    assert code == 0, err
    assert out == (PRE_DEPRECATED + ZK_DEPRECATED + "Created preferred replica election path with a-1\n"
                   "Successfully started preferred replica election for partitions Set(a-1)\n"
                   "Skipping preferred replica leader election for partition a-7 since it doesn't exist.\n"
                   "Skipping preferred replica leader election for partition nope-0 since it doesn't exist.\n")
    assert fzk.get_json("/admin/preferred_replica_election") == {"version": 1, "partitions": [{"topic": "a", "partition": 1}]}
    # One in progress: refused, the znode untouched.
    code, out, err = run(PRE, "--zookeeper", fzk.connect)
    assert code == 1
    assert ("Preferred replica leader election currently in progress for a-1. Aborting operation") in err, err
    assert fzk.get_json("/admin/preferred_replica_election")["partitions"] == [{"topic": "a", "partition": 1}]
    # Every partition when no file is given.
    fzk.kz.delete("/admin/preferred_replica_election")
    code, out, err = run(PRE, "--zookeeper", fzk.connect)
    assert code == 0, err
    assert out.endswith("Created preferred replica election path with a-0,a-1,b-0\n"
                        "Successfully started preferred replica election for partitions Set(a-0, a-1, b-0)\n"), out
    assert sorted((p["topic"], p["partition"]) for p in fzk.get_json("/admin/preferred_replica_election")["partitions"]) == \
        [("a", 0), ("a", 1), ("b", 0)]


def test_reassign_usage_errors(tmp_path):
    z = ["--zookeeper", "127.0.0.1:%d" % closed_port()]
    f = write(tmp_path, "r.json", '{"partitions":[{"topic":"t","partition":0,"replicas":[1]}]}')
    one_action = "Command must include exactly one action: --generate, --execute or --verify"
    cases = [
        (z, one_action),
        (z + ["--execute", "--verify", "--reassignment-json-file", f], one_action),
        (["--execute", "--reassignment-json-file", f], 'Missing required argument "[zookeeper]" (or "[bootstrap-server]")'),
        (z + ["--verify"], "If --verify option is used, command must include --reassignment-json-file that was used during the --execute option"),
        (z + ["--verify", "--reassignment-json-file", f, "--throttle", "10"], 'Option "[verify]" can\'t be used with option "[throttle]"'),
        (z + ["--verify", "--reassignment-json-file", f, "--replica-alter-log-dirs-throttle", "10"],
         'Option "[verify]" can\'t be used with option "[replica-alter-log-dirs-throttle]"'),
        (z + ["--verify", "--reassignment-json-file", f, "--broker-list", "1"], 'Option "[verify]" can\'t be used with option "[broker-list]"'),
        (z + ["--generate", "--broker-list", "0,1"],
         "If --generate option is used, command must include both --topics-to-move-json-file and --broker-list options"),
        (z + ["--generate", "--topics-to-move-json-file", f],
         "If --generate option is used, command must include both --topics-to-move-json-file and --broker-list options"),
        (z + ["--generate", "--topics-to-move-json-file", f, "--broker-list", "0", "--throttle", "5"],
         'Option "[generate]" can\'t be used with option "[throttle]"'),
        (z + ["--generate", "--topics-to-move-json-file", f, "--broker-list", "0", "--reassignment-json-file", f],
         'Option "[generate]" can\'t be used with option "[reassignment-json-file]"'),
        (z + ["--execute"], "If --execute option is used, command must include --reassignment-json-file that was output during the --generate option"),
        (z + ["--execute", "--reassignment-json-file", f, "--topics-to-move-json-file", f],
         'Option "[execute]" can\'t be used with option "[topics-to-move-json-file]"'),
        (z + ["--execute", "--reassignment-json-file", f, "--disable-rack-aware"], 'Option "[execute]" can\'t be used with option "[disable-rack-aware]"'),
        (z + ["--execute", "--reassignment-json-file", f, "--throttle", "lots"], "Cannot parse argument 'lots' of option throttle"),
        (z + ["--execute", "--reassignment-json-file", f, "--timeout", "soon"], "Cannot parse argument 'soon' of option timeout"),
        (z + ["--execute", "--reassignment-json-file"], "Option reassignment-json-file requires an argument"),
    ]
    for argv, msg in cases:
        code, out, err, took = fast([RA] + argv)
        assert code == 1, argv
        assert err.strip() == msg, argv
        assert out == "", argv
        assert took < 4, argv


BAD_REASSIGNMENTS = [
    ("{nope", "The input string is not a valid JSON"),
    ("[1, 2]", 'The reassignment JSON must be an object with a "partitions" array'),
    ('{"version": 2, "partitions": [{"topic": "t", "partition": 0, "replicas": [1]}]}', "Not supported version field value 2"),
    ('{"version": 1}', "Partition reassignment data file is empty"),
    ('{"version": 1, "partitions": []}', "Partition reassignment data file is empty"),
    ('{"partitions": [{"topic": "t", "partition": 0, "replicas": []}]}', "Partition replica list cannot be empty"),
    ('{"partitions": [{"topic": "t", "partition": 0, "replicas": [1]}, {"topic": "t", "partition": 0, "replicas": [2]}]}',
     "Partition reassignment contains duplicate topic partitions: t-0"),
    ('{"partitions": [{"topic": "t", "partition": 0, "replicas": [1, 2, 1]}]}',
     "Partition replica lists may not contain duplicate entries: t-0 contains multiple entries for 1"),
    ('{"partitions": [{"topic": "t", "partition": 0, "replicas": [1, 2], "log_dirs": ["any"]}]}',
     "Size of replicas list List(1, 2) is different from size of log dirs list List(any) for partition t-0"),
    ('{"partitions": [{"topic": "t", "partition": 0, "replicas": [1], "log_dirs": ["/data/kafka"]}]}',
     'Partition t-0 asks for a log directory (/data/kafka); moving replicas between log directories is not supported by this tool, use "any"'),
    ('{"partitions": [{"partition": 0, "replicas": [1]}]}', 'Missing or invalid "topic" field in a partition entry'),
    ('{"partitions": [{"topic": "t", "partition": "0", "replicas": [1]}]}', 'Missing or invalid "partition" field in the entry for topic t'),
    ('{"partitions": [{"topic": "t", "partition": 0, "replicas": "1,2"}]}', 'Missing or invalid "replicas" field for partition t-0'),
]


@pytest.mark.parametrize("action", ["--execute", "--verify"])
def test_reassignment_json_errors_before_contacting_cluster(tmp_path, action):
    modes = [["--zookeeper", "127.0.0.1:%d" % closed_port()], ["--bootstrap-server", "127.0.0.1:%d" % closed_port()]]
    for i, (text, msg) in enumerate(BAD_REASSIGNMENTS):
        f = write(tmp_path, "bad%d.json" % i, text)
        for mode in modes:
            code, out, err, took = fast([RA] + mode + [action, "--reassignment-json-file", f])
            assert code == 1, (text, mode)
            assert err.strip() == "Partitions reassignment failed due to " + msg, (text, mode)
            assert took < 4, (text, mode)
    code, out, err, _ = fast([RA] + modes[0] + [action, "--reassignment-json-file", str(tmp_path / "none.json")])
    assert code == 1 and err.startswith("Partitions reassignment failed due to Cannot read "), err


def test_generate_input_errors_before_contacting_cluster(tmp_path):
    z = ["--zookeeper", "127.0.0.1:%d" % closed_port()]
    good = write(tmp_path, "good.json", '{"topics": [{"topic": "a"}], "version": 1}')
    topic_cases = [
        ("{nope", "The input string is not a valid JSON"),
        ('{"topics": [{"topic": "a"}], "version": 3}', "Not supported version field value 3"),
        ('{"topic": [{"topic": "a"}]}', 'Missing or invalid "topics" array in the topics to move JSON'),
        ('{"topics": []}', "The topics to move JSON lists no topics"),
        ('{"topics": [{"name": "a"}]}', 'Missing or invalid "topic" field in an entry of "topics"'),
        ('{"topics": [{"topic": "a"}, {"topic": "b"}, {"topic": "a"}]}', "List of topics to reassign contains duplicate entries: a"),
    ]
    for i, (text, msg) in enumerate(topic_cases):
        f = write(tmp_path, "t%d.json" % i, text)
        code, out, err, took = fast([RA] + z + ["--generate", "--topics-to-move-json-file", f, "--broker-list", "0,1"])
        assert code == 1, text
        assert err.strip() == "Partitions reassignment failed due to " + msg, text
        assert took < 4
    for blist, msg in [("0,x", 'For input string: "x"'), ("1,2,1", "Broker list contains duplicate entries: 1")]:
        code, out, err, took = fast([RA] + z + ["--generate", "--topics-to-move-json-file", good, "--broker-list", blist])
        assert code == 1
        assert err.strip() == "Partitions reassignment failed due to " + msg
        assert took < 4


# --- --generate -----------------------------------------------------------------------------

def parse_generate(out):
    lines = out.split("\n")
    assert lines[0] == "Current partition replica assignment", out
    assert lines[2] == "" and lines[3] == "Proposed partition reassignment configuration", out
    assert lines[5:] == [""], out
    return lines[1], json.loads(lines[1]), json.loads(lines[4])


def check_proposal(current, proposed, brokers, racks=None):
    """Kafka's placement: same partitions and replication factors, distinct replicas on the
    given brokers, first replicas spread round-robin, racks distinct where they can be."""
    assert proposed["version"] == 1
    cur = {(p["topic"], p["partition"]): p["replicas"] for p in current["partitions"]}
    new = {(p["topic"], p["partition"]): p for p in proposed["partitions"]}
    assert list(new) == sorted(new), "partitions are listed in topic/partition order"
    assert set(new) == set(cur)
    for tp, p in new.items():
        r = p["replicas"]
        assert len(r) == len(cur[tp]), tp
        assert len(set(r)) == len(r), tp
        assert set(r) <= set(brokers), tp
        assert p["log_dirs"] == ["any"] * len(r)
        assert list(p) == ["topic", "partition", "replicas", "log_dirs"]
        if racks:
            wanted = min(len(r), len(set(racks.values())))
            assert len({racks[b] for b in r}) == wanted, (tp, r)
    for topic in {t for t, _ in new}:
        firsts = [new[(t, p)]["replicas"][0] for (t, p) in sorted(new) if t == topic]
        # Round-robin leaders: no broker leads twice before every broker led once.
        n = len(set(brokers))
        for i in range(0, len(firsts), n):
            chunk = firsts[i:i + n]
            assert len(set(chunk)) == len(chunk), (topic, firsts)


def test_generate_from_znodes(fzk, tmp_path):
    for b in range(4):
        fzk.broker(b)
    fzk.topic("a", {0: [0, 1], 1: [1, 2], 2: [2, 0], 3: [0, 2]})
    fzk.topic("b", {0: [2]})
    f = write(tmp_path, "move.json", {"topics": [{"topic": "b"}, {"topic": "a"}], "version": 1})
    current_text = ('{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[0,1],"log_dirs":["any","any"]},'
                    '{"topic":"a","partition":1,"replicas":[1,2],"log_dirs":["any","any"]},'
                    '{"topic":"a","partition":2,"replicas":[2,0],"log_dirs":["any","any"]},'
                    '{"topic":"a","partition":3,"replicas":[0,2],"log_dirs":["any","any"]},'
                    '{"topic":"b","partition":0,"replicas":[2],"log_dirs":["any"]}]}')
    for blist in (["0,1,2"], ["1,3"], ["3,2,1,0"]):
        brokers = [int(x) for x in blist[0].split(",")]
        for _ in range(3):
            code, out, err = run(RA, "--zookeeper", fzk.connect, "--generate", "--topics-to-move-json-file", f, "--broker-list", blist[0])
            assert code == 0, err
            text, current, proposed = parse_generate(out)
            assert text == current_text
            check_proposal(current, proposed, brokers)
    # Only registered brokers count; too few for the replication factor is Kafka's error.
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--generate", "--topics-to-move-json-file", f, "--broker-list", "3,7,8")
    assert code == 1
    assert err.strip() == "Partitions reassignment failed due to Replication factor: 2 larger than available brokers: 1."
    nope = write(tmp_path, "nope.json", {"topics": [{"topic": "a"}, {"topic": "nope"}]})
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--generate", "--topics-to-move-json-file", nope, "--broker-list", "0,1")
    assert code == 1
    assert err.strip() == "Partitions reassignment failed due to Topic(s) to move do not exist: nope"


def test_generate_rack_aware(fzk, tmp_path):
    racks = {0: "r1", 1: "r1", 2: "r2", 3: "r2", 4: "r3"}
    for b, r in racks.items():
        fzk.broker(b, r)
    fzk.broker(5)
    fzk.topic("a", {p: [p % 5, (p + 1) % 5] for p in range(10)})
    fzk.topic("c", {p: [0, 1, 2] for p in range(5)})
    f = write(tmp_path, "move.json", {"topics": [{"topic": "a"}, {"topic": "c"}]})
    for _ in range(5):
        code, out, err = run(RA, "--zookeeper", fzk.connect, "--generate", "--topics-to-move-json-file", f, "--broker-list", "0,1,2,3,4")
        assert code == 0, err
        _, current, proposed = parse_generate(out)
        check_proposal(current, proposed, [0, 1, 2, 3, 4], racks)
    # Broker 5 has no rack: Kafka refuses unless told to ignore racks.
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--generate", "--topics-to-move-json-file", f, "--broker-list", "0,1,2,3,4,5")
    assert code == 1
    assert err.strip() == ("Partitions reassignment failed due to Not all brokers have rack information. Add --disable-rack-aware "
                           "in command line to make replica assignment without rack information.")
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--generate", "--topics-to-move-json-file", f, "--broker-list", "0,1,2,3,4,5",
                         "--disable-rack-aware")
    assert code == 0, err
    _, current, proposed = parse_generate(out)
    check_proposal(current, proposed, [0, 1, 2, 3, 4, 5])


def test_generate_against_three_brokers(cluster3, tmp_path):
    b = cluster3.bootstrap
    create_topic(b, "gen-a", "--partitions", "6", "--replication-factor", "1")
    create_topic(b, "gen-b", "--replica-assignment", "0:1,1:2,2:0")
    f = write(tmp_path, "move.json", {"topics": [{"topic": "gen-a"}, {"topic": "gen-b"}], "version": 1})
    texts = []
    for mode in (["--bootstrap-server", b], ["--zookeeper", cluster3.zk.connect]):
        code, out, err = run(RA, *mode, "--generate", "--topics-to-move-json-file", f, "--broker-list", "0,1,2")
        assert code == 0, (mode, err)
        text, current, proposed = parse_generate(out)
        texts.append(text)
        cur = {(p["topic"], p["partition"]): p["replicas"] for p in current["partitions"]}
        assert [cur[("gen-b", p)] for p in range(3)] == [[0, 1], [1, 2], [2, 0]]
        assert sorted(p for t, p in cur if t == "gen-a") == list(range(6))
        check_proposal(current, proposed, [0, 1, 2])
        code, out, err = run(RA, *mode, "--generate", "--topics-to-move-json-file", f, "--broker-list", "1")
        assert code == 1
        assert err.strip() == "Partitions reassignment failed due to Replication factor: 2 larger than available brokers: 1."
    # The admin API and the znodes tell the same story.
    assert texts[0] == texts[1]


def test_execute_checks_the_cluster_first(cluster3, tmp_path):
    b = cluster3.bootstrap
    create_topic(b, "chk", "--partitions", "2", "--replication-factor", "1")
    cases = [
        ({"partitions": [{"topic": "chk", "partition": 5, "replicas": [1]}]}, "The proposed assignment contains non-existent partitions: ListBuffer(chk-5)"),
        ({"partitions": [{"topic": "nope", "partition": 0, "replicas": [1]}, {"topic": "chk", "partition": 0, "replicas": [1]}]},
         "The proposed assignment contains non-existent partitions: ListBuffer(nope-0)"),
        ({"partitions": [{"topic": "chk", "partition": 0, "replicas": [1, 9, 7]}]}, "The proposed assignment contains non-existent brokerIDs: 7,9"),
    ]
    for i, (doc, msg) in enumerate(cases):
        f = write(tmp_path, "c%d.json" % i, doc)
        for mode in (["--bootstrap-server", b], ["--zookeeper", cluster3.zk.connect]):
            code, out, err = run(RA, *mode, "--execute", "--reassignment-json-file", f)
            assert code == 1, mode
            assert err.strip() == "Partitions reassignment failed due to " + msg, mode
            assert out == "", mode


def test_verify_over_zookeeper_against_real_layout(cluster3, tmp_path):
    b = cluster3.bootstrap
    create_topic(b, "ver", "--replica-assignment", "2,0")
    same = write(tmp_path, "same.json", {"version": 1, "partitions": [{"topic": "ver", "partition": 0, "replicas": [2]},
                                                                       {"topic": "ver", "partition": 1, "replicas": [0]}]})
    code, out, err = run(RA, "--zookeeper", cluster3.zk.connect, "--verify", "--reassignment-json-file", same)
    assert code == 0, err
    assert out == ("Status of partition reassignment: \nReassignment of partition ver-0 completed successfully\n"
                   "Reassignment of partition ver-1 completed successfully\n")
    other = write(tmp_path, "other.json", {"partitions": [{"topic": "ver", "partition": 1, "replicas": [1]}]})
    code, out, err = run(RA, "--zookeeper", cluster3.zk.connect, "--verify", "--reassignment-json-file", other)
    assert code == 1
    assert out == "Status of partition reassignment: \nReassignment of partition ver-1 failed\n"


# --- the ZooKeeper path against hand-made znodes -------------------------------------------

def rollback_block(current):
    return ("Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n"
            % current)


def test_execute_and_verify_over_znodes(fzk, tmp_path):
    for b in range(3):
        fzk.broker(b)
    fzk.topic("t", {0: [0], 1: [1]})
    f = write(tmp_path, "r.json", {"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [1, 2]}]})
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--execute", "--reassignment-json-file", f)
    assert code == 0, err
    current = ('{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[0],"log_dirs":["any"]},'
               '{"topic":"t","partition":1,"replicas":[1],"log_dirs":["any"]}]}')
    assert out == rollback_block(current) + "Successfully started reassignment of partitions.\n"
    data, _ = fzk.kz.get("/admin/reassign_partitions")
    assert data.decode() == '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}'
    # The printed rollback JSON is itself a valid reassignment file.
    rollback = write(tmp_path, "rollback.json", current)
    # A second run while the znode exists changes nothing.
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--execute", "--reassignment-json-file", rollback)
    assert code == 1
    assert out == "There is an existing assignment running.\n"
    data, _ = fzk.kz.get("/admin/reassign_partitions")
    assert data.decode() == '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}'
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--verify", "--reassignment-json-file", f)
    assert code == 0, err
    assert out == "Status of partition reassignment: \nReassignment of partition t-0 is still in progress\n"
    # What a 2.5 controller does when done: final replicas in the topic znode, znode deleted.
    fzk.topic("t", {0: [1, 2], 1: [1]})
    fzk.kz.delete("/admin/reassign_partitions")
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--verify", "--reassignment-json-file", f)
    assert code == 0, err
    assert out == "Status of partition reassignment: \nReassignment of partition t-0 completed successfully\n"
    # The rollback file now differs from the cluster: failed, exit 1.
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--verify", "--reassignment-json-file", rollback)
    assert code == 1
    assert out == ("Status of partition reassignment: \nReassignment of partition t-0 failed\n"
                   "Reassignment of partition t-1 completed successfully\n")
    # A reassignment started through the admin API shows in the topic znode only.
    fzk.topic("t", {0: [1, 2, 0], 1: [1]}, adding={}, removing={0: [0]})
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--verify", "--reassignment-json-file", rollback)
    assert code == 0, err
    assert "Reassignment of partition t-0 is still in progress\n" in out


def test_execute_checks_znodes(fzk, tmp_path):
    for b in range(2):
        fzk.broker(b)
    fzk.topic("t", {0: [0]})
    cases = [
        ({"partitions": [{"topic": "t", "partition": 1, "replicas": [1]}]}, "The proposed assignment contains non-existent partitions: ListBuffer(t-1)"),
        ({"partitions": [{"topic": "t", "partition": 0, "replicas": [1, 2]}]}, "The proposed assignment contains non-existent brokerIDs: 2"),
    ]
    for i, (doc, msg) in enumerate(cases):
        f = write(tmp_path, "c%d.json" % i, doc)
        code, out, err = run(RA, "--zookeeper", fzk.connect, "--execute", "--reassignment-json-file", f)
        assert code == 1
        assert err.strip() == "Partitions reassignment failed due to " + msg
        assert fzk.kz.exists("/admin/reassign_partitions") is None


def config_of(fzk, path):
    doc = fzk.get_json(path)
    return None if doc is None else doc["config"]


def change_notes(fzk):
    notes = []
    for c in sorted(fzk.kz.get_children("/config/changes")):
        assert c.startswith("config_change_") and len(c) == len("config_change_") + 10, c
        notes.append(fzk.get_json("/config/changes/" + c))
    return notes


def test_throttle_over_znodes(fzk, tmp_path):
    for b in range(4):
        fzk.broker(b)
    fzk.topic("t", {0: [0], 1: [1], 2: [3]})
    fzk.kz.create("/config/topics/t", b'{"version":1,"config":{"retention.ms":"1000"}}', makepath=True)
    fzk.kz.create("/config/brokers/0", b'{"version":1,"config":{"log.cleaner.threads":"2"}}', makepath=True)
    f = write(tmp_path, "r.json", {"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [1, 2]},
                                                                 {"topic": "t", "partition": 1, "replicas": [1]}]})
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--execute", "--reassignment-json-file", f, "--throttle", "1000000",
                         "--replica-alter-log-dirs-throttle", "500")
    assert code == 0, err
    current = ('{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[0],"log_dirs":["any"]},'
               '{"topic":"t","partition":1,"replicas":[1],"log_dirs":["any"]},'
               '{"topic":"t","partition":2,"replicas":[3],"log_dirs":["any"]}]}')
    assert out == (rollback_block(current)
                   + "Warning: You must run Verify periodically, until the reassignment completes, to ensure the throttle is removed. "
                     "You can also alter the throttle by rerunning the Execute command passing a new value.\n"
                   + "The inter-broker throttle limit was set to 1000000 B/s\n"
                   + "The replica-alter-dir throttle limit was set to 500 B/s\n"
                   + "Successfully started reassignment of partitions.\n")
    # Topic: leaders = current replicas of moving partitions, followers = the replicas they gain.
    assert config_of(fzk, "/config/topics/t") == {"retention.ms": "1000", "leader.replication.throttled.replicas": "0:0",
                                                   "follower.replication.throttled.replicas": "0:1,0:2"}
    rates = {"leader.replication.throttled.rate": "1000000", "follower.replication.throttled.rate": "1000000",
             "replica.alter.log.dirs.io.max.bytes.per.second": "500"}
    # Every broker holding or receiving a replica of the topic.
    assert config_of(fzk, "/config/brokers/0") == dict(rates, **{"log.cleaner.threads": "2"})
    for bid in (1, 2, 3):
        assert config_of(fzk, "/config/brokers/%d" % bid) == rates, bid
    notes = change_notes(fzk)
    assert all(n["version"] == 2 for n in notes)
    assert {n["entity_path"] for n in notes} == {"topics/t", "brokers/0", "brokers/1", "brokers/2", "brokers/3"}
    # Rerunning with another throttle while it runs: only the limit changes, exit 0.
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--execute", "--reassignment-json-file", f, "--throttle", "2000")
    assert code == 0, err
    assert out == "There is an existing assignment running.\n"
    assert config_of(fzk, "/config/brokers/2")["leader.replication.throttled.rate"] == "2000"
    assert config_of(fzk, "/config/brokers/2")["follower.replication.throttled.rate"] == "2000"
    # In progress: the throttles stay.
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--verify", "--reassignment-json-file", f)
    assert code == 0 and "Throttle was removed." not in out
    assert "leader.replication.throttled.rate" in config_of(fzk, "/config/brokers/1")
    # Done: verify removes every throttle key and keeps the rest.
    fzk.topic("t", {0: [1, 2], 1: [1], 2: [3]})
    fzk.kz.delete("/admin/reassign_partitions")
    before = len(change_notes(fzk))
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--verify", "--reassignment-json-file", f)
    assert code == 0, err
    assert out == ("Status of partition reassignment: \nReassignment of partition t-0 completed successfully\n"
                   "Reassignment of partition t-1 completed successfully\nThrottle was removed.\n")
    assert config_of(fzk, "/config/topics/t") == {"retention.ms": "1000"}
    assert config_of(fzk, "/config/brokers/0") == {"log.cleaner.threads": "2"}
    for bid in (1, 2, 3):
        assert config_of(fzk, "/config/brokers/%d" % bid) == {}, bid
    assert len(change_notes(fzk)) == before + 5
    code, out, err = run(RA, "--zookeeper", fzk.connect, "--verify", "--reassignment-json-file", f)
    assert code == 0 and "Throttle was removed." not in out
