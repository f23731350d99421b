"""Moving in from Apache ZooKeeper 3.8 (Debian's): a dataDir Apache wrote (snapshots, logs, a
Kafka-like layout, ACLs, a live session's ephemerals) is imported by ours on its first start —
the same tree, every Stat field, the same ACLs — and the clients that were connected to Apache
carry on with their sessions against ours."""

import os
import shutil
import subprocess

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from lib.waiting import wait_until
from lib.zookeeper import ZkServer

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")


def _apache_available():
    return shutil.which("java") is not None and os.path.exists("/usr/share/java/zookeeper.jar")


def dump(client, path="/"):
    """Every znode under `path`: data, ACL and Stat, by path."""
    out = {}
    stack = [path]
    while stack:
        p = stack.pop()
        data, stat = client.get(p)
        acl, _ = client.get_acls(p)
        out[p] = (data, sorted((a.perms, a.id.scheme, a.id.id) for a in acl),
                  tuple(getattr(stat, f) for f in STAT_FIELDS))
        for c in client.get_children(p):
            stack.append(p.rstrip("/") + "/" + c)
    return out


def workload(c, owner):
    """A stock-Kafka-like layout plus ACLs, sequentials, deletes, a multi and enough writes to
    make Apache write several snapshots (snapCount 1000 in the harness)."""
    for p in ("/brokers/ids", "/brokers/topics", "/config/topics", "/admin/delete_topics",
              "/isr_change_notification", "/controller_epoch"):
        c.ensure_path(p)
    owner.create("/brokers/ids/0", b'{"version":4,"host":"127.0.0.1","port":9092}', ephemeral=True)
    owner.create("/controller", b'{"version":1,"brokerid":0}', ephemeral=True)
    for i in range(60):
        c.create("/brokers/topics/t%02d" % i, b'{"version":2,"partitions":{"0":[0]}}')
        c.create("/config/topics/t%02d" % i, b'{"version":1,"config":{}}')
    for i in range(5):
        c.create("/isr_change_notification/isr_change_", b"x" * i, sequence=True)
    for i in range(0, 60, 3):
        c.delete("/config/topics/t%02d" % i)
    for n in range(1500):
        c.set("/controller_epoch", b"%d" % n)
    acl = make_digest_acl("alice", "alice-secret", all=True)
    c.create("/secure", b"secret", acl=[acl])
    t = c.transaction()
    t.create("/multi-a", b"a")
    t.create("/multi-b", b"b")
    t.set_data("/brokers/topics/t01", b"changed in a multi")
    t.commit()
    c.set_acls("/brokers/topics/t02", [make_digest_acl("bob", "pw", read=True)])


@pytest.mark.skipif(not _apache_available(), reason="Debian's zookeeper package (Apache ZooKeeper 3.8) is not installed")
def test_apache_data_dir_is_imported_and_sessions_carry_on(tmp_path, _binary):
    srv = ZkServer("apache", str(tmp_path / "zk"))
    srv.start()
    c = KazooClient(hosts=srv.hosts, timeout=10.0)
    owner = KazooClient(hosts=srv.hosts, timeout=30.0)
    try:
        c.start(timeout=30)
        owner.start(timeout=30)
        workload(c, owner)
        c.add_auth("digest", "alice:alice-secret")
        c.add_auth("digest", "bob:pw")
        before = dump(c)
        session = owner.client_id[0]
        c.stop()
        c.close()

        # Apache stops (no snapshot at shutdown: the tail is in its logs); ours starts on its
        # dataDir and port while the owner's client is still trying to reconnect.
        srv.stop()
        v2 = os.path.join(srv.data_dir, "version-2")
        apache_files = sorted(os.listdir(v2))
        assert any(f.startswith("snapshot.") for f in apache_files), apache_files
        assert any(f.startswith("log.") for f in apache_files), apache_files
        srv.kind = "ours"
        srv.start()

        c = KazooClient(hosts=srv.hosts, timeout=10.0)
        c.start(timeout=30)
        c.add_auth("digest", "alice:alice-secret")
        c.add_auth("digest", "bob:pw")
        after = dump(c)
        missing = sorted(set(before) - set(after))
        extra = sorted(set(after) - set(before))
        assert not missing and not extra, "missing %r, extra %r" % (missing[:10], extra[:10])
        diff = [(p, before[p], after[p]) for p in before if before[p] != after[p]]
        assert not diff, "%d znodes differ, first: %r" % (len(diff), diff[:3])

        # The owner's session came across: its client reconnects with Apache's session id and
        # password, its ephemerals stay, and it can still write.
        wait_until(lambda: owner.connected and owner.client_id[0] == session, timeout=30,
                   msg="the owner's session reconnected to ours")
        owner.create("/after-import", b"by the carried-over session", ephemeral=True)
        assert c.get("/after-import")[1].ephemeralOwner == session
        assert c.exists("/brokers/ids/0").ephemeralOwner == session

        log = open(srv.log_path, "rb").read().decode("utf-8", "replace")
        assert "imported Apache ZooKeeper's data" in log, log[-2000:]
        moved = os.path.join(srv.data_dir, "apache-zookeeper-import", "version-2")
        assert sorted(f for f in os.listdir(moved) if f != "IMPORTED") == apache_files

        # Restarted: our own snapshot and log, nothing imported twice, the tree unchanged.
        owner.stop()
        owner.close()
        c.stop()
        c.close()
        srv.kill9()
        srv.start()
        c = KazooClient(hosts=srv.hosts, timeout=10.0)
        c.start(timeout=30)
        c.add_auth("digest", "alice:alice-secret")
        c.add_auth("digest", "bob:pw")
        again = dump(c)
        assert again["/brokers/topics/t01"] == after["/brokers/topics/t01"]
        assert set(again) >= set(after) - {"/after-import", "/brokers/ids/0", "/controller"}
        log = open(srv.log_path, "rb").read().decode("utf-8", "replace")
        assert log.count("imported Apache ZooKeeper's data") == 1
    finally:
        for k in (c, owner):
            try:
                k.stop()
                k.close()
            except Exception:
                pass
        srv.kill9()


@pytest.mark.skipif(not _apache_available(), reason="Debian's zookeeper package (Apache ZooKeeper 3.8) is not installed")
def test_our_export_starts_apache_with_the_same_tree_and_sessions(tmp_path, _binary):
    """The way back: ours serves a workload, stops, `zk-server --export-apache` writes its state
    as an Apache snapshot; Apache ZooKeeper 3.8 started on it (same port) shows the same tree
    and the connected client's session carries on."""
    ours = ZkServer("ours", str(tmp_path / "ours"))
    ours.start()
    c = KazooClient(hosts=ours.hosts, timeout=10.0)
    owner = KazooClient(hosts=ours.hosts, timeout=30.0)
    apache = None
    try:
        c.start(timeout=30)
        owner.start(timeout=30)
        workload(c, owner)
        c.add_auth("digest", "alice:alice-secret")
        c.add_auth("digest", "bob:pw")
        before = dump(c)
        session = owner.client_id[0]
        c.stop()
        c.close()
        ours.stop()

        cfg = os.path.join(ours.workdir, "zookeeper.properties")
        target = tmp_path / "apache" / "data"
        out = subprocess.run([ours._command(cfg)[0], "--export-apache", str(target), cfg],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "exported" in out.stdout, out.stdout
        # A second export into the same place is refused, not mixed.
        again = subprocess.run([ours._command(cfg)[0], "--export-apache", str(target), cfg],
                               capture_output=True, text=True, timeout=60)
        assert again.returncode != 0 and "not empty" in again.stderr, again.stderr

        apache = ZkServer("apache", str(tmp_path / "apache"))
        apache.port = ours.port
        apache.start()
        c = KazooClient(hosts=apache.hosts, timeout=10.0)
        c.start(timeout=30)
        c.add_auth("digest", "alice:alice-secret")
        c.add_auth("digest", "bob:pw")
        after = dump(c)
        # /zookeeper/config is Apache's own (its server list); compare the rest.
        for d in (before, after):
            d.pop("/zookeeper/config", None)
        missing = sorted(set(before) - set(after))
        extra = sorted(set(after) - set(before))
        assert not missing and not extra, "missing %r, extra %r" % (missing[:10], extra[:10])
        diff = [(p, before[p], after[p]) for p in before if before[p] != after[p]]
        assert not diff, "%d znodes differ, first: %r" % (len(diff), diff[:3])
        wait_until(lambda: owner.connected and owner.client_id[0] == session, timeout=30,
                   msg="the owner's session reconnected to Apache ZooKeeper")
        owner.create("/after-export", b"x", ephemeral=True)
        assert c.exists("/after-export").ephemeralOwner == session
    finally:
        for k in (c, owner):
            try:
                k.stop()
                k.close()
            except Exception:
                pass
        ours.kill9()
        if apache is not None:
            apache.kill9()
