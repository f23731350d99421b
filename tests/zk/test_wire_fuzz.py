"""Wire fuzzer against a real zk-server: handshakes (valid, and sometimes hostile: made-up
reattaches, odd timeouts, a zxid from the future, mutated bytes, none at all) followed by a
request frame (valid, mutated, with an odd header, or junk) for every opcode a ZooKeeper 3.8
client sends, made by zk/examples/zk_fuzz_frames.rs from zk::fuzzgen. Each case is its own
connection: the handshake and then the request must each be answered or the connection
closed within 5 s (silence is allowed only for a frame whose length prefix promises more
bytes than were sent). Every 100 cases: the server process is alive, a kazoo create/get/
delete round trip works and the RSS is sampled; RSS growth must stay bounded.

WIRE_FUZZ_CASES (default 1,000) and WIRE_FUZZ_SEED choose the run; the long run is in
FUZZING.md. ZK_SERVER=apache runs the same cases against Apache ZooKeeper 3.8."""

import os
import select
import socket
import struct
import subprocess
import time
import uuid

import pytest

from lib.paths import REPO
from lib.zookeeper import JUTE_MAXBUFFER

FRAMES_BIN = os.path.join(REPO, "target", "release", "examples", "zk_fuzz_frames")

pytestmark = pytest.mark.timeout(int(os.environ.get("WIRE_FUZZ_TIMEOUT", "170")))


def cases(n, seed):
    if not os.path.exists(FRAMES_BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "zk", "--examples"], cwd=REPO, check=True, timeout=1800)
    data = subprocess.run([FRAMES_BIN, str(n), str(seed)], check=True, capture_output=True, timeout=120).stdout
    i = 0
    while i < len(data):
        (size,) = struct.unpack_from(">I", data, i)
        rec = data[i + 4:i + 4 + size]
        i += 4 + size
        kind, connect_kind = rec[0], rec[1]
        (clen,) = struct.unpack_from(">I", rec, 2)
        yield kind, connect_kind, rec[6:6 + clen], rec[6 + clen:]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def outcome(s, deadline):
    """'answered' (a whole frame came back), 'closed' or 'silent' (neither by the deadline)."""
    got = b""
    while time.time() < deadline:
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError, BrokenPipeError):
            return "closed"
        if not chunk:
            return "closed"
        got += chunk
        if len(got) >= 4 and len(got) >= 4 + struct.unpack_from(">i", got)[0]:
            return "answered"
    return "silent"


def incomplete(frame):
    """A frame the server must wait on: its length prefix promises more than was sent."""
    if len(frame) < 4:
        return True
    n = struct.unpack_from(">i", frame)[0]
    return 0 <= n <= JUTE_MAXBUFFER and n > len(frame) - 4


def send(s, b, rnd):
    """Sends b, sometimes in pieces (a frame split across TCP segments)."""
    try:
        if len(b) > 8 and rnd % 7 == 0:
            cut = len(b) // 2
            s.sendall(b[:cut])
            time.sleep(0.005)
            s.sendall(b[cut:])
        else:
            s.sendall(b)
        return True
    except OSError:
        return False  # the server may close on the length prefix alone


def round_trip(zk, n):
    p = "/wire-fuzz-live-%d-%s" % (n, uuid.uuid4().hex[:6])
    zk.create(p, b"live-%d" % n)
    assert zk.get(p)[0] == b"live-%d" % n, "a real client read back something else"
    zk.delete(p)
    assert zk.exists(p) is None


def test_wire_fuzz(make_server, kazoo_factory):
    n = int(os.environ.get("WIRE_FUZZ_CASES", "1000"))
    seed = int(os.environ.get("WIRE_FUZZ_SEED", "7"))
    srv = make_server()
    pid = srv.proc.pid
    zk = kazoo_factory(srv)
    round_trip(zk, 0)
    base = rss_kib(pid)
    peak = base
    counts = {"answered": 0, "closed": 0, "silent": 0, "refused at handshake": 0}
    t0 = time.time()
    for i, (kind, connect_kind, connect, request) in enumerate(cases(n, seed), 1):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            if connect:
                sent = send(s, connect, i)
                res = outcome(s, time.time() + 5) if sent else "closed"
                if res == "silent":
                    assert incomplete(connect), "case %d: handshake (kind %d) neither answered nor closed within 5 s: %s" % (
                        i, connect_kind, connect[:64].hex())
                if res != "answered":
                    counts["refused at handshake"] += 1
                    continue
            sent = send(s, request, i + 1)
            res = outcome(s, time.time() + 5) if sent else "closed"
            counts[res] += 1
            if res == "silent":
                assert incomplete(request), \
                    "case %d (kind %d, handshake %d): request neither answered nor closed within 5 s: %s" % (
                        i, kind, connect_kind, request[:64].hex())
        finally:
            s.close()
        if i % 100 == 0:
            assert srv.alive(), "server died at case %d:\n%s" % (i, srv.log_tail())
            round_trip(zk, i)
            peak = max(peak, rss_kib(pid))
    assert srv.alive(), srv.log_tail()
    round_trip(zk, n + 1)
    peak = max(peak, rss_kib(pid))
    print("wire fuzz: %d cases (seed %d) in %.0f s: %s; RSS %d KiB at start, peak %d KiB" % (
        n, seed, time.time() - t0, counts, base, peak))
    assert counts["answered"] > n // 5, "too few requests answered for the run to mean much: %s" % counts
    assert peak - base < 256 * 1024, "server memory grew by %d KiB" % (peak - base)
