"""Resource limits under abuse: idle connections, connection limits, idle timeout, a length
prefix followed by a trickle, a produce far over message.max.bytes, a consumer that never
reads its socket. Other clients keep being served and the broker's memory stays bounded;
the figures (memory per idle connection, growth under each abuse) are printed (-s) and
recorded in BENCHMARKS.md."""

import resource
import socket
import struct
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lib import kraw


def rss_kib(proc):
    with open("/proc/%d/status" % proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def api_versions_ok(port, timeout=5.0):
    try:
        resp = kraw.send_recv(port, kraw.header(18, 0, 77), timeout=timeout)
    except OSError:
        return False
    return resp is not None and struct.unpack_from(">i", resp)[0] == 77


def serves(cluster):
    md = AdminClient({"bootstrap.servers": cluster.brokers[0].bootstrap}).list_topics(timeout=10)
    return 0 in md.brokers


def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.fixture(autouse=True)
def enough_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield


def test_2000_idle_connections(fresh_cluster):
    c = fresh_cluster()
    b = c.brokers[0]
    before = rss_kib(b.proc)
    conns = [socket.create_connection(("127.0.0.1", b.port)) for _ in range(2000)]
    time.sleep(1.0)
    after = rss_kib(b.proc)
    assert api_versions_ok(b.port) and serves(c)
    print("2000 idle connections: RSS %d -> %d KiB (%.1f KiB each)" % (before, after, (after - before) / 2000))
    assert after - before < 2000 * 64, "more than 64 KiB per idle connection"
    for s in conns:
        s.close()


def test_max_connections_per_ip(fresh_cluster):
    c = fresh_cluster(**{"max.connections.per.ip": 5})
    b = c.brokers[0]
    held = [socket.create_connection(("127.0.0.1", b.port)) for _ in range(5)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", b.port))
    assert closed_within(extra, 5), "a sixth connection from one address must be closed"
    assert "already has the configured maximum of 5 connections" in b.output()
    held.pop().close()
    time.sleep(0.3)
    assert api_versions_ok(b.port)
    for s in held:
        s.close()


def test_max_connections_waits_for_a_free_place(fresh_cluster):
    c = fresh_cluster(**{"max.connections": 3})
    b = c.brokers[0]
    held = [socket.create_connection(("127.0.0.1", b.port)) for _ in range(3)]
    time.sleep(0.3)
    waiting = socket.create_connection(("127.0.0.1", b.port))  # the kernel's backlog takes it
    waiting.sendall(kraw.frame(kraw.header(18, 0, 5)))
    waiting.settimeout(1.0)
    with pytest.raises(socket.timeout):
        waiting.recv(4)
    held.pop().close()
    waiting.settimeout(5.0)
    resp = kraw.read_frame(waiting)
    assert resp is not None and struct.unpack_from(">i", resp)[0] == 5
    for s in held + [waiting]:
        s.close()


def test_bad_limit_values_refuse_to_start(fresh_cluster):
    with pytest.raises(RuntimeError, match="max.connections.per.ip"):
        fresh_cluster(**{"max.connections.per.ip": 0})


def test_idle_connections_are_closed(fresh_cluster):
    c = fresh_cluster(**{"connections.max.idle.ms": 1000})
    b = c.brokers[0]
    s = socket.create_connection(("127.0.0.1", b.port))
    t0 = time.time()
    assert closed_within(s, 10)
    assert time.time() - t0 < 8
    assert "idle for connections.max.idle.ms" in b.output()


def test_length_prefix_then_trickle(fresh_cluster):
    c = fresh_cluster()
    b = c.brokers[0]
    before = rss_kib(b.proc)
    conns = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", b.port))
        s.sendall(struct.pack(">i", 100 * 1024 * 1024 - 1) + b"\x00\x12")  # claims ~100 MB
        conns.append(s)
    for _ in range(20):
        for s in conns:
            s.sendall(b"\x00" * 16)
        time.sleep(0.05)
    assert api_versions_ok(b.port) and serves(c)
    grown = rss_kib(b.proc) - before
    print("50 connections claiming 100 MB each, trickling: RSS grew %d KiB" % grown)
    assert grown < 64 * 1024, "memory followed the claimed lengths, not the bytes sent"
    for s in conns:
        s.close()


def test_produce_far_over_message_max_bytes(fresh_cluster):
    c = fresh_cluster()
    b = c.brokers[0]
    t = "huge-produce"
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(t, 1, 1)])[t].result(15)
    value = b"x" * (99 * 1024 * 1024)
    batch = kraw.record_batch([value])
    resp = kraw.send_recv(b.port, kraw.produce_v3(t, 0, batch), timeout=60)
    _, res = kraw.parse_produce_v3(resp)
    assert res[0][2] == 10, res  # MESSAGE_TOO_LARGE
    assert api_versions_ok(b.port) and serves(c)


def fetch_v4(topic, partition, offset, max_bytes, corr):
    body = struct.pack(">iiiib", -1, 0, 1, max_bytes, 0)
    body += struct.pack(">i", 1) + kraw.kstr(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", partition, offset, max_bytes)
    return kraw.frame(kraw.header(1, 4, corr) + body)


def test_consumer_that_never_reads(fresh_cluster):
    c = fresh_cluster()
    b = c.brokers[0]
    t = "never-read"
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(t, 1, 1)])[t].result(15)
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for i in range(200):
        p.produce(t, b"v" * 100_000)
        if i % 50 == 0:
            p.flush(30)
    assert p.flush(30) == 0
    before = rss_kib(b.proc)
    stuck = socket.create_connection(("127.0.0.1", b.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.setblocking(False)
    sent = 0
    for i in range(200):  # pipelined fetches of up to 10 MB each, responses never read
        try:
            sent += stuck.send(fetch_v4(t, 0, 0, 10 * 1024 * 1024, i))
        except BlockingIOError:
            break
    time.sleep(2.0)
    assert api_versions_ok(b.port) and serves(c)
    grown = rss_kib(b.proc) - before
    print("a consumer that never reads (%d bytes of requests sent): RSS grew %d KiB" % (sent, grown))
    assert grown < 128 * 1024
    stuck.close()
