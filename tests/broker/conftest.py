"""pytest fixtures of the broker suite: a module-wide one-broker cluster and a factory for
fresh clusters (lib/kafka.py's Cluster: our zk-server and n kafka-servers)."""

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
