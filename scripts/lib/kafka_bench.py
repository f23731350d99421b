#!/usr/bin/env python3
"""Load generator and limit probes for scripts/bench-kafka.sh (librdkafka through
confluent-kafka; 127.0.0.1 only). Each mode prints one `key=value` line.

  kafka_bench.py produce BOOTSTRAP TOPIC RECORDS SIZE ACKS
      records, seconds, records/s, MB/s (2^20 bytes, as Kafka's perf tools), latency
      p50/p99/p99.9/max in ms: from produce() to the delivery report (librdkafka's
      msg.latency(), the same span Kafka's ProducerPerformance measures), errors
  kafka_bench.py produce BOOTSTRAP TOPIC RECORDS SIZE ACKS PER_TXN
      the same with a transactional producer (acks all, idempotent): one transaction per
      PER_TXN records, each committed before the next begins; txns=N is added
  kafka_bench.py consume BOOTSTRAP TOPIC PARTITIONS RECORDS [ISOLATION]
      records, seconds and records/s, MB/s of values from the first batch received to the
      last; startup (assign to first batch) apart; ISOLATION read_committed or
      read_uncommitted (librdkafka's default, read_committed, when absent)
  kafka_bench.py tcp SECONDS
      loopback TCP bandwidth: one connection, 1 MiB sends, a reader thread that discards
  kafka_bench.py dd LINE
      parses dd's summary line into bytes, seconds and MB/s (2^20)
  kafka_bench.py leaders BOOTSTRAP TOPIC PARTITIONS
      waits (bounded, 30 s) until every partition of TOPIC has a leader
  kafka_bench.py table RESULTS
      the results file of bench-kafka.sh as a Markdown table with ratios to the limits
"""

import os
import re
import socket
import sys
import threading
import time

MB = 1024 * 1024


def pct(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * q))]


def produce(bootstrap, topic, records, size, acks, per_txn=0):
    from confluent_kafka import Producer

    conf = {
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": 5,
        "compression.type": "none",
        # 32 MiB of queued records, as the Java producer's buffer.memory: unthrottled, the
        # latency is mostly time in this queue, so bound it as Kafka's perf test does.
        "queue.buffering.max.messages": 1000000,
        "queue.buffering.max.kbytes": 32768,
    }
    if per_txn > 0:
        conf["transactional.id"] = "bench-txn-%s" % topic
    p = Producer(conf)
    if per_txn > 0:
        p.init_transactions(60)
    txns = 0
    payload = bytes(65 + (i % 26) for i in range(size))
    lat = []
    errors = [0]

    def report(err, msg):
        if err is not None:
            errors[0] += 1
        else:
            lat.append(msg.latency())

    start = time.perf_counter()
    for i in range(records):
        if per_txn > 0 and i % per_txn == 0:
            if i > 0:
                p.commit_transaction(120)
                txns += 1
            p.begin_transaction()
        while True:
            try:
                p.produce(topic, payload, callback=report)
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
    if per_txn > 0 and records > 0:
        p.commit_transaction(120)
        txns += 1
    left = p.flush(120)
    secs = time.perf_counter() - start
    lat.sort()
    ms = [1000 * pct(lat, q) for q in (0.5, 0.99, 0.999)] + [1000 * (lat[-1] if lat else 0)]
    print("records=%d secs=%.3f rec/s=%.0f MB/s=%.2f p50=%.2fms p99=%.2fms p99.9=%.2fms max=%.2fms errors=%d unsent=%d%s" % (
        records, secs, len(lat) / secs, len(lat) * size / secs / MB, ms[0], ms[1], ms[2], ms[3], errors[0], left,
        " txns=%d" % txns if per_txn > 0 else ""))


def consume(bootstrap, topic, partitions, records, isolation="read_committed"):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({
        "isolation.level": isolation,
        "bootstrap.servers": bootstrap,
        "group.id": "bench-unused",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    })
    start = time.perf_counter()
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    n = 0
    nbytes = 0
    errors = 0
    first_at = None
    first_n = first_bytes = 0
    last = start
    deadline = start + 300
    while n < records and time.perf_counter() < deadline:
        # Never ask for more than is left: consume() waits out its timeout for a short batch.
        batch = c.consume(num_messages=min(1000, records - n), timeout=1.0)
        for m in batch:
            if m.error() is not None:
                errors += 1
                continue
            n += 1
            nbytes += len(m.value() or b"")
        if batch:
            last = time.perf_counter()
            if first_at is None:
                first_at, first_n, first_bytes = last, n, nbytes
    c.close()
    # The rate runs from the first batch received to the last: librdkafka's start (group
    # coordinator lookup, its offset-query timer, ListOffsets) is reported apart as startup.
    # (Everything in the first batch: nothing to time apart, so the rate includes the start.)
    if first_at is None or n == first_n:
        first_at, first_n, first_bytes = start, 0, 0
    secs = max(last - first_at, 1e-9)
    print("records=%d secs=%.3f rec/s=%.0f MB/s=%.2f startup=%.3fs errors=%d" % (
        n, secs, (n - first_n) / secs, (nbytes - first_bytes) / secs / MB, first_at - start, errors))


def tcp(seconds):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = [0]

    def sink():
        conn, _ = srv.accept()
        buf = bytearray(MB)
        view = memoryview(buf)
        while True:
            k = conn.recv_into(view)
            if k == 0:
                break
            got[0] += k
        conn.close()

    t = threading.Thread(target=sink)
    t.start()
    cli = socket.create_connection(srv.getsockname())
    chunk = os.urandom(MB)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(64):
            cli.sendall(chunk)
    cli.shutdown(socket.SHUT_WR)
    t.join(60)
    secs = time.perf_counter() - start
    cli.close()
    srv.close()
    print("bytes=%d secs=%.3f MB/s=%.1f" % (got[0], secs, got[0] / secs / MB))


def dd(line):
    m = re.match(r"(\d+) bytes .* copied, ([\d.,]+) s", line)
    if not m:
        print("unparsed dd output: %s" % line)
        return
    b, s = int(m.group(1)), float(m.group(2).replace(",", "."))
    print("bytes=%d secs=%.3f MB/s=%.1f" % (b, s, b / s / MB))


def leaders(bootstrap, topic, partitions):
    from confluent_kafka.admin import AdminClient

    a = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.time() + 30
    while time.time() < deadline:
        md = a.list_topics(topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions and all(p.leader >= 0 for p in md.partitions.values()):
            print("leaders=%s" % ",".join(str(md.partitions[p].leader) for p in sorted(md.partitions)))
            return
        time.sleep(0.2)
    sys.exit("kafka_bench.py: %s has no leader for every partition after 30 s" % topic)


def kv(line):
    return dict(re.findall(r"([\w/.]+)=([-\d.]+)", line))


def parse_tool_produce(line):
    # Kafka's ProducerPerformance summary line.
    m = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\).* (\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th", line)
    if not m:
        return None
    return {"rec/s": m.group(1), "MB/s": m.group(2), "p50": m.group(3), "p99": m.group(4)}


def parse_tool_consume(line):
    # Kafka's ConsumerPerformance CSV: start, end, MB, MB.sec, nMsg, nMsg.sec, ...
    cols = [c.strip() for c in line.split(",")]
    if len(cols) < 6:
        return None
    return {"rec/s": cols[5], "MB/s": cols[3]}


def table(path):
    limits = {}
    rows = {}
    order = []
    with open(path) as f:
        for raw in f:
            parts = raw.rstrip("\n").split("|")
            if parts[0] == "L" and len(parts) == 3:
                limits[parts[1]] = float(kv(parts[2]).get("MB/s", "0") or 0)
            elif parts[0] in ("P", "C") and len(parts) == 6:
                key = tuple(parts[1:5])
                if key not in rows:
                    rows[key] = {}
                    order.append(key)
                if parts[4].startswith("librdkafka"):
                    d = kv(parts[5])
                    d = {"rec/s": d.get("rec/s"), "MB/s": d.get("MB/s"), "p50": d.get("p50"), "p99": d.get("p99")}
                else:
                    d = (parse_tool_produce if parts[0] == "P" else parse_tool_consume)(parts[5])
                rows[key][parts[0]] = d or {}
    disk = limits.get("disk-fdatasync", 0)
    net = limits.get("tcp-loopback", 0)
    print("| record | partitions | acks | load generator | produce rec/s | produce MB/s | p50 ms | p99 ms | consume rec/s | consume MB/s | produce / disk | consume / TCP |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in order:
        size, parts_n, acks, gen = key
        p = rows[key].get("P", {})
        c = rows[key].get("C", {})

        def ratio(v, lim):
            try:
                return "%.2f" % (float(v) / lim) if lim else "-"
            except (TypeError, ValueError):
                return "-"

        def num(v, fmt):
            try:
                return fmt % float(v)
            except (TypeError, ValueError):
                return "-"

        def lat(v):
            # Kafka's tool prints whole milliseconds: 0 means under 1 ms.
            if gen == "kafka-tools":
                return "<1" if v == "0" else num(v, "%.0f")
            return num(v, "%.1f")

        print("| %s B | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            size, parts_n, acks, gen, num(p.get("rec/s"), "%.0f"), num(p.get("MB/s"), "%.1f"), lat(p.get("p50")),
            lat(p.get("p99")), num(c.get("rec/s"), "%.0f"), num(c.get("MB/s"), "%.1f"),
            ratio(p.get("MB/s"), disk), ratio(c.get("MB/s"), net)))
    print()
    print("Limits: sequential write + fdatasync %.1f MB/s, O_DSYNC 1 MiB writes %.1f MB/s, loopback TCP %.1f MB/s (MB = 2^20 bytes)." % (
        disk, limits.get("disk-dsync", 0), net))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    mode, args = argv[1], argv[2:]
    try:
        if mode == "produce" and len(args) in (5, 6):
            produce(args[0], args[1], int(args[2]), int(args[3]), args[4], int(args[5]) if len(args) == 6 else 0)
        elif mode == "consume" and len(args) in (4, 5):
            consume(args[0], args[1], int(args[2]), int(args[3]), *args[4:])
        elif mode == "tcp" and len(args) == 1:
            tcp(float(args[0]))
        elif mode == "dd" and len(args) == 1:
            dd(args[0])
        elif mode == "leaders" and len(args) == 3:
            leaders(args[0], args[1], int(args[2]))
        elif mode == "table" and len(args) == 1:
            table(args[0])
        else:
            sys.exit(__doc__)
    except ValueError as e:
        sys.exit("kafka_bench.py: bad argument: %s" % e)


if __name__ == "__main__":
    main(sys.argv)
