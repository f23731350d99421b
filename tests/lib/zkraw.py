"""The one raw ZooKeeper wire-protocol client of the suites (jute, struct-packed).

`RawClient` speaks exactly what is asked (no retries, no reconnects, no hidden pings) so tests
can check framing, headers (xid, zxid, err), ordering and opcodes kazoo does not offer
(addWatch, setWatches/setWatches2, containers, TTL, getEphemerals, getAllChildrenNumber,
whoAmI, multiRead, checkWatches/removeWatches).

`RawSession` is a session on a `RawClient` for the ensemble tests: a client that connects (or
reattaches to a session id), creates nodes, then vanishes without closeSession, as a crashed
process would.
"""

import socket
import struct
import time
from collections import namedtuple

# opcodes
OP = dict(
    notification=0, create=1, delete=2, exists=3, getData=4, setData=5, getACL=6, setACL=7,
    getChildren=8, sync=9, ping=11, getChildren2=12, check=13, multi=14, create2=15,
    reconfig=16, checkWatches=17, removeWatches=18, createContainer=19, deleteContainer=20,
    createTTL=21, multiRead=22, auth=100, setWatches=101, sasl=102, getEphemerals=103,
    getAllChildrenNumber=104, setWatches2=105, addWatch=106, whoAmI=107,
    createSession=-10, closeSession=-11, error=-1,
)

# error codes
OK = 0
SYSTEMERROR = -1
RUNTIMEINCONSISTENCY = -2
DATAINCONSISTENCY = -3
CONNECTIONLOSS = -4
MARSHALLINGERROR = -5
UNIMPLEMENTED = -6
OPERATIONTIMEOUT = -7
BADARGUMENTS = -8
APIERROR = -100
NONODE = -101
NOAUTH = -102
BADVERSION = -103
NOCHILDRENFOREPHEMERALS = -108
NODEEXISTS = -110
NOTEMPTY = -111
SESSIONEXPIRED = -112
INVALIDCALLBACK = -113
INVALIDACL = -114
AUTHFAILED = -115
NOWATCHER = -121

# create modes (flags)
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

# watch event types / states
EV_NONE, EV_CREATED, EV_DELETED, EV_DATA_CHANGED, EV_CHILDREN_CHANGED = -1, 1, 2, 3, 4
EV_DATA_WATCH_REMOVED, EV_CHILD_WATCH_REMOVED, EV_PERSISTENT_WATCH_REMOVED = 5, 6, 7
STATE_SYNC_CONNECTED = 3

# watcher types for checkWatches/removeWatches
WT_CHILDREN, WT_DATA, WT_ANY = 1, 2, 3
# addWatch modes
ADD_WATCH_PERSISTENT, ADD_WATCH_PERSISTENT_RECURSIVE = 0, 1

PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN = 1, 2, 4, 8, 16
PERM_ALL = 31
OPEN_ACL_UNSAFE = [(PERM_ALL, "world", "anyone")]

PING_XID = -2
NOTIFICATION_XID = -1
AUTH_XID = -4
SET_WATCHES_XID = -8

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid",
)
STAT_FMT = ">qqqqiiiqiiq"
STAT_LEN = struct.calcsize(STAT_FMT)  # 68
Reply = namedtuple("Reply", "xid zxid err body")
Event = namedtuple("Event", "type state path")


class Closed(ConnectionError):
    """The server closed the connection."""


# -- encoding -------------------------------------------------------------------------
def p_int(v):
    return struct.pack(">i", v)


def p_long(v):
    return struct.pack(">q", v)


def p_bool(v):
    return b"\x01" if v else b"\x00"


def p_buf(b):
    if b is None:
        return p_int(-1)
    if isinstance(b, str):
        b = b.encode()
    return p_int(len(b)) + b


p_str = p_buf


def p_strs(lst):
    return p_int(len(lst)) + b"".join(p_str(s) for s in lst)


def p_acl(acl):
    acl = OPEN_ACL_UNSAFE if acl is None else acl
    return p_int(len(acl)) + b"".join(p_int(perms) + p_str(scheme) + p_str(ident) for perms, scheme, ident in acl)


class Reader:
    def __init__(self, b, off=0):
        self.b = b
        self.off = off

    def int(self):
        v = struct.unpack_from(">i", self.b, self.off)[0]
        self.off += 4
        return v

    def long(self):
        v = struct.unpack_from(">q", self.b, self.off)[0]
        self.off += 8
        return v

    def bool(self):
        v = self.b[self.off] != 0
        self.off += 1
        return v

    def buf(self):
        n = self.int()
        if n < 0:
            return None
        v = bytes(self.b[self.off:self.off + n])
        if len(v) != n:
            raise ValueError("short buffer")
        self.off += n
        return v

    def str(self):
        v = self.buf()
        return None if v is None else v.decode()

    def strs(self):
        n = self.int()
        return [self.str() for _ in range(max(n, 0))]

    def stat(self):
        v = Stat(*struct.unpack_from(STAT_FMT, self.b, self.off))
        self.off += STAT_LEN
        return v

    def acl(self):
        n = self.int()
        return [(self.int(), self.str(), self.str()) for _ in range(n)]

    def remaining(self):
        return len(self.b) - self.off


# request bodies
def body_create(path, data=b"", acl=None, flags=0):
    return p_str(path) + p_buf(data) + p_acl(acl) + p_int(flags)


def body_create_ttl(path, data=b"", acl=None, flags=PERSISTENT_WITH_TTL, ttl=1000):
    return body_create(path, data, acl, flags) + p_long(ttl)


def body_path_watch(path, watch=False):
    return p_str(path) + p_bool(watch)


def body_path_version(path, version=-1):
    return p_str(path) + p_int(version)


def body_set_data(path, data, version=-1):
    return p_str(path) + p_buf(data) + p_int(version)


def body_set_acl(path, acl, version=-1):
    return p_str(path) + p_acl(acl) + p_int(version)


def body_set_watches(rel_zxid, data=(), exist=(), child=()):
    return p_long(rel_zxid) + p_strs(list(data)) + p_strs(list(exist)) + p_strs(list(child))


def body_set_watches2(rel_zxid, data=(), exist=(), child=(), persistent=(), recursive=()):
    return body_set_watches(rel_zxid, data, exist, child) + p_strs(list(persistent)) + p_strs(list(recursive))


def body_multi(ops):
    """ops: list of (opcode_name, body_bytes)."""
    out = b""
    for name, body in ops:
        out += p_int(OP[name]) + p_bool(False) + p_int(-1) + body
    return out + p_int(-1) + p_bool(True) + p_int(-1)


def parse_multi(body):
    """Returns a list of (type, result) where result is a path / (path, stat) / stat / err / None."""
    r = Reader(body)
    out = []
    while True:
        typ, done, err = r.int(), r.bool(), r.int()
        if done:
            break
        if typ == OP["create"]:
            out.append((typ, r.str()))
        elif typ == OP["create2"]:
            out.append((typ, (r.str(), r.stat())))
        elif typ == OP["setData"]:
            out.append((typ, r.stat()))
        elif typ in (OP["delete"], OP["check"]):
            out.append((typ, None))
        elif typ == OP["getChildren"]:
            out.append((typ, r.strs()))
        elif typ == OP["getData"]:
            out.append((typ, (r.buf(), r.stat())))
        elif typ == OP["error"]:
            out.append((typ, r.int()))
        else:
            raise ValueError("unknown multi result type %d" % typ)
    return out


class RawClient:
    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.xid = 0
        self.events = []
        self.session_id = None
        self.passwd = None
        self.negotiated_timeout = None
        self.read_only = None
        self.last_zxid = 0
        self.replies = []  # (xid, zxid, err) for every reply seen, in arrival order
        self._rbuf = b""

    # -- framing --------------------------------------------------------------------
    def send_raw(self, b):
        self.sock.sendall(b)

    def send_frame(self, payload):
        self.sock.sendall(p_int(len(payload)) + payload)

    def _recv_exact(self, n, deadline):
        while len(self._rbuf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("timed out waiting for %d bytes" % n)
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            if not b:
                raise Closed("server closed the connection")
            self._rbuf += b
        out, self._rbuf = self._rbuf[:n], self._rbuf[n:]
        return out

    def recv_frame(self, timeout=None):
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        n = struct.unpack(">i", self._recv_exact(4, deadline))[0]
        assert 0 <= n < 64 * 1024 * 1024, "bad frame length from server: %d" % n
        return self._recv_exact(n, deadline)

    # -- session --------------------------------------------------------------------
    def connect(self, timeout_ms=10000, session_id=0, passwd=b"\0" * 16, last_zxid=0,
                read_only=False, legacy=False, recv_timeout=None):
        """legacy=True sends the 44-byte handshake (no readOnly byte)."""
        body = p_int(0) + p_long(last_zxid) + p_int(timeout_ms) + p_long(session_id) + p_buf(passwd)
        if not legacy:
            body += p_bool(read_only)
        self.send_frame(body)
        resp = self.recv_frame(recv_timeout)
        r = Reader(resp)
        proto, tmo, sid, pw = r.int(), r.int(), r.long(), r.buf()
        ro = r.bool() if r.remaining() >= 1 else None
        self.negotiated_timeout, self.session_id, self.passwd, self.read_only = tmo, sid, pw, ro
        self.connect_response_len = len(resp)
        return tmo, sid, pw, ro

    def next_xid(self):
        self.xid += 1
        return self.xid

    def send(self, opname, body=b"", xid=None):
        xid = self.next_xid() if xid is None else xid
        self.send_frame(p_int(xid) + p_int(OP[opname]) + body)
        return xid

    def read_reply(self, timeout=None):
        """Next non-notification reply; notifications are collected into self.events."""
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.recv_frame(max(0.01, deadline - time.time()))
            r = Reader(f)
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid == NOTIFICATION_XID:
                self.events.append(Event(r.int(), r.int(), r.str()))
                continue
            self.replies.append((xid, zxid, err))
            if zxid > 0:
                self.last_zxid = max(self.last_zxid, zxid)
            return Reply(xid, zxid, err, f[r.off:])

    def call(self, opname, body=b"", timeout=None):
        xid = self.send(opname, body)
        rep = self.read_reply(timeout)
        assert rep.xid == xid, "reply xid %d does not match request xid %d" % (rep.xid, xid)
        return rep

    def ping(self):
        self.send("ping", xid=PING_XID)
        rep = self.read_reply()
        assert rep.xid == PING_XID, rep
        return rep

    def wait_events(self, n, timeout=5.0):
        """Wait until at least n events arrived (pumps pings meanwhile)."""
        deadline = time.time() + timeout
        while len(self.events) < n and time.time() < deadline:
            try:
                self.send("ping", xid=PING_XID)
                self.read_reply(timeout=max(0.05, min(1.0, deadline - time.time())))
            except socket.timeout:
                pass
            if len(self.events) < n:
                time.sleep(0.02)
        return list(self.events)

    def close_session(self):
        rep = self.call("closeSession")
        return rep

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- conveniences ---------------------------------------------------------------
    def create(self, path, data=b"", acl=None, flags=0):
        rep = self.call("create", body_create(path, data, acl, flags))
        return rep, (Reader(rep.body).str() if rep.err == 0 else None)

    def create2(self, path, data=b"", acl=None, flags=0, opname="create2"):
        rep = self.call(opname, body_create(path, data, acl, flags))
        if rep.err:
            return rep, None, None
        r = Reader(rep.body)
        return rep, r.str(), r.stat()

    def create_ttl(self, path, data=b"", ttl=1000, flags=PERSISTENT_WITH_TTL, acl=None):
        rep = self.call("createTTL", body_create_ttl(path, data, acl, flags, ttl))
        if rep.err:
            return rep, None, None
        r = Reader(rep.body)
        return rep, r.str(), r.stat()

    def exists(self, path, watch=False):
        rep = self.call("exists", body_path_watch(path, watch))
        return rep, (Reader(rep.body).stat() if rep.err == 0 else None)

    def get(self, path, watch=False):
        rep = self.call("getData", body_path_watch(path, watch))
        if rep.err:
            return rep, None, None
        r = Reader(rep.body)
        return rep, r.buf(), r.stat()

    def set(self, path, data, version=-1):
        rep = self.call("setData", body_set_data(path, data, version))
        return rep, (Reader(rep.body).stat() if rep.err == 0 else None)

    def delete(self, path, version=-1):
        return self.call("delete", body_path_version(path, version))

    def children2(self, path, watch=False):
        rep = self.call("getChildren2", body_path_watch(path, watch))
        if rep.err:
            return rep, None, None
        r = Reader(rep.body)
        return rep, r.strs(), r.stat()

    def children(self, path, watch=False):
        rep = self.call("getChildren", body_path_watch(path, watch))
        return rep, (Reader(rep.body).strs() if rep.err == 0 else None)

    def multi(self, ops):
        rep = self.call("multi", body_multi(ops))
        return rep, (parse_multi(rep.body) if rep.body else [])

    def add_watch(self, path, mode):
        return self.call("addWatch", p_str(path) + p_int(mode))

    def auth_digest(self, user, password):
        self.send("auth", p_int(0) + p_str("digest") + p_buf("%s:%s" % (user, password)), xid=AUTH_XID)
        return self.read_reply()


class RawSession:
    """A session on a `RawClient` that never pings: connect (or reattach to `session_id`),
    create nodes, then `vanish()` closes the socket without closeSession. `connect=False` only
    opens the TCP connection (it completes in the kernel even if the server process is
    stopped); `send_connect()` / `send_create()` pipeline requests and `read_reply()` reads
    what comes back. Notifications are kept in `events` as (type, path)."""

    def __init__(self, port, timeout_ms, session_id=0, passwd=b"\0" * 16, connect=True, io_timeout=5.0):
        self.client = RawClient(port, timeout=io_timeout)
        self.sock = self.client.sock
        self.timeout_ms = timeout_ms
        self.session_id = session_id
        self.passwd = passwd
        self.last_zxid = 0
        self.events = []
        if connect:
            self.send_connect()
            if not self.read_connect():
                raise RuntimeError("session refused")

    def send_connect(self):
        """ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly."""
        self.client.send_frame(p_int(0) + p_long(self.last_zxid) + p_int(self.timeout_ms) + p_long(self.session_id)
                               + p_buf(self.passwd) + p_bool(False))

    def read_connect(self):
        """Reads the ConnectResponse; False if the session was refused (id 0)."""
        r = Reader(self.client.recv_frame())
        _proto, tmo, sid, pw = r.int(), r.int(), r.long(), r.buf()
        if sid == 0:
            return False
        self.timeout_ms, self.session_id, self.passwd = tmo, sid, pw
        return True

    def send_create(self, path, data=b"", ephemeral=False):
        return self.client.send("create", body_create(path, data, None, EPHEMERAL if ephemeral else PERSISTENT))

    def _frame(self, timeout=None):
        """One reply frame: (xid, zxid, err, body); notifications go to self.events."""
        r = Reader(self.client.recv_frame(timeout))
        xid, zxid, err = r.int(), r.long(), r.int()
        rest = r.b[r.off:]
        if xid == NOTIFICATION_XID:
            etype, _state, path = r.int(), r.int(), r.str()
            self.events.append((etype, path))
        elif zxid > self.last_zxid:
            self.last_zxid = zxid
        return xid, zxid, err, rest

    def read_reply(self, xid, body=False):
        """(zxid, err) of the reply to xid, or (zxid, err, body) with body=True."""
        while True:
            rxid, zxid, err, rest = self._frame()
            if rxid == xid:
                return (zxid, err, rest) if body else (zxid, err)

    def get_data(self, path, watch=False):
        """(data, mzxid) of path; raises on an error."""
        zxid, err, rest = self.read_reply(self.client.send("getData", body_path_watch(path, watch)), body=True)
        if err != 0:
            raise RuntimeError("getData %s failed: error %d" % (path, err))
        r = Reader(rest)
        data = r.buf() or b""
        return data, r.stat().mzxid

    def set_watches(self, rel_zxid, data=(), exist=(), child=()):
        """setWatches (what a client sends after reconnecting); returns the error code."""
        self.client.send("setWatches", body_set_watches(rel_zxid, list(data), list(exist), list(child)), xid=SET_WATCHES_XID)
        return self.read_reply(SET_WATCHES_XID)[1]

    def wait_event(self, timeout):
        """The next watch notification (type, path), waiting up to timeout seconds."""
        deadline = time.time() + timeout
        while not self.events:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no watch notification within %.1fs" % timeout)
            try:
                self._frame(left)
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
        self.client.close()
