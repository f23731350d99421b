"""Consumer client ids as Kafka 2.5's Java consumer makes them (`consumer-<group>-<n>`), seen in
kafka-consumer-groups.sh --describe's CLIENT-ID column while a console consumer is a member;
a client.id consumer property wins."""

import os
import subprocess
import time

from lib.paths import SCRIPTS
from tharness import run


def describe_until_member(bootstrap, group, deadline_s=20):
    deadline = time.time() + deadline_s
    out = ""
    while time.time() < deadline:
        code, out, _ = run("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group)
        rows = [l.split() for l in out.splitlines() if l.startswith(group + " ")]
        if rows and all(r[-1] != "-" for r in rows):
            return out
        time.sleep(0.5)
    return out


def consume(bootstrap, group, *extra):
    return subprocess.Popen([os.path.join(SCRIPTS, "kafka-console-consumer.sh"), "--bootstrap-server", bootstrap, "--topic", "ids",
                             "--group", group, "--timeout-ms", "15000", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_console_consumer_client_id_in_describe(cluster):
    b = cluster.bootstrap
    code, _, err = run("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "ids", "--partitions", "1", "--replication-factor", "1")
    assert code == 0, err
    for group, extra, want in [("g.ids", (), "consumer-g.ids-1"), ("g.own", ("--consumer-property", "client.id=mine"), "mine")]:
        p = consume(b, group, *extra)
        try:
            out = describe_until_member(b, group)
            header = [l for l in out.splitlines() if l.startswith("GROUP")]
            rows = [l.split() for l in out.splitlines() if l.startswith(group + " ")]
            assert header and rows, out
            col = header[0].split().index("CLIENT-ID")
            assert rows[0][col] == want, out
            assert rows[0][header[0].split().index("CONSUMER-ID")].startswith(want + "-"), out
        finally:
            p.kill()
            p.wait(10)
