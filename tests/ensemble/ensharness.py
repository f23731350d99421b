"""Ensemble test harness (a unique module name, so it never clashes with another suite's).

Runs replicated groups of our `zk-server` (default) or of Apache ZooKeeper 3.8 (Debian
package) with ENSEMBLE_SERVER=apache -- the same tests against the reference, to check that
the tests themselves ask only what ZooKeeper does.

Every member listens on 127.0.0.1 only (client, peer and election ports are free ports picked
at creation and kept across restarts), has its own tmp dir with `data/myid`, and is killed
by the fixtures' finalizers. Every wait here is bounded.

Pieces:
- `Member`: one server process (start / kill9 / stop / pause (SIGSTOP) / resume / srvr).
- `Ensemble`: N members with `server.N=127.0.0.1:peer:election` lines; `wait_formed()`.
- `Writer`: a thread with its own kazoo client writing increasing values, recording every
  acknowledged write (value, zxid) and every write with an unknown outcome.
- `check_writes()`: the checker (no acknowledged write lost, per-key order preserved).
- `RawSession`: a bare jute client socket (connect, create, close the socket without
  closeSession) -- a client that vanishes.
"""

import os
import signal
import socket
import struct
import subprocess
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER_KIND = os.environ.get("ENSEMBLE_SERVER", os.environ.get("ZK_SERVER", "ours")).strip().lower()
if SERVER_KIND not in ("ours", "apache"):
    raise RuntimeError("ENSEMBLE_SERVER must be 'ours' or 'apache', got %r" % SERVER_KIND)

OUR_BIN = os.environ.get("ZK_SERVER_BIN", os.path.join(REPO, "target", "release", "zk-server"))

JAVA_DIR = "/usr/share/java"
APACHE_JARS = [
    "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
    "netty-handler.jar", "netty-transport.jar", "netty-common.jar", "netty-buffer.jar",
    "netty-codec.jar", "netty-resolver.jar", "netty-transport-native-unix-common.jar",
    "netty-transport-native-epoll.jar", "commons-cli.jar", "metrics-core.jar",
    "snappy-java.jar",
]

# Timing shared by both servers (the tests rely on these numbers).
TICK_MS = 500            # ours: 50 ms heartbeats, elections after 250-500 ms
INIT_LIMIT = 10
SYNC_LIMIT = 5
MIN_SESSION_MS = 1000
MAX_SESSION_MS = 30000
SNAP_COUNT = 100000

START_TIMEOUT = 30.0     # one member answering ruok
FORM_TIMEOUT = 30.0      # a group electing a leader


def free_port(taken=None):
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if taken is None or port not in taken:
            if taken is not None:
                taken.add(port)
            return port


def four_letter(port, cmd, timeout=2.0):
    """Send a four-letter word, return the whole answer ('' if the member does not answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
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


def wait_until(pred, timeout=10.0, interval=0.05, msg="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, msg, last))


class Member:
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
            "tickTime": TICK_MS,
            "initLimit": INIT_LIMIT,
            "syncLimit": SYNC_LIMIT,
            "minSessionTimeout": MIN_SESSION_MS,
            "maxSessionTimeout": MAX_SESSION_MS,
            "snapCount": SNAP_COUNT,
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
            return [OUR_BIN, self.cfg_path]
        cp = ":".join(os.path.join(JAVA_DIR, j) for j in APACHE_JARS)
        return [
            "java", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-cp", cp, "org.apache.zookeeper.server.quorum.QuorumPeerMain", self.cfg_path,
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

    def wait_up(self, timeout=START_TIMEOUT):
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

    def start(self, timeout=START_TIMEOUT):
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


# ---- kazoo helpers --------------------------------------------------------------------------

def kazoo_client(hosts, timeout=10.0, start=True, randomize=False, **kw):
    from kazoo.client import KazooClient
    kw.setdefault("connection_retry", dict(max_tries=-1, delay=0.05, backoff=1.3, max_delay=0.5))
    c = KazooClient(hosts=hosts, timeout=timeout, randomize_hosts=randomize, **kw)
    if start:
        c.start(timeout=20)
    return c


def wait_serves(m, path, timeout=20.0, what=""):
    """Until a fresh client of member m alone gets a session and a write (set of path)
    through; the failure names the member and its mode."""
    def serves():
        k = kazoo_client(m.host, timeout=4.0, start=False, connection_retry=dict(max_tries=1, delay=0.1))
        try:
            k.start(timeout=4)
            k.set(path, b"%d" % m.sid)
            return True
        except Exception:
            return False
        finally:
            k.stop()
            k.close()
    wait_until(serves, timeout=timeout, interval=0.2,
               msg="member %d (%s) to serve a session and a write%s" % (m.sid, m.mode(), what))


def connected_port(client):
    """The client port of the member a kazoo client is connected to (None if not connected)."""
    try:
        return client._connection._socket.getpeername()[1]
    except Exception:
        return None


def sync_read_all(client, root, timeout=60.0):
    """sync, then {path: (data, czxid, mzxid)} of everything under root (recursively); the
    reads of a level are pipelined."""
    client.sync(root)
    out = {}
    deadline = time.time() + timeout
    level = [root]
    while level:
        gets = [(p, client.get_async(p), client.get_children_async(p)) for p in level]
        level = []
        for p, g, ch in gets:
            left = max(0.1, deadline - time.time())
            data, st = g.get(timeout=left)
            out[p] = (data, st.czxid, st.mzxid)
            level += [p.rstrip("/") + "/" + c for c in ch.get(timeout=left)]
    return out


def converged(ens, members=None, timeout=15.0):
    """Until every given member (default: every live one) reports the same zxid and node
    count in srvr; returns (zxid, nodes). Only meaningful once writes have stopped."""
    ms = members or ens.live()

    def same():
        vals = [(s.get("zxid"), s.get("nodes")) for s in (m.srvr() for m in ms)]
        return vals[0] if vals[0][0] is not None and all(v == vals[0] for v in vals) else None
    try:
        return wait_until(same, timeout=timeout, msg="members to report the same zxid and node count")
    except AssertionError as e:
        raise AssertionError("%s: %r" % (e, {m.sid: (m.srvr().get("Zxid"), m.srvr().get("nodes")) for m in ms})) from None


# ---- the write load and the checker --------------------------------------------------------

class Writer(threading.Thread):
    """Writes increasing values v=1,2,3... through its own kazoo client. Each write is one
    multi: create `{root}/log/c{cid}-{v:08d}` (data v) and set `{root}/k/c{cid}-{key}` to v,
    keys round-robin. So every acknowledged write leaves a node whose czxid is the zxid the
    client was told, and every key must end at its last acknowledged value or later.

    acked: [(v, key, zxid, t_ack, t_sent)] (time.monotonic()); unknown: [(v, key, error)] (ConnectionLoss, timeouts...:
    the write may or may not have happened); failed: definite refusals (none expected)."""

    def __init__(self, client, root, cid, keys=3, pause=0.0, op_timeout=8.0):
        super().__init__(daemon=True, name="writer-%d" % cid)
        self.client = client
        self.root = root
        self.cid = cid
        self.keys = keys
        self.pause = pause
        self.op_timeout = op_timeout
        self.stop_evt = threading.Event()
        self.acked = []
        self.unknown = []
        self.failed = []
        self.errors = {}
        self.lock = threading.Lock()

    def key_path(self, k):
        return "%s/k/c%d-%d" % (self.root, self.cid, k)

    def log_path(self, v):
        return "%s/log/c%d-%08d" % (self.root, self.cid, v)

    def setup(self):
        for k in range(self.keys):
            self.client.ensure_path(self.key_path(k))
            self.client.set(self.key_path(k), b"0")

    def run(self):
        from kazoo.exceptions import (ConnectionLoss, OperationTimeoutError, SessionExpiredError,
                                      ConnectionClosedError, KazooException)
        v = 0
        while not self.stop_evt.is_set():
            v += 1
            key = v % self.keys
            data = str(v).encode()
            try:
                sent = time.monotonic()
                t = self.client.transaction()
                t.create(self.log_path(v), data)
                t.set_data(self.key_path(key), data)
                res = t.commit_async().get(timeout=self.op_timeout)
                if isinstance(res[0], Exception) or isinstance(res[1], Exception):
                    with self.lock:
                        self.failed.append((v, key, repr(res)))
                else:
                    with self.lock:
                        self.acked.append((v, key, res[1].mzxid, time.monotonic(), sent))
            except (ConnectionLoss, OperationTimeoutError, SessionExpiredError, ConnectionClosedError) as e:
                self._unknown(v, key, e)
                time.sleep(0.02)
            except KazooException as e:
                self._unknown(v, key, e)
                time.sleep(0.02)
            except Exception as e:  # handler timeout (kazoo's TimeoutError) and the like
                self._unknown(v, key, e)
                time.sleep(0.02)
            if self.pause:
                time.sleep(self.pause)

    def _unknown(self, v, key, e):
        name = type(e).__name__
        with self.lock:
            self.unknown.append((v, key, name))
            self.errors[name] = self.errors.get(name, 0) + 1

    def stop(self, timeout=20.0):
        self.stop_evt.set()
        self.join(timeout)
        assert not self.is_alive(), "writer %d did not stop" % self.cid

    def acked_since(self, t):
        with self.lock:
            return [a for a in self.acked if a[3] >= t]


def first_ack_after(writers, t0):
    """Seconds from t0 (a kill) to the first acknowledged write that was sent after t0 (so
    committed under a new leader); None if there is none yet."""
    best = None
    for w in writers:
        for a in w.acked_since(t0):
            if a[4] >= t0 and (best is None or a[3] < best):
                best = a[3]
    return None if best is None else best - t0


def longest_gaps(writers, n=3):
    """The n longest pauses between consecutive acknowledgements (of any writer), as
    [(seconds, at)] with `at` in time.monotonic()."""
    acks = sorted(a[3] for w in writers for a in list(w.acked))
    gaps = sorted(((acks[i + 1] - acks[i], acks[i]) for i in range(len(acks) - 1)), reverse=True)
    return gaps[:n]


def check_writes(writers, views, root):
    """The checker. `views`: {member label: sync_read_all(...) of root on that member}.
    Returns a dict of counts; problems listed under 'problems' (empty when all is well)."""
    problems = []
    counts = dict(acked=0, unknown=0, unknown_applied=0, unknown_not_applied=0, failed=0,
                  lost=0, wrong_zxid=0, order_violations=0, members=len(views), keys=0)
    labels = sorted(views)
    ref = views[labels[0]]
    for lab in labels[1:]:
        if views[lab] != ref:
            only_a = set(ref) - set(views[lab])
            only_b = set(views[lab]) - set(ref)
            diff = [p for p in set(ref) & set(views[lab]) if ref[p] != views[lab][p]]
            problems.append("member %s differs from %s: %d/%d paths only on one side, %d differ (e.g. %r)" % (
                lab, labels[0], len(only_a), len(only_b), len(diff), (sorted(only_a) + sorted(only_b) + diff)[:3]))
    for w in writers:
        counts["failed"] += len(w.failed)
        for f in w.failed:
            problems.append("writer %d: write refused: %r" % (w.cid, f))
        # acknowledged zxids increase with the values (a client's writes apply in order)
        prev = None
        for (v, key, zxid, *_t) in w.acked:
            if prev is not None and zxid <= prev[1]:
                counts["order_violations"] += 1
                problems.append("writer %d: v=%d acked with zxid %#x <= zxid %#x of v=%d" % (w.cid, v, zxid, prev[1], prev[0]))
            prev = (v, zxid)
        for lab in labels:
            view = views[lab]
            for (v, key, zxid, *_t) in w.acked:
                counts["acked"] += 1 if lab == labels[0] else 0
                node = view.get(w.log_path(v))
                if node is None:
                    counts["lost"] += 1
                    problems.append("member %s: acknowledged write c%d v=%d (zxid %#x) lost" % (lab, w.cid, v, zxid))
                elif node[0] != str(v).encode() or node[1] != zxid:
                    counts["wrong_zxid"] += 1
                    problems.append("member %s: c%d v=%d acked with zxid %#x but node has data %r czxid %#x" % (
                        lab, w.cid, v, zxid, node[0], node[1]))
            unknown_vals = {u[0] for u in w.unknown}
            acked_vals = {a[0] for a in w.acked}
            for k in range(w.keys):
                if lab == labels[0]:
                    counts["keys"] += 1
                last_acked = max([a[0] for a in w.acked if a[1] == k] or [0])
                node = view.get(w.key_path(k))
                final = int(node[0]) if node is not None else None
                if final is None:
                    problems.append("member %s: key %s missing" % (lab, w.key_path(k)))
                elif final < last_acked:
                    counts["order_violations"] += 1
                    problems.append("member %s: key %s = %d but %d was acknowledged later" % (lab, w.key_path(k), final, last_acked))
                elif final > last_acked and final not in unknown_vals:
                    problems.append("member %s: key %s = %d: never written" % (lab, w.key_path(k), final))
                elif final != 0 and final not in acked_vals | unknown_vals:
                    problems.append("member %s: key %s = %d: never written" % (lab, w.key_path(k), final))
        for (v, key, _e) in w.unknown:
            node = ref.get(w.log_path(v))
            if node is None:
                counts["unknown_not_applied"] += 1
            else:
                counts["unknown_applied"] += 1
        counts["unknown"] += len(w.unknown)
        # multi is atomic: a log node exists iff its key write happened; nothing extra exists
        written = acked_vals | unknown_vals
        for p in ref:
            if p.startswith("%s/log/c%d-" % (root, w.cid)):
                v = int(p.rsplit("-", 1)[1])
                if v not in written:
                    problems.append("node %s exists but was never written" % p)
    counts["problems"] = problems
    return counts


def format_counts(c):
    return ("acknowledged=%(acked)d lost=%(lost)d wrong_zxid=%(wrong_zxid)d order_violations=%(order_violations)d "
            "unknown_outcome=%(unknown)d (applied=%(unknown_applied)d, not applied=%(unknown_not_applied)d) "
            "refused=%(failed)d keys=%(keys)d members_compared=%(members)d" % c)


# ---- a client that vanishes: raw jute ------------------------------------------------------

class RawSession:
    """A bare ZooKeeper client socket: connect (or reattach to a session), create nodes, then
    `vanish()` closes the socket without closeSession (as a crashed process would). It never
    pings. `connect=False` only opens the TCP connection (it completes in the kernel even if
    the server process is stopped); `send_connect()` / `send_create()` pipeline requests and
    `read_reply()` reads what comes back."""

    def __init__(self, port, timeout_ms, session_id=0, passwd=b"\0" * 16, connect=True, io_timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=io_timeout)
        self.timeout_ms = timeout_ms
        self.session_id = session_id
        self.passwd = passwd
        self.xid = 0
        self.last_zxid = 0
        self.events = []
        if connect:
            self.send_connect()
            if not self.read_connect():
                raise RuntimeError("session refused")

    def send_connect(self):
        # ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly
        body = struct.pack(">iqiq", 0, self.last_zxid, self.timeout_ms, self.session_id)
        body += struct.pack(">i", len(self.passwd)) + self.passwd + b"\0"
        self._send(body)

    def read_connect(self):
        """Reads the ConnectResponse; False if the session was refused (id 0)."""
        resp = self._recv()
        _proto, self.timeout_ms, sid, n = struct.unpack(">iiqi", resp[:20])
        if sid == 0:
            return False
        self.session_id = sid
        self.passwd = resp[20:20 + n]
        return True

    def _send(self, body):
        self.sock.sendall(struct.pack(">i", len(body)) + body)

    def _recvn(self, n):
        buf = b""
        while len(buf) < n:
            b = self.sock.recv(n - len(buf))
            if not b:
                raise ConnectionError("closed by server")
            buf += b
        return buf

    def _recv(self):
        (n,) = struct.unpack(">i", self._recvn(4))
        return self._recvn(n)

    @staticmethod
    def _string(s):
        b = s.encode()
        return struct.pack(">i", len(b)) + b

    def send_create(self, path, data=b"", ephemeral=False):
        self.xid += 1
        acl = struct.pack(">ii", 1, 31) + self._string("world") + self._string("anyone")
        body = struct.pack(">ii", self.xid, 1) + self._string(path) + struct.pack(">i", len(data)) + data + acl
        body += struct.pack(">i", 1 if ephemeral else 0)
        self._send(body)
        return self.xid

    def _frame(self):
        """One reply frame: (xid, zxid, err, body); notifications go to self.events."""
        r = self._recv()
        rxid, zxid, err = struct.unpack(">iqi", r[:16])
        if rxid == -1:
            etype, state, n = struct.unpack(">iii", r[16:28])
            self.events.append((etype, r[28:28 + n].decode()))
        elif zxid > self.last_zxid:
            self.last_zxid = zxid
        return rxid, zxid, err, r[16:]

    def read_reply(self, xid, body=False):
        """(zxid, err) of the reply to xid (notifications are kept in self.events)."""
        while True:
            rxid, zxid, err, rest = self._frame()
            if rxid == xid:
                return (zxid, err, rest) if body else (zxid, err)

    def get_data(self, path, watch=False):
        """(data, mzxid) of path; raises on an error."""
        self.xid += 1
        self._send(struct.pack(">ii", self.xid, 4) + self._string(path) + (b"\1" if watch else b"\0"))
        zxid, err, rest = self.read_reply(self.xid, body=True)
        if err != 0:
            raise RuntimeError("getData %s failed: error %d" % (path, err))
        (n,) = struct.unpack(">i", rest[:4])
        data = rest[4:4 + max(n, 0)]
        mzxid = struct.unpack(">q", rest[4 + max(n, 0) + 8:4 + max(n, 0) + 16])[0]
        return data, mzxid

    def set_watches(self, rel_zxid, data=(), exist=(), child=()):
        """setWatches (what a client sends after reconnecting); returns the error code."""
        def vec(paths):
            return struct.pack(">i", len(paths)) + b"".join(self._string(p) for p in paths)
        self._send(struct.pack(">iiq", -8, 101, rel_zxid) + vec(list(data)) + vec(list(exist)) + vec(list(child)))
        return self.read_reply(-8)[1]

    def wait_event(self, timeout):
        """The next watch notification (type, path), waiting up to timeout seconds."""
        deadline = time.time() + timeout
        while not self.events:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no watch notification within %.1fs" % timeout)
            self.sock.settimeout(left)
            try:
                self._frame()
            except socket.timeout:
                raise TimeoutError("no watch notification within %.1fs" % timeout) from None
        return self.events.pop(0)

    def create(self, path, data=b"", ephemeral=False):
        zxid, err = self.read_reply(self.send_create(path, data, ephemeral))
        if err != 0:
            raise RuntimeError("create %s failed: error %d" % (path, err))
        return zxid

    def vanish(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()
