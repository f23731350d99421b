"""Helpers for the kafka-reassign-partitions / kafka-leader-election tests: a bare zk-server
with hand-made broker and topic znodes (the ZooKeeper path without any controller, so every
step is deterministic) and readers for kafka-topics --describe. Clusters come from
lib/kafka.py. Everything on 127.0.0.1, free ports, bounded waits."""

import functools
import json
import shutil
import tempfile

from kazoo.client import KazooClient

from lib.kafka import start_zk
from lib.waiting import wait_until
from tharness import run

# These waits run a kafka-* tool per poll: every 0.25 s, not lib's 0.05 s.
wait_until = functools.partial(wait_until, interval=0.25)


class FakeZk:
    """A zk-server with Kafka 2.5's broker and topic znodes written by hand (persistent)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="reassign-zk-")
        self.server = start_zk(self.root)
        self.kz = KazooClient(hosts=self.server.connect, timeout=10)
        try:
            self.kz.start(timeout=15)
        except Exception:
            self.close()
            raise

    @property
    def connect(self):
        return self.server.connect

    def broker(self, bid, rack=None):
        port = 9092 + bid
        data = {"listener_security_protocol_map": {"PLAINTEXT": "PLAINTEXT"}, "endpoints": ["PLAINTEXT://127.0.0.1:%d" % port],
                "jmx_port": -1, "host": "127.0.0.1", "timestamp": "1", "port": port, "version": 4}
        if rack is not None:
            data["rack"] = rack
        self.kz.create("/brokers/ids/%d" % bid, json.dumps(data).encode(), makepath=True)

    def topic(self, name, assignment, adding=None, removing=None):
        """assignment: {partition: [replicas]}."""
        data = json.dumps({"version": 2, "partitions": {str(p): r for p, r in assignment.items()},
                           "adding_replicas": {str(p): r for p, r in (adding or {}).items()},
                           "removing_replicas": {str(p): r for p, r in (removing or {}).items()}}).encode()
        path = "/brokers/topics/" + name
        if self.kz.exists(path):
            self.kz.set(path, data)
        else:
            self.kz.create(path, data, makepath=True)

    def get_json(self, path):
        if not self.kz.exists(path):
            return None
        data, _ = self.kz.get(path)
        return json.loads(data.decode())

    def close(self):
        try:
            self.kz.stop()
            self.kz.close()
        except Exception:
            pass
        self.server.kill9()
        shutil.rmtree(self.root, ignore_errors=True)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text if isinstance(text, str) else json.dumps(text))
    return str(p)


def describe(bootstrap, topic):
    """{partition: {"leader": int|None, "replicas": [..], "isr": [..]}} from kafka-topics --describe."""
    code, out, err = run("kafka-topics", "--bootstrap-server", bootstrap, "--describe", "--topic", topic, timeout=60)
    if code != 0:
        return {}
    parts = {}
    for line in out.splitlines():
        fields = dict(f.split(": ", 1) for f in line.strip().split("\t") if ": " in f)
        if "Partition" not in fields:
            continue
        ids = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
        leader = fields.get("Leader", "none")
        parts[int(fields["Partition"])] = {"leader": None if leader in ("none", "-1") else int(leader),
                                           "replicas": ids(fields.get("Replicas", "")), "isr": ids(fields.get("Isr", ""))}
    return parts
