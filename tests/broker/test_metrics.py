"""Broker metrics (issue 16): `GET /metrics` on metrics.prometheus.port in the Prometheus text
format, under the names the JMX exporter's Kafka rules give Kafka's MBeans. Real clients
(confluent-kafka) produce and consume; the scrape must count what they did. Hostile scrapers
(garbage, silence, an endless head) must not stop other scrapes or the broker. On three
brokers, a follower killed with SIGKILL shows up as an under-replicated partition and an ISR
shrink on the leader. Everything on 127.0.0.1."""

import re
import socket
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lib.kafka import Broker, Cluster
from lib.ports import free_port
from lib.waiting import wait_until

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(port, timeout=10):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def parse(text):
    """[(name, {label: value}, value)]; also checks every sample's family has HELP and TYPE."""
    out, typed, helped = [], set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))
        family = re.sub(r"_(sum|count)$", "", name) if name not in typed else name
        assert family in typed and family in helped, "no HELP/TYPE for %s" % name
        out.append((name, labels, value))
    return out


def get(samples, name, **labels):
    """Values of `name` whose labels include `labels`."""
    return [v for n, l, v in samples if n == name and all(l.get(k) == str(x) for k, x in labels.items())]


def one(samples, name, **labels):
    vs = [v for n, l, v in samples if n == name and l == {k: str(x) for k, x in labels.items()}]
    assert len(vs) == 1, (name, labels, vs)
    return vs[0]


def create(bootstrap, topic, partitions=1, rf=1, assignment=None):
    a = AdminClient({"bootstrap.servers": bootstrap})
    nt = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment) if assignment else NewTopic(topic, partitions, rf)
    a.create_topics([nt], operation_timeout=10)[topic].result(15)


def produce(bootstrap, topic, n, size):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(n):
        p.produce(topic, (b"%06d" % i).ljust(size, b"x"))
    assert p.flush(30) == 0


def consume_and_commit(bootstrap, topic, group, n):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = 0
    deadline = time.time() + 40
    while got < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got += 1
    assert got == n
    c.commit(asynchronous=False)
    c.close()


@pytest.fixture
def metrics_cluster():
    port = free_port()
    c = Cluster(1, metrics_prometheus_port=port, metrics_prometheus_host="127.0.0.1", offsets_topic_num_partitions=3)
    yield c, port
    c.close()


def test_counts_what_clients_did(metrics_cluster):
    c, port = metrics_cluster
    n, size, t = 200, 100, "metered"
    create(c.bootstrap, t, 2)
    produce(c.bootstrap, t, n, size)
    consume_and_commit(c.bootstrap, t, "g1", n)
    s = parse(scrape(port))

    assert one(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=t) == n
    assert one(s, "kafka_server_brokertopicmetrics_bytesin_total", topic=t) >= n * size
    assert one(s, "kafka_server_brokertopicmetrics_bytesout_total", topic=t) > 0
    assert one(s, "kafka_server_brokertopicmetrics_totalproducerequests_total", topic=t) > 0
    assert one(s, "kafka_server_brokertopicmetrics_totalfetchrequests_total", topic=t) > 0
    assert one(s, "kafka_server_brokertopicmetrics_failedproducerequests_total", topic=t) == 0
    # The all-topics series (no label): the coordinator's own appends to __consumer_offsets
    # do not go through Produce, so it counts at least the topic's messages.
    assert one(s, "kafka_server_brokertopicmetrics_messagesin_total") >= n

    assert sum(get(s, "kafka_network_requestmetrics_requests_total", request="Produce")) > 0
    assert sum(get(s, "kafka_network_requestmetrics_requests_total", request="FetchConsumer")) > 0
    assert sum(get(s, "kafka_network_requestmetrics_requests_total", request="Metadata")) > 0
    versions = {l["version"] for n_, l, _ in s if n_ == "kafka_network_requestmetrics_requests_total" and l["request"] == "Produce"}
    assert versions and all(v.isdigit() for v in versions)
    for q in ("0.50", "0.75", "0.95", "0.98", "0.99", "0.999"):
        for r in ("Produce", "FetchConsumer"):
            assert one(s, "kafka_network_requestmetrics_totaltimems", request=r, quantile=q) >= 0
    assert one(s, "kafka_network_requestmetrics_totaltimems_count", request="Produce") > 0

    # 2 partitions of the topic + 3 of __consumer_offsets, all led here.
    assert one(s, "kafka_server_replicamanager_partitioncount") == 5
    assert one(s, "kafka_server_replicamanager_leadercount") == 5
    assert one(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert one(s, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert one(s, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert sum(get(s, "kafka_log_log_size", topic=t)) > n * size
    assert sum(get(s, "kafka_log_log_logendoffset", topic=t)) == n
    conn_count = lambda: one(parse(scrape(port)), "kafka_server_socket_server_metrics_connection_count", listener="PLAINTEXT", networkProcessor=0)
    held = [socket.create_connection(("127.0.0.1", c.brokers[0].port), timeout=5) for _ in range(3)]
    try:
        wait_until(lambda: conn_count() >= 3, 10, "3 open Kafka connections counted")
    finally:
        for h in held:
            h.close()

    lag = get(s, "kafka_consumergroup_lag", consumergroup="g1", topic=t)
    assert len(lag) == 2 and sum(lag) == 0, lag
    m = 7
    produce(c.bootstrap, t, m, size)
    s = parse(scrape(port))
    assert sum(get(s, "kafka_consumergroup_lag", consumergroup="g1", topic=t)) == m
    assert one(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=t) == n + m


def test_hostile_scrapers_do_not_stop_scrapes_or_the_broker(metrics_cluster):
    c, port = metrics_cluster
    socks = []
    try:
        silent = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(silent)
        garbage = socket.create_connection(("127.0.0.1", port), timeout=5)
        garbage.sendall(b"\x00\x01\x02 NOT HTTP \xff\xfe\r\n\r\n")
        socks.append(garbage)
        endless = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            # The server may answer 431 and close before it has all of it.
            endless.sendall(b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 65536)
        except OSError:
            pass
        socks.append(endless)
        post = socket.create_connection(("127.0.0.1", port), timeout=5)
        post.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        assert b"405" in post.recv(1024)
        socks.append(post)
        started = time.time()
        for _ in range(5):
            text = scrape(port, timeout=5)
            assert "kafka_controller_kafkacontroller_activecontrollercount 1.0" in text
        assert time.time() - started < 10
        # The garbage got an error answer or a close, not a hang of the server.
        garbage.settimeout(5)
        assert garbage.recv(1024)[:8] in (b"HTTP/1.1", b"")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen("http://127.0.0.1:%d/nope" % port, timeout=5)
        assert e.value.code == 404
        # The Kafka listener still serves.
        md = AdminClient({"bootstrap.servers": c.bootstrap}).list_topics(timeout=10)
        assert 0 in md.brokers
        # A silent scraper does not hold up shutdown; the port closes with the broker.
        started = time.time()
        c.brokers[0].stop(timeout=20)
        assert c.brokers[0].proc.returncode == 0 and time.time() - started < 15
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        for s_ in socks:
            s_.close()


def test_bad_metrics_config_is_a_startup_error(tmp_path):
    c = Cluster(0)
    try:
        b = Broker(c.root, c.zk.connect, 0, metrics_prometheus_port="http")
        c.brokers.append(b)
        with pytest.raises(RuntimeError) as e:
            b.start()
        assert "metrics.prometheus.port" in str(e.value)
        # A port already taken: the broker says so and does not start.
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        try:
            b2 = Broker(c.root, c.zk.connect, 1, metrics_prometheus_port=held.getsockname()[1], metrics_prometheus_host="127.0.0.1")
            c.brokers.append(b2)
            with pytest.raises(RuntimeError) as e:
                b2.start()
            assert "metrics.prometheus" in str(e.value)
        finally:
            held.close()
    finally:
        c.close()


def test_killed_follower_shows_as_under_replicated_on_the_leader():
    c = Cluster(0)
    try:
        ports = []
        for i in range(3):
            ports.append(free_port())
            b = Broker(c.root, c.zk.connect, i, metrics_prometheus_port=ports[i], metrics_prometheus_host="127.0.0.1",
                       replica_lag_time_max_ms=2000, offsets_topic_num_partitions=1)
            c.brokers.append(b)
            b.start()
        t = "watched"
        create(c.bootstrap, t, assignment=[[0, 1, 2]])

        def isr_full():
            md = AdminClient({"bootstrap.servers": c.bootstrap}).list_topics(t, timeout=10)
            p = md.topics[t].partitions.get(0)
            return p is not None and p.leader == 0 and sorted(p.isrs) == [0, 1, 2]

        wait_until(isr_full, 30, "broker 0 leading with a full ISR", interval=0.2)
        produce(c.bootstrap, t, 10, 50)
        s = parse(scrape(ports[0]))
        assert one(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
        assert one(s, "kafka_server_replicamanager_leadercount") >= 1
        assert one(s, "kafka_controller_kafkacontroller_activecontrollercount") + \
            sum(one(parse(scrape(p)), "kafka_controller_kafkacontroller_activecontrollercount") for p in ports[1:]) == 1
        s1 = parse(scrape(ports[1]))
        # Followers' appends are not messages in (Kafka counts leader appends only).
        assert sum(get(s1, "kafka_server_brokertopicmetrics_messagesin_total", topic=t)) == 0
        wait_until(lambda: one(parse(scrape(ports[1])), "kafka_server_brokertopicmetrics_replicationbytesin_total") > 0, 10,
                   "replication bytes in on a follower", interval=0.2)
        assert one(s, "kafka_server_brokertopicmetrics_replicationbytesout_total") > 0

        c.brokers[2].kill9()
        wait_until(lambda: one(parse(scrape(ports[0])), "kafka_server_replicamanager_underreplicatedpartitions") > 0, 30,
                   "an under-replicated partition on broker 0", interval=0.5)
        s = parse(scrape(ports[0]))
        assert one(s, "kafka_server_replicamanager_isrshrinks_total") > 0
    finally:
        c.close()
