"""Raw Kafka frames for the bad-input tests (hand-built, so we can break them)."""

import socket
import struct
import zlib  # noqa: F401  (crc32c is computed below; zlib's crc32 is the wrong polynomial)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
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
