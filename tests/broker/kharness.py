"""Harness for the broker interop tests: our zk-server plus one or more kafka-server
processes on free 127.0.0.1 ports in temporary directories, with bounded waits, killed in
finalizers. Binaries: target/release/{zk-server,kafka-server} (ZK_SERVER_BIN / KAFKA_SERVER_BIN
override)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ZK_BIN = os.environ.get("ZK_SERVER_BIN", os.path.join(REPO, "target", "release", "zk-server"))
KAFKA_BIN = os.environ.get("KAFKA_SERVER_BIN", os.path.join(REPO, "target", "release", "kafka-server"))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Zk:
    def __init__(self, root):
        self.dir = os.path.join(root, "zk")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None

    def start(self):
        cfg = os.path.join(self.dir, "zookeeper.properties")
        with open(cfg, "w") as f:
            f.write("dataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns=0\n" % (self.dir, self.port))
        self.log = open(os.path.join(self.dir, "zk.log"), "ab")
        self.proc = subprocess.Popen([ZK_BIN, cfg], stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError("zk-server did not listen on %d" % self.port)
        return self

    @property
    def connect(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


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
        self.proc = subprocess.Popen([KAFKA_BIN, path], stdout=log, stderr=subprocess.STDOUT)
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
        self.zk = Zk(self.root).start()
        self.brokers = []
        try:
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

    def close(self):
        for b in self.brokers:
            b.kill9()
        self.zk.stop()
        shutil.rmtree(self.root, ignore_errors=True)
