"""Idempotent producer: confluent-kafka with enable.idempotence=true, and raw Produce frames
that resend the same batch (acknowledged once, one copy in the log), skip a sequence
(OUT_OF_ORDER_SEQUENCE_NUMBER) or use an old epoch (INVALID_PRODUCER_EPOCH); the state
survives kill -9 of the broker (producer snapshots + log replay)."""

import glob
import os
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lib import kraw

OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47


def create(bootstrap, t, partitions=1):
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(t, partitions, 1)], operation_timeout=10)[t].result(15)


def values(bootstrap, t, partition=0, timeout=10):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "check", "enable.auto.commit": False})
    lo, hi = c.get_watermark_offsets(TopicPartition(t, partition), timeout=10)
    c.assign([TopicPartition(t, partition, lo)])
    out = []
    deadline = time.time() + timeout
    while len(out) < hi - lo and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            out.append(m.value())
    c.close()
    return out


def test_confluent_idempotent_producer_all_delivered(cluster):
    b = cluster.bootstrap
    t = "idem-%s" % uuid.uuid4().hex[:8]
    create(b, t, 3)
    p = Producer({"bootstrap.servers": b, "enable.idempotence": True, "linger.ms": 1, "max.in.flight.requests.per.connection": 5})
    reports = []
    for i in range(3000):
        p.produce(t, b"m%d" % i, key=b"k%d" % (i % 7), on_delivery=lambda e, m: reports.append(e))
        if i % 500 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    assert len(reports) == 3000 and all(e is None for e in reports), [e for e in reports if e][:3]
    got = sum((values(b, t, part) for part in range(3)), [])
    assert sorted(got) == sorted(b"m%d" % i for i in range(3000))


def test_raw_duplicate_gap_and_stale_epoch(fresh_cluster):
    c = fresh_cluster(1)
    br = c.brokers[0]
    t = "raw-idem"
    create(c.bootstrap, t)
    conn = kraw.Conn(br.port)
    err, pid, epoch = kraw.init_producer_id(conn)
    assert (err, epoch) == (0, 0) and pid >= 0
    err2, pid2, _ = kraw.init_producer_id(conn)
    assert err2 == 0 and pid2 != pid
    a = kraw.idempotent_batch([b"a0", b"a1", b"a2"], pid, 0, 0)
    assert kraw.produce(conn, t, 0, a) == (0, 0)
    # A retry of the same batch (same producer id, epoch, sequence): acknowledged at the
    # original offset, not appended again.
    assert kraw.produce(conn, t, 0, a) == (0, 0)
    # A gap: expected sequence 3.
    assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"x"], pid, 0, 5))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"b3"], pid, 0, 3)) == (0, 3)
    # A new epoch starts at sequence 0; the old epoch is fenced.
    e1 = kraw.idempotent_batch([b"c0", b"c1"], pid, 1, 0)
    assert kraw.produce(conn, t, 0, e1) == (0, 4)
    assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"old"], pid, 0, 4))[0] == INVALID_PRODUCER_EPOCH
    # A new epoch that does not start at 0 is out of order too.
    assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"y"], pid, 2, 7))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    conn.close()
    assert values(c.bootstrap, t) == [b"a0", b"a1", b"a2", b"b3", b"c0", b"c1"]
    # The producer state survives kill -9: the last batch is still recognised as a duplicate
    # and the next sequence is still expected.
    br.kill9()
    br.start()
    conn = kraw.Conn(br.port)
    deadline = time.time() + 20
    while True:
        r = kraw.produce(conn, t, 0, e1)
        if r[0] != 6 or time.time() > deadline:  # NOT_LEADER until the metadata is back
            break
        time.sleep(0.2)
    assert r == (0, 4)
    assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"z"], pid, 1, 3))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert kraw.produce(conn, t, 0, kraw.idempotent_batch([b"c2"], pid, 1, 2)) == (0, 6)
    conn.close()
    assert values(c.bootstrap, t) == [b"a0", b"a1", b"a2", b"b3", b"c0", b"c1", b"c2"]
    # A clean shutdown writes a producer snapshot beside the segments.
    br.stop()
    snaps = glob.glob(os.path.join(br.logdir, t + "-0", "*.snapshot"))
    assert snaps, os.listdir(os.path.join(br.logdir, t + "-0"))


def test_producer_id_blocks_in_zookeeper(fresh_cluster):
    from kazoo.client import KazooClient

    c = fresh_cluster(1)
    conn = kraw.Conn(c.brokers[0].port)
    ids = [kraw.init_producer_id(conn)[1] for _ in range(3)]
    conn.close()
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]
    zk = KazooClient(hosts=c.zk.connect)
    zk.start(10)
    try:
        data, _ = zk.get("/latest_producer_id_block")
    finally:
        zk.stop()
    assert data.decode() == '{"version":1,"broker":0,"block_start":"0","block_end":"999"}'


class CuttingProxy:
    """A TCP proxy in front of the broker that drops the connection instead of forwarding
    every Nth Produce response: the request was applied, the client never hears so and
    retries it (the 'connection cut mid-request' case)."""

    def __init__(self, port, target, cut_every):
        import socket
        import threading

        self.target, self.cut_every, self.produces, self.cuts = target, cut_every, 0, 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(16)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while not self.closed:
            try:
                cli, _ = self.srv.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.target))
            pending = []
            threading.Thread(target=self._up, args=(cli, up, pending), daemon=True).start()
            threading.Thread(target=self._down, args=(cli, up, pending), daemon=True).start()

    @staticmethod
    def _frame(s):
        from lib.kraw import read_frame

        try:
            return read_frame(s)
        except OSError:
            return None

    def _up(self, cli, up, pending):
        import struct

        while True:
            f = self._frame(cli)
            if f is None:
                break
            pending.append(struct.unpack(">h", f[:2])[0])
            try:
                up.sendall(struct.pack(">i", len(f)) + f)
            except OSError:
                break
        self._close(cli, up)

    def _down(self, cli, up, pending):
        import struct

        while True:
            f = self._frame(up)
            if f is None or not pending:
                break
            api = pending.pop(0)
            if api == 0:
                with self.lock:
                    self.produces += 1
                    cut = self.produces % self.cut_every == 0
                    self.cuts += cut
                if cut:
                    break
            try:
                cli.sendall(struct.pack(">i", len(f)) + f)
            except OSError:
                break
        self._close(cli, up)

    @staticmethod
    def _close(*socks):
        import socket

        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.closed = True
        self.srv.close()


def test_retries_after_cut_connections_leave_no_duplicates(fresh_cluster):
    from lib.ports import free_port

    pport = free_port()
    c = fresh_cluster(1, advertised_listeners="PLAINTEXT://127.0.0.1:%d" % pport)
    proxy = CuttingProxy(pport, c.brokers[0].port, cut_every=3)
    try:
        b = "127.0.0.1:%d" % pport
        t = "idem-cut"
        create(b, t)
        p = Producer({"bootstrap.servers": b, "enable.idempotence": True, "linger.ms": 5, "batch.num.messages": 50,
                      "reconnect.backoff.ms": 10, "retry.backoff.ms": 10})
        reports = []
        for i in range(1000):
            p.produce(t, b"r%d" % i, on_delivery=lambda e, m: reports.append(e))
            p.poll(0)
        assert p.flush(60) == 0
        assert len(reports) == 1000 and all(e is None for e in reports), [e for e in reports if e][:3]
        assert proxy.cuts >= 2, "the proxy never cut a Produce response"
        got = values(b, t, timeout=20)
        assert len(got) == 1000 and sorted(got) == sorted(b"r%d" % i for i in range(1000)), "duplicates or losses in the log"
    finally:
        proxy.close()
