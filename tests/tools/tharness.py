"""Harness for the kafka-* tool tests: our zk-server and one kafka-server on free 127.0.0.1
ports in a temporary directory, bounded waits, killed in finalizers; `run()` calls a
scripts/kafka-*.sh entry point and returns (exit code, stdout, stderr).
Binaries: target/release/{zk-server,kafka-server,kafka-tools} (ZK_SERVER_BIN /
KAFKA_SERVER_BIN override the servers)."""

import os
import shutil
import sys
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ZK_BIN = os.environ.get("ZK_SERVER_BIN", os.path.join(REPO, "target", "release", "zk-server"))
KAFKA_BIN = os.environ.get("KAFKA_SERVER_BIN", os.path.join(REPO, "target", "release", "kafka-server"))
SCRIPTS = os.path.join(REPO, "scripts")

# Ports and readiness as the broker tests do them.
sys.path.insert(0, os.path.join(REPO, "tests", "broker"))
from kharness import free_port, wait_port  # noqa: E402


class Cluster:
    """One zk-server and one kafka-server (broker id 0)."""

    def __init__(self, **overrides):
        self.root = tempfile.mkdtemp(prefix="kafka-tools-test-")
        self.procs = []
        try:
            self.zk_port = free_port()
            zdir = os.path.join(self.root, "zk")
            os.makedirs(zdir)
            zcfg = os.path.join(zdir, "zookeeper.properties")
            with open(zcfg, "w") as f:
                f.write("dataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n" % (zdir, self.zk_port))
            self._spawn([ZK_BIN, zcfg], os.path.join(zdir, "zk.log"))
            if not wait_port(self.zk_port):
                raise RuntimeError("zk-server did not listen on %d" % self.zk_port)
            self.port = free_port()
            bdir = os.path.join(self.root, "broker-0")
            os.makedirs(bdir)
            self.logdir = os.path.join(bdir, "logs")
            props = {
                "broker.id": "0",
                "listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
                "log.dirs": self.logdir,
                "zookeeper.connect": "127.0.0.1:%d" % self.zk_port,
                "num.partitions": "1",
                "offsets.topic.replication.factor": "1",
                "group.initial.rebalance.delay.ms": "0",
                "zookeeper.session.timeout.ms": "6000",
            }
            props.update({k.replace("_", "."): str(v) for k, v in overrides.items()})
            bcfg = os.path.join(bdir, "server.properties")
            with open(bcfg, "w") as f:
                for k, v in props.items():
                    f.write("%s=%s\n" % (k, v))
            self.blog = os.path.join(bdir, "kafkaServer.out")
            proc = self._spawn([KAFKA_BIN, bcfg], self.blog)
            deadline = time.time() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("kafka-server exited: %s" % self.broker_log()[-2000:])
                if "started (listening" in self.broker_log():
                    break
                if time.time() > deadline:
                    raise RuntimeError("kafka-server not ready: %s" % self.broker_log()[-2000:])
                time.sleep(0.05)
        except Exception:
            self.close()
            raise

    def _spawn(self, argv, logpath):
        log = open(logpath, "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def broker_log(self):
        try:
            with open(self.blog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    @property
    def zk(self):
        return "127.0.0.1:%d" % self.zk_port

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                p.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def run(tool, *args, stdin=None, timeout=60, env=None):
    """Runs scripts/<tool>.sh; returns (code, stdout, stderr)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([os.path.join(SCRIPTS, tool + ".sh")] + [str(a) for a in args], input=stdin,
                       capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def supports(bootstrap, api_key):
    """Whether the broker lists api_key in ApiVersions (via kafka-broker-api-versions.sh)."""
    code, out, _ = run("kafka-broker-api-versions", "--bootstrap-server", bootstrap, timeout=30)
    if code != 0:
        return False
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(api_key + "(") and "UNSUPPORTED" not in line:
            return True
    return False
