"""A full disk under log.dirs: no acknowledged record is ever lost.

The broker's log dir is a small tmpfs (8 MiB) with a filler file. Producers with acks=all
write until the disk is full (the broker answers KAFKA_STORAGE_ERROR and keeps nothing of
the failed writes), the filler is deleted, more writes are acknowledged without a restart,
then the broker is stopped (SIGTERM, or kill -9), restarted, and everything is consumed:
every acknowledged record must be there. Needs root (mount -t tmpfs); skipped otherwise."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lib.kafka import Cluster
from lib.kraw import Conn, idempotent_batch, produce

KAFKA_STORAGE_ERROR = 56
MiB = 1 << 20


@pytest.fixture
def small_disk():
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tempfile.mkdtemp(prefix="kafka-disk-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True)
    clusters = []
    try:
        yield mnt, clusters
    finally:
        for c in clusters:
            c.close()
        if subprocess.run(["umount", mnt]).returncode != 0:
            subprocess.run(["umount", "-l", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def fill(path, leave):
    """A filler file taking all but `leave` bytes of the filesystem."""
    st = os.statvfs(os.path.dirname(path))
    free = st.f_bavail * st.f_frsize
    with open(path, "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


def values(tag, first, n, size=200):
    return [(b"%s-%06d-" % (tag, first + i)).ljust(size, b".") for i in range(n)]


def raw_round(conn, topic, vals):
    """One acks=all produce of one batch; returns the error code."""
    err, _base = produce(conn, topic, 0, idempotent_batch(vals, -1, -1, -1), acks=-1)
    return err


def confluent_round(bootstrap, topic, vals, timeout_ms):
    """Produces `vals` with confluent-kafka (acks=all); returns (acknowledged, failed)."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": timeout_ms, "retry.backoff.ms": 100})
    acked, failed = [], []
    for v in vals:
        while True:
            try:
                p.produce(topic, v, partition=0, on_delivery=lambda e, m: (failed if e else acked).append(m.value()))
                break
            except BufferError:
                p.poll(0.1)
    p.flush(timeout_ms / 1000 + 30)
    return acked, failed


def consume_all(bootstrap, topic, end):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "disk-full-check", "enable.auto.commit": False, "fetch.error.backoff.ms": 100})
    c.assign([TopicPartition(topic, 0, 0)])
    out = {}
    deadline = time.time() + 60
    while time.time() < deadline and (not out or max(out) < end - 1):
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            out[m.offset()] = m.value()
    c.close()
    return out


def high_watermark(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "disk-full-hw"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "stop,segment",
    [
        # The disk fills in the middle of a segment and the writes after it go on in it (the
        # case where a torn write used to make the next recovery cut acknowledged records).
        ("sigterm", 4 * MiB),
        ("kill9", 4 * MiB),
        # Small segments: rolls (new files, producer snapshots) while the disk is full.
        ("kill9", 256 * 1024),
    ],
)
def test_full_disk_loses_no_acknowledged_record(small_disk, stop, segment):
    mnt, clusters = small_disk
    logdir = os.path.join(mnt, "logs")
    c = Cluster(1, log_dirs=logdir, log_segment_bytes=segment)
    clusters.append(c)
    b = c.brokers[0]
    t = "full-%s-%d" % (stop, segment)
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(t, 1, 1)], operation_timeout=10)[t].result(15)
    filler = os.path.join(mnt, "filler")
    fill(filler, 2 * MiB)

    acked = []
    refused = []
    errors = 0
    conn = Conn(b.port)
    try:
        # Until the disk is full, and on for a while after it.
        for i in range(2000):
            vals = values(b"raw", i * 40, 40)
            err = raw_round(conn, t, vals)
            if err == 0:
                acked += vals
            else:
                assert err == KAFKA_STORAGE_ERROR, err
                refused += vals
                errors += 1
                if errors >= 15:
                    break
        assert errors >= 15, "the disk never filled up"
        assert len(acked) > 1000
        # A real client against the full disk: its records are not acknowledged.
        ok, failed = confluent_round(b.bootstrap, t, values(b"full", 0, 300), 3000)
        acked += ok
        assert failed, "every record was acknowledged on a full disk?"
        assert "No space left on device" in b.output()
        assert "Stopping serving replicas" not in b.output(), "a full disk must not take the dir offline"

        # Space is back: writes work again, without a restart.
        os.remove(filler)
        for i in range(50):
            vals = values(b"after", i * 40, 40)
            assert raw_round(conn, t, vals) == 0
            acked += vals
    finally:
        conn.close()
    ok, failed = confluent_round(b.bootstrap, t, values(b"later", 0, 2000), 30000)
    assert not failed
    acked += ok

    end_before = high_watermark(b.bootstrap, t)
    if stop == "sigterm":
        b.stop()
        assert "shut down completed" in b.output()
    else:
        b.kill9()
    mark = len(b.output())
    b.start()
    restarted = b.output()[mark:]
    assert "cutting" not in restarted, "recovery found a torn write:\n" + restarted[-3000:]
    assert "damaged data" not in restarted, restarted[-3000:]
    assert high_watermark(b.bootstrap, t) == end_before

    got = consume_all(b.bootstrap, t, end_before)
    assert sorted(got) == list(range(end_before)), "offsets missing after the restart"
    present = set(got.values())
    lost = [v for v in acked if v not in present]
    print("acknowledged %d, errors %d, consumed %d, lost %d" % (len(acked), errors, len(got), len(lost)))
    assert len(lost) == 0, lost[:5]
    # Nothing but what was produced (no garbage), and nothing of a refused write.
    sent = set(acked) | set(values(b"full", 0, 300))
    assert present <= sent
    assert not present & set(refused), "a write answered KAFKA_STORAGE_ERROR was kept"
