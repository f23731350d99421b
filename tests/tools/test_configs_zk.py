"""kafka-configs.sh --zookeeper as Kafka 2.5's ConfigCommand: topic configs written to
/config/topics/<t> with a /config/changes notification the broker follows (seen through
kafka-configs --bootstrap-server --describe), users/clients/<user, client> quota keys stored
and described, and 2.5's errors for unknown keys, bad values, missing topics, configs to delete
that are not set, and dynamic broker configs while the broker runs."""

import json
import time

from tharness import run

WARNING = ("Warning: --zookeeper is deprecated and will be removed in a future version of Kafka.\n"
           "Use --bootstrap-server instead to specify a broker to connect to.\n")


def zk_json(cluster, path):
    code, out, err = run("zookeeper-shell", cluster.zk.connect, "get", path)
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


def configs(cluster, *args):
    return run("kafka-configs", "--zookeeper", cluster.zk.connect, *args)


def test_topic_config_over_zookeeper(cluster):
    b = cluster.bootstrap
    code, _, err = run("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "cz.t", "--partitions", "1", "--replication-factor", "1")
    assert code == 0, err
    code, out, err = configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", "cz.t", "--add-config", "retention.ms=12345,cleanup.policy=[compact,delete]")
    assert code == 0, err
    assert out == WARNING + "Completed updating config for entity: topic 'cz.t'.\n", out
    assert zk_json(cluster, "/config/topics/cz.t") == {"version": 1, "config": {"retention.ms": "12345", "cleanup.policy": "compact,delete"}}
    code, out, _ = run("zookeeper-shell", cluster.zk.connect, "ls", "/config/changes")
    changes = [c.strip() for c in out.strip().splitlines()[-1].strip("[]").split(",") if c.strip()]
    assert changes and all(c.startswith("config_change_") for c in changes), out
    assert zk_json(cluster, "/config/changes/" + sorted(changes)[-1]) == {"version": 2, "entity_path": "topics/cz.t"}
    # The broker follows the notification: the admin API describes the new value.
    deadline = time.time() + 20
    while True:
        code, out, err = run("kafka-configs", "--bootstrap-server", b, "--describe", "--entity-type", "topics", "--entity-name", "cz.t")
        if "retention.ms=12345 sensitive=false" in out or time.time() > deadline:
            break
        time.sleep(0.5)
    assert "retention.ms=12345 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=12345" in out, out + err
    code, out, err = configs(cluster, "--describe", "--entity-type", "topics", "--entity-name", "cz.t")
    assert code == 0 and out == WARNING + "Configs for topic 'cz.t' are retention.ms=12345,cleanup.policy=compact,delete\n", out + err
    # Deleting a key; deleting one not set is refused with 2.5's message.
    code, out, err = configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", "cz.t", "--delete-config", "cleanup.policy")
    assert code == 0, err
    assert zk_json(cluster, "/config/topics/cz.t")["config"] == {"retention.ms": "12345"}
    code, out, err = configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", "cz.t", "--delete-config", "segment.ms")
    assert code == 1 and err == "Invalid config(s): segment.ms\n", err


def test_topic_errors_as_2_5(cluster):
    code, _, err = configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", "cz.t", "--add-config", "foo=1")
    assert code == 1 and err == "Unknown topic config name: foo\n", err
    code, _, err = configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", "cz.t", "--add-config", "retention.ms=x")
    assert code == 1 and err.startswith("Error while executing config command with args") and \
        "Invalid value x for configuration retention.ms: Not a number of type LONG" in err, err
    code, _, err = configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", "missing", "--add-config", "retention.ms=1")
    assert code == 1 and 'Topic "missing" does not exist.' in err, err
    code, _, err = configs(cluster, "--alter", "--entity-type", "topics", "--add-config", "retention.ms=1")
    assert code == 1 and "an entity name must be specified with --alter of topics" in err, err
    code, _, err = configs(cluster, "--describe", "--entity-type", "topics", "--all")
    assert code == 1 and "--bootstrap-server must be specified for --all" in err, err
    code, _, err = run("kafka-configs", "--zookeeper", cluster.zk.connect, "--bootstrap-server", cluster.bootstrap, "--describe", "--entity-type", "topics")
    assert code == 1 and "Only one of --bootstrap-server or --zookeeper must be specified" in err, err


def test_user_and_client_quotas(cluster):
    code, out, err = configs(cluster, "--alter", "--entity-type", "users", "--entity-name", "User:alice", "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048")
    assert code == 0 and out.endswith("Completed updating config for entity: user-principal 'User:alice'.\n"), out + err
    assert zk_json(cluster, "/config/users/User%3Aalice") == {"version": 1, "config": {"producer_byte_rate": "1024", "consumer_byte_rate": "2048"}}
    code, out, err = configs(cluster, "--alter", "--entity-type", "clients", "--entity-name", "c1", "--entity-type", "users", "--entity-name", "bob",
                             "--add-config", "request_percentage=50")
    assert code == 0 and out.endswith("Completed updating config for entity: user-principal 'bob', client-id 'c1'.\n"), out + err
    assert zk_json(cluster, "/config/users/bob/clients/c1")["config"] == {"request_percentage": "50"}
    code, out, err = configs(cluster, "--alter", "--entity-type", "clients", "--entity-default", "--add-config", "producer_byte_rate=10")
    assert code == 0 and out.endswith("Completed updating config for entity: default client-id.\n"), out + err
    assert zk_json(cluster, "/config/clients/<default>")["config"] == {"producer_byte_rate": "10"}
    code, out, _ = configs(cluster, "--describe", "--entity-type", "users")
    assert out == WARNING + "Configs for user-principal 'User:alice' are producer_byte_rate=1024,consumer_byte_rate=2048\n", out
    code, out, _ = configs(cluster, "--describe", "--entity-type", "users", "--entity-type", "clients")
    assert "Configs for user-principal 'bob', client-id 'c1' are request_percentage=50\n" in out, out
    code, out, _ = configs(cluster, "--describe", "--entity-type", "clients", "--entity-default")
    assert out == WARNING + "Configs for default client-id are producer_byte_rate=10\n", out
    code, _, err = configs(cluster, "--alter", "--entity-type", "clients", "--entity-name", "c2", "--add-config", "bogus=10")
    assert code == 1 and err == "requirement failed: Unknown Dynamic Configuration: Set(bogus).\n", err
    code, _, err = configs(cluster, "--alter", "--entity-type", "clients", "--entity-name", "c2", "--add-config", "producer_byte_rate=fast")
    assert code == 1 and "Invalid value fast for configuration producer_byte_rate: Not a number of type LONG" in err, err


def test_brokers_over_zookeeper_as_2_5(cluster):
    code, _, err = configs(cluster, "--alter", "--entity-type", "brokers", "--entity-name", "0", "--add-config", "log.cleaner.threads=2")
    assert code == 1 and err.startswith("requirement failed: --bootstrap-server option must be specified to update broker configs "
                                        "Set(log.cleaner.threads). when broker 0 is running."), err
    code, _, err = configs(cluster, "--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.cleaner.threads=2")
    assert code == 1 and "for default cluster if any broker is running" in err, err
    # The replication throttles may change over ZooKeeper while the broker runs.
    code, out, err = configs(cluster, "--alter", "--entity-type", "brokers", "--entity-name", "0", "--add-config", "leader.replication.throttled.rate=1000")
    assert code == 0 and out.endswith("Completed updating config for entity: brokers '0'.\n"), out + err
    assert zk_json(cluster, "/config/brokers/0")["config"] == {"leader.replication.throttled.rate": "1000"}
    code, out, _ = configs(cluster, "--describe", "--entity-type", "brokers", "--entity-name", "0")
    assert out == WARNING + "Configs for brokers '0' are leader.replication.throttled.rate=1000\n", out
