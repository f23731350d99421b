"""Harness for the zookeeper-shell tests.

Servers:
- `apache_server`: Apache ZooKeeper 3.8 from the Debian packages (QuorumPeerMain), the
  reference; tests that need it skip if java or the jars are missing.
- `our_server`: target/release/zk-server (ZK_SERVER_BIN overrides); skipped with a clear
  reason if it is not built.
- `zk_server`: the server under test, chosen by ZK_SERVER=ours|apache (default ours).

Each is lib/zookeeper.py's ZkServer: 127.0.0.1, a free port, its own tmp dir, killed by a
finalizer. Every wait is bounded. Tests isolate themselves under a fresh chroot node
(`chroot_hosts`), so they can share one server per session.
"""

import os
import re
import subprocess
import uuid

import pytest

from lib.paths import JAVA_DIR, SHELL_BIN, SHELL_SCRIPT, ZK_BIN, ZKCLI_JARS, java_available, server_kind
from lib.zookeeper import ZkServer

SERVER_KIND = server_kind("ZK_SERVER")

START_TIMEOUT = 40.0
# Settings over lib's standalone defaults: ZooKeeper's own maximum session timeout for
# tickTime=500 (20 ticks), as the shell's sessions always had.
SERVER_EXTRA = {"maxSessionTimeout": 10000}


def start_server(kind, tmp_path_factory, request):
    """A ZkServer of `kind`, started; killed (SIGKILL) by a finalizer; skips if not installed."""
    if kind == "ours" and not os.access(ZK_BIN, os.X_OK):
        pytest.skip("our ZooKeeper server is not built (%s missing; run `cargo build --release -p zk`)" % ZK_BIN)
    if kind == "apache" and not java_available():
        pytest.skip("Apache ZooKeeper (Debian packages zookeeper, zookeeper-bin) or java is not installed")
    server = ZkServer(kind, tmp_path_factory.mktemp("zk-" + kind), extra=SERVER_EXTRA)
    request.addfinalizer(server.kill9)
    return server.start(timeout=START_TIMEOUT)


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
