"""The one raw Kafka client of the suites: hand-built frames (so tests can break them) at
non-flexible versions, a `Conn` that sends a request and returns a `Reader` past the
correlation id, record batches (v2, CRC-32C) and the group / idempotence calls the broker
tests make.

zlib's crc32 is the wrong polynomial for record batches: `crc32c` is Castagnoli's, table-driven
(a byte per step), fast enough for the megabyte batches of the limit tests.
"""

import socket
import struct
import time


def _crc32c_table():
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


_CRC32C = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC32C
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(v):
    z = (v << 1) ^ (v >> 63)
    out = b""
    while True:
        if z < 0x80:
            return out + bytes([z])
        out += bytes([(z & 0x7F) | 0x80])
        z >>= 7


def record_batch(values, corrupt_crc=False):
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, 0, 0, -1, -1, -1, len(values)) + recs
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    after_len = struct.pack(">ibI", 0, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(after_len)) + after_len


def kstr(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def header(api_key, version, corr, client="raw-test"):
    return struct.pack(">hhi", api_key, version, corr) + kstr(client)


def produce_v3(topic, partition, records, acks=1, corr=7):
    body = kstr(None) + struct.pack(">hi", acks, 10000) + struct.pack(">i", 1) + kstr(topic)
    body += struct.pack(">i", 1) + struct.pack(">i", partition) + struct.pack(">i", len(records)) + records
    return header(0, 3, corr) + body


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def send_recv(port, payload, timeout=5.0):
    """Sends one frame, returns the response payload (None if the broker closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(frame(payload))
        return read_frame(s)


def read_frame(s):
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (n,) = struct.unpack(">i", head)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def parse_produce_v3(resp):
    """-> (correlation id, [(topic, partition, error, base_offset)])."""
    corr, = struct.unpack_from(">i", resp, 0)
    pos = 4
    (nt,) = struct.unpack_from(">i", resp, pos); pos += 4
    out = []
    for _ in range(nt):
        (ln,) = struct.unpack_from(">h", resp, pos); pos += 2
        t = resp[pos:pos + ln].decode(); pos += ln
        (np_,) = struct.unpack_from(">i", resp, pos); pos += 4
        for _ in range(np_):
            p, err, base, _lat = struct.unpack_from(">ihqq", resp, pos); pos += 22
            out.append((t, p, err, base))
    return corr, out


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
