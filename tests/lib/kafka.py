"""Launchers for the Kafka suites: our kafka-server (target/release/kafka-server,
KAFKA_SERVER_BIN overrides) on free 127.0.0.1 ports in temporary directories, over our
zk-server, with bounded waits; callers kill them in finalizers.

- `start_zk(root)`: a zk-server with only the settings a broker needs, in root/zk.
- `Broker(root, zk_connect, broker_id, **overrides)`: one kafka-server; overrides are
  server.properties keys with `_` for `.` (log_retention_ms=1000).
- `Cluster(n, chroot, **overrides)`: one zk-server and n brokers (ids 0..n-1).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from lib.paths import KAFKA_BIN
from lib.ports import free_port
from lib.zookeeper import ZkServer


def start_zk(root):
    """Our zk-server in root/zk, listening (the broker's ZooKeeper: defaults but the port)."""
    return ZkServer("ours", os.path.join(str(root), "zk"), plain=True).start()


class Broker:
    def __init__(self, root, zk_connect, broker_id=0, **overrides):
        self.id = broker_id
        self.dir = os.path.join(root, "broker-%d" % broker_id)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.logdir = os.path.join(self.dir, "logs")
        self.props = {
            "broker.id": str(broker_id),
            "listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "log.dirs": self.logdir,
            "zookeeper.connect": zk_connect,
            "num.partitions": "1",
            "log.retention.check.interval.ms": "500",
            "zookeeper.session.timeout.ms": "6000",
            # As Kafka's shipped server.properties: a one-broker offsets topic, no join delay.
            "offsets.topic.replication.factor": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        self.props.update({k.replace("_", "."): str(v) for k, v in overrides.items()})
        self.proc = None
        self.env = {}
        self.logfile = os.path.join(self.dir, "kafkaServer.out")

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def write_config(self):
        path = os.path.join(self.dir, "server.properties")
        with open(path, "w") as f:
            for k, v in self.props.items():
                f.write("%s=%s\n" % (k, v))
        return path

    def start(self, timeout=30.0):
        path = self.write_config()
        start_at = os.path.getsize(self.logfile) if os.path.exists(self.logfile) else 0
        log = open(self.logfile, "ab")
        # LOG_DIR turns on Kafka's log4j files (server.log, ...); only where a test asks.
        env = {k: v for k, v in os.environ.items() if k != "LOG_DIR"}
        env.update(self.env)
        self.proc = subprocess.Popen([KAFKA_BIN, path], stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kafka-server exited with %s:\n%s" % (self.proc.returncode, self.output()[-2000:]))
            with open(self.logfile, "rb") as f:
                f.seek(start_at)
                if b"started (listening" in f.read():
                    return self
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError("kafka-server not ready in %ss:\n%s" % (timeout, self.output()[-2000:]))

    def output(self):
        try:
            with open(self.logfile, "rb") as f:
                return re.sub(r"\x1b\[[0-9;]*m", "", f.read().decode("utf-8", "replace"))
        except OSError:
            return ""

    def pause(self):
        """SIGSTOP: the broker stops answering without closing anything (a hung process)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()


class Cluster:
    """One zk-server and n brokers."""

    def __init__(self, n=1, chroot="", **overrides):
        self.root = tempfile.mkdtemp(prefix="kafka-test-")
        self.brokers = []
        self.zk = None
        try:
            self.zk = start_zk(self.root)
            for i in range(n):
                b = Broker(self.root, self.zk.connect + chroot, i, **overrides)
                self.brokers.append(b)
                b.start()
        except Exception:
            self.close()
            raise

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers if b.proc and b.proc.poll() is None)

    @property
    def logdir(self):
        """The first broker's log directory."""
        return self.brokers[0].logdir

    def close(self):
        for b in self.brokers:
            b.kill9()
        if self.zk is not None:
            self.zk.kill9()
        shutil.rmtree(self.root, ignore_errors=True)
