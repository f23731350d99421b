"""kafka-producer-perf-test.sh batches as Kafka 2.5's Java producer: 20000 records of 100 bytes
at unlimited throughput land in batches of many records (kafka-dump-log.sh counts them), every
record exactly once at dense offsets, latencies measured from send to acknowledgement (so not
all zero), the final line in ProducerPerformance's format; also with compression.type=lz4
(whole batches compressed) and linger.ms=50 (batches filled to batch.size)."""

import glob
import os
import re

import pytest

from tharness import run

FINAL = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, "
                   r"(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.")
BATCH = re.compile(r"baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .* compresscodec: (\w+)")


def perf(cluster, topic, *props):
    code, out, err = run("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
                         "--partitions", "1", "--replication-factor", "1")
    assert code == 0, err
    code, out, err = run("kafka-producer-perf-test", "--topic", topic, "--num-records", "20000", "--record-size", "100",
                         "--throughput", "-1", "--producer-props", "bootstrap.servers=" + cluster.bootstrap, *props, timeout=120)
    assert code == 0, err
    m = FINAL.fullmatch(out.splitlines()[-1])
    assert m, out
    segs = sorted(glob.glob(os.path.join(cluster.logdir, topic + "-0", "*.log")))
    batches = []
    for seg in segs:
        code, dump, err = run("kafka-dump-log", "--files", seg)
        assert code == 0, err
        batches += [(int(a), int(b), int(c), codec) for a, b, c, codec in BATCH.findall(dump)]
    return m, batches


def check_log(batches, codec):
    counts = [c for _, _, c, _ in batches]
    assert sum(counts) == 20000, (len(batches), sum(counts))
    # Offsets dense from 0: each batch starts where the last ended, with count records.
    nxt = 0
    for base, last, count, c in batches:
        assert base == nxt and last - base + 1 == count and c == codec, (base, last, count, nxt, c)
        nxt = last + 1
    assert nxt == 20000
    assert sum(counts) / len(counts) > 10, counts[:50]
    if codec == "NONE":
        # batch.size (16384) bounds an uncompressed batch: at most ~150 records of 100 bytes
        # (compressed ones hold more as the compression ratio estimate improves, as in Java).
        assert max(counts) <= 152, max(counts)


def test_batches_latency_and_exactly_once(cluster):
    m, batches = perf(cluster, "perf.plain")
    assert int(m.group(1)) == 20000
    assert float(m.group(4)) > 0 and float(m.group(5)) > 0, m.group(0)
    check_log(batches, "NONE")


def test_lz4_compresses_whole_batches(cluster):
    m, batches = perf(cluster, "perf.lz4", "compression.type=lz4")
    assert int(m.group(1)) == 20000 and float(m.group(5)) > 0
    check_log(batches, "LZ4")


def test_linger_fills_batches(cluster):
    m, batches = perf(cluster, "perf.linger", "linger.ms=50")
    assert int(m.group(1)) == 20000 and float(m.group(5)) > 0
    check_log(batches, "NONE")
    # Lingering, every batch but the last waits until full (148 records of 100 bytes fit).
    counts = [c for _, _, c, _ in batches]
    assert all(c >= 140 for c in counts[:-1]), counts


@pytest.mark.parametrize("props,msg", [
    (("compression.type=zip",), "Invalid value zip for configuration compression.type"),
    (("linger.ms=x",), "Invalid value x for configuration linger.ms"),
    (("acks=7",), "Invalid value 7 for configuration acks"),
])
def test_bad_producer_props(cluster, props, msg):
    code, out, err = run("kafka-producer-perf-test", "--topic", "perf.bad", "--num-records", "1", "--record-size", "10",
                         "--throughput", "-1", "--producer-props", "bootstrap.servers=" + cluster.bootstrap, *props)
    assert code == 1 and msg in err, (code, out, err)


def test_stray_arguments_without_producer_props(cluster, tmp_path):
    cfg = tmp_path / "p.properties"
    cfg.write_text("bootstrap.servers=%s\n" % cluster.bootstrap)
    code, out, err = run("kafka-producer-perf-test", "--topic", "perf.bad", "--num-records", "1", "--record-size", "10",
                         "--throughput", "-1", "--producer.config", str(cfg), "acks=1")
    assert code == 1 and "unrecognized arguments: 'acks=1'" in err, (code, out, err)
