"""scripts/kafka-quickstart.sh, the README's main-job command: ZooKeeper and a broker in the
foreground, a ready line once the broker answers, SIGINT stops both (broker first). Run with
configs derived from the shipped ones on free ports and temporary directories."""

import os
import queue
import signal
import socket
import subprocess
import threading
import time

from lib.paths import REPO
from lib.ports import free_port

SCRIPT = os.path.join(REPO, "scripts", "kafka-quickstart.sh")


def write_configs(root, kafka_port=None):
    zk_port = free_port()
    kafka_port = kafka_port or free_port()
    zk_cfg = os.path.join(root, "zookeeper.properties")
    with open(zk_cfg, "w") as f:
        f.write("dataDir=%s/zk-data\nclientPort=%d\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n" % (root, zk_port))
    with open(os.path.join(REPO, "configs", "server.properties")) as f:
        text = f.read()
    out = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "listeners":
            line = "listeners=PLAINTEXT://127.0.0.1:%d" % kafka_port
        elif key == "log.dirs":
            line = "log.dirs=%s/kafka-logs" % root
        elif key == "zookeeper.connect":
            line = "zookeeper.connect=127.0.0.1:%d" % zk_port
        out.append(line)
    kafka_cfg = os.path.join(root, "server.properties")
    with open(kafka_cfg, "w") as f:
        f.write("\n".join(out) + "\n")
    return zk_cfg, kafka_cfg, kafka_port


class Quickstart:
    def __init__(self, root, *args):
        self.log_dir = os.path.join(root, "logs")
        env = dict(os.environ, LOG_DIR=self.log_dir)
        # As from a terminal: SIGINT at its default disposition. (A test runner started in the
        # background inherits SIGINT ignored, and a shell cannot trap a signal ignored on entry.)
        self.proc = subprocess.Popen([SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, prefix, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        return None

    def pids(self):
        out = {}
        for name in ("zookeeper.pid", "kafka.pid"):
            try:
                with open(os.path.join(self.log_dir, name)) as f:
                    out[name] = int(f.read().strip())
            except (OSError, ValueError):
                pass
        return out

    def cleanup(self, pids):
        """Kills what this test started and may still run (only those pids)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kcat(bootstrap, *args, inp=None):
    return subprocess.run(["kcat", "-b", bootstrap, *args], input=inp, capture_output=True, text=True, timeout=30)


def test_quickstart_serves_then_sigint_stops_both(tmp_path):
    zk_cfg, kafka_cfg, port = write_configs(str(tmp_path))
    q = Quickstart(str(tmp_path), zk_cfg, kafka_cfg)
    pids = []
    try:
        ready = q.wait_line("Kafka quickstart ready:", 90)
        assert ready, "\n".join(q.seen)
        assert "127.0.0.1:%d" % port in ready
        got = q.pids()
        pids = [got["zookeeper.pid"], got["kafka.pid"]]
        assert all(alive(p) for p in pids)
        b = "127.0.0.1:%d" % port
        r = kcat(b, "-t", "quick", "-P", "-K:", inp="k1:hello\nk2:kafka\n")
        assert r.returncode == 0, r.stderr
        r = kcat(b, "-t", "quick", "-C", "-o", "beginning", "-c", "2", "-e", "-f", "%k=%s\n")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["k1=hello", "k2=kafka"]

        q.proc.send_signal(signal.SIGINT)
        assert q.proc.wait(60) == 0
        assert q.wait_line("Stopped.", 10), "\n".join(q.seen)
        assert not any(alive(p) for p in pids)
        assert q.pids() == {}
        # Broker first: it closed its session cleanly, while ZooKeeper still ran.
        with open(os.path.join(q.log_dir, "kafkaServer.out")) as f:
            log = f.read()
        assert "shut down completed" in log, log[-2000:]
        assert "Stopping the broker, then ZooKeeper..." in q.seen
    finally:
        q.cleanup(pids)


def test_quickstart_broker_failing_at_start_stops_zookeeper(tmp_path):
    # The broker's port is taken: it exits at start; the script reports it and stops ZooKeeper.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    zk_cfg, kafka_cfg, _ = write_configs(str(tmp_path), kafka_port=blocker.getsockname()[1])
    q = Quickstart(str(tmp_path), zk_cfg, kafka_cfg)
    pids = []
    try:
        code = q.proc.wait(90)
        q.wait_line("never", 2)  # collect the output
        assert code == 1, "\n".join(q.seen)
        assert any("the broker exited at start" in line for line in q.seen), "\n".join(q.seen)
        assert not any(line.startswith("Kafka quickstart ready:") for line in q.seen)
        zk_pid = [int(w) for line in q.seen if line.startswith("Starting ZooKeeper (pid ")
                  for w in [line.split("pid ")[1].split(",")[0]]]
        pids = zk_pid
        assert len(zk_pid) == 1 and not alive(zk_pid[0])
        assert q.pids() == {}
    finally:
        blocker.close()
        q.cleanup(pids)


def test_quickstart_daemon_then_stop_scripts(tmp_path):
    # -daemon: both in the background, pid files in LOG_DIR; the stop scripts end them.
    zk_cfg, kafka_cfg, port = write_configs(str(tmp_path))
    log_dir = os.path.join(str(tmp_path), "logs")
    env = dict(os.environ, LOG_DIR=log_dir)
    pids = []
    try:
        r = subprocess.run([SCRIPT, "-daemon", zk_cfg, kafka_cfg], capture_output=True, text=True, env=env, timeout=90)
        for name in ("zookeeper.pid", "kafka.pid"):
            path = os.path.join(log_dir, name)
            if os.path.exists(path):
                with open(path) as f:
                    pids.append(int(f.read().strip()))
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("Kafka quickstart ready:") and "127.0.0.1:%d" % port in r.stdout
        assert len(pids) == 2 and all(alive(p) for p in pids)
        m = kcat("127.0.0.1:%d" % port, "-L")
        assert m.returncode == 0 and "broker 0 at 127.0.0.1:%d" % port in m.stdout, m.stderr
        for stop in ("kafka-server-stop.sh", "zookeeper-server-stop.sh"):
            s = subprocess.run([os.path.join(REPO, "scripts", stop)], capture_output=True, text=True, env=env, timeout=60)
            assert s.returncode == 0, s.stdout + s.stderr
        deadline = time.time() + 10
        while any(alive(p) for p in pids) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in pids)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_server_start_version_prints_kafkas_and_starts_nothing():
    """`kafka-server-start.sh --version`, as Kafka 2.5 answers it (the version string its
    tools print), wherever the flag is on the line and without a config file."""
    for argv in (["--version"], ["config/server.properties", "--version"]):
        p = subprocess.run([os.path.join(REPO, "scripts", "kafka-server-start.sh")] + argv,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert p.stdout == "2.5.0 (Commit:66563e712b0b9f84)\n"
