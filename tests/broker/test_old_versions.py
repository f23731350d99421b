"""The old protocol versions Kafka 2.5 serves (issue 16): every API at every version below
the ones the kafka-protocol crate carries, sent by hand (struct.pack) and checked for
meaning; magic-0/1 message sets produced and read back by modern clients (as magic-2
batches) and modern batches read back by Fetch v0/v2 (down-converted); kafka-python at
api_version (0, 10) and (0, 9); sarama 1.22 (Go) at its default version and V2_2_0_0."""

import gzip
import os
import shutil
import struct
import subprocess
import time
import uuid
import zlib

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from lib import kraw

KAFKA_25_MAX = {
    0: 8, 1: 11, 2: 5, 3: 9, 8: 8, 9: 7, 10: 3, 11: 7, 12: 4, 13: 4, 14: 4, 15: 5, 16: 3, 18: 3,
    19: 5, 20: 4, 21: 1, 22: 3, 23: 3, 24: 1, 25: 1, 26: 1, 27: 0, 28: 2, 32: 2, 33: 1, 35: 1,
    37: 2, 42: 2, 43: 2, 44: 1, 45: 0, 46: 0, 47: 0,
}


def name(prefix="old"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def port(cluster):
    return int(cluster.bootstrap.split(",")[0].rsplit(":", 1)[1])


# ---- legacy message sets (magic 0/1), built from the format's spec ----

def message(offset, magic, key, value, ts=None, attrs=0):
    body = struct.pack(">bb", magic, attrs)
    if magic == 1:
        body += struct.pack(">q", ts if ts is not None else -1)
    body += kraw.kbytes(key) + kraw.kbytes(value)
    msg = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + body
    return struct.pack(">qi", offset, len(msg)) + msg


def message_set(magic, kvs, codec=None, ts=1_600_000_000_000):
    if codec is None:
        return b"".join(message(i, magic, k, v, ts + i if magic else None) for i, (k, v) in enumerate(kvs))
    inner = b"".join(message(i, magic, k, v, ts + i if magic else None) for i, (k, v) in enumerate(kvs))
    assert codec == "gzip"
    return message(len(kvs) - 1, magic, None, gzip.compress(inner), ts + len(kvs) - 1 if magic else None, attrs=1)


def parse_set(data, deep=True):
    """-> [(offset, magic, attributes, timestamp, key, value)]; a partial last message is dropped."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        off, size = struct.unpack_from(">qi", data, pos)
        if pos + 12 + size > len(data):
            break
        m = data[pos + 12:pos + 12 + size]
        crc, magic, attrs = struct.unpack_from(">Ibb", m, 0)
        assert zlib.crc32(m[4:]) & 0xFFFFFFFF == crc, "bad CRC at offset %d" % off
        r = kraw.Reader(m)
        r.pos = 6
        ts = r.take(">q") if magic == 1 else None
        key, value = r.bytes_(), r.bytes_()
        if attrs & 7 and deep:
            assert attrs & 7 == 1, "only gzip here"
            inner = parse_set(gzip.decompress(value))
            last = inner[-1][0]
            for (o, mg, a, t, k, v) in inner:
                out.append((off - last + o if magic == 1 else o, mg, a, t, k, v))
        else:
            out.append((off, magic, attrs, ts, key, value))
        pos += 12 + size
    return out


# ---- requests at old versions ----

def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def produce(conn, version, topic, records, partition=0, acks=1):
    body = struct.pack(">hi", acks, 10000) + arr([kraw.kstr(topic) + arr([struct.pack(">i", partition) + kraw.kbytes(records)])])
    r = conn.call(0, version, body)
    out = []
    for _ in range(r.take(">i")):
        t = r.string()
        for _ in range(r.take(">i")):
            p, err, base = r.take(">ihq")
            lat = r.take(">q") if version >= 2 else None
            out.append((t, p, err, base, lat))
    if version >= 1:
        assert r.take(">i") == 0  # throttle_time_ms
    assert r.pos == len(r.b)
    return out


def fetch(conn, version, topic, offset=0, partition=0, max_bytes=1 << 20, fetch_max=1 << 24):
    body = struct.pack(">iii", -1, 100, 1)
    if version >= 3:
        body += struct.pack(">i", fetch_max)
    body += arr([kraw.kstr(topic) + arr([struct.pack(">iqi", partition, offset, max_bytes)])])
    r = conn.call(1, version, body)
    if version >= 1:
        assert r.take(">i") == 0
    out = []
    for _ in range(r.take(">i")):
        t = r.string()
        for _ in range(r.take(">i")):
            p, err, hw = r.take(">ihq")
            out.append((t, p, err, hw, r.bytes_()))
    assert r.pos == len(r.b)
    return out


def create_topic(conn, topic, version=0, partitions=1):
    body = arr([kraw.kstr(topic) + struct.pack(">ih", partitions, 1) + arr([]) + arr([])]) + struct.pack(">i", 10000)
    if version >= 1:
        body += b"\x00"
    r = conn.call(19, version, body)
    out = []
    for _ in range(r.take(">i")):
        t, err = r.string(), r.take(">h")
        msg = r.string() if version >= 1 else None
        out.append((t, err, msg))
    assert r.pos == len(r.b)
    return out


def wait_leader(cluster, topic):
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "x"})
    deadline = time.time() + 20
    try:
        while time.time() < deadline:
            md = c.list_topics(topic, timeout=5)
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions and all(p.leader >= 0 for p in t.partitions.values()):
                return
            time.sleep(0.1)
    finally:
        c.close()
    raise AssertionError("no leader for %s" % topic)


def new_topic(cluster, conn, partitions=1):
    t = name()
    assert create_topic(conn, t, 0, partitions) == [(t, 0, None)]
    wait_leader(cluster, t)
    return t


@pytest.fixture
def conn(cluster):
    c = kraw.Conn(port(cluster))
    yield c
    c.close()


def test_api_versions_serve_every_kafka_25_version(conn):
    r = conn.call(18, 0, b"")
    assert r.take(">h") == 0
    got = {}
    for _ in range(r.take(">i")):
        k, lo, hi = r.take(">hhh")
        got[k] = (lo, hi)
    for key, hi in KAFKA_25_MAX.items():
        assert key in got, key
        assert got[key][0] == 0, (key, got[key])
        assert got[key][1] >= hi, (key, got[key])


def test_create_topics_v0_v1_and_delete_topics_v0(cluster, conn):
    t = name()
    assert create_topic(conn, t, 0) == [(t, 0, None)]
    (tt, err, msg) = create_topic(conn, t, 1)[0]
    assert (tt, err) == (t, 36) and "already exists" in msg  # TOPIC_ALREADY_EXISTS
    v = name()
    body = arr([kraw.kstr(v) + struct.pack(">ih", 2, 1) + arr([]) + arr([])]) + struct.pack(">i", 10000) + b"\x01"
    r = conn.call(19, 1, body)  # validate_only
    assert r.take(">i") == 1 and r.string() == v and r.take(">h") == 0
    wait_leader(cluster, t)
    r = conn.call(20, 0, arr([kraw.kstr(t), kraw.kstr(v)]) + struct.pack(">i", 10000))
    res = {}
    for _ in range(r.take(">i")):
        n = r.string()
        res[n] = r.take(">h")
    assert r.pos == len(r.b)
    assert res == {t: 0, v: 3}  # v was only validated: UNKNOWN_TOPIC_OR_PARTITION


def test_produce_v0_then_fetch_v0_returns_the_same_messages(cluster, conn):
    t = new_topic(cluster, conn)
    kvs = [(b"k%d" % i, b"value-%d" % i) for i in range(3)] + [(None, b"no key"), (b"no value", None)]
    assert produce(conn, 0, t, message_set(0, kvs)) == [(t, 0, 0, 0, None)]
    assert produce(conn, 1, t, message_set(0, kvs[:2], codec="gzip")) == [(t, 0, 0, 5, None)]
    [(tt, p, err, hw, data)] = fetch(conn, 0, t)
    assert (err, hw) == (0, 7)
    msgs = parse_set(data)
    assert [m[0] for m in msgs] == list(range(7))
    assert all(m[1] == 0 for m in msgs)
    assert [(m[4], m[5]) for m in msgs] == kvs + kvs[:2]
    # From the middle: an uncompressed stored batch drops the records before the fetch offset.
    [(_, _, err, _, data)] = fetch(conn, 1, t, offset=3)
    assert [m[0] for m in parse_set(data)][0] == 3


def test_magic1_produce_is_read_as_magic2_by_confluent_kafka(cluster, conn):
    t = new_topic(cluster, conn)
    kvs = [(b"a%d" % i, b"x%d" % i) for i in range(4)]
    ts = 1_700_000_000_000
    [(_, _, err, base, lat)] = produce(conn, 2, t, message_set(1, kvs, ts=ts))
    assert (err, base, lat) == (0, 0, -1)
    [(_, _, err, base, lat)] = produce(conn, 2, t, message_set(1, kvs, codec="gzip", ts=ts))
    assert (err, base, lat) == (0, 4, -1)
    [(_, _, err, base, _)] = produce(conn, 1, t, message_set(0, kvs, codec="gzip"))
    assert (err, base) == (0, 8)
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": name("g"), "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 0)])
    got, deadline = [], time.time() + 20
    while len(got) < 12 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None:
            assert m.error() is None, m.error()
            got.append(m)
    c.close()
    assert [(m.key(), m.value()) for m in got] == kvs * 3
    assert [m.offset() for m in got] == list(range(12))
    assert [m.timestamp()[1] for m in got[:8]] == [ts + i for i in range(4)] * 2
    assert all(m.timestamp()[1] == -1 or m.timestamp()[0] == 0 for m in got[8:])  # magic 0: no timestamp
    # The log holds magic-2 batches: a modern fetch (v4) sees magic 2 at byte 16.
    body = struct.pack(">iiiib", -1, 100, 1, 1 << 20, 0) + arr([kraw.kstr(t) + arr([struct.pack(">iqi", 0, 0, 1 << 20)])])
    r = conn.call(1, 4, body)
    r.take(">i")
    assert r.take(">i") == 1 and r.string() == t and r.take(">i") == 1
    r.take(">ihqq")
    r.take(">i")  # aborted: null
    data = r.bytes_()
    magics, pos = [], 0
    while pos + 17 <= len(data):
        magics.append(data[pos + 16])
        pos += 12 + struct.unpack_from(">i", data, pos + 8)[0]
    assert magics and set(magics) == {2}


def test_modern_produce_is_down_converted_for_fetch_v0_and_v2(cluster, conn):
    t = new_topic(cluster, conn)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "compression.type": "gzip", "linger.ms": 50})
    for i in range(10):
        p.produce(t, key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"dropped")], timestamp=1_650_000_000_000 + i)
    assert p.flush(15) == 0
    p2 = Producer({"bootstrap.servers": cluster.bootstrap})
    p2.produce(t, key=b"plain", value=b"uncompressed", timestamp=1_650_000_000_100)
    assert p2.flush(15) == 0
    want = [(b"k%d" % i, b"v%d" % i) for i in range(10)] + [(b"plain", b"uncompressed")]
    for version, magic in ((0, 0), (1, 0), (2, 1), (3, 1)):
        [(_, _, err, hw, data)] = fetch(conn, version, t)
        assert (err, hw) == (0, 11), version
        msgs = parse_set(data)
        assert [(m[4], m[5]) for m in msgs] == want, version
        assert [m[0] for m in msgs] == list(range(11))
        assert {m[1] for m in msgs} == {magic}
        if magic == 1:
            assert [m[3] for m in msgs] == [1_650_000_000_000 + i for i in range(10)] + [1_650_000_000_100]
        shallow = parse_set(data, deep=False)
        assert shallow[0][2] & 7 == 1  # the gzip batch is one gzip wrapper
    # v0-2: partition_max_bytes is a hard limit (the set is cut there); v3 keeps one message.
    [(_, _, err, _, data)] = fetch(conn, 0, t, offset=10, max_bytes=20)
    assert err == 0 and len(data) == 20 and parse_set(data) == []
    [(_, _, err, _, data)] = fetch(conn, 3, t, offset=10, max_bytes=20)
    assert err == 0 and [(m[4], m[5]) for m in parse_set(data)] == [(b"plain", b"uncompressed")]


def test_log_append_time_topic_stamps_legacy_produce(cluster, conn):
    t = name()
    body = arr([kraw.kstr(t) + struct.pack(">ih", 1, 1) + arr([]) + arr([kraw.kstr("message.timestamp.type") + kraw.kstr("LogAppendTime")])])
    r = conn.call(19, 0, body + struct.pack(">i", 10000))
    assert r.take(">i") == 1 and r.string() == t and r.take(">h") == 0
    wait_leader(cluster, t)
    [(_, _, err, base, lat)] = produce(conn, 2, t, message_set(1, [(b"k", b"v"), (b"k2", b"v2")], codec="gzip", ts=5))
    assert err == 0 and base == 0 and lat > 1_600_000_000_000
    [(_, _, err, _, data)] = fetch(conn, 2, t)
    shallow = parse_set(data, deep=False)
    assert len(shallow) == 1 and shallow[0][2] == 0x08 | 1 and shallow[0][3] == lat  # LogAppendTime bit, gzip
    assert [(m[3], m[5]) for m in parse_set(data)] == [(lat, b"v"), (lat, b"v2")]


def test_zstd_topic_refuses_old_fetches(cluster, conn):
    t = name()
    body = arr([kraw.kstr(t) + struct.pack(">ih", 1, 1) + arr([]) + arr([kraw.kstr("compression.type") + kraw.kstr("zstd")])])
    r = conn.call(19, 0, body + struct.pack(">i", 10000))
    assert r.take(">i") == 1 and r.string() == t and r.take(">h") == 0
    wait_leader(cluster, t)
    assert produce(conn, 0, t, message_set(0, [(b"k", b"v")]))[0][2:4] == (0, 0)  # stored as zstd
    [(_, _, err, hw, data)] = fetch(conn, 0, t)
    assert (err, hw, data) == (76, -1, b"") or (err, data) == (76, b"")  # UNSUPPORTED_COMPRESSION_TYPE
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": name("g")})
    c.assign([TopicPartition(t, 0, 0)])
    m, deadline = None, time.time() + 20
    while m is None and time.time() < deadline:
        m = c.poll(0.5)
    c.close()
    assert m is not None and m.error() is None and m.value() == b"v"


def test_legacy_sets_are_refused_as_kafka_25_refuses_them(cluster, conn):
    t = new_topic(cluster, conn)
    good = message_set(1, [(b"k", b"v")])
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    assert produce(conn, 2, t, bytes(bad_crc))[0][2] == 2  # CORRUPT_MESSAGE
    two_wrappers = message_set(1, [(b"k", b"v")], codec="gzip") * 2
    assert produce(conn, 2, t, two_wrappers)[0][2] == 87  # INVALID_RECORD
    lat = message(0, 1, b"k", b"v", ts=5, attrs=0x08)
    assert produce(conn, 2, t, lat)[0][2] == 32  # INVALID_TIMESTAMP
    assert produce(conn, 1, t, good[:-3])[0][2] == 2  # truncated
    hostile = struct.pack(">qi", 0, 0x7FFFFFF0) + good[12:]
    assert produce(conn, 0, t, hostile)[0][2] == 2
    # Produce v3 with a legacy set: INVALID_RECORD, as 2.5's ProduceRequest.validateRecords.
    body = kraw.kstr(None) + struct.pack(">hi", 1, 10000) + arr([kraw.kstr(t) + arr([struct.pack(">i", 0) + kraw.kbytes(good)])])
    r = conn.call(0, 3, body)
    assert r.take(">i") == 1 and r.string() == t and r.take(">i") == 1
    assert r.take(">ihq")[1] == 87
    # Nothing of it reached the log; the connection still works.
    [(_, _, err, hw, _)] = fetch(conn, 0, t)
    assert (err, hw) == (0, 0)
    # A magic-2 batch is accepted at v0 too.
    assert produce(conn, 0, t, kraw.record_batch([b"modern"]))[0][2:4] == (0, 0)


def test_list_offsets_v0(cluster, conn):
    t = new_topic(cluster, conn)
    assert produce(conn, 0, t, message_set(0, [(None, b"%d" % i) for i in range(5)]))[0][2] == 0

    def list_offsets(ts, max_n):
        body = struct.pack(">i", -1) + arr([kraw.kstr(t) + arr([struct.pack(">iqi", 0, ts, max_n)])])
        r = conn.call(2, 0, body)
        assert r.take(">i") == 1 and r.string() == t and r.take(">i") == 1
        p, err = r.take(">ih")
        offs = [r.take(">q") for _ in range(r.take(">i"))]
        assert r.pos == len(r.b)
        return err, offs

    assert list_offsets(-1, 10) == (0, [5, 0])
    assert list_offsets(-1, 1) == (0, [5])
    assert list_offsets(-2, 1) == (0, [0])
    # A timestamp: the segments not modified after it (2.5's legacyFetchOffsetsBefore).
    assert list_offsets(int(time.time() * 1000) + 3_600_000, 10) == (0, [5, 0])
    assert list_offsets(1, 10) == (0, [])
    body = struct.pack(">i", -1) + arr([kraw.kstr("no-such-" + t) + arr([struct.pack(">iqi", 0, -1, 1)])])
    r = conn.call(2, 0, body)
    r.take(">i"), r.string(), r.take(">i")
    assert r.take(">ih")[1] == 3


def offset_fetch(conn, version, group, topic):
    r = conn.call(9, version, kraw.kstr(group) + arr([kraw.kstr(topic) + arr([struct.pack(">i", 0)])]))
    assert r.take(">i") == 1 and r.string() == topic and r.take(">i") == 1
    p, off = r.take(">iq")
    md, err = r.string(), r.take(">h")
    assert r.pos == len(r.b)
    return off, md, err


def test_offset_commit_v0_v1_and_offset_fetch_v0(cluster, conn):
    t = new_topic(cluster, conn)
    g = name("g")
    deadline = time.time() + 30  # the first FindCoordinator creates __consumer_offsets
    while kraw.find_coordinator(conn, g)[0] != 0:
        assert time.time() < deadline, "no group coordinator"
        time.sleep(0.2)
    assert offset_fetch(conn, 0, g, t) == (-1, "", 3)  # nothing stored yet
    body = kraw.kstr(g) + arr([kraw.kstr(t) + arr([struct.pack(">iq", 0, 42) + kraw.kstr("md")])])
    r = conn.call(8, 0, body)
    assert r.take(">i") == 1 and r.string() == t and r.take(">i") == 1 and r.take(">ih") == (0, 0)
    # v0 lives in ZooKeeper, as in Kafka 2.5: OffsetFetch v0 sees it, v1 (the coordinator) does not.
    assert offset_fetch(conn, 0, g, t)[::2] == (42, 0)
    assert offset_fetch(conn, 1, g, t)[0] == -1
    # v1: a simple (generation -1) commit to the coordinator, with a timestamp.
    stamp = 1_234_567_890_123
    body = kraw.kstr(g) + struct.pack(">i", -1) + kraw.kstr("") + arr([kraw.kstr(t) + arr([struct.pack(">iqq", 0, 7, stamp) + kraw.kstr("m1")])])
    r = conn.call(8, 1, body)
    assert r.take(">i") == 1 and r.string() == t and r.take(">i") == 1 and r.take(">ih") == (0, 0)
    assert offset_fetch(conn, 1, g, t) == (7, "m1", 0)
    # The commit record in __consumer_offsets carries the client's commit timestamp (read with
    # Fetch v0, i.e. down-converted too).
    body = struct.pack(">iii", -1, 0, 0) + arr([kraw.kstr("__consumer_offsets") + arr([struct.pack(">iqi", p, 0, 1 << 20) for p in range(50)])])
    r = conn.call(1, 0, body)
    values = []
    for _ in range(r.take(">i")):
        r.string()
        for _ in range(r.take(">i")):
            r.take(">ihq")
            values += [m[5] or b"" for m in parse_set(r.bytes_())]
    assert any(struct.pack(">q", stamp) in v and b"m1" in v for v in values)
    assert offset_fetch(conn, 0, g, t)[::2] == (42, 0)
    # Unknown partition.
    body = kraw.kstr(g) + arr([kraw.kstr(t) + arr([struct.pack(">iq", 9, 1) + kraw.kstr("")])])
    r = conn.call(8, 0, body)
    r.take(">i"), r.string(), r.take(">i")
    assert r.take(">ih") == (9, 3)


def test_offset_for_leader_epoch_v0_v1(cluster, conn):
    t = new_topic(cluster, conn)
    assert produce(conn, 0, t, message_set(0, [(None, b"x")] * 3))[0][2] == 0
    for version in (0, 1):
        r = conn.call(23, version, arr([kraw.kstr(t) + arr([struct.pack(">ii", 0, 0)])]))
        assert r.take(">i") == 1 and r.string() == t and r.take(">i") == 1
        err, p = r.take(">hi")
        epoch = r.take(">i") if version == 1 else None
        end = r.take(">q")
        assert r.pos == len(r.b)
        assert (err, p, end) == (0, 0, 3)
        if version == 1:
            assert epoch == 0


def test_describe_configs_v0(cluster, conn):
    t = new_topic(cluster, conn)
    body = arr([struct.pack(">b", 2) + kraw.kstr(t) + arr([kraw.kstr("cleanup.policy"), kraw.kstr("retention.ms")])])
    r = conn.call(32, 0, body)
    assert r.take(">i") == 0
    assert r.take(">i") == 1
    err, msg, rtype, rname = r.take(">h"), r.string(), r.take(">b"), r.string()
    assert (err, rtype, rname) == (0, 2, t)
    got = {}
    for _ in range(r.take(">i")):
        n, v = r.string(), r.string()
        ro, dflt, sens = r.take(">bbb")
        got[n] = (v, dflt)
    assert r.pos == len(r.b)
    assert got == {"cleanup.policy": ("delete", 1), "retention.ms": ("604800000", 1)}


@pytest.mark.parametrize("api_version", [(0, 10), (0, 9)])
def test_kafka_python_old_api_versions_with_a_group(cluster, conn, api_version):
    from kafka import KafkaConsumer, KafkaProducer

    t = new_topic(cluster, conn, partitions=2)
    for codec in (None, "gzip"):  # magic 0 (0.9) or 1 (0.10) messages, plain and in gzip wrappers
        p = KafkaProducer(bootstrap_servers=cluster.bootstrap, api_version=api_version, acks=1, enable_idempotence=False,
                          compression_type=codec)
        futs = [p.send(t, key=b"k%d" % i, value=b"v%d-%s" % (i, str(codec).encode())) for i in range(15)]
        for f in futs:
            assert f.get(timeout=15).offset >= 0
        p.close()
    c = KafkaConsumer(t, bootstrap_servers=cluster.bootstrap, api_version=api_version, group_id=name("kpg"),
                      auto_offset_reset="earliest", consumer_timeout_ms=15000, enable_auto_commit=False)
    seen = []
    for m in c:
        seen.append(m.value)
        if len(seen) == 30:
            break
    if api_version >= (0, 9):
        c.commit()
    c.close()
    assert sorted(seen) == sorted(b"v%d-%s" % (i, c) for i in range(15) for c in (b"None", b"gzip"))


# ---- sarama (Go) ----

GO_ENV = {"GOPATH": "/usr/share/gocode", "GO111MODULE": "off", "GOFLAGS": "", "CGO_ENABLED": "1"}


@pytest.fixture(scope="module")
def sarama_client(tmp_path_factory):
    go = shutil.which("go")
    if go is None or not os.path.isdir("/usr/share/gocode/src/github.com/Shopify/sarama"):
        pytest.skip("sarama test needs Debian's golang-go and golang-github-shopify-sarama-dev (tests/broker/install-deps.sh)")
    out = tmp_path_factory.mktemp("sarama") / "sarama-client"
    src = os.path.join(os.path.dirname(__file__), "sarama")
    env = dict(os.environ, GOCACHE=str(tmp_path_factory.mktemp("gocache")), **GO_ENV)
    r = subprocess.run([go, "build", "-o", str(out), "."], cwd=src, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "go build of tests/broker/sarama failed:\n" + r.stderr[-3000:]
    return str(out)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("version,group,codec", [
    ("", "", "none"), ("", "", "gzip"), ("", "", "snappy"),  # default V0_8_2_0: Produce/Fetch v0, magic 0
    ("0.10.0.0", "", "lz4"),  # Produce v2 / Fetch v2, magic 1 LZ4 wrappers
    ("2.2.0", "yes", "none"), ("2.2.0", "yes", "gzip"),  # sarama's newest: magic 2, a consumer group
])
def test_sarama(cluster, conn, sarama_client, version, group, codec):
    t = new_topic(cluster, conn, partitions=2)
    args = [sarama_client, "-broker", cluster.bootstrap, "-topic", t, "-n", "25", "-codec", codec]
    if version:
        args += ["-version", version]
    if group:
        args += ["-group", name("sg")]
    r = subprocess.run(args, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    recs = [l.split() for l in r.stdout.splitlines() if l.startswith("REC ")]
    values = [x[4] for x in recs]
    assert sorted(set(values)) == sorted("v%d" % i for i in range(25))
    assert len(values) == 25, "a record was seen twice: %s" % sorted(values)
    assert all(x[3] == "k" + x[4][1:] for x in recs)
    assert "DONE 25" in r.stdout
