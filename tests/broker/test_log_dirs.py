"""DescribeLogDirs (API 35): kafka-python's KafkaAdminClient.describe_log_dirs (it negotiates
the newest version both sides have, v4 here), a hand-built v0 request (Kafka 2.5's oldest,
the same bytes as v1), and scripts/kafka-log-dirs.sh printing Kafka 2.5's format. Sizes are
the partitions' segment bytes, so they grow as records are produced."""

import json
import os
import socket
import struct
import subprocess
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import KafkaAdminClient

from lib.kraw import Reader, frame, header, read_frame
from lib.paths import REPO

TOOLS = os.path.join(REPO, "scripts", "kafka-log-dirs.sh")


def name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def create(bootstrap, topic, partitions):
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic].result(15)


def produce(bootstrap, topic, partition, n, size=100):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for _ in range(n):
        p.produce(topic, b"x" * size, partition=partition)
    assert p.flush(20) == 0


def sizes_by_admin(bootstrap, topic_partitions=None):
    """{(logDir, topic, partition): (size, offset_lag, is_future)} from kafka-python, plus the
    raw per-dir results."""
    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        res = a.describe_log_dirs(topic_partitions=topic_partitions)
    finally:
        a.close()
    assert len(res) == 1 and res[0]["broker"] == 0, res
    out = {}
    for d in res[0]["log_dirs"]:
        for t in d["topics"]:
            for p in t["partitions"]:
                out[(d["log_dir"], t["name"], p["partition_index"])] = (p["partition_size"], p["offset_lag"], p["is_future_key"])
    return out, res[0]["log_dirs"]


def wait_for(pred, what, timeout=15):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            assert v, "timed out waiting for " + what
            return v
        time.sleep(0.2)


def test_admin_describe_log_dirs_sizes_grow(cluster):
    b = cluster.bootstrap
    logdir = os.path.abspath(cluster.brokers[0].logdir)
    t = name("ld")
    create(b, t, 2)
    # The partitions' logs are opened when this broker learns it leads them.
    got, dirs = wait_for(lambda: (lambda r: r if (logdir, t, 1) in r[0] else None)(sizes_by_admin(b)), "partitions in DescribeLogDirs")
    assert [d["log_dir"] for d in dirs] == [logdir]
    assert dirs[0]["error_code"] == 0
    # v4: the volume's total and usable bytes, as statvfs sees them.
    st = os.statvfs(logdir)
    assert dirs[0]["total_bytes"] == st.f_blocks * st.f_frsize
    assert 0 < dirs[0]["usable_bytes"] <= dirs[0]["total_bytes"]
    assert got[(logdir, t, 0)] == (0, 0, False) and got[(logdir, t, 1)] == (0, 0, False)

    produce(b, t, 0, 50)
    got, _ = sizes_by_admin(b)
    size0 = got[(logdir, t, 0)][0]
    on_disk = os.path.getsize(os.path.join(logdir, "%s-0" % t, "00000000000000000000.log"))
    assert size0 == on_disk and size0 > 50 * 100
    assert got[(logdir, t, 1)][0] == 0
    produce(b, t, 0, 50)
    produce(b, t, 1, 10)
    got, _ = sizes_by_admin(b)
    assert got[(logdir, t, 0)][0] > size0
    assert got[(logdir, t, 1)][0] > 10 * 100
    assert all(v[1] == 0 and v[2] is False for v in got.values())

    # Only the partitions asked for (unknown ones are left out, as Kafka does).
    got, dirs = sizes_by_admin(b, {t: [1], "no-such-topic": [0]})
    assert list(got) == [(logdir, t, 1)]
    assert dirs[0]["log_dir"] == logdir


def describe_v0(port):
    """DescribeLogDirs v0 with topics = null, hand-built; returns [(dir, error, [(topic, p, size, lag, future)])]."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(frame(header(35, 0, 42) + struct.pack(">i", -1)))
        body = read_frame(s)
    finally:
        s.close()
    assert body is not None
    r = Reader(body)
    assert r.take(">i") == 42  # correlation id; v0 has no tagged header fields
    r.take(">i")  # throttle time
    out = []
    for _ in range(r.take(">i")):
        err = r.take(">h")
        path = r.string()
        parts = []
        for _ in range(r.take(">i")):
            topic = r.string()
            for _ in range(r.take(">i")):
                p, size, lag, fut = r.take(">i"), r.take(">q"), r.take(">q"), r.take(">b")
                parts.append((topic, p, size, lag, fut))
        out.append((path, err, parts))
    assert r.pos == len(body)
    return out


def test_v0_request_is_answered_in_the_v0_layout(cluster):
    b = cluster.bootstrap
    logdir = os.path.abspath(cluster.brokers[0].logdir)
    t = name("v0")
    create(b, t, 1)
    produce(b, t, 0, 5)
    res = describe_v0(cluster.brokers[0].port)
    assert [(d, e) for d, e, _ in res] == [(logdir, 0)]
    mine = [x for x in res[0][2] if x[0] == t]
    assert len(mine) == 1 and mine[0][1] == 0 and mine[0][2] > 5 * 100 and mine[0][3:] == (0, 0)


def run_tool(*args):
    r = subprocess.run([TOOLS, *args], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def test_kafka_log_dirs_tool(cluster):
    b = cluster.bootstrap
    logdir = os.path.abspath(cluster.brokers[0].logdir)
    t = name("tool")
    create(b, t, 2)
    produce(b, t, 1, 20)
    wait_for(lambda: (logdir, t, 0) in sizes_by_admin(b)[0], "partition 0 in DescribeLogDirs")
    code, out, err = run_tool("--bootstrap-server", b, "--describe", "--topic-list", t)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == ["Querying brokers for log directories information", "Received log directory information from brokers 0"], out
    data = json.loads(lines[2])
    assert data["version"] == 1 and [x["broker"] for x in data["brokers"]] == [0]
    dirs = data["brokers"][0]["logDirs"]
    assert [(d["logDir"], d["error"]) for d in dirs] == [(logdir, None)]
    parts = {p["partition"]: p for p in dirs[0]["partitions"]}
    assert sorted(parts) == ["%s-0" % t, "%s-1" % t]
    assert parts["%s-0" % t] == {"partition": "%s-0" % t, "size": 0, "offsetLag": 0, "isFuture": False}
    admin_size = sizes_by_admin(b)[0][(logdir, t, 1)][0]
    assert parts["%s-1" % t]["size"] == admin_size > 20 * 100
    assert list(parts["%s-1" % t]) == ["partition", "size", "offsetLag", "isFuture"]

    # Without --topic-list: every partition of the broker, this topic's among them.
    code, out, err = run_tool("--bootstrap-server", b, "--describe", "--broker-list", "0")
    assert code == 0, err
    every = json.loads(out.splitlines()[2])["brokers"][0]["logDirs"][0]["partitions"]
    assert {"%s-0" % t, "%s-1" % t} <= {p["partition"] for p in every}
