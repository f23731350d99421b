"""Raw frames for group and idempotence tests (non-flexible versions, hand-built)."""

import socket
import struct
import time

from kraw import crc32c, frame, header, kstr, read_frame, varint  # noqa: F401 (re-exported)


def kbytes(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


def array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


class Reader:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.b[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self):
        n = self.take(">i")
        if n < 0:
            return None
        s = self.b[self.pos:self.pos + n]
        self.pos += n
        return s


class Conn:
    """One connection; call() sends a request and returns a Reader past the correlation id."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.corr = 0

    def call(self, api, version, body):
        self.corr += 1
        self.s.sendall(frame(header(api, version, self.corr) + body))
        resp = read_frame(self.s)
        assert resp is not None, "broker closed the connection"
        r = Reader(resp)
        assert r.take(">i") == self.corr
        return r

    def close(self):
        self.s.close()


def idempotent_batch(values, pid, epoch, seq):
    # Timestamped now: a batch from 1970 would be deleted by the next retention check.
    now = int(time.time() * 1000)
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, now, now, pid, epoch, seq, len(values)) + recs
    after_len = struct.pack(">ibI", 0, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(after_len)) + after_len


def init_producer_id(conn):
    r = conn.call(22, 0, kstr(None) + struct.pack(">i", 60000))
    _throttle, err, pid, epoch = r.take(">ihqh")
    return err, pid, epoch


def produce(conn, topic, partition, records, acks=-1):
    body = kstr(None) + struct.pack(">hi", acks, 10000) + array([kstr(topic) + array([struct.pack(">i", partition) + kbytes(records)])])
    r = conn.call(0, 3, body)
    r.take(">i")  # topics
    r.string()
    r.take(">i")
    _p, err, base, _lat = r.take(">ihqq")
    return err, base


def join_group(conn, group, member_id="", session=10000, version=4, instance=None, protocols=(("range", b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),)):
    body = kstr(group) + struct.pack(">ii", session, 30000) + kstr(member_id)
    if version >= 5:
        body += kstr(instance)
    body += kstr("consumer") + array([kstr(n) + kbytes(m) for n, m in protocols])
    r = conn.call(11, version, body)
    r.take(">i")
    err, gen = r.take(">hi")
    proto, leader, member = r.string(), r.string(), r.string()
    n = r.take(">i")
    members = []
    for _ in range(n):
        mid = r.string()
        if version >= 5:
            r.string()
        members.append((mid, r.bytes_()))
    return {"error": err, "generation": gen, "protocol": proto, "leader": leader, "member_id": member, "members": members}


def sync_group(conn, group, generation, member_id, assignments=()):
    body = kstr(group) + struct.pack(">i", generation) + kstr(member_id) + kstr(None)
    body += array([kstr(m) + kbytes(a) for m, a in assignments])
    r = conn.call(14, 3, body)
    r.take(">i")
    err = r.take(">h")
    return err, r.bytes_()


def heartbeat(conn, group, generation, member_id):
    r = conn.call(12, 3, kstr(group) + struct.pack(">i", generation) + kstr(member_id) + kstr(None))
    r.take(">i")
    return r.take(">h")


def leave_group(conn, group, member_id):
    r = conn.call(13, 2, kstr(group) + kstr(member_id))
    r.take(">i")
    return r.take(">h")


def offset_commit(conn, group, generation, member_id, topic, partition, offset, metadata=""):
    body = kstr(group) + struct.pack(">i", generation) + kstr(member_id) + struct.pack(">q", -1)
    body += array([kstr(topic) + array([struct.pack(">iq", partition, offset) + kstr(metadata)])])
    r = conn.call(8, 2, body)
    r.take(">i")
    r.string()
    r.take(">i")
    _p, err = r.take(">ih")
    return err


def offset_fetch(conn, group, topic, partition):
    r = conn.call(9, 1, kstr(group) + array([kstr(topic) + array([struct.pack(">i", partition)])]))
    r.take(">i")
    r.string()
    r.take(">i")
    _p, off = r.take(">iq")
    r.string()
    return off, r.take(">h")


def delete_groups(conn, group):
    r = conn.call(42, 0, array([kstr(group)]))
    r.take(">i")
    r.take(">i")
    r.string()
    return r.take(">h")


def find_coordinator(conn, group):
    r = conn.call(10, 1, kstr(group) + struct.pack(">b", 0))
    r.take(">i")
    err = r.take(">h")
    r.string()
    node = r.take(">i")
    return err, node
