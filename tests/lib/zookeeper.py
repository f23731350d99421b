"""Launchers for ZooKeeper servers on 127.0.0.1: ours (target/release/zk-server, ZK_SERVER_BIN
overrides) or Apache ZooKeeper 3.8 (Debian `zookeeper`: QuorumPeerMain), standalone
(`ZkServer`) or replicated (`Ensemble` of `Member`s), plus four-letter words.

Every server listens on 127.0.0.1 on free ports, in its own directory; callers kill it in a
finalizer. Every wait is bounded.

- `ZkServer(kind, workdir)`: one standalone server with the settings below (the zk suite's
  numbers); `plain=True` writes only what the broker suites' ZooKeeper needs (defaults for the
  rest) and waits only for the port. `restart()` restarts on the same dataDir and port,
  `kill9()` is a crash.
- `Member` / `Ensemble`: N members with `server.N=127.0.0.1:peer:election` lines, each with
  client, peer and election ports kept across restarts; `wait_formed()`.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time

from lib.paths import APACHE_CP, REPO, ZK_BIN
from lib.ports import free_port, wait_port
from lib.waiting import wait_until

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

START_TIMEOUT = 30.0  # seconds for a standalone server to answer ruok


# Timing of the ensemble members, shared by both servers (the ensemble tests rely on these).
ENSEMBLE_TICK_MS = 500   # ours: 50 ms heartbeats, elections after 250-500 ms
ENSEMBLE_INIT_LIMIT = 10
ENSEMBLE_SYNC_LIMIT = 5
ENSEMBLE_MIN_SESSION_MS = 1000
ENSEMBLE_MAX_SESSION_MS = 30000
ENSEMBLE_SNAP_COUNT = 100000
MEMBER_START_TIMEOUT = 30.0   # one member answering ruok
FORM_TIMEOUT = 30.0           # a group electing a leader


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


def parse_srvr(text):
    """srvr's 'Key: value' lines as a dict; {'serving': False} when not serving."""
    out = {"serving": "not currently serving" not in text and "Mode:" in text, "raw": text}
    for line in text.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            out[k.strip()] = v.strip()
    if "Zxid" in out:
        out["zxid"] = int(out["Zxid"], 16)
    if "Node count" in out:
        out["nodes"] = int(out["Node count"])
    return out


def parse_mntr(text):
    out = {}
    for line in text.splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            out[k.strip()] = v.strip()
    return out


class ZkServer:
    """One standalone server of `kind` (ours|apache) in `workdir`. `extra`: settings over the
    defaults above; `plain`: only dataDir, port and `extra` (the broker suites' ZooKeeper)."""

    def __init__(self, kind, workdir, extra=None, plain=False, common=None, jvmflags=None):
        """`common`: keys written to both servers' files (Apache copies unknown zoo.cfg keys to
        `zookeeper.<key>` system properties); `jvmflags`: `-D` words, on Apache's java command
        line, in SERVER_JVMFLAGS for ours (which reads them from there)."""
        self.kind = kind
        self.common = dict(common or {})
        self.jvmflags = list(jvmflags or [])
        self.workdir = str(workdir)
        self.plain = plain
        self.data_dir = os.path.join(self.workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        self.extra = dict(extra or {})
        self.proc = None
        self.log_path = os.path.join(self.workdir, "server.log")
        self.starts = 0

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    connect = hosts  # the broker's name for it (zookeeper.connect)

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
        if self.plain:
            lines = [
                "dataDir=%s" % self.data_dir,
                "clientPort=%d" % self.port,
                "clientPortAddress=127.0.0.1",
                "admin.enableServer=false",
                "maxClientCnxns=0",
            ] + ["%s=%s" % kv for kv in self.extra.items()]
            path = os.path.join(self.workdir, "zookeeper.properties" if self.kind == "ours" else "zoo.cfg")
        elif self.kind == "ours":
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
        lines += ["%s=%s" % kv for kv in self.common.items()]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _command(self, cfg):
        if self.kind == "ours":
            return [ZK_BIN, cfg]
        s = self._settings()
        return [
            "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.extendedTypesEnabled=true",
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=%s" % SUPER_DIGEST,
            "-Djute.maxbuffer=%s" % s["jute.maxbuffer"],
            "-Dznode.container.checkIntervalMs=%s" % s["znode.container.checkIntervalMs"],
            "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        ] + ["-D%s=%s" % (k, v) for k, v in self.extra.items() if k.startswith("zookeeper.")] + self.jvmflags + [
            "-cp", APACHE_CP, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg,
        ]

    # -- lifecycle --------------------------------------------------------------
    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cfg = self._write_config()
        log = open(self.log_path, "ab")
        log.write(("\n===== start #%d %s =====\n" % (self.starts, time.ctime())).encode())
        log.flush()
        env = None
        if self.kind == "ours" and self.jvmflags:
            env = dict(os.environ, SERVER_JVMFLAGS=" ".join(self.jvmflags))
        self.proc = subprocess.Popen(
            self._command(cfg), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=self.workdir, start_new_session=True, env=env,
        )
        log.close()
        self.starts += 1
        if self.plain:
            if not wait_port(self.port, timeout):
                self.kill9()
                raise RuntimeError("%s server did not listen on %d:\n%s" % (self.kind, self.port, self.log_tail()))
            return self
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


class Member:
    """One ensemble member: its own dir with data/myid, client, peer and election ports kept
    across restarts; start / kill9 / stop / pause (SIGSTOP) / resume / srvr."""

    def __init__(self, kind, sid, workdir, taken_ports):
        self.kind = kind
        self.sid = sid
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port(taken_ports)
        self.peer_port = free_port(taken_ports)
        self.election_port = free_port(taken_ports)
        self.log_path = os.path.join(workdir, "server.log")
        self.cfg_path = os.path.join(workdir, "zoo.cfg" if kind == "apache" else "zookeeper.properties")
        self.proc = None
        self.paused = False
        self.starts = 0
        self.extra = {}
        self.server_lines = []

    def __repr__(self):
        return "member %d (client port %d)" % (self.sid, self.port)

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def write_myid(self, text=None):
        with open(os.path.join(self.data_dir, "myid"), "w") as f:
            f.write("%s\n" % (self.sid if text is None else text))

    def write_config(self):
        s = {
            "tickTime": ENSEMBLE_TICK_MS,
            "initLimit": ENSEMBLE_INIT_LIMIT,
            "syncLimit": ENSEMBLE_SYNC_LIMIT,
            "minSessionTimeout": ENSEMBLE_MIN_SESSION_MS,
            "maxSessionTimeout": ENSEMBLE_MAX_SESSION_MS,
            "snapCount": ENSEMBLE_SNAP_COUNT,
            "4lw.commands.whitelist": "*",
        }
        s.update(self.extra)
        lines = [
            "dataDir=%s" % self.data_dir,
            "clientPort=%d" % self.port,
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
        ]
        lines += ["%s=%s" % kv for kv in s.items()]
        lines += self.server_lines
        with open(self.cfg_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def command(self):
        if self.kind == "ours":
            return [ZK_BIN, self.cfg_path]
        return [
            "java", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-cp", APACHE_CP, "org.apache.zookeeper.server.quorum.QuorumPeerMain", self.cfg_path,
        ]

    # -- lifecycle ---------------------------------------------------------------------
    def spawn(self):
        """Starts the process without waiting."""
        assert not self.alive(), "%r already running" % self
        self.write_config()
        with open(self.log_path, "ab") as log:
            log.write(("\n===== start #%d %s =====\n" % (self.starts, time.ctime())).encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, start_new_session=True,
            )
        self.paused = False
        self.starts += 1

    def wait_up(self, timeout=MEMBER_START_TIMEOUT):
        """Until the member answers ruok (it may not have a leader yet)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%r exited with %s during start:\n%s" % (self, self.proc.returncode, self.log_tail()))
            try:
                last = four_letter(self.port, "ruok", timeout=1.0)
                if last == "imok":
                    return self
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        raise RuntimeError("%r did not answer ruok within %ss (last %r)\n%s" % (self, timeout, last, self.log_tail()))

    def start(self, timeout=MEMBER_START_TIMEOUT):
        deadline = time.time() + 10
        while True:  # a just-killed member's ports may linger a moment
            self.spawn()
            try:
                return self.wait_up(timeout)
            except RuntimeError:
                if self.proc.poll() is None or time.time() > deadline or "cannot listen" not in self.log_tail(5):
                    raise
                time.sleep(0.3)

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
        self.paused = False

    def stop(self, timeout=15.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.paused:
            self.resume()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def pause(self):
        os.killpg(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.killpg(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- introspection -----------------------------------------------------------------
    def four(self, cmd, timeout=2.0):
        return four_letter(self.port, cmd, timeout)

    def srvr(self, timeout=2.0):
        try:
            return parse_srvr(self.four("srvr", timeout))
        except OSError as e:
            return {"serving": False, "raw": repr(e)}

    def mode(self):
        return self.srvr().get("Mode")

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Ensemble:
    """N members of `kind` on 127.0.0.1 under base_dir; `start()` returns the elected leader."""

    def __init__(self, kind, n, base_dir, extra=None):
        self.kind = kind
        taken = set()
        self.members = [Member(kind, i + 1, os.path.join(base_dir, "m%d" % (i + 1)), taken) for i in range(n)]
        lines = ["server.%d=127.0.0.1:%d:%d" % (m.sid, m.peer_port, m.election_port) for m in self.members]
        for m in self.members:
            m.server_lines = lines
            m.extra = dict(extra or {})
            m.write_myid()

    def __getitem__(self, i):
        return self.members[i]

    def member(self, sid):
        return self.members[sid - 1]

    @property
    def hosts(self):
        return ",".join(m.host for m in self.members)

    def hosts_first(self, first):
        """All hosts, `first` listed first (use with randomize_hosts=False)."""
        return ",".join([first.host] + [m.host for m in self.members if m is not first])

    def start(self, timeout=FORM_TIMEOUT):
        for m in self.members:
            m.spawn()
        for m in self.members:
            m.wait_up()
        return self.wait_formed(timeout=timeout)

    def live(self):
        return [m for m in self.members if m.alive() and not m.paused]

    def roles(self, members=None):
        return {m.sid: m.srvr(timeout=1.0) for m in (members if members is not None else self.live())}

    def wait_formed(self, members=None, timeout=FORM_TIMEOUT, exclude_leader=None):
        """Until exactly one of `members` (default: every live one) is leader and the rest are
        followers; returns the leader. `exclude_leader`: a member that must not be it."""
        def formed():
            ms = members if members is not None else self.live()
            r = self.roles(ms)
            leaders = [sid for sid, s in r.items() if s.get("Mode") == "leader"]
            followers = [sid for sid, s in r.items() if s.get("Mode") == "follower"]
            if len(leaders) == 1 and len(followers) == len(ms) - 1:
                if exclude_leader is None or leaders[0] != exclude_leader.sid:
                    return self.member(leaders[0])
            formed.last = {sid: s.get("Mode") or s["raw"][:60] for sid, s in r.items()}
            return None
        formed.last = None
        try:
            return wait_until(formed, timeout=timeout, interval=0.05, msg="a leader and followers")
        except AssertionError as e:
            raise AssertionError("%s; modes: %r\n%s" % (e, formed.last, self.logs_tail())) from None

    def leader(self):
        for m in self.live():
            if m.mode() == "leader":
                return m
        return None

    def logs_tail(self, n=15):
        return "\n".join("--- %r log tail:\n%s" % (m, m.log_tail(n)) for m in self.members)

    def kill_all(self):
        for m in self.members:
            if m.paused and m.alive():
                try:
                    m.resume()
                except ProcessLookupError:
                    pass
            m.kill9()


def ensure_server(kind):
    """None if the server of `kind` can run: for ours, builds zk-server (cargo, release) if it
    is missing; for apache, checks java. Otherwise a sentence saying what is missing."""
    if kind != "ours":
        if shutil.which("java") is None:
            return "java not found; run tests/install-deps.sh"
        return None
    if not os.path.exists(ZK_BIN):
        r = subprocess.run(["cargo", "build", "--release", "-p", "zk"], cwd=REPO, timeout=1800)
        if r.returncode != 0 or not os.path.exists(ZK_BIN):
            return "zk-server binary missing at %s and cargo build failed" % ZK_BIN
    return None
