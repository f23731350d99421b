"""Interop test harness (imported by conftest.py and the tests; a unique module name so it
does not clash with other suites' conftest.py when pytest runs several directories): runs the same tests against our `zk-server` or Apache ZooKeeper 3.8.

Select the server with ZK_SERVER=ours|apache (default: ours).

- ours:   target/release/zk-server <zookeeper.properties>   (ZK_SERVER_BIN overrides the path)
- apache: java ... org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg (Debian `zookeeper`)
          with superDigest / extendedTypesEnabled / jute.maxbuffer / container interval as -D.

Every server listens on 127.0.0.1 on a free port, in its own tmp dir, and is killed in a
finalizer. `ZkServer.restart()` restarts on the same dataDir, `ZkServer.kill9()` is a crash.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER_KIND = os.environ.get("ZK_SERVER", "ours").strip().lower()
if SERVER_KIND not in ("ours", "apache"):
    raise RuntimeError("ZK_SERVER must be 'ours' or 'apache', got %r" % SERVER_KIND)

OUR_BIN = os.environ.get("ZK_SERVER_BIN", os.path.join(REPO, "target", "release", "zk-server"))

JAVA_DIR = "/usr/share/java"
APACHE_JARS = [
    "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
    "netty-handler.jar", "netty-transport.jar", "netty-common.jar", "netty-buffer.jar",
    "netty-codec.jar", "netty-resolver.jar", "netty-transport-native-unix-common.jar",
    "netty-transport-native-epoll.jar", "commons-cli.jar", "metrics-core.jar",
    "snappy-java.jar",
]
CLIENT_CP = ":".join(os.path.join(JAVA_DIR, j) for j in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-nop.jar"))
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"

# super user for superDigest tests
SUPER_USER = "super"
SUPER_PASSWORD = "super-secret"


def digest(user, password):
    """ZooKeeper's DigestAuthenticationProvider.generateDigest: user:base64(sha1(user:password))."""
    raw = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(raw).decode())


SUPER_DIGEST = digest(SUPER_USER, SUPER_PASSWORD)

# Settings shared by both servers (tests rely on these numbers).
TICK_MS = 500
MIN_SESSION_MS = 1000
MAX_SESSION_MS = 40000
JUTE_MAXBUFFER = 262144
CONTAINER_CHECK_MS = 500
SNAP_COUNT = 1000

START_TIMEOUT = 30.0  # seconds for the server to answer ruok


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def four_letter(port, cmd, timeout=5.0):
    """Send a four-letter word and return the whole answer (server closes the socket)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(cmd.encode() if isinstance(cmd, str) else cmd)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode(errors="replace")


class ZkServer:
    def __init__(self, kind, workdir, extra=None):
        self.kind = kind
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        self.extra = dict(extra or {})
        self.proc = None
        self.log_path = os.path.join(workdir, "server.log")
        self.starts = 0

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    # -- config -----------------------------------------------------------------
    def _settings(self):
        s = {
            "tickTime": TICK_MS,
            "minSessionTimeout": MIN_SESSION_MS,
            "maxSessionTimeout": MAX_SESSION_MS,
            "jute.maxbuffer": JUTE_MAXBUFFER,
            "znode.container.checkIntervalMs": CONTAINER_CHECK_MS,
            "snapCount": SNAP_COUNT,
        }
        s.update(self.extra)
        return s

    def _write_config(self):
        s = self._settings()
        if self.kind == "ours":
            lines = [
                "dataDir=%s" % self.data_dir,
                "clientPort=%d" % self.port,
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=%s" % s.pop("maxClientCnxns", 0),
                "admin.enableServer=false",
                "4lw.commands.whitelist=%s" % s.pop("4lw.commands.whitelist", "*"),
                "extendedTypesEnabled=true",
                "superDigest=%s" % SUPER_DIGEST,
            ]
            for k, v in s.items():
                lines.append("%s=%s" % (k, v))
            path = os.path.join(self.workdir, "zookeeper.properties")
        else:
            lines = [
                "dataDir=%s" % self.data_dir,
                "clientPort=%d" % self.port,
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=%s" % s.get("maxClientCnxns", 0),
                "admin.enableServer=false",
                "4lw.commands.whitelist=%s" % s.get("4lw.commands.whitelist", "*"),
                "tickTime=%s" % s["tickTime"],
                "minSessionTimeout=%s" % s["minSessionTimeout"],
                "maxSessionTimeout=%s" % s["maxSessionTimeout"],
                "snapCount=%s" % s["snapCount"],
            ]
            path = os.path.join(self.workdir, "zoo.cfg")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _command(self, cfg):
        if self.kind == "ours":
            return [OUR_BIN, cfg]
        s = self._settings()
        cp = ":".join(os.path.join(JAVA_DIR, j) for j in APACHE_JARS)
        return [
            "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.extendedTypesEnabled=true",
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=%s" % SUPER_DIGEST,
            "-Djute.maxbuffer=%s" % s["jute.maxbuffer"],
            "-Dznode.container.checkIntervalMs=%s" % s["znode.container.checkIntervalMs"],
            "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-cp", cp, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg,
        ]

    # -- lifecycle --------------------------------------------------------------
    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cfg = self._write_config()
        log = open(self.log_path, "ab")
        log.write(("\n===== start #%d %s =====\n" % (self.starts, time.ctime())).encode())
        log.flush()
        self.proc = subprocess.Popen(
            self._command(cfg), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=self.workdir, start_new_session=True,
        )
        log.close()
        self.starts += 1
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s during start:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                last = four_letter(self.port, "ruok", timeout=1.0)
                if last == "imok":
                    # Apache answers imok before it serves; wait for srvr to stop saying so.
                    last = four_letter(self.port, "srvr", timeout=1.0)
                    if "not currently serving" not in last:
                        time.sleep(0.15)
                        if self.proc.poll() is not None:
                            raise RuntimeError("server exited with %s right after answering ruok:\n%s" % (
                                self.proc.returncode, self.log_tail()))
                        return self
            except OSError as e:
                last = repr(e)
            time.sleep(0.1)
        self.kill9()
        raise RuntimeError("server did not answer ruok->imok within %ss (last: %r)\n%s" % (timeout, last, self.log_tail()))

    def stop(self, timeout=10.0):
        """SIGTERM, wait, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def kill9(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def restart(self, crash=False):
        """Restart on the same dataDir and port (crash=True: kill -9 first)."""
        if crash:
            self.kill9()
        else:
            self.stop()
        deadline = time.time() + 10
        while True:  # the port may linger a moment
            try:
                return self.start()
            except RuntimeError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def four(self, cmd, timeout=5.0):
        return four_letter(self.port, cmd, timeout)

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"


def wait_until(pred, timeout=10.0, interval=0.05, msg="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, msg))
