"""The user-facing entry points: scripts/zookeeper-server-start.sh / -stop.sh with -daemon, the
pid file and the log, and the one-line errors for a bad config (run against our server only)."""

import os
import socket
import subprocess
import time

import pytest

from lib.paths import REPO, server_kind
from lib.ports import free_port
from lib.waiting import wait_until
from lib.zookeeper import four_letter

SERVER_KIND = server_kind("ZK_SERVER")

pytestmark = pytest.mark.skipif(SERVER_KIND != "ours", reason="the scripts start our server")

START = os.path.join(REPO, "scripts", "zookeeper-server-start.sh")
STOP = os.path.join(REPO, "scripts", "zookeeper-server-stop.sh")


def run(args, env, timeout=60):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ, LOG_DIR=str(tmp_path / "logs"))
    yield e
    # never leave a daemon behind
    pid_file = tmp_path / "logs" / "zookeeper.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), 9)
        except (OSError, ValueError):
            pass


def write_config(tmp_path, port, extra=""):
    cfg = tmp_path / "zoo.properties"
    cfg.write_text("dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n%s"
                   % (tmp_path / "data", port, extra))
    return str(cfg)


def test_daemon_start_ruok_stop(tmp_path, env):
    port = free_port()
    cfg = write_config(tmp_path, port)
    r = run([START, "-daemon", cfg], env)
    assert r.returncode == 0, r.stderr
    pid = int((tmp_path / "logs" / "zookeeper.pid").read_text())
    assert four_letter(port, "ruok") == "imok"  # allowed by default, as the README shows
    assert "Mode: standalone" in four_letter(port, "srvr")
    assert "not executed because it is not in the whitelist" in four_letter(port, "mntr")
    assert "serving clients" in (tmp_path / "logs" / "zookeeper.out").read_text()
    # a second start refuses while the first runs
    r2 = run([START, "-daemon", cfg], env)
    assert r2.returncode != 0 and "already running" in r2.stderr
    r = run([STOP], env)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z",
               10, msg="server process gone after stop")
    assert not (tmp_path / "logs" / "zookeeper.pid").exists()
    r = run([STOP], env)
    assert r.returncode != 0 and "No zookeeper server to stop" in r.stdout


@pytest.mark.parametrize("extra,needle", [
    ("clientPort=notaport\n", "clientPort"),
    ("tickTime=-5\n", "tickTime"),
    ("extendedTypesEnabled=perhaps\n", "extendedTypesEnabled"),
])
def test_bad_value_is_one_line_naming_the_key(tmp_path, env, extra, needle):
    cfg = write_config(tmp_path, free_port(), extra)
    r = run([START, "-daemon", cfg], env)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert not (tmp_path / "logs" / "zookeeper.pid").exists()


def test_missing_data_dir_and_port_in_use(tmp_path, env):
    cfg = tmp_path / "nodir.properties"
    cfg.write_text("clientPort=%d\n" % free_port())
    r = run([START, "-daemon", str(cfg)], env)
    assert r.returncode != 0 and "dataDir" in r.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        cfg2 = write_config(tmp_path, busy.getsockname()[1])
        r = run([START, "-daemon", cfg2], env)
        assert r.returncode != 0 and "clientPort" in r.stderr, r.stderr
    finally:
        busy.close()


def test_unknown_key_warns_and_starts(tmp_path, env):
    port = free_port()
    cfg = write_config(tmp_path, port, "someFutureKey=1\n")
    r = run([START, "-daemon", cfg], env)
    assert r.returncode == 0, r.stderr
    try:
        assert four_letter(port, "ruok") == "imok"
        out = (tmp_path / "logs" / "zookeeper.out").read_text()
        assert "someFutureKey" in out and "WARN" in out
    finally:
        run([STOP], env)


def test_usage_errors(tmp_path, env):
    r = run([START], env)
    assert r.returncode != 0 and "USAGE" in r.stderr
    r = run([START, "-bogus", "x"], env)
    assert r.returncode != 0 and "unknown option -bogus" in r.stderr
    r = run([START, str(tmp_path / "missing.properties")], env)
    assert r.returncode != 0 and "not found" in r.stderr
