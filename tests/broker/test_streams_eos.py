"""Kafka Streams 2.5 with processing.guarantee=exactly_once against our broker (issue 15):
a stateless map and a changelogged count, the Streams JVM killed with kill -9 mid-run and
restarted; a read_committed reader of the outputs sees every input record exactly once and
the counts exactly right.

Needs a stock Kafka 2.5.0 distribution (its kafka-streams and kafka-clients jars): set
KAFKA_STOCK to its directory (../shared/tools/stock-kafka/assemble.sh builds one). CI does not
have it, so there this test skips; what it proves on the broker side is also proved in CI by
test_transactions.py (confluent-kafka's consume-transform-produce with
send_offsets_to_transaction, exactly once across kill -9 of the coordinator and of partition
leaders) and test_transactions_kafka_python.py."""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
STOCK = os.environ.get("KAFKA_STOCK", "")

pytestmark = pytest.mark.skipif(
    not STOCK or not glob.glob(os.path.join(STOCK, "libs", "kafka-streams-2.5.0.jar")) or not shutil.which("javac"),
    reason="KAFKA_STOCK (a stock Kafka 2.5.0 distribution, see ../shared/tools/stock-kafka) or javac not "
           "available; exactly-once on our broker is covered in CI by test_transactions.py",
)

RECORDS = 6000
KEYS = 30
PARTS = 3


@pytest.fixture(scope="module")
def eos_app():
    """EosApp compiled against the stock jars: (classpath, work dir)."""
    work = tempfile.mkdtemp(prefix="streams-eos-")
    cp = os.path.join(STOCK, "libs", "*")
    subprocess.run(["javac", "-cp", cp, "-d", work, os.path.join(HERE, "streams", "EosApp.java")],
                   check=True, timeout=180)
    with open(os.path.join(work, "log4j.properties"), "w") as f:
        f.write("log4j.rootLogger=WARN, stdout\n"
                "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
                "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n")
    yield cp + ":" + work, work
    shutil.rmtree(work, ignore_errors=True)


class App:
    def __init__(self, classpath, work, bootstrap, app_id, src, dst, rf):
        self.cmd = ["java", "-Xmx256m", "-cp", classpath,
                    "-Dlog4j.configuration=file:" + os.path.join(work, "log4j.properties"),
                    "EosApp", bootstrap, app_id, src, dst, str(rf), os.path.join(work, "state-" + app_id)]
        self.log = os.path.join(work, app_id + ".out")
        self.proc = None

    def start(self):
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def read(bootstrap, topic, isolation, want=None, timeout=30):
    """(key, value) of every record of topic (all partitions, from 0), until `want` records or
    every partition is at its end with nothing new for 1 s."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex[:6],
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True, "isolation.level": isolation})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTS)])
    out, at_end = [], set()
    deadline = time.time() + timeout
    quiet_since = None
    try:
        while time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                if len(at_end) == PARTS and (want is None or len(out) >= want):
                    quiet_since = quiet_since or time.time()
                    if time.time() - quiet_since > 1:
                        break
                continue
            quiet_since = None
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                continue
            at_end.discard(m.partition())
            out.append((m.key().decode(), m.value().decode()))
    finally:
        c.close()
    return out


def wait_count(bootstrap, topic, n, timeout, app):
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = read(bootstrap, topic, "read_committed", timeout=10)
        if len(got) >= n:
            return got
        assert app.proc.poll() is None, "the Streams app exited:\n" + app.output()[-3000:]
        time.sleep(0.5)
    raise AssertionError("%s: %d of %d records in %ss; app output:\n%s" % (topic, len(got), n, timeout, app.output()[-3000:]))


@pytest.mark.parametrize("brokers", [1, 3])
def test_streams_exactly_once_survives_kill9(fresh_cluster, eos_app, brokers):
    rf = 1 if brokers == 1 else 3
    c = fresh_cluster(brokers, transaction_state_log_replication_factor=rf, transaction_state_log_min_isr=min(rf, 2),
                      transaction_state_log_num_partitions=3, offsets_topic_replication_factor=rf)
    b = c.bootstrap
    tag = uuid.uuid4().hex[:6]
    src, dst, app_id = "eos-in-" + tag, "eos-out-" + tag, "eos-app-" + tag
    admin = AdminClient({"bootstrap.servers": b})
    fs = admin.create_topics([NewTopic(t, PARTS, rf) for t in (src, dst, dst + "-counts")], operation_timeout=10)
    for f in fs.values():
        f.result(15)
    p = Producer({"bootstrap.servers": b, "enable.idempotence": True, "linger.ms": 5})

    def produce(lo, hi, pace):
        for i in range(lo, hi):
            p.produce(src, key="k%02d" % (i % KEYS), value="v-%05d" % i)
            if pace and i % 100 == 99:
                p.flush(10)
                time.sleep(0.1)
        assert p.flush(30) == 0

    produce(0, RECORDS // 6, False)
    classpath, work = eos_app
    app = App(classpath, work, b, app_id, src, dst, rf)
    app.start()
    feeder = threading.Thread(target=produce, args=(RECORDS // 6, RECORDS, True), daemon=True)
    try:
        # The rest of the input arrives at ~1,000 records/s while the app runs; it is killed
        # with kill -9 mid-stream (transactions every 100 ms are open) and restarted on the
        # same state dir.
        first = wait_count(b, dst, RECORDS // 12, 120, app)
        feeder.start()
        time.sleep(2)
        app.kill9()
        killed_after = len(read(b, dst, "read_committed"))
        app.start()
        feeder.join(60)
        assert not feeder.is_alive(), "the input producer did not finish"
        got = wait_count(b, dst, RECORDS, 180, app)
    finally:
        app.stop()
    committed = read(b, dst, "read_committed", want=RECORDS)
    values = sorted(v for _, v in committed)
    want = sorted("V-%05d" % i for i in range(RECORDS))
    dup = len(values) - len(set(values))
    uncommitted = read(b, dst, "read_uncommitted", want=RECORDS)
    counts = read(b, dst + "-counts", "read_committed")
    last = {}
    for k, v in counts:
        last[k] = int(v)
    print("streams eos (%d broker(s)): output read_committed %d when the feed began, %d just after the kill, "
          "%d at the end; duplicates %d; read_uncommitted %d (output of aborted transactions included); "
          "final counts %s" % (brokers, len(first), killed_after, len(committed), dup, len(uncommitted),
                               sorted(set(last.values()))))
    assert values == want, "read_committed output is not every input once: %d records, %d duplicates, %d missing" % (
        len(values), dup, len(set(want) - set(values)))
    assert last == {"k%02d" % k: RECORDS // KEYS for k in range(KEYS)}, last
    assert len(got) >= RECORDS
