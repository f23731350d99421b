"""Ensemble test helpers (a unique module name, so it never clashes with another suite's).

The tests run replicated groups of our `zk-server` (default) or of Apache ZooKeeper 3.8
(Debian package) with ENSEMBLE_SERVER=apache -- the same tests against the reference, to
check that the tests themselves ask only what ZooKeeper does. The launchers (`Member`,
`Ensemble`), four-letter words and the raw client that vanishes (`RawSession`) are in
tests/lib; what is here is the ensemble suite's own:

- kazoo helpers: `kazoo_client`, `wait_serves`, `connected_port`, `sync_read_all`, `converged`.
- `Writer`: a thread with its own kazoo client writing increasing values, recording every
  acknowledged write (value, zxid) and every write with an unknown outcome.
- `check_writes()`: the checker (no acknowledged write lost, per-key order preserved).
"""

import threading
import time

from lib.paths import server_kind
from lib.waiting import wait_until

SERVER_KIND = server_kind("ENSEMBLE_SERVER", "ZK_SERVER")


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
