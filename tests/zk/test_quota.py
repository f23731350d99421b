"""Quotas as ZooKeeper 3.8 keeps them (runs against ours, or Apache with ZK_SERVER=apache):
the server counts a quota's subtree into its zookeeper_stats node and keeps it current; with
zookeeper.enforceQuota=true, hard limits refuse creates and setData with QuotaExceeded."""

import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

QUOTA = "/zookeeper/quota"


def set_quota(c, path, limits):
    """What zkCli's setquota creates: the limits node, then the stats node."""
    c.ensure_path(QUOTA + path)
    c.create(QUOTA + path + "/zookeeper_limits", limits.encode())
    c.create(QUOTA + path + "/zookeeper_stats", b"count=0,bytes=0")


def stats(c, path):
    return c.get(QUOTA + path + "/zookeeper_stats")[0].decode()


@pytest.fixture
def client(make_server):
    srv = make_server(extra={"zookeeper.enforceQuota": "true"})
    c = KazooClient(hosts=srv.hosts, timeout=10.0)
    c.start(timeout=30)
    yield c
    c.stop()
    c.close()


def test_stats_follow_the_subtree_and_hard_limits_refuse(client):
    c = client
    r = "/q-" + uuid.uuid4().hex[:8]
    c.create(r)
    c.create(r + "/a", b"x")
    set_quota(c, r, "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3")
    assert stats(c, r) == "count=2,bytes=1"
    before = c.exists(QUOTA + r + "/zookeeper_stats")
    c.create(r + "/b", b"yy")
    assert stats(c, r) == "count=3,bytes=3"
    after = c.exists(QUOTA + r + "/zookeeper_stats")
    assert (after.version, after.mzxid) == (before.version, before.mzxid)
    with pytest.raises(KazooException) as e:
        c.create(r + "/c")
    assert type(e.value).__name__ == "QuotaExceededError" or "-125" in repr(e.value), repr(e.value)
    with pytest.raises(KazooException):
        c.set(r + "/b", b"12345678901")
    c.set(r + "/b", b"1234567")
    assert stats(c, r) == "count=3,bytes=8"
    c.delete(r + "/a")
    assert stats(c, r) == "count=2,bytes=7"
    c.create(r + "/c", b"")
    # Outside the quota: nothing counted, nothing refused.
    c.create(r + "-outside", b"x" * 100)
    assert stats(c, r) == "count=3,bytes=7"
    # The quota removed (limits node deleted): writes are no longer refused.
    c.delete(QUOTA + r + "/zookeeper_limits")
    c.create(r + "/d", b"x" * 50)


def test_soft_limits_only_warn(client):
    c = client
    r = "/soft-" + uuid.uuid4().hex[:8]
    c.create(r)
    set_quota(c, r, "count=2,bytes=5")
    for i in range(4):
        c.create("%s/n%d" % (r, i), b"abcdef")
    assert stats(c, r) == "count=5,bytes=24"
