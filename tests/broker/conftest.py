import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from kharness import KAFKA_BIN, ZK_BIN, Cluster  # noqa: E402


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
