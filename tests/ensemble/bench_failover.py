#!/usr/bin/env python3
"""Failover benchmark (not a test): a 3-member group on 127.0.0.1 under a light write load;
the leader is killed (kill -9) N times; for each kill, the time until a new leader shows in
srvr (polled every 10 ms) and until the first write sent after the kill is acknowledged.
The killed member is restarted and the group settles before the next kill. At the end every
member is read back and checked (no acknowledged write lost).

    python3 tests/ensemble/bench_failover.py [--server ours|apache|both] [--kills 5]
                                             [--writers 3] [--pause-ms 5] [--tick 500]

Same settings for both servers: tickTime (default 500 ms; ours derives 50 ms heartbeats and
250-500 ms election timeouts from it), initLimit=10, syncLimit=5, fsync on (both default),
session timeout 10 s, kazoo clients pinned to different members.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

# A script, not a test: find this suite's helpers and tests/lib as pytest would.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

from ensharness import (Writer, check_writes, first_ack_after, format_counts, kazoo_client,  # noqa: E402
                        sync_read_all)
from lib import zookeeper  # noqa: E402
from lib.waiting import wait_until  # noqa: E402
from lib.zookeeper import Ensemble  # noqa: E402

ROOT = "/bench"


def run(kind, kills, n_writers, pause, tick, members=3):
    zookeeper.ENSEMBLE_TICK_MS = tick
    base = tempfile.mkdtemp(prefix="bench-failover-%s-" % kind)
    ens = Ensemble(kind, members, base)
    clients, writers, rows = [], [], []
    try:
        ens.start(timeout=60)
        setup = kazoo_client(ens.hosts)
        clients.append(setup)
        setup.ensure_path(ROOT + "/log")
        setup.ensure_path(ROOT + "/k")
        for i in range(n_writers):
            m = ens.members[i % members]
            c = kazoo_client(ens.hosts_first(m), timeout=10.0)
            clients.append(c)
            w = Writer(c, ROOT, i + 1, pause=pause)
            w.setup()
            writers.append(w)
        for w in writers:
            w.start()
        for k in range(1, kills + 1):
            time.sleep(1.0)
            leader = ens.wait_formed(timeout=30)
            others = [m for m in ens.members if m is not leader]
            before = sum(len(w.acked) for w in writers)
            wait_until(lambda: sum(len(w.acked) for w in writers) > before + 5, timeout=30, msg="writes before the kill")
            t0 = time.monotonic()
            leader.kill9()
            new = ens.wait_formed(members=others, timeout=30)
            elected = time.monotonic() - t0
            first = wait_until(lambda: first_ack_after(writers, t0), timeout=30, interval=0.005,
                               msg="a write acknowledged after the kill")
            rows.append((k, leader.sid, new.sid, elected, first))
            print("  %-6s kill %d: leader %d killed, %d elected after %.3fs, first write %.3fs after the kill"
                  % (kind, k, leader.sid, new.sid, elected, first), flush=True)
            leader.start(timeout=60)
            ens.wait_formed(timeout=30)
        for w in writers:
            w.stop()
        for c in clients:
            c.stop()
        views = {}
        for m in ens.members:
            c = kazoo_client(m.host)
            views[m.sid] = sync_read_all(c, ROOT)
            c.stop()
            c.close()
        counts = check_writes(writers, views, ROOT)
        print("  %-6s checker: %s" % (kind, format_counts(counts)))
        if counts["problems"]:
            print("  PROBLEMS:\n    " + "\n    ".join(counts["problems"][:20]))
        return rows, counts
    finally:
        for w in writers:
            w.stop_evt.set()
        for c in clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        ens.kill_all()
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=["ours", "apache", "both"], default="ours")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--pause-ms", type=float, default=5.0, help="sleep between a writer's writes")
    ap.add_argument("--tick", type=int, default=500, help="tickTime (ms)")
    a = ap.parse_args()
    import logging
    logging.basicConfig(level=logging.CRITICAL)
    kinds = ["ours", "apache"] if a.server == "both" else [a.server]
    print("machine: %d CPUs, load average before: %s" % (os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))
    results = {}
    for kind in kinds:
        print("== %s: 3 members, tickTime=%d, %d writers, %.0f ms between a writer's writes, %d leader kills"
              % (kind, a.tick, a.writers, a.pause_ms, a.kills), flush=True)
        results[kind] = run(kind, a.kills, a.writers, a.pause_ms / 1000.0, a.tick)
    print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    print()
    print("| server | tickTime | kills | new leader in srvr, median (min-max) | first write after kill, median (min-max) | acked writes | lost |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for kind, (rows, counts) in results.items():
        el = [r[3] for r in rows]
        fw = [r[4] for r in rows]
        name = "ours (zk-server)" if kind == "ours" else "Apache ZooKeeper 3.8"
        print("| %s | %d ms | %d | %.3f s (%.3f-%.3f) | %.3f s (%.3f-%.3f) | %d | %d |" % (
            name, a.tick, len(rows), statistics.median(el), min(el), max(el),
            statistics.median(fw), min(fw), max(fw), counts["acked"], counts["lost"]))
        ok = ok and not counts["problems"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
