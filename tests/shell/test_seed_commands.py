"""The seeds' four commands (`ls /`, `get /brokers/ids/0`, `get /controller`,
`ls /brokers/topics`) through scripts/zookeeper-shell.sh, against the znodes of a stock Kafka
2.5 broker's first boot (shared/reference/kafka-2.5-zookeeper/znode-dump.txt), created with
kazoo with the same data (null where the broker wrote null; the two broker znodes ephemeral)."""

import os

import pytest
from kazoo.client import KazooClient

from conftest import SERVER_KIND, run_shell, start_server
from lib.paths import REPO, SHELL_SCRIPT

DUMP = os.path.join(REPO, "..", "shared", "reference", "kafka-2.5-zookeeper", "znode-dump.txt")


def read_dump():
    """[(path, data bytes or None, ephemeral)] in dump order (parents first)."""
    nodes, path, data = [], None, None
    with open(DUMP) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("/"):
                path = line
            elif line.startswith("    data: "):
                text = line[len("    data: "):]
                data = None if text == "null" else text.encode()
            elif line.startswith("    stat: "):
                ephemeral = "ephemeralOwner=0x0 " not in line + " "
                nodes.append((path, data, ephemeral))
    return nodes


@pytest.fixture(scope="module")
def kafka_layout(tmp_path_factory, request):
    if not os.path.exists(DUMP):
        pytest.skip("reference dump not found: %s" % DUMP)
    # A server of its own: these commands look at the real root.
    server = start_server("apache" if SERVER_KIND == "apache" else "ours", tmp_path_factory, request)
    zk = KazooClient(hosts=server.hosts, timeout=10.0)
    zk.start(timeout=10.0)
    request.addfinalizer(zk.close)
    request.addfinalizer(zk.stop)
    nodes = read_dump()
    for path, data, ephemeral in nodes:
        if path == "/" or path.startswith("/zookeeper"):
            continue
        zk.create(path, data, ephemeral=ephemeral)
    return server, {p: d for p, d, _ in nodes}


def seed(server, *args):
    proc_rc, out, err = run_shell([server.hosts] + list(args), binary=SHELL_SCRIPT)
    assert proc_rc == 0, err
    lines = out.splitlines()
    assert lines[:4] == ["Connecting to %s" % server.hosts, "", "WATCHER::", ""]
    assert lines[4] == "WatchedEvent state:SyncConnected type:None path:null"
    return lines[5:]


def test_ls_root(shell_bin, kafka_layout):
    server, _ = kafka_layout
    assert seed(server, "ls", "/") == [
        "[admin, brokers, cluster, config, consumers, controller, controller_epoch, "
        "isr_change_notification, latest_producer_id_block, log_dir_event_notification, zookeeper]"]


def test_get_broker_registration(shell_bin, kafka_layout):
    server, data = kafka_layout
    assert seed(server, "get", "/brokers/ids/0") == [data["/brokers/ids/0"].decode()]
    assert seed(server, "get", "/brokers/ids/0")[0].startswith('{"listener_security_protocol_map"')


def test_get_controller(shell_bin, kafka_layout):
    server, data = kafka_layout
    assert seed(server, "get", "/controller") == ['{"version":1,"brokerid":0,"timestamp":"1795224243655"}']


def test_ls_topics(shell_bin, kafka_layout):
    server, _ = kafka_layout
    assert seed(server, "ls", "/brokers/topics") == ["[__consumer_offsets, stock-test]"]


def test_null_data_prints_null_and_ephemeral_owner_shows(shell_bin, kafka_layout):
    server, _ = kafka_layout
    assert seed(server, "get", "/brokers")[0] == "null"
    stat = seed(server, "stat", "/controller")
    owner = [l for l in stat if l.startswith("ephemeralOwner = ")][0]
    assert owner != "ephemeralOwner = 0x0"
