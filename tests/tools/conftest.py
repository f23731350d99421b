"""pytest fixtures of the tools suite: one module-wide cluster (lib/kafka.py: our zk-server and
one kafka-server, broker id 0)."""

import pytest

from lib.kafka import Cluster


@pytest.fixture(scope="module")
def cluster():
    # Kafka's default retention check (5 minutes), as the tools' cluster always ran.
    c = Cluster(1, log_retention_check_interval_ms=300000)
    yield c
    c.close()
