#!/usr/bin/env python3
"""The broker's fetch path against loopback TCP, in one run: our zk-server and one
kafka-server on free 127.0.0.1 ports (tests/lib/kafka.py), 1 GiB of 1 KiB records
produced with kafka-producer-perf-test, then one partition fetched for 8 s per size with
raw_fetch_bench.py (no record decoding: what the broker serves) at 1, 8 and 32 MiB per
fetch, then kafka-consumer-perf-test (decoding every record) for comparison. Loopback TCP is
measured first by kafka_bench.py's probe (one connection, 1 MiB sends)."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)

from lib.kafka import Cluster  # noqa: E402


def main():
    print("# %s %d cores, load: %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.cpu_count() or 0,
                                       " ".join(open("/proc/loadavg").read().split()[:3])))
    tcp = subprocess.run([sys.executable, os.path.join(HERE, "kafka_bench.py"), "tcp", "5"], capture_output=True, text=True, timeout=60)
    print("limit loopback TCP, one connection: " + tcp.stdout.strip())
    c = Cluster(1)
    try:
        b = c.bootstrap
        r = subprocess.run([os.path.join(REPO, "scripts", "kafka-producer-perf-test.sh"), "--topic", "fetch", "--num-records", "1000000",
                            "--record-size", "1024", "--throughput", "-1", "--producer-props", "bootstrap.servers=" + b, "acks=1"],
                           capture_output=True, text=True, timeout=600)
        print("produce 1 GiB: " + (r.stdout.strip().splitlines() or ["(no output) " + r.stderr[-300:]])[-1])
        for mb in (1, 8, 32):
            r = subprocess.run([sys.executable, os.path.join(HERE, "raw_fetch_bench.py"), b, "fetch", "0", "--max-bytes", str(mb << 20), "--seconds", "8"],
                               capture_output=True, text=True, timeout=120)
            print((r.stdout.strip() or r.stderr.strip()[-300:]))
        r = subprocess.run([os.path.join(REPO, "scripts", "kafka-consumer-perf-test.sh"), "--bootstrap-server", b, "--topic", "fetch", "--messages", "1000000"],
                           capture_output=True, text=True, timeout=600)
        print("kafka-consumer-perf-test (decoding): " + (r.stdout.strip().splitlines() or ["(no output) " + r.stderr[-300:]])[-1])
    finally:
        c.close()


if __name__ == "__main__":
    main()
