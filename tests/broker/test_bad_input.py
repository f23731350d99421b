"""Bad input from the network and from the config file: the right error, nothing crashes,
other clients keep being served."""

import os
import socket
import struct
import subprocess
import tempfile

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lib import kraw
from lib.paths import KAFKA_BIN


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


# Requests whose array counts claim far more elements than the frame holds (the kind of
# ~20-byte frame that used to make the broker allocate tens of GiB and abort). Each is
# (api key, version, body after the header); flexible versions (header v2) get the header's
# empty tagged section. Every one must be refused by closing only that connection, promptly.
HUGE = struct.pack(">i", 0x7FFFFFFF)
HUGE_VARINT = b"\xff\xff\xff\xff\x0f"
HOSTILE_COUNTS = [
    (19, 2, HUGE),                                                        # CreateTopics: topics
    (19, 3, struct.pack(">i", 1) + kraw.kstr("t") + struct.pack(">ihi", -1, -1, 1) + struct.pack(">i", 0) + HUGE),
    (19, 5, HUGE_VARINT),                                                 # CreateTopics v5 (flexible)
    (0, 3, struct.pack(">h", -1) + struct.pack(">hi", 1, 1000) + HUGE),  # Produce: topic_data
    (0, 7, struct.pack(">h", -1) + struct.pack(">hi", 1, 1000) + struct.pack(">i", 1) + kraw.kstr("t") + HUGE),
    (3, 0, HUGE), (3, 1, HUGE), (3, 4, HUGE + b"\x01"), (3, 9, HUGE_VARINT),  # Metadata
    (2, 1, struct.pack(">i", -1) + HUGE),                                 # ListOffsets
    (32, 1, HUGE), (32, 1, struct.pack(">i", 1) + b"\x02" + kraw.kstr("t") + HUGE),  # DescribeConfigs
    (35, 0, HUGE), (35, 1, struct.pack(">i", 1) + kraw.kstr("t") + HUGE),  # DescribeLogDirs
    (1, 4, struct.pack(">iiiib", -1, 500, 1, 1 << 20, 0) + HUGE),        # Fetch v4: topics
    (11, 0, kraw.kstr("g") + struct.pack(">i", 10000) + kraw.kstr("") + kraw.kstr("consumer") + HUGE),  # JoinGroup v0
    (20, 1, HUGE),                                                        # DeleteTopics v1
    (20, 4, HUGE_VARINT),
]


def test_hostile_counts_close_only_that_connection(cluster):
    b = cluster.brokers[0]
    port = b.port
    other = socket.create_connection(("127.0.0.1", port))
    for i, (api, version, body) in enumerate(HOSTILE_COUNTS):
        hdr = kraw.header(api, version, 100 + i)
        if (api, version) in {(19, 5), (3, 9), (20, 4)}:
            hdr += b"\x00"
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(kraw.frame(hdr + body))
        assert closed(s), f"api {api} v{version}: neither answered nor closed within 5 s"
        s.close()
        assert b.proc.poll() is None, f"broker died on api {api} v{version}"
    # One line per refused request, naming the field.
    out = b.output()
    assert out.count("malformed") >= len(HOSTILE_COUNTS), out[-3000:]
    assert "array count of 2147483647" in out
    # A connection opened before is untouched and the broker serves everyone.
    other.sendall(kraw.frame(kraw.header(18, 0, 1)))
    resp = kraw.read_frame(other)
    assert resp is not None and struct.unpack_from(">i", resp)[0] == 1
    other.close()
    assert still_serving(cluster)
