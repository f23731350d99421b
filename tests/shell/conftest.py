"""Harness for the zookeeper-shell tests.

Servers:
- `apache_server`: Apache ZooKeeper 3.8 from the Debian packages (QuorumPeerMain), the
  reference; tests that need it skip if java or the jars are missing.
- `our_server`: target/release/zk-server (ZK_SERVER_BIN overrides); skipped with a clear
  reason if it is not built.
- `zk_server`: the server under test, chosen by ZK_SERVER=ours|apache (default ours).

Every server listens on 127.0.0.1 on a free port, lives in its own tmp dir and is killed by a
finalizer. Every wait is bounded. Tests isolate themselves under a fresh chroot node
(`chroot_hosts`), so they can share one server per session.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHELL_BIN = os.environ.get("ZOOKEEPER_SHELL_BIN", os.path.join(REPO, "target", "release", "zookeeper-shell"))
SHELL_SCRIPT = os.path.join(REPO, "scripts", "zookeeper-shell.sh")
OUR_SERVER_BIN = os.environ.get("ZK_SERVER_BIN", os.path.join(REPO, "target", "release", "zk-server"))
SERVER_KIND = os.environ.get("ZK_SERVER", "ours").strip().lower()
if SERVER_KIND not in ("ours", "apache"):
    raise RuntimeError("ZK_SERVER must be 'ours' or 'apache', got %r" % SERVER_KIND)

JAVA_DIR = "/usr/share/java"
SERVER_JARS = [
    "zookeeper.jar", "zookeeper-jute.jar", "slf4j-nop.jar", "netty-handler.jar",
    "netty-transport.jar", "netty-common.jar", "netty-buffer.jar", "netty-codec.jar",
    "netty-resolver.jar", "netty-transport-native-unix-common.jar",
    "netty-transport-native-epoll.jar", "commons-cli.jar", "metrics-core.jar", "snappy-java.jar",
]
ZKCLI_JARS = ["zookeeper.jar", "zookeeper-jute.jar", "slf4j-nop.jar", "commons-cli.jar"]

START_TIMEOUT = 40.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(port, word, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out.decode(errors="replace")
            out += chunk


def java_available():
    return shutil.which("java") is not None and all(
        os.path.exists(os.path.join(JAVA_DIR, j)) for j in SERVER_JARS)


class Server:
    """One ZooKeeper server process on 127.0.0.1."""

    def __init__(self, kind, workdir):
        self.kind = kind
        self.workdir = str(workdir)
        self.port = free_port()
        self.proc = None

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        data = os.path.join(self.workdir, "data")
        os.makedirs(data, exist_ok=True)
        common = [
            "dataDir=%s" % data,
            "clientPort=%d" % self.port,
            "clientPortAddress=127.0.0.1",
            "tickTime=500",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
        ]
        if self.kind == "ours":
            cfg = os.path.join(self.workdir, "zookeeper.properties")
            lines = common + ["extendedTypesEnabled=true"]
            cmd = [OUR_SERVER_BIN, cfg]
        else:
            cfg = os.path.join(self.workdir, "zoo.cfg")
            lines = common
            cp = ":".join(os.path.join(JAVA_DIR, j) for j in SERVER_JARS)
            cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-Dzookeeper.extendedTypesEnabled=true", "-cp", cp,
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        log = open(os.path.join(self.workdir, "server.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.workdir, start_new_session=True)
        log.close()
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s server exited with %s:\n%s" % (self.kind, self.proc.returncode, self.log_tail()))
            try:
                if four_letter(self.port, "ruok", timeout=1.0) == "imok":
                    # ruok answers before the server serves; a session proves it is up.
                    if self._session_ok():
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("%s server did not start within %ss:\n%s" % (self.kind, START_TIMEOUT, self.log_tail()))

    def _session_ok(self):
        from kazoo.client import KazooClient
        zk = KazooClient(hosts=self.hosts, timeout=5.0)
        try:
            zk.start(timeout=5.0)
            zk.get_children("/")
            return True
        except Exception:
            return False
        finally:
            try:
                zk.stop()
                zk.close()
            except Exception:
                pass

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def start_server(kind, tmp_path_factory, request):
    if kind == "ours" and not os.access(OUR_SERVER_BIN, os.X_OK):
        pytest.skip("our ZooKeeper server is not built (%s missing; run `cargo build --release -p zk`)" % OUR_SERVER_BIN)
    if kind == "apache" and not java_available():
        pytest.skip("Apache ZooKeeper (Debian packages zookeeper, zookeeper-bin) or java is not installed")
    server = Server(kind, tmp_path_factory.mktemp("zk-" + kind))
    request.addfinalizer(server.stop)
    return server.start()


@pytest.fixture(scope="session")
def shell_bin():
    """The zookeeper-shell binary, built through the wrapper script if missing or stale."""
    proc = subprocess.run([SHELL_SCRIPT, "--help"], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr
    assert os.access(SHELL_BIN, os.X_OK)
    return SHELL_BIN


@pytest.fixture(scope="session")
def apache_server(tmp_path_factory, request):
    return start_server("apache", tmp_path_factory, request)


@pytest.fixture(scope="session")
def our_server(tmp_path_factory, request):
    return start_server("ours", tmp_path_factory, request)


@pytest.fixture(scope="session")
def zk_server(request):
    """The server under test (ZK_SERVER=ours|apache, default ours)."""
    return request.getfixturevalue("apache_server" if SERVER_KIND == "apache" else "our_server")


def make_chroot(server, name=None):
    """Creates a fresh top-level node and returns `127.0.0.1:port/<node>`."""
    from kazoo.client import KazooClient
    node = "/%s-%s" % (name or "t", uuid.uuid4().hex[:8])
    zk = KazooClient(hosts=server.hosts, timeout=10.0)
    zk.start(timeout=10.0)
    try:
        zk.create(node, None)
    finally:
        zk.stop()
        zk.close()
    return server.hosts + node


@pytest.fixture
def chroot_hosts(zk_server):
    return make_chroot(zk_server)


@pytest.fixture
def kazoo(zk_server):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=zk_server.hosts, timeout=10.0)
    zk.start(timeout=10.0)
    yield zk
    zk.stop()
    zk.close()


def run_shell(args, stdin_text=None, timeout=30, binary=None):
    """Runs zookeeper-shell with `args`; stdin is the script (or /dev/null)."""
    proc = subprocess.run([binary or SHELL_BIN] + list(args), input=(stdin_text or "").encode(),
                          capture_output=True, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def run_zkcli(hosts, args=(), stdin_text=None, timeout=90):
    """Runs Apache's zkCli (org.apache.zookeeper.ZooKeeperMain)."""
    cp = ":".join(os.path.join(JAVA_DIR, j) for j in ZKCLI_JARS)
    cmd = ["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
           "org.apache.zookeeper.ZooKeeperMain", "-server", hosts] + list(args)
    proc = subprocess.run(cmd, input=(stdin_text or "").encode(), capture_output=True, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


ZXID_RE = re.compile(r"^(cZxid|mZxid|pZxid) = 0x[0-9a-f]+$")
TIME_RE = re.compile(r"^(ctime|mtime) = .+$")
OWNER_RE = re.compile(r"^ephemeralOwner = 0x(?!0$)[0-9a-f]+$")


def mask(line):
    """Hides what legitimately differs between runs: zxids, times, session ids, chroot names."""
    if ZXID_RE.match(line):
        return line.split(" = ")[0] + " = 0x<zxid>"
    if TIME_RE.match(line):
        return line.split(" = ")[0] + " = <time>"
    if OWNER_RE.match(line):
        return "ephemeralOwner = 0x<session>"
    if line.startswith("Connecting to "):
        return "Connecting to <hosts>"
    return line


def split_output(text):
    """(lines in order, watch events sorted): WATCHER blocks are printed asynchronously by zkCli,
    so their position among other lines is not compared, only their content."""
    ordered, events = [], []
    for line in text.splitlines():
        if line == "WATCHER::" or line == "":
            continue
        if line.startswith("WatchedEvent "):
            events.append(line)
            continue
        ordered.append(mask(line))
    return ordered, sorted(events)
