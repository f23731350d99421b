"""Three brokers through one ZooKeeper: leaders spread, NOT_LEADER recovery by metadata
refresh, controller failover with a higher epoch. (One replica per partition: follower
replication is issue 7.)"""

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

from lib import kraw


def test_three_brokers_leaders_spread_and_failover(fresh_cluster):
    c = fresh_cluster(3)
    a = AdminClient({"bootstrap.servers": c.bootstrap})
    deadline = time.time() + 10
    while time.time() < deadline and len(a.list_topics(timeout=5).brokers) < 3:
        time.sleep(0.2)
    assert len(a.list_topics(timeout=5).brokers) == 3
    t = "spread"
    a.create_topics([NewTopic(t, 6, 1)], operation_timeout=10)[t].result(15)
    # As in Kafka, leaders appear in metadata shortly after CreateTopics returns (the
    # controller elects them asynchronously): wait for them, bounded.
    deadline = time.time() + 15
    while True:
        md = a.list_topics(t, timeout=10)
        leaders = [md.topics[t].partitions[p].leader for p in range(6)]
        if -1 not in leaders or time.time() > deadline:
            break
        time.sleep(0.2)
    assert sorted(set(leaders)) == [0, 1, 2], leaders
    p = Producer({"bootstrap.servers": c.bootstrap})
    for i in range(60):
        p.produce(t, b"m%d" % i, partition=i % 6)
    assert p.flush(15) == 0
    # NOT_LEADER_OR_FOLLOWER from a broker that does not lead the partition
    part = next(q for q in range(6) if leaders[q] != 0)
    resp = kraw.send_recv(c.brokers[0].port, kraw.produce_v3(t, part, kraw.record_batch([b"x"])))
    assert kraw.parse_produce_v3(resp)[1][0][2] == 6
    # controller failover
    zk = KazooClient(hosts=c.zk.connect)
    zk.start(10)
    try:
        ctrl = md.controller_id
        epoch = int(zk.get("/controller_epoch")[0])
        victim = next(b for b in c.brokers if b.id == ctrl)
        victim.kill9()
        deadline = time.time() + 20
        new = None
        while time.time() < deadline:
            d = zk.exists("/controller") and zk.get("/controller")[0]
            if d and b'"brokerid":%d' % ctrl not in d:
                new = d
                break
            time.sleep(0.2)
        assert new is not None, "no new controller"
        assert int(zk.get("/controller_epoch")[0]) == epoch + 1
    finally:
        zk.stop()
    # partitions of live brokers keep working
    live = [q for q in range(6) if leaders[q] != ctrl]
    cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "x"})
    for q in live:
        lo, hi = cons.get_watermark_offsets(TopicPartition(t, q), timeout=10)
        assert (lo, hi) == (0, 10)
    cons.close()
