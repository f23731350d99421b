#!/usr/bin/env python3
"""Raw Fetch throughput of one partition: what the broker serves when the client does not
decode records. One connection, Fetch v4 (partition_max_bytes and max_bytes as given),
the response read into a preallocated buffer; only the first batch header is looked at (to
estimate the next fetch offset). Used by BENCHMARKS.md to tell the broker's fetch path apart
from client-side decoding.

    raw_fetch_bench.py HOST:PORT TOPIC PARTITION [--max-bytes N] [--seconds S]
Prints: raw fetch: bytes=... secs=... MB/s=... fetches=... (MB = 2^20 bytes)."""

import argparse
import socket
import struct
import sys
import time


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def fetch_request(corr, topic, partition, offset, max_bytes):
    header = struct.pack(">hhi", 1, 4, corr) + kstr("raw-fetch-bench")
    body = struct.pack(">iiiib", -1, 500, 1, max_bytes, 0)
    body += struct.pack(">i", 1) + kstr(topic) + struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, max_bytes)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def recv_exact(s, view, n):
    got = 0
    while got < n:
        k = s.recv_into(view[got:n], n - got)
        if k == 0:
            raise ConnectionError("broker closed the connection")
        got += k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("partition", type=int)
    ap.add_argument("--max-bytes", type=int, default=8 << 20)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    host, port = a.bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    buf = bytearray(a.max_bytes + (1 << 20))
    view = memoryview(buf)
    offset, total, fetches, corr = 0, 0, 0, 0
    start = time.monotonic()
    deadline = start + a.seconds
    while time.monotonic() < deadline:
        corr += 1
        s.sendall(fetch_request(corr, a.topic, a.partition, offset, a.max_bytes))
        recv_exact(s, view, 4)
        (n,) = struct.unpack_from(">i", buf, 0)
        if n > len(buf):
            buf = bytearray(n + (1 << 20))
            view = memoryview(buf)
        recv_exact(s, view, n)
        fetches += 1
        # corr, throttle, [topic], [partition, err, hw, lso, aborted], records
        pos = 8
        pos += 4
        (tlen,) = struct.unpack_from(">h", buf, pos)
        pos += 2 + tlen + 4
        _p, err, hw, _lso = struct.unpack_from(">ihqq", buf, pos)
        pos += 22
        (na,) = struct.unpack_from(">i", buf, pos)
        pos += 4 + max(na, 0) * 16
        (rlen,) = struct.unpack_from(">i", buf, pos)
        pos += 4
        if err != 0:
            sys.exit("fetch error %d at offset %d" % (err, offset))
        end = pos + max(rlen, 0)
        total += max(rlen, 0)
        # The next offset, estimated from the first batch's size per record (walking every
        # batch header in Python would cost more than the broker's whole answer); the broker
        # answers any offset inside a batch with that batch, so overlap is harmless.
        if rlen >= 61:
            base, blen = struct.unpack_from(">qi", buf, pos)
            (delta,) = struct.unpack_from(">i", buf, pos + 23)
            per_record = (12 + blen) / (delta + 1)
            offset = base + max(delta + 1, int(rlen / per_record) - 1)
        if offset >= hw:
            offset = 0  # wrap: read the log again
    secs = time.monotonic() - start
    print("raw fetch: bytes=%d secs=%.3f MB/s=%.1f fetches=%d max_bytes=%d" % (total, secs, total / secs / (1 << 20), fetches, a.max_bytes))


if __name__ == "__main__":
    main()
