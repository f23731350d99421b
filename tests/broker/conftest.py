"""pytest fixtures of the broker suite: a module-wide one-broker cluster and a factory for
fresh clusters, and a module-wide one-broker cluster for transactions (lib/kafka.py's Cluster: our zk-server and n kafka-servers)."""

import os

import pytest

from lib.kafka import Cluster
from lib.paths import KAFKA_BIN, ZK_BIN


def pytest_configure(config):
    for b in (ZK_BIN, KAFKA_BIN):
        if not os.path.exists(b):
            raise pytest.UsageError("%s missing: cargo build --release -p zk -p broker" % b)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(1)
    yield c
    c.close()


# One broker whose __transaction_state fits it (RF 1, 3 partitions) and whose coordinator
# looks for timed-out transactions every 0.5 s (Kafka's default is 10 s).
TXN_CONFIG = dict(
    transaction_state_log_replication_factor=1,
    transaction_state_log_min_isr=1,
    transaction_state_log_num_partitions=3,
    transaction_abort_timed_out_transaction_cleanup_interval_ms=500,
)


@pytest.fixture(scope="module")
def txn_cluster():
    c = Cluster(1, **TXN_CONFIG)
    yield c
    c.close()


@pytest.fixture
def fresh_cluster():
    made = []

    def make(n=1, chroot="", **overrides):
        c = Cluster(n, chroot, **overrides)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
