"""Damaged broker files: nothing damaged is served, nothing is dropped silently.

One broker, small segments, records with known values and timestamps, stopped cleanly;
then one kind of file is damaged and the broker started again:
- an older segment cut short: the log names the file, its offsets answer
  KAFKA_STORAGE_ERROR (a consumer stops there instead of skipping to the next segment), the
  high watermark and the file stay as they were;
- flipped bytes in older segments (in a batch's records, and on a batch's magic byte): no
  consumer gets them, the log names the file and byte, the batches after them are served;
- garbage `.index` / `.timeindex`: rebuilt with a warning naming the file; reads and
  timestamp lookups are right;
- each garbage checkpoint (recovery points, log start offsets, high watermarks, leader
  epochs, producer snapshot): a warning naming the file, nothing lost;
- a garbage `meta.properties`: the broker refuses to start, naming the file.
Three brokers: a leader whose older segment is damaged hands leadership to an in-sync
replica when the damage is found, consumers get every record from it, and the damaged
replica fetches the data again; a follower's damage is found by the background scrub and
fetched again. Two log dirs: a dir that fails goes offline (log, DescribeLogDirs,
KAFKA_STORAGE_ERROR) while the other keeps working; when both have failed the broker stops."""

import glob
import os
import shutil
import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.record.util import calc_crc32c

from lib.kraw import Conn, array, idempotent_batch, kstr, produce
from test_replication import FAST, create, describe, wait_until

KAFKA_STORAGE_ERROR = 56
N = 3000
# Record timestamps: recent (older ones would be deleted by retention), 10 ms apart.
T0 = int(time.time() * 1000) - 600_000


def value(i):
    return (b"rec-%06d-" % i).ljust(100, b"x")


def make_log(fresh_cluster, topic, **overrides):
    """A broker holding N records of `topic` (one partition) in several small segments,
    stopped cleanly. Returns (cluster, broker, partition dir, segment paths)."""
    c = fresh_cluster(1, log_segment_bytes=40000, **overrides)
    b = c.brokers[0]
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(topic, 1, 1)], operation_timeout=10)[topic].result(15)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5, "batch.num.messages": 50})
    acked = []
    for i in range(N):
        p.produce(topic, value(i), partition=0, timestamp=T0 + 10 * i, on_delivery=lambda e, m: acked.append(m.offset()) if e is None else None)
    assert p.flush(30) == 0 and len(acked) == N
    b.stop()
    d = os.path.join(b.logdir, topic + "-0")
    segs = sorted(glob.glob(os.path.join(d, "*.log")))
    assert len(segs) >= 4, segs
    return c, b, d, segs


def batches(path):
    """[(position, base offset, last offset, size, valid)] of a segment file, up to where
    its framing ends."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        total = 12 + length
        if length < 49 or pos + total > len(data):
            break
        (crc,) = struct.unpack_from(">I", data, pos + 17)
        (lod,) = struct.unpack_from(">i", data, pos + 23)
        ok = data[pos + 16] == 2 and calc_crc32c(data[pos + 21:pos + total]) == crc
        out.append((pos, base, base + lod, total, ok))
        pos += total
    return out


def flip(path, at, n=1):
    with open(path, "r+b") as f:
        f.seek(at)
        b = bytearray(f.read(n))
        for i in range(len(b)):
            b[i] ^= 0xA5
        f.seek(at)
        f.write(bytes(b))


def varint(b, pos):
    shift = v = 0
    while True:
        x = b[pos]
        pos += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return (v >> 1) ^ -(v & 1), pos


def records(data):
    """[(offset, value)] of the whole uncompressed batches in a fetch response's records."""
    out, pos = [], 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        total = 12 + length
        if pos + total > len(data):
            break
        (crc,) = struct.unpack_from(">I", data, pos + 17)
        assert data[pos + 16] == 2 and calc_crc32c(data[pos + 21:pos + total]) == crc, "garbage served at offset %d" % base
        r = pos + 61
        while r < pos + total:
            _ln, r = varint(data, r)
            r += 1  # attributes
            _td, r = varint(data, r)
            od, r = varint(data, r)
            kl, r = varint(data, r)
            r += max(kl, 0)
            vl, r = varint(data, r)
            out.append((base + od, data[r:r + vl]))
            r += vl
            hc, r = varint(data, r)
            assert hc == 0
        pos += total
    return out


def fetch(port, topic, offset, max_bytes=1 << 20):
    """Fetch v4 of partition 0 -> (error, high watermark, [(offset, value)])."""
    conn = Conn(port)
    try:
        body = struct.pack(">iiiib", -1, 100, 1, max_bytes, 0)
        body += array([kstr(topic) + array([struct.pack(">iqi", 0, offset, max_bytes)])])
        r = conn.call(1, 4, body)
        r.take(">i")  # throttle
        assert r.take(">i") == 1
        r.string()
        assert r.take(">i") == 1
        _p, err, hw, _lso = r.take(">ihqq")
        n = r.take(">i")
        r.pos += 16 * max(n, 0)
        data = r.bytes_() or b""
        return err, hw, records(data)
    finally:
        conn.close()


def consume(bootstrap, topic, seconds, until=None):
    """{offset: value} a consumer gets from offset 0 within `seconds` (or once it has
    `until`), plus the errors it saw."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "corruption-check", "enable.auto.commit": False, "check.crcs": True, "fetch.error.backoff.ms": 100})
    c.assign([TopicPartition(topic, 0, 0)])
    got, errors = {}, []
    deadline = time.time() + seconds
    while time.time() < deadline and (until is None or len(got) < until):
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            errors.append(str(m.error()))
            continue
        got[m.offset()] = m.value()
    c.close()
    return got, errors


def high_watermark(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "corruption-hw"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def assert_values(got):
    bad = [o for o, v in got.items() if v != value(o)]
    assert not bad, "wrong values at offsets %s" % bad[:5]


def test_cut_older_segment_is_reported_not_skipped(fresh_cluster):
    t = "cut"
    c, b, d, segs = make_log(fresh_cluster, t)
    victim = segs[1]
    size = os.path.getsize(victim)
    cut = size // 2
    whole = [x for x in batches(victim) if x[0] + x[3] <= cut]
    first_lost = whole[-1][2] + 1
    next_base = int(os.path.basename(segs[2])[:-4])
    with open(victim, "r+b") as f:
        f.truncate(cut)
    mark = len(b.output())
    b.start()
    out = b.output()[mark:]
    assert victim in out and "damaged or cut short" in out, out[-3000:]
    assert "offsets %d to %d are unreadable" % (first_lost, next_base - 1) in out, out[-3000:]
    assert high_watermark(b.bootstrap, t) == N, "the high watermark stays"
    assert os.path.getsize(victim) == cut, "nothing is cut from an older segment"
    err, hw, _ = fetch(b.port, t, first_lost)
    assert (err, hw) == (KAFKA_STORAGE_ERROR, N)
    err, _, recs = fetch(b.port, t, next_base)
    assert err == 0 and recs[0][0] == next_base
    got, errors = consume(b.bootstrap, t, 8)
    assert sorted(got) == list(range(first_lost)), "a consumer stops at the damage (got %d..%d)" % (min(got), max(got))
    assert_values(got)
    assert not [e for e in errors if "CRC" in e or "Magic" in e], errors


def test_flipped_bytes_are_never_served(fresh_cluster):
    t = "flipped"
    c, b, d, segs = make_log(fresh_cluster, t)
    one = batches(segs[1])
    pos1, base1, last1, size1, _ = one[len(one) // 2]
    flip(segs[1], pos1 + 61 + 7)  # inside the records: the CRC no longer matches
    two = batches(segs[2])
    pos2, base2, last2, _, _ = two[len(two) // 3]
    flip(segs[2], pos2 + 16)  # the magic byte: clients would fail on "MagicByte"
    mark = len(b.output())
    b.start()
    got, errors = consume(b.bootstrap, t, 8)
    assert sorted(got) == list(range(base1)), "served up to the first damaged batch only"
    assert_values(got)
    assert not [e for e in errors if "CRC" in e or "Magic" in e or "Corrupt" in e], errors
    out = b.output()[mark:]
    assert "%s: damaged data at byte %d" % (segs[1], pos1) in out and "CRC mismatch" in out, out[-3000:]
    err, _, _ = fetch(b.port, t, base1)
    assert err == KAFKA_STORAGE_ERROR
    # The batches after a damaged one are served (its length still leads to them).
    err, _, recs = fetch(b.port, t, last1 + 1)
    assert err == 0 and recs and recs[0][0] == last1 + 1
    assert_values(dict(recs))
    err, _, _ = fetch(b.port, t, base2)
    assert err == KAFKA_STORAGE_ERROR
    assert "%s: damaged data at byte %d" % (segs[2], pos2) in b.output()
    err, _, recs = fetch(b.port, t, last2 + 1)
    assert err == 0 and recs[0][0] == last2 + 1


def test_garbage_indexes_are_rebuilt(fresh_cluster):
    t = "indexes"
    c, b, d, segs = make_log(fresh_cluster, t)
    noise = lambda n: bytes((i * 131 + 17) % 251 for i in range(n))
    damaged = {
        segs[0][:-4] + ".index": noise(80),  # whole entries, wrong ones
        segs[1][:-4] + ".index": noise(77),  # not a whole number of entries
        segs[1][:-4] + ".timeindex": noise(120),
        segs[2][:-4] + ".timeindex": noise(13),
    }
    for path, data in damaged.items():
        with open(path, "wb") as f:
            f.write(data)
    mark = len(b.output())
    b.start()
    out = b.output()[mark:]
    for path in damaged:
        assert "index file %s is damaged" % path in out, (path, out[-3000:])
    got, errors = consume(b.bootstrap, t, 30, until=N)
    assert sorted(got) == list(range(N))
    assert_values(got)
    cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "times"})
    try:
        for k in (0, 777, 1500, N - 1):
            tp = cons.offsets_for_times([TopicPartition(t, 0, T0 + 10 * k)], timeout=10)[0]
            assert tp.offset == k, (k, tp)
    finally:
        cons.close()


CHECKPOINTS = [
    "recovery-point-offset-checkpoint",
    "log-start-offset-checkpoint",
    "replication-offset-checkpoint",
    "leader-epoch-checkpoint",
    "snapshot",
]


@pytest.mark.parametrize("which", CHECKPOINTS)
def test_garbage_checkpoint_is_recovered_from(fresh_cluster, which):
    t = "cp-" + which.split("-")[0]
    c, b, d, segs = make_log(fresh_cluster, t)
    if which == "leader-epoch-checkpoint":
        path = os.path.join(d, which)
        expect = "leader epoch checkpoint %s is damaged" % path
    elif which == "snapshot":
        snaps = sorted(glob.glob(os.path.join(d, "*.snapshot")))
        assert snaps
        path = snaps[-1]
        expect = "ignoring damaged producer snapshot %s" % path
    else:
        path = os.path.join(b.logdir, which)
        expect = "Error occurred while reading checkpoint file %s" % path
    assert os.path.exists(path)
    with open(path, "wb") as f:
        f.write(b"0\n7\n\x00\xff\xfe garbage \x01 -3 4\n")
    mark = len(b.output())
    b.start()
    out = b.output()[mark:]
    assert expect in out, out[-3000:]
    got, _ = consume(b.bootstrap, t, 30, until=N)
    assert sorted(got) == list(range(N))
    assert_values(got)
    assert high_watermark(b.bootstrap, t) == N
    if which == "leader-epoch-checkpoint":
        assert open(path).read() == "0\n1\n0 0\n", "rebuilt from the batches"
    conn = Conn(b.port)
    try:
        assert produce(conn, t, 0, idempotent_batch([b"after"], -1, -1, -1)) == (0, N)
    finally:
        conn.close()
    b.stop()
    mark = len(b.output())
    b.start()
    assert expect not in b.output()[mark:], "written back whole"


def test_garbage_meta_properties_refuses_to_start(fresh_cluster):
    c = fresh_cluster(1)
    b = c.brokers[0]
    b.stop()
    meta = os.path.join(b.logdir, "meta.properties")
    with open(meta, "wb") as f:
        f.write(b"\x00\x13\x37 not properties \xff\n==\n")
    with pytest.raises(RuntimeError) as e:
        b.start(timeout=15)
    msg = str(e.value)
    assert "Failed to read meta.properties file under dir %s" % meta in msg and "version" in msg, msg
    with open(meta, "rb") as f:
        assert f.read().startswith(b"\x00\x13\x37"), "left as it was"


def leader_of(c, t):
    d = describe(c, t)
    return d[0][0] if 0 in d else -1


@pytest.mark.timeout(240)
def test_damaged_leader_hands_over_and_heals(fresh_cluster):
    # The scrub is off so that the damage is found by a read while broker 0 leads again.
    c = fresh_cluster(3, log_segment_bytes=40000, log_scrub_bytes_per_second=0, **FAST)
    t = "heal"
    create(c, t, partitions=1, assignment=[[0, 1, 2]])
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 5, "batch.num.messages": 50})
    for i in range(N):
        p.produce(t, value(i), partition=0, timestamp=T0 + 10 * i)
    assert p.flush(30) == 0
    b0 = c.brokers[0]
    b0.stop()
    wait_until(lambda: leader_of(c, t) in (1, 2), 30, "leadership to move off broker 0")
    d0 = os.path.join(b0.logdir, t + "-0")
    segs = sorted(glob.glob(os.path.join(d0, "*.log")))
    one = batches(segs[1])
    pos, base, last, _, _ = one[len(one) // 2]
    flip(segs[1], pos + 61 + 9)
    mark = len(b0.output())
    b0.start()
    # Broker 0 catches up (nothing new), rejoins the ISR and is preferred leader again.
    wait_until(lambda: leader_of(c, t) == 0, 60, "broker 0 to lead again")
    got, errors = consume(c.bootstrap, t, 60, until=N)
    assert sorted(got) == list(range(N)), "every record, from the replica that took over"
    assert_values(got)
    assert not [e for e in errors if "CRC" in e or "Magic" in e or "Corrupt" in e], errors
    out = b0.output()[mark:]
    assert "%s: damaged data at byte %d" % (segs[1], pos) in out, out[-3000:]
    assert "handing leadership to broker" in out, out[-3000:]
    wait_until(lambda: "fetching the damaged data from offset %d" % base in b0.output()[mark:], 30, "broker 0 to fetch the damage again")
    wait_until(lambda: describe(c, t)[0][2] == [0, 1, 2], 60, "broker 0 back in the ISR")
    # Its files are whole again.
    for path in sorted(glob.glob(os.path.join(d0, "*.log"))):
        assert all(ok for *_, ok in batches(path)), path
    end = max(x[2] for path in glob.glob(os.path.join(d0, "*.log")) for x in batches(path))
    assert end == N - 1


@pytest.mark.timeout(240)
def test_damaged_follower_is_found_by_the_scrub_and_heals(fresh_cluster):
    c = fresh_cluster(3, log_segment_bytes=40000, **FAST)
    t = "scrub"
    create(c, t, partitions=1, assignment=[[0, 1, 2]])
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 5, "batch.num.messages": 50})
    for i in range(N):
        p.produce(t, value(i), partition=0)
    assert p.flush(30) == 0
    b2 = c.brokers[2]
    b2.stop()
    d2 = os.path.join(b2.logdir, t + "-0")
    segs = sorted(glob.glob(os.path.join(d2, "*.log")))
    one = batches(segs[1])
    pos, base, _, _, _ = one[len(one) // 2]
    flip(segs[1], pos + 61 + 11)  # only a check of the CRCs can tell
    mark = len(b2.output())
    b2.start()
    wait_until(lambda: "fetching the damaged data from offset %d" % base in b2.output()[mark:], 30, "broker 2 to fetch the damage again")
    wait_until(lambda: describe(c, t)[0][2] == [0, 1, 2], 60, "broker 2 back in the ISR")
    assert "%s: damaged data at byte %d" % (segs[1], pos) in b2.output()[mark:]
    offsets = []
    for path in sorted(glob.glob(os.path.join(d2, "*.log"))):
        bs = batches(path)
        assert all(ok for *_, ok in bs), path
        offsets += [(x[1], x[2]) for x in bs]
    assert offsets[0][0] == 0 and offsets[-1][1] == N - 1
    assert all(a[1] + 1 == b[0] for a, b in zip(offsets, offsets[1:])), "no gap left"


def describe_log_dirs(port):
    """DescribeLogDirs v1, every dir -> {dir: (error, [(topic, partition)])}."""
    conn = Conn(port)
    try:
        r = conn.call(35, 1, struct.pack(">i", -1))
        r.take(">i")
        out = {}
        for _ in range(r.take(">i")):
            err = r.take(">h")
            path = r.string()
            parts = []
            for _ in range(r.take(">i")):
                topic = r.string()
                for _ in range(r.take(">i")):
                    p, _size, _lag, _fut = r.take(">iqqb")
                    parts.append((topic, p))
            out[path] = (err, parts)
        return out
    finally:
        conn.close()


@pytest.mark.timeout(120)
def test_a_failed_log_dir_goes_offline(fresh_cluster):
    c = fresh_cluster(1)
    b = c.brokers[0]
    b.stop()
    da, db = b.logdir + "-a", b.logdir + "-b"
    b.props["log.dirs"] = "%s,%s" % (da, db)
    b.start()
    t = "twodirs"
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(t, 2, 1)], operation_timeout=10)[t].result(15)
    conn = Conn(b.port)
    try:
        wait_until(lambda: all(produce(conn, t, p, idempotent_batch([b"v"], -1, -1, -1))[0] == 0 for p in (0, 1)), 20, "both partitions")
        dirs = describe_log_dirs(b.port)
        where = {p: dd for dd, (_, parts) in dirs.items() for (tt, p) in parts if tt == t}
        assert sorted(where) == [0, 1] and where[0] != where[1], dirs
        failed = where[1]
        # As Kafka's LogDirFailureTest: the dir is replaced by a file.
        shutil.rmtree(failed)
        open(failed, "w").close()
        wait_until(lambda: "Stopping serving replicas in dir %s" % failed in b.output(), 20, "the dir to go offline")
        dirs = describe_log_dirs(b.port)
        assert dirs[failed] == (KAFKA_STORAGE_ERROR, []), dirs
        assert dirs[where[0]][0] == 0
        assert produce(conn, t, 1, idempotent_batch([b"w"], -1, -1, -1))[0] == KAFKA_STORAGE_ERROR
        assert produce(conn, t, 0, idempotent_batch([b"w"], -1, -1, -1))[0] == 0
        assert b.proc.poll() is None
        # The last dir fails too: the broker stops (Kafka halts).
        other = where[0]
        shutil.rmtree(other)
        open(other, "w").close()
        wait_until(lambda: b.proc.poll() is not None, 30, "the broker to stop")
        assert b.proc.returncode != 0
        assert "Shutdown broker because all log dirs in" in b.output()
    finally:
        conn.close()
