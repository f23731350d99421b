"""Transactions (issue 15): the transaction coordinator on `__transaction_state`.

Raw frames check the coordinator's answers (FindCoordinator key type 1, InitProducerId
with a transactional id and its epoch bumps, fencing with INVALID_PRODUCER_EPOCH as Kafka
2.5 answers, CONCURRENT_TRANSACTIONS while an abort is in flight, INVALID_TRANSACTION_TIMEOUT,
the coordinator aborting a transaction left open past its timeout). confluent-kafka's
transactional producer then runs whole transactions: commit and abort over three partitions
(read_committed sees exactly the committed records, read_uncommitted all of them),
send_offsets_to_transaction in a consume-transform-produce loop (the group's offsets move
only on commit), a second producer with the same transactional.id fencing the first, a
transaction left open past transaction.timeout.ms aborted by the coordinator, and on three
brokers markers to leaders everywhere and a coordinator kill -9 (state rebuilt from the log)."""

import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lib import kraw
from lib.kraw import array, kstr

INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
RETRIABLE = (14, 15, 16)  # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR


# Three brokers with __transaction_state and __consumer_offsets at RF 3 (min ISR 2), quick to
# notice a dead broker (ISR after 3 s, ZooKeeper session after 6 s).
RF3_TXN = dict(
    transaction_state_log_replication_factor=3,
    transaction_state_log_min_isr=2,
    transaction_state_log_num_partitions=3,
    offsets_topic_replication_factor=3,
    replica_lag_time_max_ms=3000,
    zookeeper_session_timeout_ms=6000,
)


def name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def create(bootstrap, t, partitions=1):
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(t, partitions, 1)], operation_timeout=10)[t].result(15)


# --- raw requests (non-flexible versions) ---------------------------------------------------


def find_txn_coordinator(conn, txn_id):
    r = conn.call(10, 1, kstr(txn_id) + struct.pack(">b", 1))
    r.take(">i")
    err = r.take(">h")
    r.string()
    node = r.take(">i")
    return err, node


def init_pid(conn, txn_id, timeout=60000):
    r = conn.call(22, 1, kstr(txn_id) + struct.pack(">i", timeout))
    _throttle, err, pid, epoch = r.take(">ihqh")
    return err, pid, epoch


def add_partitions(conn, txn_id, pid, epoch, topic, partitions):
    body = kstr(txn_id) + struct.pack(">qh", pid, epoch) + array([kstr(topic) + array([struct.pack(">i", p) for p in partitions])])
    r = conn.call(24, 1, body)
    r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        t = r.string()
        for _ in range(r.take(">i")):
            p, err = r.take(">ih")
            out[(t, p)] = err
    return out


def end_txn(conn, txn_id, pid, epoch, commit):
    r = conn.call(26, 1, kstr(txn_id) + struct.pack(">qhb", pid, epoch, 1 if commit else 0))
    _throttle, err = r.take(">ih")
    return err


def retry(fn, ok=lambda v: True, timeout=20):
    """Calls fn until its error (first element) is not a retriable coordinator error."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        err = v[0] if isinstance(v, tuple) else v
        if (err not in RETRIABLE and ok(v)) or time.time() > deadline:
            return v
        time.sleep(0.2)


def test_find_coordinator_and_init_producer_id(txn_cluster):
    conn = kraw.Conn(txn_cluster.brokers[0].port)
    tid = name("txn-init")
    assert retry(lambda: find_txn_coordinator(conn, tid)) == (0, 0)
    err, pid, epoch = retry(lambda: init_pid(conn, tid))
    assert (err, epoch) == (0, 0) and pid >= 0
    # The same transactional id again: same producer id, next epoch.
    assert init_pid(conn, tid) == (0, pid, 1)
    # Another id: another producer id.
    err, pid2, epoch2 = retry(lambda: init_pid(conn, name("txn-other")))
    assert err == 0 and pid2 != pid and epoch2 == 0
    # transaction.max.timeout.ms (900000) is the limit.
    assert init_pid(conn, tid, timeout=900001)[0] == INVALID_TRANSACTION_TIMEOUT
    # Without a transactional id: an idempotent producer, as before.
    e, p, ep = kraw.init_producer_id(conn)
    assert (e, ep) == (0, 0) and p not in (pid, pid2)
    conn.close()


def test_fencing_errors(txn_cluster):
    b = txn_cluster.bootstrap
    t = name("fence-raw")
    create(b, t, 3)
    conn = kraw.Conn(txn_cluster.brokers[0].port)
    tid = name("txn-fence")
    retry(lambda: find_txn_coordinator(conn, tid))
    err, pid, epoch = retry(lambda: init_pid(conn, tid))
    assert err == 0
    assert add_partitions(conn, tid, pid, epoch, t, [0, 1, 2]) == {(t, 0): 0, (t, 1): 0, (t, 2): 0}
    # Unknown ids and producer ids, and the wrong state.
    assert add_partitions(conn, name("nobody"), pid, epoch, t, [0])[(t, 0)] in (INVALID_PRODUCER_ID_MAPPING,) + RETRIABLE
    assert add_partitions(conn, tid, pid + 1000, epoch, t, [0])[(t, 0)] == INVALID_PRODUCER_ID_MAPPING
    assert add_partitions(conn, tid, pid, epoch, "no-such-topic", [0])[("no-such-topic", 0)] == 3
    # A second producer of the same id fences the first: its transaction is aborted with a
    # bumped epoch, and the new producer retries on CONCURRENT_TRANSACTIONS meanwhile.
    assert init_pid(conn, tid)[0] == CONCURRENT_TRANSACTIONS
    assert add_partitions(conn, tid, pid, epoch, t, [0])[(t, 0)] == INVALID_PRODUCER_EPOCH
    assert end_txn(conn, tid, pid, epoch, True) == INVALID_PRODUCER_EPOCH
    conn.close()


def test_timed_out_transaction_is_fenced_raw(txn_cluster):
    b = txn_cluster.bootstrap
    t = name("timeout-raw")
    create(b, t)
    conn = kraw.Conn(txn_cluster.brokers[0].port)
    tid = name("txn-slow")
    retry(lambda: find_txn_coordinator(conn, tid))
    err, pid, epoch = retry(lambda: init_pid(conn, tid, timeout=1000))
    assert err == 0
    assert add_partitions(conn, tid, pid, epoch, t, [0]) == {(t, 0): 0}
    # transaction.abort.timed.out.transaction.cleanup.interval.ms=500: aborted soon after 1 s.
    deadline = time.time() + 10
    while time.time() < deadline and add_partitions(conn, tid, pid, epoch, t, [0])[(t, 0)] == 0:
        time.sleep(0.2)
    assert add_partitions(conn, tid, pid, epoch, t, [0])[(t, 0)] == INVALID_PRODUCER_EPOCH
    assert end_txn(conn, tid, pid, epoch, True) == INVALID_PRODUCER_EPOCH
    conn.close()


# --- confluent-kafka: whole transactions (the markers need WriteTxnMarkers) ----------------


def txn_producer(bootstrap, tid, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5}
    conf.update(extra)
    return Producer(conf)


def read_all(bootstrap, t, partitions, isolation, expect=None, timeout=20):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": name("reader"),
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
    })
    c.assign([TopicPartition(t, p, 0) for p in range(partitions)])
    out = []
    deadline = time.time() + timeout
    quiet_until = None
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            out.append(m.value())
            quiet_until = None
            continue
        if expect is not None and len(out) >= expect:
            # A little longer, to catch anything beyond what is expected.
            quiet_until = quiet_until or time.time() + 2
            if time.time() > quiet_until:
                break
    c.close()
    return sorted(out)


def test_commit_and_abort_read_committed(txn_cluster):
    b = txn_cluster.bootstrap
    t = name("txn-data")
    create(b, t, 3)
    p = txn_producer(b, name("txn-ca"))
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(30):
        p.produce(t, b"c%d" % i, partition=i % 3)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(30):
        p.produce(t, b"a%d" % i, partition=i % 3)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(30, 60):
        p.produce(t, b"c%d" % i, partition=i % 3)
    p.commit_transaction(30)
    committed = sorted(b"c%d" % i for i in range(60))
    aborted = sorted(b"a%d" % i for i in range(30))
    assert read_all(b, t, 3, "read_committed", expect=60) == committed
    assert read_all(b, t, 3, "read_uncommitted", expect=90) == sorted(committed + aborted)


def committed_offset(bootstrap, group, t, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    got = c.committed([TopicPartition(t, partition)], timeout=10)
    c.close()
    return got[0].offset


def test_send_offsets_to_transaction_moves_offsets_only_on_commit(txn_cluster):
    b = txn_cluster.bootstrap
    src, dst = name("ctp-in"), name("ctp-out")
    create(b, src)
    create(b, dst)
    feeder = Producer({"bootstrap.servers": b})
    for i in range(40):
        feeder.produce(src, b"v%d" % i, partition=0)
    assert feeder.flush(10) == 0
    group = name("ctp-group")
    consumer = Consumer({
        "bootstrap.servers": b,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    consumer.subscribe([src])
    p = txn_producer(b, name("txn-ctp"))
    p.init_transactions(30)
    processed = 0
    rounds = 0
    # Batches of 10: commit, abort, commit, commit — offsets move only on commit.
    plan = [True, False, True, True]
    expected_offset = 0
    while rounds < len(plan):
        batch = []
        deadline = time.time() + 20
        while len(batch) < 10 and time.time() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                batch.append(m)
        assert len(batch) == 10, "got %d records" % len(batch)
        p.begin_transaction()
        for m in batch:
            p.produce(dst, m.value().upper(), partition=0)
        offsets = [TopicPartition(src, 0, batch[-1].offset() + 1)]
        p.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        if plan[rounds]:
            p.commit_transaction(30)
            processed += len(batch)
            expected_offset = batch[-1].offset() + 1
        else:
            p.abort_transaction(30)
            # Rewind to the last committed position, as an aborted loop does.
            consumer.seek(TopicPartition(src, 0, expected_offset))
        assert committed_offset(b, group, src, 0) == expected_offset
        rounds += 1
    consumer.close()
    assert processed == 30 and expected_offset == 30
    got = read_all(b, dst, 1, "read_committed", expect=30)
    assert got == sorted(b"V%d" % i for i in range(30))


def test_second_producer_fences_the_first(txn_cluster):
    b = txn_cluster.bootstrap
    t = name("fence-data")
    create(b, t)
    tid = name("txn-zombie")
    p1 = txn_producer(b, tid)
    p1.init_transactions(30)
    p1.begin_transaction()
    p1.produce(t, b"zombie", partition=0)
    p1.flush(10)
    # The second producer's init aborts p1's transaction and bumps the epoch.
    p2 = txn_producer(b, tid)
    p2.init_transactions(30)
    with pytest.raises(KafkaException) as e:
        p1.produce(t, b"zombie-2", partition=0)
        p1.commit_transaction(10)
    err = e.value.args[0]
    assert err.fatal() or err.txn_requires_abort() or "fenced" in str(err).lower(), str(err)
    p2.begin_transaction()
    p2.produce(t, b"good", partition=0)
    p2.commit_transaction(30)
    assert read_all(b, t, 1, "read_committed", expect=1) == [b"good"]


def test_open_transaction_times_out_and_is_aborted(txn_cluster):
    b = txn_cluster.bootstrap
    t = name("timeout-data")
    create(b, t)
    p = txn_producer(b, name("txn-timeout"), **{"transaction.timeout.ms": 2000})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(t, b"late", partition=0)
    p.flush(10)
    time.sleep(5)
    with pytest.raises(KafkaException):
        p.commit_transaction(10)
    # The coordinator's abort marker closes the transaction: read_committed gets past it.
    feeder = Producer({"bootstrap.servers": b})
    feeder.produce(t, b"after", partition=0)
    assert feeder.flush(10) == 0
    assert read_all(b, t, 1, "read_committed", expect=1) == [b"after"]
    assert read_all(b, t, 1, "read_uncommitted", expect=2) == [b"after", b"late"]


def test_three_brokers_markers_and_coordinator_failover(fresh_cluster):
    """Markers go to partition leaders on every broker; after kill -9 of the coordinator the
    new leader of its `__transaction_state` partition rebuilds the state from the log (the
    producer id keeps its epochs) and the next transactions commit."""
    c = fresh_cluster(3, **RF3_TXN)
    b = c.bootstrap
    t = name("txn3")
    a = AdminClient({"bootstrap.servers": b})
    a.create_topics([NewTopic(t, 6, 3)], operation_timeout=10)[t].result(15)
    tid = name("txn-failover")
    p = txn_producer(b, tid)
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(60):
        p.produce(t, b"one-%d" % i, partition=i % 6)
    p.commit_transaction(30)
    assert read_all(b, t, 6, "read_committed", expect=60) == sorted(b"one-%d" % i for i in range(60))
    p.flush(10)
    del p
    conn = kraw.Conn(c.brokers[0].port)
    err, coordinator = retry(lambda: find_txn_coordinator(conn, tid))
    conn.close()
    assert err == 0
    victim = next(x for x in c.brokers if x.id == coordinator)
    victim.kill9()
    survivors = [x for x in c.brokers if x.id != coordinator]
    boot = ",".join(x.bootstrap for x in survivors)
    p2 = txn_producer(boot, tid)
    p2.init_transactions(60)
    p2.begin_transaction()
    for i in range(60):
        p2.produce(t, b"two-%d" % i, partition=i % 6)
    p2.commit_transaction(60)
    want = sorted([b"one-%d" % i for i in range(60)] + [b"two-%d" % i for i in range(60)])
    assert read_all(boot, t, 6, "read_committed", expect=120, timeout=40) == want
    # The same producer id with its next epoch: the state came from the log, not afresh.
    conn = kraw.Conn(survivors[0].port)
    err, node = retry(lambda: find_txn_coordinator(conn, tid))
    assert err == 0 and node != coordinator
    conn.close()
    conn = kraw.Conn(next(x for x in survivors if x.id == node).port)
    err, pid, epoch = retry(lambda: init_pid(conn, tid), ok=lambda v: v[0] != CONCURRENT_TRANSACTIONS)
    conn.close()
    assert err == 0 and epoch >= 2, (err, pid, epoch)


def _partition_leaders(admin, t, partitions, timeout=30):
    """{partition: leader id} once every partition has a leader (bounded)."""
    deadline = time.time() + timeout
    leaders = {}
    while time.time() < deadline:
        md = admin.list_topics(t, timeout=10).topics.get(t)
        if md is not None and md.error is None:
            leaders = {p: md.partitions[p].leader for p in md.partitions}
            if len(leaders) == partitions and all(v >= 0 for v in leaders.values()):
                return leaders
        time.sleep(0.2)
    raise AssertionError("no leaders for %s in %ss: %r" % (t, timeout, leaders))


def _read_to_end(bootstrap, t, partitions, isolation, timeout=60):
    """Every record of t's partitions from offset 0, polling until each partition reported its
    end (the LSO for read_committed, the high watermark otherwise) with nothing after it."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": name("checker"),
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "isolation.level": isolation,
    })
    c.assign([TopicPartition(t, p, 0) for p in range(partitions)])
    out = []
    at_end = set()
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                    if len(at_end) == partitions:
                        break
                continue
            at_end.discard(m.partition())
            out.append(m.value())
        else:
            raise AssertionError("%s reader not at the end of %s in %ss (at end: %s, %d records)"
                                 % (isolation, t, timeout, sorted(at_end), len(out)))
        ends = {p: c.get_watermark_offsets(TopicPartition(t, p), timeout=10) for p in range(partitions)}
    finally:
        c.close()
    return out, ends


def test_partition_leader_kill9_mid_transaction_checker(fresh_cluster):
    """A partition leader that is not the coordinator is killed with kill -9 after transaction
    10 has produced (and flushed) its records and before its commit."""
    _kill9_mid_transaction_checker(fresh_cluster, "leader")


def test_coordinator_kill9_mid_transaction_checker(fresh_cluster):
    """The transaction coordinator is killed with kill -9 after transaction 10 has produced
    (and flushed) its records and before its commit: the commit goes to the new coordinator
    (the new leader of the __transaction_state partition), which rebuilt the Ongoing
    transaction from the log."""
    _kill9_mid_transaction_checker(fresh_cluster, "coordinator")


def test_coordinator_kill9_during_commit_checker(fresh_cluster):
    """The transaction coordinator is killed with kill -9 in the middle of committing
    transaction 10: after PrepareCommit is durable and answered, before every marker is
    written. To hold it there, the leader of one of the transaction's partitions is frozen
    (SIGSTOP) before the commit, so its marker cannot be written; the coordinator is killed as
    soon as the client's commit returns, then the frozen broker resumes. The new coordinator
    must find PrepareCommit in __transaction_state and complete the commit (its log says so),
    and the checker must see the transaction whole."""
    _kill9_mid_transaction_checker(fresh_cluster, "coordinator", during_commit=True)


def _kill9_mid_transaction_checker(fresh_cluster, role, during_commit=False):
    """A checker over a kill -9 in the middle of a transaction: 3 brokers, 3 partitions RF 3
    min.insync.replicas=2, __transaction_state RF 3 min.isr 2; a transactional producer runs
    transactions by a fixed plan (every 4th aborted); at transaction 10 the broker of `role`
    ("leader": the leader of a partition that is not the coordinator; "coordinator": the
    transaction coordinator) is killed with kill -9, before the commit or (during_commit)
    just after it was sent. The commit's error, if any, is handled as confluent-kafka
    documents (retriable: retry; txn_requires_abort: abort; fatal: a new producer with the
    same transactional.id, the open transaction's fate unknown to the client). The remaining
    transactions run on the survivors, the killed broker restarts, a few more transactions
    run. A read_committed reader then sees every committed transaction's records exactly once,
    nothing of the aborted ones, and each unknown one whole or not at all."""
    c = fresh_cluster(3, **RF3_TXN)
    b = c.bootstrap
    t = name("txn-chk")
    parts = 3
    per_txn = 6
    kill_at = 10
    before_restart = 30
    after_restart = 6
    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic(t, parts, 3, config={"min.insync.replicas": "2"})],
                        operation_timeout=10)[t].result(15)
    leaders = _partition_leaders(admin, t, parts)

    tid = name("txn-checker")
    p = txn_producer(b, tid, **{"transaction.timeout.ms": 60000})
    p.init_transactions(60)

    def coordinator_now():
        conn = kraw.Conn(next(x for x in c.brokers if x.running()).port)
        try:
            err, node = retry(lambda: find_txn_coordinator(conn, tid))
        finally:
            conn.close()
        assert err == 0, err
        return node

    coordinator = coordinator_now()

    def plan_commit(i):
        return i % 4 != 3

    def value(i, j):
        return b"t%03d-%03d" % (i, j)

    outcome = {}  # transaction number -> "committed" | "aborted" | "unknown"
    events = []
    victim = None
    killed_at, moved = [None], [False]

    def finish(i, commit):
        """Commits or aborts transaction i; errors as confluent-kafka documents."""
        nonlocal p
        deadline = time.time() + 90
        while True:
            try:
                if commit:
                    p.commit_transaction(60)
                    return "committed"
                p.abort_transaction(60)
                return "aborted"
            except KafkaException as e:
                kerr = e.args[0]
                events.append("txn %d %s: %s (retriable=%s abortable=%s fatal=%s)" % (
                    i, "commit" if commit else "abort", kerr, kerr.retriable(),
                    kerr.txn_requires_abort(), kerr.fatal()))
                if time.time() > deadline:
                    raise
                if kerr.fatal():
                    # A new producer with the same transactional.id: its init fences the
                    # old one and completes the open transaction (committed if its
                    # PrepareCommit was written, else aborted).
                    p = txn_producer(c.bootstrap, tid, **{"transaction.timeout.ms": 60000})
                    p.init_transactions(60)
                    return "unknown"
                if kerr.txn_requires_abort():
                    commit = False
                    continue
                if kerr.retriable():
                    time.sleep(0.2)
                    continue
                raise

    def pick_victim():
        if role == "coordinator":
            node = coordinator_now()
            return next(x for x in c.brokers if x.id == node), "coordinator"
        leaders_now = _partition_leaders(admin, t, parts)
        candidates = sorted({l for l in leaders_now.values() if l != coordinator})
        assert candidates, "every partition led by the coordinator %d: %r" % (coordinator, leaders_now)
        v = next(x for x in c.brokers if x.id == candidates[0])
        return v, "leader of %s" % sorted(q for q, l in leaders_now.items() if l == v.id)

    def run(i):
        nonlocal victim
        p.begin_transaction()
        for j in range(per_txn):
            p.produce(t, value(i, j), partition=j % parts)
        # On the leaders before the end of the transaction, the aborted ones too (an abort
        # purges what is still queued in the client, which would test nothing).
        assert p.flush(60) == 0
        t0 = time.time()
        if i == kill_at:
            victim, what = pick_victim()
            events.append("kill -9 broker %d (%s; coordinator %d)%s" % (
                victim.id, what, coordinator, " during the commit" if during_commit else ""))
            if during_commit:
                assert plan_commit(i)
                leaders_now = _partition_leaders(admin, t, parts)
                held_ids = sorted({l for l in leaders_now.values() if l != victim.id})
                assert held_ids, "every partition led by the coordinator %d: %r" % (victim.id, leaders_now)
                held = next(x for x in c.brokers if x.id == held_ids[0])
                held.pause()
                try:
                    outcome[i] = finish(i, True)
                    victim.kill9()
                finally:
                    held.resume()
                events.append("broker %d (leader of %s) frozen during the commit, resumed after the kill" % (
                    held.id, sorted(q for q, l in leaders_now.items() if l == held.id)))
            else:
                victim.kill9()
                outcome[i] = finish(i, plan_commit(i))
            killed_at[0] = t0
            events.append("txn %d %s %.1fs after it began to end" % (i, outcome[i], time.time() - t0))
        else:
            outcome[i] = finish(i, plan_commit(i))
        if killed_at[0] and not moved[0] and victim.id not in _partition_leaders(admin, t, parts).values():
            moved[0] = True
            events.append("leaders moved off broker %d by txn %d, %.1fs after the kill" % (
                victim.id, i, time.time() - killed_at[0]))

    start = time.time()
    for i in range(before_restart):
        run(i)
    assert victim is not None
    victim.start(timeout=60)
    events.append("broker %d restarted" % victim.id)
    for i in range(before_restart, before_restart + after_restart):
        run(i)
    p.flush(30)
    elapsed = time.time() - start

    committed = [i for i, o in outcome.items() if o == "committed"]
    aborted = [i for i, o in outcome.items() if o == "aborted"]
    unknown = [i for i, o in outcome.items() if o == "unknown"]
    expected = {value(i, j) for i in committed for j in range(per_txn)}
    forbidden = {value(i, j) for i in aborted for j in range(per_txn)}

    seen, ends = _read_to_end(c.bootstrap, t, parts, "read_committed")
    counts = {}
    for v in seen:
        counts[v] = counts.get(v, 0) + 1
    duplicates = sorted(v for v, n in counts.items() if n > 1)
    missing = sorted(expected - set(counts))
    # An unknown transaction is all or nothing.
    unknown_visible = [i for i in unknown if all(value(i, j) in counts for j in range(per_txn))]
    partial = [i for i in unknown
               if i not in unknown_visible and any(value(i, j) in counts for j in range(per_txn))]
    allowed = expected | {value(i, j) for i in unknown_visible for j in range(per_txn)}
    unexpected = sorted(set(counts) - allowed)
    seen_all, _ = _read_to_end(c.bootstrap, t, parts, "read_uncommitted")
    resumed = []
    for x in c.brokers:
        for line in x.output().splitlines():
            if "left prepared by the previous coordinator" in line:
                resumed.append("broker %d: %s" % (x.id, line.split("INFO", 1)[-1].strip()))
    events.extend(resumed)
    print("txn checker events: %s" % "; ".join(events))
    print("txn checker (%s%s): committed=%d aborted=%d unknown=%d (visible %d) records_expected=%d "
          "seen=%d duplicates=%d missing=%d unexpected=%d partial=%d (read_uncommitted seen=%d, "
          "ends=%r, %.1fs)" % (
              role, ", during commit" if during_commit else "", len(committed), len(aborted),
              len(unknown), len(unknown_visible), len(expected), len(seen), len(duplicates),
              len(missing), len(unexpected), len(partial), len(seen_all), ends, elapsed))
    detail = "duplicates=%r missing=%r unexpected=%r partial=%r (of aborted: %r) events=%r" % (
        duplicates[:20], missing[:20], unexpected[:20], partial, sorted(set(unexpected) & forbidden)[:20], events)
    assert not duplicates and not missing and not unexpected and not partial, detail
    if during_commit:
        assert any(tid in line and "PrepareCommit" in line for line in resumed), \
            "no new coordinator completed the prepared commit of %s: %r" % (tid, events)
    assert len(seen) == len(allowed)
    # read_uncommitted may see more (the aborted records), never less.
    assert expected <= set(seen_all), sorted(expected - set(seen_all))[:20]
    # The aborted records did reach the log (flushed before the abort marker).
    assert len(set(seen_all) & forbidden) > 0, "no aborted record in the log"
