"""Replay of what a stock Kafka 2.5 broker said to Apache ZooKeeper 3.8
(../shared/reference/kafka-2.5-zookeeper/), through kazoo, checking the same results.

For every request of the captures we send the same request (raw kazoo request objects,
multis as kazoo Transactions) on a kazoo connection per captured connection, in capture
order, and check:
- the reply err (and, for multis, per-op results predicted by a small model of ZooKeeper's
  semantics that is itself validated against every single-op err in the capture),
- zxid deltas between consecutive replies equal the capture's (a failed write consumes a
  zxid, reads carry the last one; session create/close consume one),
- getData data and getChildren2 children equal the model's,
- the watch events on the wire (type, state, path, in order) equal the capture's,
- the tree before the broker's closeSession matches znode-dump.txt (data, dataVersion,
  dataLength, numChildren, ephemeral owner = the broker's session, czxid/mzxid = the zxids
  of our replies to the requests that created/changed them, cversion from the model),
- on restart (server restarted on the same dataDir) the NodeExists paths, and on reconnect
  with the old session the setWatches + closeSession events.
"""

import json
import os
import re
import struct
import threading
import time
from collections import namedtuple

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.serialization import (
    Close, CheckVersion, Create, Delete, Exists, GetChildren2, GetData, SetData, Transaction, Watch,
    int_struct, long_struct, write_string,
)
from kazoo.security import ACL, Id

REF = os.environ.get("ZK_REFERENCE_DIR", os.path.abspath(os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "reference", "kafka-2.5-zookeeper")))
if not os.path.isdir(REF):
    REF = "/work/shared/reference/kafka-2.5-zookeeper"

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not os.path.isdir(REF), reason="reference capture not found"),
]

NOTHING = object()


def load(name):
    with open(os.path.join(REF, name)) as f:
        return [json.loads(l) for l in f if l.strip()]


def enc(data):
    return None if data is None else data.encode()


def acls(lst):
    return [ACL(a["perms"], Id(a["scheme"], a["id"])) for a in lst]


# ---------------------------------------------------------------------------- model
class Node:
    __slots__ = ("data", "version", "creates", "deletes", "children", "owner")

    def __init__(self, data, owner=None):
        self.data, self.version, self.creates, self.deletes = data, 0, 0, 0
        self.children, self.owner = set(), owner

    def copy(self):
        n = Node(self.data, self.owner)
        n.version, n.creates, n.deletes, n.children = self.version, self.creates, self.deletes, set(self.children)
        return n


class Model:
    """Just enough of ZooKeeper's data tree semantics for the broker's requests."""

    def __init__(self):
        self.nodes = {"/": Node(b""), "/zookeeper": Node(b"")}
        self.nodes["/"].children.add("zookeeper")

    @staticmethod
    def parent(path):
        return path.rsplit("/", 1)[0] or "/"

    def clone(self):
        m = Model.__new__(Model)
        m.nodes = {k: v.copy() for k, v in self.nodes.items()}
        return m

    def create(self, path, data, flags, owner):
        if path in self.nodes:
            return -110
        par = self.nodes.get(self.parent(path))
        if par is None:
            return -101
        if par.owner is not None:
            return -108
        assert not flags & 2, "sequential creates are not in the capture"
        self.nodes[path] = Node(data, owner if flags & 1 else None)
        par.children.add(path.rsplit("/", 1)[1])
        par.creates += 1
        return 0

    def delete(self, path, version):
        n = self.nodes.get(path)
        if n is None:
            return -101
        if version != -1 and version != n.version:
            return -103
        if n.children:
            return -111
        del self.nodes[path]
        par = self.nodes[self.parent(path)]
        par.children.discard(path.rsplit("/", 1)[1])
        par.deletes += 1
        return 0

    def set(self, path, data, version):
        n = self.nodes.get(path)
        if n is None:
            return -101
        if version != -1 and version != n.version:
            return -103
        n.data, n.version = data, n.version + 1
        return 0

    def check(self, path, version):
        n = self.nodes.get(path)
        if n is None:
            return -101
        if version != -1 and version != n.version:
            return -103
        return 0

    def apply(self, op, owner):
        kind = op["op"]
        if kind == "create":
            return self.create(op["path"], enc(op["data"]), op["flags"], owner)
        if kind == "delete":
            return self.delete(op["path"], op["version"])
        if kind == "setData":
            return self.set(op["path"], enc(op["data"]), op["version"])
        if kind == "check":
            return self.check(op["path"], op["version"])
        raise AssertionError(kind)

    def multi(self, ops, owner):
        trial = self.clone()
        errs = []
        for op in ops:
            e = trial.apply(op, owner)
            errs.append(e)
            if e:
                # ZooKeeper: ops before the failure 0, the failing op its error, the rest -2
                return [0] * (len(errs) - 1) + [e] + [-2] * (len(ops) - len(errs))
        self.nodes = trial.nodes
        return [0] * len(ops)

    def close_session(self, owner):
        for p in sorted([p for p, n in self.nodes.items() if n.owner == owner], key=len, reverse=True):
            self.delete(p, -1)

    def read_err(self, path):
        return 0 if path in self.nodes else -101


# ---------------------------------------------------------------------------- kazoo glue
class SetWatches(namedtuple("SetWatches", "relative_zxid data_watches exist_watches child_watches")):
    type = 101

    def serialize(self):
        b = bytearray(long_struct.pack(self.relative_zxid))
        for lst in (self.data_watches, self.exist_watches, self.child_watches):
            b.extend(int_struct.pack(len(lst)))
            for p in lst:
                b.extend(write_string(p))
        return b

    @classmethod
    def deserialize(cls, bytes, offset):
        return True


class Conn:
    """One kazoo client standing in for one captured connection."""

    def __init__(self, hosts, timeout_ms, client_id=None):
        self.events = []
        self.lock = threading.Lock()
        self.client = KazooClient(hosts=hosts, timeout=timeout_ms / 1000.0, client_id=client_id)
        self.client.start(timeout=20)
        conn = self.client._connection
        orig = conn._read_watch_event

        def hook(buffer, offset):
            ev, _ = Watch.deserialize(buffer, offset)
            with self.lock:
                self.events.append((ev.type, ev.state, ev.path))
            return orig(buffer, offset)

        conn._read_watch_event = hook
        orig_header = conn._read_header
        self.headers = []  # (xid, zxid, err) of every non-event reply, in arrival order

        def header_hook(timeout):
            header, buffer, offset = orig_header(timeout)
            if header.xid not in (-1, -2):
                self.headers.append((header.xid, header.zxid, header.err))
            return header, buffer, offset

        conn._read_header = header_hook
        self.sid = self.client.client_id[0]

    def call(self, req, timeout=15):
        """Returns (err, result) for a kazoo request object, plus the reply zxid."""
        a = self.client.handler.async_result()
        self.client._call(req, a)
        try:
            res = a.get(timeout=timeout)
            err = 0
            if res is None and isinstance(req, Exists):
                err = -101
        except Exception as e:  # kazoo raises ZookeeperError subclasses with .code
            code = getattr(e, "code", None)
            if code is None:
                raise
            err, res = code, None
        return err, res, self.headers[-1][1]

    def drop(self):
        """Lose the TCP connection without closing the session (a killed broker)."""
        self.client._stopped.set()
        try:
            import socket
            self.client._connection._socket.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        deadline = time.time() + 10
        while not self.client._connection.connection_stopped.is_set() and time.time() < deadline:
            time.sleep(0.05)

    def close(self):
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass


def watcher(ev):
    pass


def to_request(r):
    op = r["op"]
    w = watcher if r.get("watch") else None
    if op == "create":
        return Create(r["path"], enc(r["data"]), acls(r["acl"]), r["flags"])
    if op == "getData":
        return GetData(r["path"], w)
    if op == "exists":
        return Exists(r["path"], w)
    if op == "getChildren2":
        return GetChildren2(r["path"], w)
    if op == "setData":
        return SetData(r["path"], enc(r["data"]), r["version"])
    if op == "multi":
        sub = []
        for o in r["ops"]:
            if o["op"] == "create":
                sub.append(Create(o["path"], enc(o["data"]), acls(o["acl"]), o["flags"]))
            elif o["op"] == "setData":
                sub.append(SetData(o["path"], enc(o["data"]), o["version"]))
            elif o["op"] == "check":
                sub.append(CheckVersion(o["path"], o["version"]))
            elif o["op"] == "delete":
                sub.append(Delete(o["path"], o["version"]))
            else:
                raise AssertionError(o)
        return Transaction(sub)
    if op == "setWatches":
        raise AssertionError("handled by the caller")
    raise AssertionError("unexpected op %s" % op)


class Replayer:
    def __init__(self, server, model):
        self.server, self.model = server, model
        self.conns = {}       # capture connection id -> Conn
        self.owner = {}       # capture connection id -> model owner key
        self.last_zxid = int(re.search(r"Zxid: 0x([0-9a-f]+)", server.four("srvr")).group(1), 16)
        self.unreplied_sessions = 0  # sessions created since the last reply (each took a zxid)
        self.first_reply = True
        self.zxid_map = {}    # captured zxid -> actual zxid, for replies of writes
        self.failures = []
        self.count = 0
        self.replies = {}
        self.captured_sid = {}

    def fail(self, msg):
        self.failures.append(msg)

    def check_zxid(self, ref_zxid, actual, what, write):
        """Every write (failed or not) and every new session takes exactly one zxid; a read
        reply carries the last zxid. (The capture's absolute zxids also count sessions of
        other tools that were not captured, so only the increments are compared.)"""
        if self.first_reply:
            # The first reply anchors the count: a server may start a new zxid epoch when it
            # (re)starts (ZooKeeper does after a leader election), so only require progress.
            self.first_reply = False
            if actual < self.last_zxid or (write and actual == self.last_zxid):
                self.fail("%s: first reply zxid 0x%x, server's zxid before 0x%x" % (what, actual, self.last_zxid))
            want = actual
        else:
            want = self.last_zxid + self.unreplied_sessions + (1 if write else 0)
        if actual != want:
            self.fail("%s: reply zxid %d, expected %d (previous %d, %d new session(s), %s)" % (
                what, actual, want, self.last_zxid, self.unreplied_sessions, "write" if write else "read"))
        if write:
            self.zxid_map[ref_zxid] = actual
        self.last_zxid = actual
        self.unreplied_sessions = 0

    def run(self, records, on_close=None, stop_at_close=False):
        pending = {}
        for r in records:
            c = r.get("c")
            op = r.get("op")
            if r.get("dir") == "C>S" and op == "connect":
                sid = int(r["sessionId"], 16)
                if sid == 0:
                    self.conns[c] = Conn(self.server.hosts, r["timeOut"])
                    self.owner[c] = self.conns[c].sid
                    self.unreplied_sessions += 1
                else:
                    # reconnect with a session created earlier in this replay
                    old = self.session_for_captured(sid)
                    assert old is not None, "reconnect to unknown session %x" % sid
                    self.conns[c] = Conn(self.server.hosts, r["timeOut"], client_id=old)
                    assert self.conns[c].sid == old[0], "reconnect did not resume the session"
                    self.owner[c] = old[0]
                continue
            if r.get("dir") == "S>C" and op == "connectResponse":
                self.captured_sid[int(r["sessionId"], 16)] = (self.conns[c].client.client_id)
                if r["sessionId"] and self.conns[c].client._session_timeout != r["timeOut"]:
                    pass
                continue
            if r.get("dir") == "C>S" and "xid" in r:
                pending[(c, r["xid"])] = r
                continue
            if r.get("dir") == "S>C" and "reply_to" in r:
                req = pending.pop((c, r["xid"]))
                if req["op"] == "ping":
                    continue
                if req["op"] == "closeSession":
                    if on_close:
                        on_close(self, c)
                    if stop_at_close:
                        return
                    self.do_close(c, r)
                    continue
                self.do_request(c, req, r)
        return

    def session_for_captured(self, sid):
        return self.captured_sid.get(sid)

    def do_close(self, c, reply):
        conn = self.conns[c]
        n = len(conn.headers)
        conn.client.stop()
        z = conn.headers[n][1] if len(conn.headers) > n else None
        self.check_zxid(reply["zxid"], z, "closeSession(c%d)" % c, True)
        self.model.close_session(self.owner[c])
        conn.client.close()

    def do_request(self, c, req, reply):
        self.count += 1
        conn = self.conns[c]
        what = "xid %s %s %s" % (req["xid"], req["op"], req.get("path", ""))
        m = self.model
        if req["op"] == "setWatches":
            rel = self.relative_zxid
            err, res, z = conn.call(SetWatches(rel, req["dataWatches"], req["existWatches"], req["childWatches"]))
        else:
            err, res, z = conn.call(to_request(req))
        if req["op"] == "multi":
            expect = m.multi(req["ops"], self.owner[c])
            got = [getattr(x, "code", -999) if isinstance(x, Exception) else 0 for x in res] if err == 0 else None
            if reply["err"] != 0 or err != 0:
                self.fail("%s: multi header err %s, capture %s" % (what, err, reply["err"]))
            elif got != expect:
                self.fail("%s: multi results %s, expected %s (ops %s)" % (
                    what, got, expect, [(o["op"], o["path"]) for o in req["ops"]]))
        else:
            op = req["op"]
            if op == "create":
                model_err = m.create(req["path"], enc(req["data"]), req["flags"], self.owner[c])
            elif op == "setData":
                model_err = m.set(req["path"], enc(req["data"]), req["version"])
            elif op in ("getData", "exists", "getChildren2"):
                model_err = m.read_err(req["path"])
            elif op == "setWatches":
                model_err = 0
            else:
                raise AssertionError(op)
            assert model_err == reply["err"], "model disagrees with the capture at %s: %s vs %s" % (
                what, model_err, reply["err"])
            if err != reply["err"]:
                self.fail("%s: err %s, capture %s" % (what, err, reply["err"]))
            elif err == 0 and op == "getData":
                data, stat = res
                node = m.nodes[req["path"]]
                if data != node.data:
                    self.fail("%s: data %r, expected %r" % (what, data, node.data))
                if stat.version != node.version:
                    self.fail("%s: version %d, expected %d" % (what, stat.version, node.version))
                own = node.owner or 0
                if stat.ephemeralOwner != own:
                    self.fail("%s: ephemeralOwner 0x%x, expected 0x%x" % (what, stat.ephemeralOwner, own))
            elif err == 0 and op == "getChildren2":
                children, stat = res
                if sorted(children) != sorted(m.nodes[req["path"]].children):
                    self.fail("%s: children %s, expected %s" % (what, sorted(children), sorted(m.nodes[req["path"]].children)))
                if stat.numChildren != len(children):
                    self.fail("%s: numChildren %d != %d children" % (what, stat.numChildren, len(children)))
        write = req["op"] in ("create", "setData", "multi", "delete")
        self.check_zxid(reply["zxid"], z, what, write)


def captured_events(records, conn_id):
    return [(r["type"], r["state"], r["path"]) for r in records
            if r.get("op") == "watchEvent" and r.get("c") == conn_id]


def wait_events(conn, n, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with conn.lock:
            if len(conn.events) >= n:
                break
        time.sleep(0.05)
    time.sleep(0.3)
    with conn.lock:
        return list(conn.events)


# ---------------------------------------------------------------------------- dump
DumpNode = namedtuple("DumpNode", "data czxid mzxid version owner length children")


def load_dump():
    out = {}
    cur = None
    with open(os.path.join(REF, "znode-dump.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("/"):
                cur = line
            elif line.startswith("    data: "):
                out[cur] = {"data": line[len("    data: "):]}
            elif line.startswith("    stat: "):
                kv = dict(re.findall(r"(\w+)=(\S+)", line))
                out[cur]["stat"] = kv
    res = {}
    for p, d in out.items():
        s = d["stat"]
        data = None if d["data"] == "null" else d["data"].encode()
        res[p] = DumpNode(data, int(s["cZxid"], 16), int(s["mZxid"], 16), int(s["dataVersion"]),
                          int(s["ephemeralOwner"], 16), int(s["dataLength"]), int(s["numChildren"]))
    return res


def walk(client, path="/"):
    out = {}
    data, stat = client.get(path)
    out[path] = (data, stat)
    for ch in client.get_children(path):
        cp = (path.rstrip("/") + "/" + ch)
        if cp == "/zookeeper":
            continue
        out.update(walk(client, cp))
    return out


def compare_with_dump(rp, c):
    client = rp.conns[c].client
    dump = load_dump()
    tree = walk(client)
    problems = []
    # the dump lists one partition of __consumer_offsets; the rest is checked through numChildren
    if set(dump) - set(tree):
        problems.append("paths missing on the server: %s" % sorted(set(dump) - set(tree)))
    if set(tree) != set(rp.model.nodes) - {"/zookeeper"}:
        problems.append("tree differs from the replayed model: missing %s, extra %s" % (
            sorted(set(rp.model.nodes) - set(tree) - {"/zookeeper"}), sorted(set(tree) - set(rp.model.nodes))))
    broker_sid = rp.owner[c]
    captured_broker_sid = [s for s in (n.owner for n in dump.values()) if s][0]
    for p in sorted(set(tree) & set(dump)):
        data, st = tree[p]
        d = dump[p]
        node = rp.model.nodes[p]
        if data != d.data:
            problems.append("%s: data %r, dump %r" % (p, data, d.data))
        if (st.version, st.dataLength, st.numChildren) != (d.version, d.length, d.children):
            problems.append("%s: version/dataLength/numChildren %s, dump %s" % (
                p, (st.version, st.dataLength, st.numChildren), (d.version, d.length, d.children)))
        want_owner = broker_sid if d.owner == captured_broker_sid else d.owner
        if st.ephemeralOwner != want_owner:
            problems.append("%s: ephemeralOwner 0x%x, want 0x%x" % (p, st.ephemeralOwner, want_owner))
        if p != "/":
            # czxid/mzxid are the zxids of the replies to the requests that made them
            want = (rp.zxid_map.get(d.czxid), rp.zxid_map.get(d.mzxid))
            if (st.czxid, st.mzxid) != want:
                problems.append("%s: czxid/mzxid %s, expected %s (dump %s)" % (p, (st.czxid, st.mzxid), want, (d.czxid, d.mzxid)))
            want_cv = node.creates + node.deletes
            if st.cversion != want_cv:
                problems.append("%s: cversion %d, expected %d (child creates + deletes)" % (p, st.cversion, want_cv))
        if st.pzxid < st.czxid or st.mzxid < st.czxid:
            problems.append("%s: pzxid/mzxid below czxid %s" % (p, st))
    rp.failures.extend(problems)
    rp.dump_checked = True


# ---------------------------------------------------------------------------- the test
def test_replay_kafka_broker_first_boot_restart_reconnect(fresh_server):
    server = fresh_server
    model = Model()
    rp = Replayer(server, model)
    rp.dump_checked = False

    first = load("zkproxy.jsonl")

    def before_close(rp_, c):
        if c == 1 and not rp_.dump_checked:
            compare_with_dump(rp_, c)
            # the broker's ephemerals are owned by its session
            cl = rp_.conns[1].client
            for p in ("/controller", "/brokers/ids/0"):
                st = cl.exists(p)
                if st is None or st.ephemeralOwner != rp_.owner[1]:
                    rp_.fail("%s: ephemeralOwner %s, want session 0x%x" % (p, st and hex(st.ephemeralOwner), rp_.owner[1]))

    rp.run(first, on_close=before_close)
    assert rp.dump_checked, "closeSession of the broker not reached"
    ev = wait_events(rp.conns[1], len(captured_events(first, 1)))
    if ev != captured_events(first, 1):
        rp.fail("first boot watch events on the broker connection:\n got  %s\n want %s" % (ev, captured_events(first, 1)))
    if rp.conns[2].events:
        rp.fail("unexpected events on the admin connection: %s" % rp.conns[2].events)
    first_failures = list(rp.failures)

    # --- restart: the server restarts on the same dataDir, the broker comes back
    server.restart()
    restart = load("zkproxy-restart.jsonl")
    rp2 = Replayer(server, model)
    rp2.captured_sid = rp.captured_sid
    rp2.run(restart)
    ev = wait_events(rp2.conns[1], len(captured_events(restart, 1)))
    if ev != captured_events(restart, 1):
        rp2.fail("restart watch events:\n got  %s\n want %s" % (ev, captured_events(restart, 1)))
    cl = rp2.conns[1].client
    for p in ("/controller", "/brokers/ids/0"):
        st = cl.exists(p)
        if st is None or st.ephemeralOwner != rp2.owner[1]:
            rp2.fail("restart: %s ephemeralOwner %s, want 0x%x" % (p, st and hex(st.ephemeralOwner), rp2.owner[1]))
    # NodeExists on every persistent path the broker re-creates
    nodeexists = [r for r in restart if r.get("reply_to") == "create" and r["err"] == -110]
    assert len(nodeexists) >= 10

    # --- reconnect: the broker process dies (no closeSession); a client resumes its session
    rp2.conns[1].drop()
    reconnect = load("zkproxy-reconnect.jsonl")
    rp3 = Replayer(server, model)
    rp3.captured_sid = rp2.captured_sid
    rp3.relative_zxid = rp2.last_zxid
    rp3.run(reconnect)
    ev = wait_events(rp3.conns[1], len(captured_events(reconnect, 1)))
    if ev != captured_events(reconnect, 1):
        rp3.fail("reconnect watch events (setWatches then closeSession):\n got  %s\n want %s" % (
            ev, captured_events(reconnect, 1)))
    obs = KazooClient(hosts=server.hosts)
    obs.start(timeout=15)
    try:
        assert obs.exists("/controller") is None and obs.exists("/brokers/ids/0") is None
        assert obs.exists("/brokers/topics/stock-test/partitions/0/state") is not None
    finally:
        obs.stop()
        obs.close()

    # the replay really covered the captures
    assert (rp.count, rp2.count, rp3.count) == (
        sum(1 for r in first if r.get("dir") == "C>S" and r.get("op") not in ("ping", "closeSession", "connect", "eof")),
        sum(1 for r in restart if r.get("dir") == "C>S" and r.get("op") not in ("ping", "closeSession", "connect", "eof")),
        sum(1 for r in reconnect if r.get("dir") == "C>S" and r.get("op") not in ("ping", "closeSession", "connect", "eof")))
    assert rp.count > 400 and len(captured_events(first, 1)) == 11 and len(captured_events(reconnect, 1)) == 3
    assert len(rp.zxid_map) > 100
    for r in (rp, rp2, rp3):
        for c in r.conns.values():
            c.close()
    failures = ["first boot: " + f for f in first_failures] + ["restart: " + f for f in rp2.failures] + [
        "reconnect: " + f for f in rp3.failures]
    assert not failures, "%d differences from the capture:\n%s" % (len(failures), "\n".join(failures[:60]))
