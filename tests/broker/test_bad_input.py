"""Bad input from the network and from the config file: the right error, nothing crashes,
other clients keep being served."""

import os
import socket
import struct
import subprocess
import tempfile

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import kraw
from kharness import KAFKA_BIN


def still_serving(cluster):
    md = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(timeout=10)
    return 0 in md.brokers


def ensure_topic(cluster, t):
    a = AdminClient({"bootstrap.servers": cluster.bootstrap})
    a.create_topics([NewTopic(t, 1, 1)], operation_timeout=10)[t].result(15)


def closed(sock):
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_oversized_frame_closes_only_that_connection(cluster):
    port = cluster.brokers[0].port
    other = socket.create_connection(("127.0.0.1", port))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(struct.pack(">i", 200 * 1024 * 1024) + b"\x00" * 16)
    assert closed(s)
    assert "larger than socket.request.max.bytes" in cluster.brokers[0].output()
    # the other connection still works
    other.sendall(kraw.frame(kraw.header(18, 0, 1)))
    resp = kraw.read_frame(other)
    assert resp is not None and struct.unpack_from(">i", resp)[0] == 1
    other.close()
    assert still_serving(cluster)


def test_garbage_and_negative_length(cluster):
    port = cluster.brokers[0].port
    for junk in (struct.pack(">i", -5), struct.pack(">i", 3) + b"abc", struct.pack(">i", 12) + os.urandom(12),
                 kraw.frame(struct.pack(">hhi", 3, 9, 5) + b"\xff\xff\xff")):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(junk)
        assert closed(s)
        s.close()
    assert still_serving(cluster)


def test_api_versions_too_new_gets_v0_error(cluster):
    resp = kraw.send_recv(cluster.brokers[0].port, kraw.header(18, 99, 42))
    corr, err = struct.unpack_from(">ih", resp)
    assert (corr, err) == (42, 35)  # UNSUPPORTED_VERSION, and the table follows
    (n,) = struct.unpack_from(">i", resp, 6)
    keys = {struct.unpack_from(">hhh", resp, 10 + 6 * i)[0] for i in range(n)}
    assert {0, 1, 2, 3, 18, 19, 20} <= keys


def test_corrupt_batch_rejected_log_untouched(cluster):
    t = "corrupt-test"
    ensure_topic(cluster, t)
    port = cluster.brokers[0].port
    good = kraw.record_batch([b"a", b"b"])
    _, res = kraw.parse_produce_v3(kraw.send_recv(port, kraw.produce_v3(t, 0, good)))
    assert res == [(t, 0, 0, 0)]
    bad = kraw.record_batch([b"c"], corrupt_crc=True)
    _, res = kraw.parse_produce_v3(kraw.send_recv(port, kraw.produce_v3(t, 0, bad)))
    assert res[0][2] == 2  # CORRUPT_MESSAGE
    _, res = kraw.parse_produce_v3(kraw.send_recv(port, kraw.produce_v3(t, 0, good[:-3])))
    assert res[0][2] == 2  # truncated
    big = kraw.record_batch([b"x" * 1_100_000])
    _, res = kraw.parse_produce_v3(kraw.send_recv(port, kraw.produce_v3(t, 0, big)))
    assert res[0][2] == 10  # MESSAGE_TOO_LARGE
    _, res = kraw.parse_produce_v3(kraw.send_recv(port, kraw.produce_v3(t, 0, good, acks=5)))
    assert res[0][2] == 21  # INVALID_REQUIRED_ACKS
    _, res = kraw.parse_produce_v3(kraw.send_recv(port, kraw.produce_v3(t, 0, good)))
    assert res == [(t, 0, 0, 2)]  # nothing was appended by the bad ones
    p = Producer({"bootstrap.servers": cluster.bootstrap})
    p.produce(t, b"still-fine")
    assert p.flush(10) == 0


def run_config(text, timeout=10):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "server.properties")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([KAFKA_BIN, path], capture_output=True, text=True, timeout=timeout)


def test_bad_config_value_is_one_line_error():
    r = run_config("zookeeper.connect=127.0.0.1:1\nnum.partitions=many\n")
    assert r.returncode != 0
    assert r.stderr.strip() == "kafka-server: Invalid value many for configuration num.partitions: Not a number of type INT"
    r = run_config("broker.id=0\n")
    assert r.returncode != 0 and "zookeeper.connect" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_key_warns(fresh_cluster):
    c = fresh_cluster(1, some_unknown_key="1")
    assert "The configuration 'some.unknown.key' was supplied but isn't a known config." in c.brokers[0].output()
