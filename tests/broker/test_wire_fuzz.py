"""Wire fuzzer against a real broker: structure-aware request frames (valid, mutated, with
odd headers, junk) for every API and version the broker serves, made by
broker/examples/fuzz_frames.rs from Kafka's request schemas. Each frame goes on its own
connection and must be answered or closed within 5 s (a request that may legitimately wait
— Fetch, JoinGroup, SyncGroup, Produce, CreateTopics, DeleteTopics — may stay parked; those
connections are closed at the end). Every 100 cases: the broker process is alive, a real
client round trip works (produce then fetch with confluent-kafka) and its memory is recorded;
memory must stay bounded.

WIRE_FUZZ_CASES (default 1,000) and WIRE_FUZZ_SEED choose the run; the long run is in
FUZZING.md."""

import os
import select
import socket
import struct
import subprocess
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lib.paths import REPO

FRAMES_BIN = os.path.join(REPO, "target", "release", "examples", "fuzz_frames")
# APIs whose requests may wait on purpose (a timeout in the body, a rebalance).
MAY_PARK = {0, 1, 11, 14, 19, 20}


def frames(cases, seed):
    if not os.path.exists(FRAMES_BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "broker", "--examples"], cwd=REPO, check=True)
    data = subprocess.run([FRAMES_BIN, str(cases), str(seed)], check=True, capture_output=True).stdout
    i = 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        rec = data[i + 4:i + 4 + n]
        i += 4 + n
        yield rec[0], rec[1:]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def outcome(s, deadline):
    """'answered', 'closed' or 'silent' (nothing within the deadline)."""
    got = b""
    while time.time() < deadline:
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return "closed"
        if not chunk:
            return "answered" if len(got) >= 4 else "closed"
        got += chunk
        if len(got) >= 4 and len(got) >= 4 + struct.unpack_from(">i", got)[0]:
            return "answered"
    return "silent"


def round_trip(bootstrap, topic, n):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    p.produce(topic, b"live-%d" % n)
    assert p.flush(15) == 0, "a real producer could not produce"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wf-%d" % n, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    deadline = time.time() + 20
    seen = set()
    while time.time() < deadline and b"live-%d" % n not in seen:
        m = c.poll(0.5)
        if m is not None and not m.error():
            seen.add(m.value())
    c.close()
    assert b"live-%d" % n in seen, "a real consumer did not get the record back"


def test_wire_fuzz(cluster):
    cases = int(os.environ.get("WIRE_FUZZ_CASES", "1000"))
    seed = int(os.environ.get("WIRE_FUZZ_SEED", "7"))
    b = cluster.brokers[0]
    port, pid = b.port, b.proc.pid
    topic = "wire-fuzz-live"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    round_trip(cluster.bootstrap, topic, 0)
    base = rss_kib(pid)
    peak = base
    parked, counts = [], {"answered": 0, "closed": 0, "silent": 0}
    for i, (kind, frame) in enumerate(frames(cases, seed), 1):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(frame)
        except OSError:
            pass  # the broker may close on the length prefix alone
        res = outcome(s, time.time() + 5)
        counts[res] += 1
        if res == "silent":
            api = struct.unpack_from(">h", frame, 4)[0] if len(frame) >= 6 else -1
            head = struct.unpack_from(">i", frame)[0] if len(frame) >= 4 else 0
            # Silent is fine only for a request that may wait, or a frame that is not yet
            # complete (its length prefix promises more bytes than were sent).
            assert api in MAY_PARK or head + 4 > len(frame) or head < 0, \
                "case %d (kind %d, api %d): neither answered nor closed within 5 s: %s" % (i, kind, api, frame[:64].hex())
            parked.append(s)
        else:
            s.close()
        if len(parked) > 50:
            for p in parked:
                p.close()
            parked = []
        if i % 100 == 0:
            assert b.proc.poll() is None, "broker died at case %d:\n%s" % (i, b.output()[-3000:])
            round_trip(cluster.bootstrap, topic, i)
            peak = max(peak, rss_kib(pid))
    for p in parked:
        p.close()
    assert b.proc.poll() is None, b.output()[-3000:]
    round_trip(cluster.bootstrap, topic, cases + 1)
    peak = max(peak, rss_kib(pid))
    print("wire fuzz: %d cases, %s; RSS %d KiB at start, peak %d KiB" % (cases, counts, base, peak))
    assert peak - base < 512 * 1024, "broker memory grew by %d KiB" % (peak - base)
