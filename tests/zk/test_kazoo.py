"""kazoo (the Python client) against the server: CRUD + Stat, ephemeral/sequential,
containers, TTL, watches, multi, ACLs, sessions. Each test works under its own base path.
Opcodes kazoo lacks are sent with the raw client (zkraw)."""

import threading
import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError, BadVersionError, InvalidACLError, NoAuthError, NoChildrenForEphemeralsError,
    NodeExistsError, NoNodeError, NotEmptyError, RolledBackError, RuntimeInconsistency,
)
from kazoo.protocol.states import KazooState
from kazoo.security import ACL, Id, make_digest_acl, make_digest_acl_credential, OPEN_ACL_UNSAFE

from lib import zkraw
from lib.waiting import wait_until
from lib.zookeeper import SUPER_PASSWORD, SUPER_USER


class Events:
    """Thread-safe recorder for kazoo watch callbacks."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def __call__(self, ev):
        with self.lock:
            self.items.append((ev.type, ev.path))

    def wait(self, n, timeout=10.0):
        wait_until(lambda: len(self.items) >= n, timeout, msg="%d watch events (have %r)" % (n, self.items))
        return list(self.items)

    def settle(self, t=0.5):
        time.sleep(t)
        return list(self.items)


def raw(server):
    c = zkraw.RawClient(server.port)
    c.connect()
    return c


# ---------------------------------------------------------------------------- CRUD + Stat
def test_crud_and_stat_fields(zk, base):
    p0 = zk.exists(base)
    path = zk.create(base + "/a", b"v1")
    assert path == base + "/a"
    data, st = zk.get(base + "/a")
    assert data == b"v1"
    assert (st.version, st.cversion, st.aversion, st.numChildren, st.dataLength, st.ephemeralOwner) == (0, 0, 0, 0, 2, 0)
    assert st.czxid == st.mzxid == st.pzxid
    assert st.ctime == st.mtime and st.ctime > 0
    create_zxid = st.czxid
    assert zk.last_zxid == create_zxid or zk.last_zxid >= create_zxid

    p1 = zk.exists(base)
    assert p1.cversion == p0.cversion + 1
    assert p1.numChildren == p0.numChildren + 1
    assert p1.pzxid == create_zxid
    assert p1.mzxid == p0.mzxid and p1.version == p0.version  # child create is not a data change

    # setData of the child: bumps its version/mzxid, not the parent's cversion/pzxid
    st2 = zk.set(base + "/a", b"value-2")
    assert st2.version == 1 and st2.dataLength == 7
    assert st2.mzxid > st2.czxid == create_zxid
    assert st2.pzxid == create_zxid
    assert st2.mtime >= st2.ctime
    p2 = zk.exists(base)
    assert (p2.cversion, p2.pzxid, p2.numChildren, p2.mzxid) == (p1.cversion, p1.pzxid, p1.numChildren, p1.mzxid)

    # versioned setData
    with pytest.raises(BadVersionError):
        zk.set(base + "/a", b"x", version=0)
    st3 = zk.set(base + "/a", b"x", version=1)
    assert st3.version == 2
    assert zk.set(base + "/a", b"", version=-1).dataLength == 0

    # grandchild: parent a's pzxid/cversion move, its mzxid does not
    zk.create(base + "/a/g", b"")
    sa = zk.exists(base + "/a")
    g = zk.exists(base + "/a/g")
    assert sa.pzxid == g.czxid and sa.cversion == 1 and sa.numChildren == 1
    assert sa.mzxid == zk.exists(base + "/a").mzxid

    with pytest.raises(NotEmptyError):
        zk.delete(base + "/a")
    with pytest.raises(BadVersionError):
        zk.delete(base + "/a/g", version=5)
    zk.delete(base + "/a/g", version=0)
    delete_zxid = zk.last_zxid
    sa2 = zk.exists(base + "/a")
    assert sa2.cversion == 2 and sa2.numChildren == 0
    assert sa2.pzxid == delete_zxid > g.czxid
    assert sa2.mzxid == sa.mzxid

    zk.delete(base + "/a")
    assert zk.exists(base + "/a") is None
    p3 = zk.exists(base)
    assert p3.cversion == p1.cversion + 1 and p3.numChildren == p0.numChildren


def test_error_codes(zk, base):
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"x")
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.create(base + "/no/parent", b"x")
    assert zk.exists(base + "/missing") is None
    zk.create(base + "/x")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/x")
    zk.create(base + "/x/y")
    with pytest.raises(NotEmptyError):
        zk.delete(base + "/x")
    with pytest.raises(BadVersionError):
        zk.set(base + "/x", b"1", version=3)
    zk.create(base + "/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/eph/child", ephemeral=True)


def test_null_vs_empty_data_and_children(zk, base):
    zk.create(base + "/null", None)
    zk.create(base + "/empty", b"")
    zk.create(base + "/big", b"z" * 100000)
    assert zk.get(base + "/null")[0] is None
    assert zk.get(base + "/empty")[0] == b""
    d, st = zk.get(base + "/big")
    assert d == b"z" * 100000 and st.dataLength == 100000
    assert sorted(zk.get_children(base)) == ["big", "empty", "null"]
    # the root node and /zookeeper exist as in ZooKeeper
    assert "zookeeper" in zk.get_children("/")
    d, st = zk.get("/")
    assert d == b"" and st.czxid == 0 and st.ephemeralOwner == 0
    assert zk.exists("/zookeeper") is not None


def test_sequential_suffix_from_parent_cversion(zk, base):
    zk.create(base + "/plain")  # parent cversion 1
    p = zk.create(base + "/s-", b"1", sequence=True)
    assert p == base + "/s-0000000001"
    p = zk.create(base + "/s-", b"2", sequence=True)
    assert p == base + "/s-0000000002"
    # ZooKeeper stores cversion as the count of child creates and reports
    # 2*creates - numChildren; the suffix comes from the stored count, so a delete
    # bumps the reported cversion but not the next suffix.
    zk.delete(base + "/plain")
    assert zk.exists(base).cversion == 4
    p = zk.create(base + "/s-", b"3", sequence=True)
    assert p == base + "/s-0000000003"
    assert zk.exists(base).cversion == 5
    # empty prefix under a fresh parent
    zk.create(base + "/q")
    assert zk.create(base + "/q/", sequence=True) == base + "/q/0000000000"
    # ephemeral sequential
    p = zk.create(base + "/e-", ephemeral=True, sequence=True)
    assert p == base + "/e-0000000005"
    assert zk.exists(p).ephemeralOwner == zk.client_id[0]
    # a failed create does not bump cversion
    with pytest.raises(NodeExistsError):
        zk.create(base + "/q")
    assert zk.create(base + "/s-", sequence=True) == base + "/s-0000000006"


def test_ephemeral_owner_and_close(server, kazoo_factory, base):
    a = kazoo_factory(server)
    b = kazoo_factory(server)
    p = a.create(base + "/eph", b"e", ephemeral=True)
    st = b.exists(p)
    assert st.ephemeralOwner == a.client_id[0] != 0
    assert st.numChildren == 0
    ev_data, ev_child = Events(), Events()
    b.exists(p, watch=ev_data)
    b.get_children(base, watch=ev_child)
    a.stop()  # closeSession: ephemerals go now, not at timeout
    assert ev_data.wait(1) == [("DELETED", p)]
    assert ev_child.wait(1) == [("CHILD", base)]
    assert b.exists(p) is None


# ---------------------------------------------------------------------------- containers / TTL
def test_container_reaped_after_last_child(server, zk, base):
    c = raw(server)
    try:
        # as the Java client sends it: opcode createContainer (19) with flags CONTAINER (4)
        rep, path, st = c.create2(base + "/cont", b"c", flags=zkraw.CONTAINER, opname="createContainer")
        assert rep.err == 0 and path == base + "/cont"
        assert st.ephemeralOwner == 0 and st.dataLength == 1
        rep, path, st = c.create2(base + "/never", b"", flags=zkraw.CONTAINER, opname="createContainer")
        assert rep.err == 0
        rep, _, _ = c.create2(base + "/cont", b"", flags=zkraw.CONTAINER, opname="createContainer")
        assert rep.err == zkraw.NODEEXISTS
    finally:
        c.close()
    assert zk.get(base + "/cont")[0] == b"c"
    zk.create(base + "/cont/child1")
    zk.create(base + "/cont/child2")
    zk.delete(base + "/cont/child1")
    time.sleep(1.5)  # still has a child: must stay
    assert zk.exists(base + "/cont") is not None
    zk.delete(base + "/cont/child2")
    wait_until(lambda: zk.exists(base + "/cont") is None, 10, msg="container reaped")
    # a container that never had a child is not reaped (ZooKeeper 3.8 default)
    assert zk.exists(base + "/never") is not None


def test_ttl_node(server, zk, base):
    c = raw(server)
    try:
        rep, path, st = c.create_ttl(base + "/ttl", b"t", ttl=2000)
        assert rep.err == 0 and path == base + "/ttl"
        assert st.ephemeralOwner == 0 and st.dataLength == 1
        rep, path, st = c.create_ttl(base + "/ttlseq-", b"", ttl=60000, flags=zkraw.PERSISTENT_SEQUENTIAL_WITH_TTL)
        assert rep.err == 0 and path.startswith(base + "/ttlseq-") and len(path) == len(base + "/ttlseq-") + 10
        z0 = c.last_zxid
        rep, _, _ = c.create_ttl(base + "/bad", b"", ttl=0)
        assert rep.err == zkraw.BADARGUMENTS
        rep, _, _ = c.create_ttl(base + "/bad", b"", ttl=1000, flags=zkraw.PERSISTENT)
        assert rep.err == zkraw.BADARGUMENTS
        assert rep.zxid == z0 + 2  # failed writes still consume zxids
    finally:
        c.close()
    assert zk.get(base + "/ttl")[0] == b"t"
    wait_until(lambda: zk.exists(base + "/ttl") is None, 10, msg="TTL node reaped")
    assert zk.exists(path) is not None  # the 60 s one is still there


# ---------------------------------------------------------------------------- watches
def test_one_shot_data_exists_child_watches(server, kazoo_factory, base):
    w = kazoo_factory(server)  # watcher
    m = kazoo_factory(server)  # mutator
    m.create(base + "/d", b"0")
    data_ev, exist_ev, child_ev, gone_ev = Events(), Events(), Events(), Events()
    w.get(base + "/d", watch=data_ev)
    assert w.exists(base + "/new", watch=exist_ev) is None
    w.get_children(base, watch=child_ev)

    m.set(base + "/d", b"1")
    assert data_ev.wait(1) == [("CHANGED", base + "/d")]
    m.set(base + "/d", b"2")  # one-shot: no second event
    m.create(base + "/new", b"")
    assert exist_ev.wait(1) == [("CREATED", base + "/new")]
    assert child_ev.wait(1) == [("CHILD", base)]
    m.create(base + "/new2", b"")
    m.set(base + "/new", b"x")
    assert data_ev.settle(0.5) == [("CHANGED", base + "/d")]
    assert exist_ev.items == [("CREATED", base + "/new")]
    assert child_ev.items == [("CHILD", base)]

    # a child's data change does not fire the parent's child watch
    child_ev2 = Events()
    w.get_children(base, watch=child_ev2)
    m.set(base + "/new", b"y")
    assert child_ev2.settle(0.5) == []
    # exists watch on an existing node fires on delete; a data watch and child watch on a
    # deleted node both see NodeDeleted
    w.exists(base + "/new", watch=gone_ev)
    cw = Events()
    w.get_children(base + "/new", watch=cw)
    m.delete(base + "/new")
    assert gone_ev.wait(1) == [("DELETED", base + "/new")]
    assert cw.wait(1) == [("DELETED", base + "/new")]
    assert child_ev2.wait(1) == [("CHILD", base)]


def test_watch_event_precedes_new_data(server, kazoo_factory, base):
    """ZooKeeper's ordering guarantee: the watcher sees the event before it can see the change.
    Checked on the wire (a raw client reads frames in the order the server sent them): kazoo
    runs watch callbacks on another thread, so the order its callbacks and its get() return
    in is the client's scheduling, not the server's (it flaked that way on a loaded machine)."""
    m = kazoo_factory(server)
    m.create(base + "/o", b"0")
    w = raw(server)
    try:
        rep, data, _ = w.get(base + "/o", watch=True)
        assert rep.err == 0 and data == b"0"
        m.set(base + "/o", b"1")
        for _ in range(200):
            rep, data, _ = w.get(base + "/o")
            if data == b"1":
                break
            time.sleep(0.01)
        assert data == b"1"
        # read_reply collects notifications that arrive before a reply: the event for the
        # change came before the first reply that shows the new data.
        assert [(e.type, e.path) for e in w.events][:1] == [(3, base + "/o")], w.events
    finally:
        w.close()


def test_persistent_and_recursive_watches(server, zk, base):
    c = raw(server)
    try:
        assert c.add_watch(base + "/p", zkraw.ADD_WATCH_PERSISTENT).err == 0
        assert c.add_watch(base + "/r", zkraw.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
        zk.create(base + "/p", b"")
        zk.set(base + "/p", b"1")
        zk.set(base + "/p", b"2")
        zk.create(base + "/p/c", b"")
        zk.set(base + "/p/c", b"x")  # not seen by a non-recursive persistent watch
        zk.delete(base + "/p/c")
        zk.create(base + "/r", b"")
        zk.create(base + "/r/x", b"")
        zk.set(base + "/r/x", b"1")
        zk.create(base + "/r/x/y", b"")
        zk.delete(base + "/r/x/y")
        expected = [
            (zkraw.EV_CREATED, base + "/p"),
            (zkraw.EV_DATA_CHANGED, base + "/p"),
            (zkraw.EV_DATA_CHANGED, base + "/p"),
            (zkraw.EV_CHILDREN_CHANGED, base + "/p"),
            (zkraw.EV_CHILDREN_CHANGED, base + "/p"),
            (zkraw.EV_CREATED, base + "/r"),
            (zkraw.EV_CREATED, base + "/r/x"),
            (zkraw.EV_DATA_CHANGED, base + "/r/x"),
            (zkraw.EV_CREATED, base + "/r/x/y"),
            (zkraw.EV_DELETED, base + "/r/x/y"),
        ]
        evs = c.wait_events(len(expected), timeout=10)
        time.sleep(0.3)
        evs = c.wait_events(len(expected) + 1, timeout=0.3)
        assert [(e.type, e.path) for e in evs] == expected
        assert all(e.state == zkraw.STATE_SYNC_CONNECTED for e in evs)

        # checkWatches / removeWatches
        assert c.call("checkWatches", zkraw.p_str(base + "/p") + zkraw.p_int(zkraw.WT_ANY)).err == 0
        assert c.call("removeWatches", zkraw.p_str(base + "/p") + zkraw.p_int(zkraw.WT_ANY)).err == 0
        assert c.call("checkWatches", zkraw.p_str(base + "/p") + zkraw.p_int(zkraw.WT_ANY)).err == zkraw.NOWATCHER
        assert c.call("removeWatches", zkraw.p_str(base + "/nowatch") + zkraw.p_int(zkraw.WT_ANY)).err == zkraw.NOWATCHER
        n = len(c.events)
        zk.set(base + "/p", b"3")
        zk.delete(base + "/r/x")
        evs = c.wait_events(n + 2, timeout=1.0)
        assert [(e.type, e.path) for e in evs[n:]] == [(zkraw.EV_DELETED, base + "/r/x")]
    finally:
        c.close()


def test_remove_one_shot_watch_by_type(server, zk, base):
    zk.create(base + "/w", b"")
    c = raw(server)
    try:
        c.get(base + "/w", watch=True)
        c.children(base + "/w", watch=True)
        assert c.call("checkWatches", zkraw.p_str(base + "/w") + zkraw.p_int(zkraw.WT_DATA)).err == 0
        assert c.call("removeWatches", zkraw.p_str(base + "/w") + zkraw.p_int(zkraw.WT_DATA)).err == 0
        assert c.call("checkWatches", zkraw.p_str(base + "/w") + zkraw.p_int(zkraw.WT_DATA)).err == zkraw.NOWATCHER
        assert c.call("checkWatches", zkraw.p_str(base + "/w") + zkraw.p_int(zkraw.WT_CHILDREN)).err == 0
        zk.set(base + "/w", b"1")
        zk.create(base + "/w/c")
        evs = c.wait_events(1, timeout=5)
        time.sleep(0.3)
        evs = c.wait_events(2, timeout=0.3)
        assert [(e.type, e.path) for e in evs] == [(zkraw.EV_CHILDREN_CHANGED, base + "/w")]
    finally:
        c.close()


# ---------------------------------------------------------------------------- multi
def test_multi_commit_and_rollback(zk, base):
    zk.create(base + "/m", b"0")
    t = zk.transaction()
    t.create(base + "/m/a", b"a")
    t.set_data(base + "/m", b"1", version=0)
    t.check(base + "/m", 1)
    t.create(base + "/m/s-", b"", sequence=True)
    t.delete(base + "/m/a")
    res = t.commit()
    assert res[0] == base + "/m/a"
    assert res[1].version == 1
    assert res[2] is True
    assert res[3] == base + "/m/s-0000000001"
    assert res[4] is True
    zxid_ok = zk.last_zxid
    st = zk.exists(base + "/m")
    assert st.mzxid == zxid_ok and st.pzxid == zxid_ok and st.cversion == 3 and st.version == 1

    # failure in the middle: all-or-nothing, per-op results
    t = zk.transaction()
    t.create(base + "/m/b", b"b")
    t.set_data(base + "/m", b"2")
    t.create(base + "/m/s-0000000001", b"dup")
    t.delete(base + "/m/s-0000000001")
    res = t.commit()
    assert isinstance(res[0], RolledBackError)
    assert isinstance(res[1], RolledBackError)
    assert isinstance(res[2], NodeExistsError)
    assert isinstance(res[3], RuntimeInconsistency)
    assert zk.last_zxid == zxid_ok + 1  # the failed multi consumed a zxid
    assert zk.exists(base + "/m/b") is None
    d, st2 = zk.get(base + "/m")
    assert d == b"1" and st2.version == 1 and st2.cversion == 3

    # check op failing
    t = zk.transaction()
    t.check(base + "/m", 7)
    t.create(base + "/m/c")
    res = t.commit()
    assert isinstance(res[0], BadVersionError) and isinstance(res[1], RuntimeInconsistency)
    t = zk.transaction()
    t.check(base + "/m/nope", -1)
    res = t.commit()
    assert isinstance(res[0], NoNodeError)


def test_multi_raw_results_and_multiread(server, zk, base):
    zk.create(base + "/k", b"kk")
    zk.create(base + "/k/c1")
    c = raw(server)
    try:
        rep, res = c.multi([
            ("create2", zkraw.body_create(base + "/k/c2", b"x")),
            ("setData", zkraw.body_set_data(base + "/k", b"k2", 0)),
            ("check", zkraw.body_path_version(base + "/k", 1)),
        ])
        assert rep.err == 0
        # ZooKeeper 3.8 answers a create2 inside a multi with a plain create result (type 1,
        # path only); a create2 result with the stat is also fine for clients.
        assert res[0] == (zkraw.OP["create"], base + "/k/c2") or (
            res[0][0] == zkraw.OP["create2"] and res[0][1][0] == base + "/k/c2" and res[0][1][1].czxid == rep.zxid)
        assert res[1][0] == zkraw.OP["setData"] and res[1][1].version == 1
        assert res[2] == (zkraw.OP["check"], None)
        rep2, res2 = c.multi([
            ("check", zkraw.body_path_version(base + "/k", 1)),
            ("delete", zkraw.body_path_version(base + "/k/missing")),
            ("delete", zkraw.body_path_version(base + "/k/c1")),
        ])
        assert rep2.err == 0 and rep2.zxid == rep.zxid + 1
        assert res2 == [(-1, 0), (-1, zkraw.NONODE), (-1, zkraw.RUNTIMEINCONSISTENCY)]
        # multiRead: per-op results, errors inline
        rep3, res3 = None, None
        rep3 = c.call("multi" if False else "multiRead", zkraw.body_multi([
            ("getData", zkraw.body_path_watch(base + "/k")),
            ("getChildren", zkraw.body_path_watch(base + "/k")),
            ("getData", zkraw.body_path_watch(base + "/k/none")),
        ]))
        assert rep3.err == 0 and rep3.zxid == rep2.zxid
        res3 = zkraw.parse_multi(rep3.body)
        assert res3[0][0] == zkraw.OP["getData"] and res3[0][1][0] == b"k2" and res3[0][1][1].version == 1
        assert res3[1][0] == zkraw.OP["getChildren"] and sorted(res3[1][1]) == ["c1", "c2"]
        assert res3[2] == (-1, zkraw.NONODE)
        # empty multi
        rep4, res4 = c.multi([])
        assert rep4.err == 0 and res4 == []
    finally:
        c.close()


# ---------------------------------------------------------------------------- ACL / auth
def test_digest_acl_and_auth(server, kazoo_factory, base):
    owner = kazoo_factory(server, auth_data=[("digest", "alice:pw-a")])
    anon = kazoo_factory(server)
    bob = kazoo_factory(server, auth_data=[("digest", "bob:pw-b")])
    acl_alice = make_digest_acl("alice", "pw-a", all=True)
    owner.create(base + "/sec", b"secret", acl=[acl_alice])
    acls, st = owner.get_acls(base + "/sec")
    assert acls == [acl_alice] and st.aversion == 0
    assert acls[0].id.id == make_digest_acl_credential("alice", "pw-a")
    with pytest.raises(NoAuthError):
        anon.get(base + "/sec")
    with pytest.raises(NoAuthError):
        bob.set(base + "/sec", b"x")
    with pytest.raises(NoAuthError):
        bob.create(base + "/sec/child")
    assert owner.get(base + "/sec")[0] == b"secret"
    # exists needs no permission; getACL needs READ or ADMIN (ZooKeeper 3.8)
    assert anon.exists(base + "/sec") is not None
    with pytest.raises(NoAuthError):
        anon.get_acls(base + "/sec")
    # adding auth later on an open session works
    anon.add_auth("digest", "alice:pw-a")
    assert anon.get(base + "/sec")[0] == b"secret"

    # read-only for world
    ro = ACL(1, Id("world", "anyone"))
    owner.create(base + "/ro", b"r", acl=[ro])
    assert bob.get(base + "/ro")[0] == b"r"
    with pytest.raises(NoAuthError):
        bob.set(base + "/ro", b"w")
    with pytest.raises(NoAuthError):
        bob.create(base + "/ro/c")
    with pytest.raises(NoAuthError):
        bob.set_acls(base + "/ro", OPEN_ACL_UNSAFE)
    # delete needs DELETE on the parent, not on the node
    owner.create(base + "/nodel", b"", acl=[ACL(31 & ~8, Id("world", "anyone"))])
    owner.create(base + "/nodel/c", b"", acl=[ACL(1, Id("world", "anyone"))])
    with pytest.raises(NoAuthError):
        bob.delete(base + "/nodel/c")
    owner.create(base + "/yesdel", b"", acl=[ACL(12, Id("world", "anyone"))])
    owner.create(base + "/yesdel/c", b"", acl=[ACL(0, Id("world", "anyone"))])
    bob.delete(base + "/yesdel/c")

    # auth scheme: the creator's identities
    owner.create(base + "/authacl", b"a", acl=[ACL(31, Id("auth", ""))])
    acls, _ = owner.get_acls(base + "/authacl")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "digest", make_digest_acl_credential("alice", "pw-a"))]
    with pytest.raises(NoAuthError):
        bob.get(base + "/authacl")


def test_invalid_acl_and_set_acl_version(server, kazoo_factory, base):
    anon = kazoo_factory(server)
    with pytest.raises(InvalidACLError):
        anon.create(base + "/x", b"", acl=[ACL(31, Id("auth", ""))])  # no authenticated identity
    with pytest.raises(InvalidACLError):
        anon.create(base + "/x", b"", acl=[ACL(31, Id("digest", "no-colon-here"))])
    with pytest.raises(InvalidACLError):
        anon.create(base + "/x", b"", acl=[ACL(31, Id("nosuchscheme", "x"))])
    assert anon.exists(base + "/x") is None
    anon.create(base + "/x", b"")
    with pytest.raises(BadVersionError):
        anon.set_acls(base + "/x", [ACL(31, Id("world", "anyone"))], version=3)
    st = anon.set_acls(base + "/x", [ACL(15, Id("world", "anyone"))], version=0)
    assert st.aversion == 1 and st.version == 0
    with pytest.raises(NoAuthError):  # ADMIN permission is gone now
        anon.set_acls(base + "/x", OPEN_ACL_UNSAFE, version=-1)
    anon.create(base + "/y", b"")
    st = anon.set_acls(base + "/y", OPEN_ACL_UNSAFE, version=-1)
    assert st.aversion == 1
    with pytest.raises(NoNodeError):
        anon.set_acls(base + "/nope", OPEN_ACL_UNSAFE)
    # an empty ACL list is invalid (kazoo replaces [] by the default, so send it raw)
    c = raw(server)
    try:
        z0 = c.exists("/")[0].zxid
        rep, _ = c.create(base + "/empty-acl", b"", acl=[])
        assert rep.err == zkraw.INVALIDACL and rep.zxid == z0 + 1
        assert c.call("setACL", zkraw.body_set_acl(base + "/y", [], -1)).err == zkraw.INVALIDACL
    finally:
        c.close()


def test_ip_acl(server, kazoo_factory, base):
    c = kazoo_factory(server)
    c.create(base + "/ip-ok", b"1", acl=[ACL(31, Id("ip", "127.0.0.1"))])
    c.create(base + "/ip-net", b"2", acl=[ACL(31, Id("ip", "127.0.0.0/8"))])
    c.create(base + "/ip-no", b"3", acl=[ACL(31, Id("ip", "10.1.2.3"))])
    assert c.get(base + "/ip-ok")[0] == b"1"
    assert c.get(base + "/ip-net")[0] == b"2"
    with pytest.raises(NoAuthError):
        c.get(base + "/ip-no")


def test_super_digest_admin(server, kazoo_factory, base):
    alice = kazoo_factory(server, auth_data=[("digest", "alice:pw")])
    alice.create(base + "/locked", b"L", acl=[make_digest_acl("alice", "pw", all=True)])
    alice.create(base + "/locked/c", b"", acl=[make_digest_acl("alice", "pw", all=True)])
    root = kazoo_factory(server, auth_data=[("digest", "%s:%s" % (SUPER_USER, SUPER_PASSWORD))])
    assert root.get(base + "/locked")[0] == b"L"
    root.set(base + "/locked", b"M")
    root.set_acls(base + "/locked", OPEN_ACL_UNSAFE)
    root.delete(base + "/locked/c")
    wrong = kazoo_factory(server, auth_data=[("digest", "%s:wrong" % SUPER_USER)])
    alice.set_acls(base + "/locked", [make_digest_acl("alice", "pw", all=True)])
    with pytest.raises(NoAuthError):
        wrong.get(base + "/locked")


def test_whoami_and_auth_failure(server):
    c = raw(server)
    try:
        rep = c.call("whoAmI")
        assert rep.err == 0
        r = zkraw.Reader(rep.body)
        n = r.int()
        assert [(r.str(), r.str()) for _ in range(n)] == [("ip", "127.0.0.1")]
        assert c.auth_digest("carol", "pw").err == 0
        rep = c.call("whoAmI")
        r = zkraw.Reader(rep.body)
        n = r.int()
        assert sorted((r.str(), r.str()) for _ in range(n)) == [("digest", "carol"), ("ip", "127.0.0.1")]
        # unknown scheme: AUTH_FAILED
        c.send("auth", zkraw.p_int(0) + zkraw.p_str("nosuchscheme") + zkraw.p_buf("x"), xid=zkraw.AUTH_XID)
        assert c.read_reply().err == zkraw.AUTHFAILED
    finally:
        c.close()


# ---------------------------------------------------------------------------- sessions
def test_negotiated_timeout_clamped(server):
    for asked, want in ((100, 1000), (5000, 5000), (10 ** 6, 40000)):
        c = zkraw.RawClient(server.port)
        try:
            tmo, sid, pw, _ = c.connect(timeout_ms=asked)
            assert tmo == want and sid != 0 and len(pw) == 16
        finally:
            c.close_session()
            c.close()


def test_session_expiry_deletes_ephemerals_and_fires_watches(server, kazoo_factory, base):
    obs = kazoo_factory(server)
    c = zkraw.RawClient(server.port)
    tmo, sid, pw, _ = c.connect(timeout_ms=1500)
    assert tmo == 1500
    rep, p = c.create(base + "/gone", b"", flags=zkraw.EPHEMERAL)
    assert rep.err == 0
    rep, p2 = c.create(base + "/gone-", b"", flags=zkraw.EPHEMERAL_SEQUENTIAL)
    assert obs.exists(p).ephemeralOwner == sid
    ev_data, ev_child = Events(), Events()
    obs.exists(p, watch=ev_data)
    obs.get_children(base, watch=ev_child)
    t0 = time.time()
    # stop heartbeating (socket stays open): the server must expire the session
    assert ev_data.wait(1, timeout=15) == [("DELETED", p)]
    elapsed = time.time() - t0
    assert ev_child.wait(1) == [("CHILD", base)]
    assert 1.0 <= elapsed <= 10.0, elapsed
    assert obs.exists(p) is None and obs.exists(p2) is None
    # the expired session cannot be resumed: timeOut 0 in the connect response
    c.close()
    c2 = zkraw.RawClient(server.port)
    try:
        try:
            tmo2, _, _, _ = c2.connect(timeout_ms=1500, session_id=sid, passwd=pw)
            assert tmo2 == 0
        except zkraw.Closed:
            pass
    finally:
        c2.close()


def test_session_closed_by_same_session_client_kazoo_sees_lost(server, kazoo_factory, base):
    a = kazoo_factory(server, timeout=4.0)
    states = []
    a.add_listener(lambda s: states.append(s))
    a.create(base + "/eph", ephemeral=True)
    sid, pw = a.client_id
    c = zkraw.RawClient(server.port)
    try:
        tmo, sid2, _, _ = c.connect(timeout_ms=4000, session_id=sid, passwd=pw)
        assert sid2 == sid and tmo == 4000
        rep, data, st = c.get(base + "/eph")
        assert rep.err == 0 and st.ephemeralOwner == sid
        c.close_session()
    finally:
        c.close()
    wait_until(lambda: KazooState.LOST in states, 15, msg="kazoo LOST state")
    obs = kazoo_factory(server)
    assert obs.exists(base + "/eph") is None


def test_wrong_password_is_rejected(server, kazoo_factory):
    a = kazoo_factory(server)
    sid, pw = a.client_id
    c = zkraw.RawClient(server.port)
    try:
        try:
            tmo, _, _, _ = c.connect(timeout_ms=4000, session_id=sid, passwd=b"\x01" * 16)
            assert tmo == 0
        except zkraw.Closed:
            pass
    finally:
        c.close()
    # the real owner keeps its session (ZooKeeper may drop its connection; kazoo reconnects)
    assert a.retry(a.exists, "/") is not None
    assert a.client_id[0] == sid


def test_reconnect_same_session_keeps_ephemerals(server, kazoo_factory, base):
    a = kazoo_factory(server, timeout=10.0)
    states = []
    a.add_listener(lambda s: states.append(s))
    p = a.create(base + "/keep", b"k", ephemeral=True)
    sid, pw = a.client_id
    # drop the TCP connection under kazoo: it reconnects with the same session
    import socket as _s
    a._connection._socket.shutdown(_s.SHUT_RDWR)
    wait_until(lambda: KazooState.SUSPENDED in states, 10, msg="SUSPENDED")
    wait_until(lambda: states and states[-1] == KazooState.CONNECTED, 15, msg="re-CONNECTED")
    assert a.client_id[0] == sid
    st = a.exists(p)
    assert st is not None and st.ephemeralOwner == sid
    assert a.get(p)[0] == b"k"
    # a second client handed the same session id+password sees the same session
    b = kazoo_factory(server, timeout=10.0, client_id=(sid, pw), start=False)
    a._stopped.set()  # stop a's reconnect loop without closing the session
    a.stop = lambda: None
    try:
        a._connection._socket.shutdown(_s.SHUT_RDWR)
    except Exception:
        pass
    b.start(timeout=15)
    assert b.client_id[0] == sid
    assert b.exists(p).ephemeralOwner == sid
    b.create(base + "/keep2", ephemeral=True)
    b.stop()
    obs = kazoo_factory(server)
    assert obs.exists(p) is None and obs.exists(base + "/keep2") is None


def test_reconnect_set_watches_fires_missed_events(server, kazoo_factory, base):
    m = kazoo_factory(server)
    m.create(base + "/d", b"0")
    m.create(base + "/c")
    m.create(base + "/del")
    m.create(base + "/same", b"s")
    m.create(base + "/samec")
    c1 = zkraw.RawClient(server.port)
    tmo, sid, pw, _ = c1.connect(timeout_ms=10000)
    c1.create(base + "/mine", b"", flags=zkraw.EPHEMERAL)
    c1.get(base + "/d", watch=True)
    c1.exists(base + "/x", watch=True)
    c1.children(base + "/c", watch=True)
    c1.get(base + "/del", watch=True)
    c1.get(base + "/same", watch=True)
    c1.children(base + "/samec", watch=True)
    last = c1.last_zxid
    c1.close()  # connection lost, session alive
    m.set(base + "/d", b"1")
    m.create(base + "/x")
    m.create(base + "/c/kid")
    m.delete(base + "/del")
    c2 = zkraw.RawClient(server.port)
    try:
        tmo, sid2, _, _ = c2.connect(timeout_ms=10000, session_id=sid, passwd=pw, last_zxid=last)
        assert sid2 == sid and tmo == 10000
        rep = c2.call("setWatches", zkraw.body_set_watches(
            last, data=[base + "/d", base + "/del", base + "/same"], exist=[base + "/x"],
            child=[base + "/c", base + "/samec"]))
        assert rep.err == 0
        evs = c2.wait_events(4, timeout=5)
        got = sorted((e.type, e.path) for e in evs)
        assert got == sorted([
            (zkraw.EV_DATA_CHANGED, base + "/d"),
            (zkraw.EV_CREATED, base + "/x"),
            (zkraw.EV_CHILDREN_CHANGED, base + "/c"),
            (zkraw.EV_DELETED, base + "/del"),
        ])
        # unchanged paths got their watches re-armed
        m.set(base + "/same", b"t")
        m.create(base + "/samec/k")
        evs = c2.wait_events(6, timeout=5)
        assert sorted((e.type, e.path) for e in evs[4:]) == sorted([
            (zkraw.EV_DATA_CHANGED, base + "/same"), (zkraw.EV_CHILDREN_CHANGED, base + "/samec")])
        rep, _, st = c2.get(base + "/mine")
        assert rep.err == 0 and st.ephemeralOwner == sid
    finally:
        c2.close_session()
        c2.close()


def test_set_watches2_persistent(server, kazoo_factory, base):
    m = kazoo_factory(server)
    c1 = zkraw.RawClient(server.port)
    tmo, sid, pw, _ = c1.connect(timeout_ms=10000)
    last = c1.last_zxid or m.exists("/").pzxid
    c1.close()
    c2 = zkraw.RawClient(server.port)
    try:
        c2.connect(timeout_ms=10000, session_id=sid, passwd=pw, last_zxid=last)
        rep = c2.call("setWatches2", zkraw.body_set_watches2(
            c2.last_zxid, persistent=[base + "/p"], recursive=[base + "/r"]))
        assert rep.err == 0
        m.create(base + "/p")
        m.set(base + "/p", b"1")
        m.create(base + "/r")
        m.create(base + "/r/a")
        evs = c2.wait_events(4, timeout=5)
        assert [(e.type, e.path) for e in evs] == [
            (zkraw.EV_CREATED, base + "/p"), (zkraw.EV_DATA_CHANGED, base + "/p"),
            (zkraw.EV_CREATED, base + "/r"), (zkraw.EV_CREATED, base + "/r/a")]
    finally:
        c2.close_session()
        c2.close()


def test_get_ephemerals_all_children_number(server, kazoo_factory, base):
    c = raw(server)
    try:
        for p in ("/e1", "/e2", "/sub"):
            flags = zkraw.EPHEMERAL if p != "/sub" else zkraw.PERSISTENT
            assert c.create(base + p, b"", flags=flags)[0].err == 0
        assert c.create(base + "/sub/e3", b"", flags=zkraw.EPHEMERAL)[0].err == 0
        assert c.create(base + "/sub/p", b"")[0].err == 0
        assert c.create(base + "/sub/p/q", b"")[0].err == 0
        other = kazoo_factory(server)
        other.create(base + "/others", ephemeral=True)
        rep = c.call("getEphemerals", zkraw.p_str(base))
        assert rep.err == 0
        assert sorted(zkraw.Reader(rep.body).strs()) == sorted([base + "/e1", base + "/e2", base + "/sub/e3"])
        rep = c.call("getEphemerals", zkraw.p_str(base + "/sub"))
        assert zkraw.Reader(rep.body).strs() == [base + "/sub/e3"]
        rep = c.call("getAllChildrenNumber", zkraw.p_str(base))
        assert rep.err == 0 and zkraw.Reader(rep.body).int() == 7
        rep = c.call("getAllChildrenNumber", zkraw.p_str(base + "/sub/p/q"))
        assert rep.err == 0 and zkraw.Reader(rep.body).int() == 0
        rep = c.call("getAllChildrenNumber", zkraw.p_str(base + "/nope"))
        assert rep.err == zkraw.NONODE
    finally:
        c.close()


def test_sync_and_get_acl_default(zk, base):
    zk.create(base + "/s", b"")
    assert zk.sync(base + "/s") in (base + "/s", None)
    acls, st = zk.get_acls(base + "/s")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "world", "anyone")]
    assert st.aversion == 0


def test_one_event_per_connection_for_overlapping_watches(server, zk, base):
    """A getData watch and an exists watch on one path are one server-side data watch for the
    connection: one NodeDataChanged. On delete, data + child watches of the same connection
    give a single NodeDeleted."""
    zk.create(base + "/w", b"")
    c = raw(server)
    try:
        c.get(base + "/w", watch=True)
        c.exists(base + "/w", watch=True)
        zk.set(base + "/w", b"1")
        c.wait_events(1, timeout=5)
        time.sleep(0.3)
        evs = c.wait_events(2, timeout=0.3)
        assert [(e.type, e.path) for e in evs] == [(zkraw.EV_DATA_CHANGED, base + "/w")]
        c.get(base + "/w", watch=True)
        c.children(base + "/w", watch=True)
        c.children(base, watch=True)
        zk.delete(base + "/w")
        c.wait_events(3, timeout=5)
        time.sleep(0.3)
        evs = c.wait_events(4, timeout=0.3)
        assert sorted((e.type, e.path) for e in evs[1:]) == sorted([
            (zkraw.EV_DELETED, base + "/w"), (zkraw.EV_CHILDREN_CHANGED, base)])
    finally:
        c.close()


def test_many_watchers_all_notified(server, kazoo_factory, base):
    m = kazoo_factory(server)
    m.create(base + "/hot", b"0")
    clients = [raw(server) for _ in range(20)]
    try:
        for c in clients:
            assert c.get(base + "/hot", watch=True)[0].err == 0
        m.set(base + "/hot", b"1")
        for c in clients:
            evs = c.wait_events(1, timeout=5)
            assert [(e.type, e.path) for e in evs] == [(zkraw.EV_DATA_CHANGED, base + "/hot")]
    finally:
        for c in clients:
            c.close()


def test_concurrent_sequential_creates_unique_and_dense(server, kazoo_factory, base):
    clients = [kazoo_factory(server) for _ in range(4)]
    results = [[] for _ in clients]

    def work(i):
        c = clients[i]
        asyncs = [c.create_async(base + "/q-", b"%d" % i, sequence=True) for _ in range(50)]
        results[i].extend(a.get(timeout=30) for a in asyncs)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    paths = [p for r in results for p in r]
    assert len(paths) == 200 and len(set(paths)) == 200
    assert sorted(int(p.rsplit("-", 1)[1]) for p in paths) == list(range(200))
    for r in results:  # one session's creates are applied in order
        nums = [int(p.rsplit("-", 1)[1]) for p in r]
        assert nums == sorted(nums)
    st = clients[0].exists(base)
    assert st.numChildren == 200 and st.cversion == 200


def test_many_children_and_large_listing(zk, base):
    names = ["child-%04d-%s" % (i, "x" * 40) for i in range(1000)]
    asyncs = [zk.create_async(base + "/" + n, b"") for n in names]
    for a in asyncs:
        a.get(timeout=30)
    kids, st = zk.get_children(base, include_data=True)
    assert sorted(kids) == names and st.numChildren == 1000 and st.cversion == 1000
    assert zk.exists(base).pzxid == zk.exists(base + "/" + names[-1]).czxid


def test_times_are_wall_clock_ms(zk, base):
    before = int(time.time() * 1000)
    zk.create(base + "/t", b"")
    _, st = zk.get(base + "/t")
    after = int(time.time() * 1000)
    assert before - 2000 <= st.ctime <= after + 2000 and st.mtime == st.ctime
    time.sleep(0.05)
    st2 = zk.set(base + "/t", b"x")
    assert st2.mtime > st2.ctime and st2.ctime == st.ctime


def test_ttl_refreshed_by_set_data_and_kept_with_children(server, zk, base):
    c = raw(server)
    try:
        assert c.create_ttl(base + "/busy", b"", ttl=2500)[0].err == 0
        assert c.create_ttl(base + "/parent", b"", ttl=1000)[0].err == 0
    finally:
        c.close()
    zk.create(base + "/parent/kid")
    t_end = time.time() + 4.0
    while time.time() < t_end:  # mtime keeps moving: never older than the TTL
        zk.set(base + "/busy", b"x")
        time.sleep(0.3)
    assert zk.exists(base + "/busy") is not None
    assert zk.exists(base + "/parent") is not None  # has a child: kept although expired
    zk.delete(base + "/parent/kid")
    wait_until(lambda: zk.exists(base + "/busy") is None, 12, msg="TTL node reaped after updates stop")
    wait_until(lambda: zk.exists(base + "/parent") is None, 12, msg="expired TTL node reaped once childless")


def test_nested_containers_cascade(server, zk, base):
    c = raw(server)
    try:
        for p in ("/c1", "/c1/c2"):
            assert c.create2(base + p, b"", flags=zkraw.CONTAINER, opname="createContainer")[0].err == 0
    finally:
        c.close()
    zk.create(base + "/c1/c2/leaf")
    zk.delete(base + "/c1/c2/leaf")
    wait_until(lambda: zk.exists(base + "/c1/c2") is None, 10, msg="inner container reaped")
    wait_until(lambda: zk.exists(base + "/c1") is None, 10, msg="outer container reaped in turn")


def test_no_watch_left_by_a_denied_read(server, kazoo_factory, base):
    """A read refused with NoAuth registers no watch; and ZooKeeper 3.8 sends no watch
    notification about a node to a connection that cannot READ it."""
    owner = kazoo_factory(server, auth_data=[("digest", "o:pw")])
    owner.create(base + "/priv", b"", acl=[make_digest_acl("o", "pw", all=True)])
    c = raw(server)
    try:
        assert c.get(base + "/priv", watch=True)[0].err == zkraw.NOAUTH
        assert c.children(base + "/priv", watch=True)[0].err == zkraw.NOAUTH
        rep, st = c.exists(base + "/priv", watch=True)  # exists needs no permission
        assert rep.err == 0 and st is not None
        owner.set(base + "/priv", b"1")
        evs = c.wait_events(1, timeout=1.0)
        assert evs == [], "notification about a node this connection cannot read: %r" % evs
        owner.set_acls(base + "/priv", OPEN_ACL_UNSAFE)
        owner.create(base + "/priv/kid", b"")
        owner.set(base + "/priv", b"2")
        evs = c.wait_events(1, timeout=1.0)
        assert evs == [], "a refused read left a watch behind: %r" % evs
        # control: now readable, a watch works
        assert c.get(base + "/priv", watch=True)[0].err == 0
        owner.set(base + "/priv", b"3")
        evs = c.wait_events(1, timeout=5)
        assert [(e.type, e.path) for e in evs] == [(zkraw.EV_DATA_CHANGED, base + "/priv")]
    finally:
        c.close()


def test_multi_builds_a_subtree_with_ephemerals(server, kazoo_factory, base):
    a = kazoo_factory(server)
    t = a.transaction()
    t.create(base + "/p", b"p")
    t.create(base + "/p/q", b"q")
    t.create(base + "/p/q/e", b"e", ephemeral=True)
    t.create(base + "/p/s-", b"", sequence=True)
    t.create(base + "/p/es-", b"", ephemeral=True, sequence=True)
    res = a.transaction_result = t.commit()
    assert res == [base + "/p", base + "/p/q", base + "/p/q/e", base + "/p/s-0000000001", base + "/p/es-0000000002"]
    z = a.last_zxid
    for p in res:
        st = a.exists(p)
        assert st.czxid == z and st.mzxid == z, p
    assert a.exists(base + "/p/q/e").ephemeralOwner == a.client_id[0]
    assert a.exists(base + "/p/es-0000000002").ephemeralOwner == a.client_id[0]
    assert a.exists(base + "/p").cversion == 3 and a.exists(base + "/p").pzxid == z
    # a child of an ephemeral inside the same multi is refused and nothing is applied
    t = a.transaction()
    t.create(base + "/p/e2", b"", ephemeral=True)
    t.create(base + "/p/e2/x", b"")
    res = t.commit()
    assert isinstance(res[0], RolledBackError) and isinstance(res[1], NoChildrenForEphemeralsError)
    assert a.exists(base + "/p/e2") is None
    a.stop()
    obs = kazoo_factory(server)
    assert sorted(obs.get_children(base + "/p")) == ["q", "s-0000000001"]
    assert obs.get_children(base + "/p/q") == []


def test_multi_checks_acls_per_op(server, kazoo_factory, base):
    owner = kazoo_factory(server, auth_data=[("digest", "o:pw")])
    owner.create(base + "/locked", b"L", acl=[make_digest_acl("o", "pw", all=True)])
    other = kazoo_factory(server)
    t = other.transaction()
    t.create(base + "/mine", b"")
    t.set_data(base + "/locked", b"hacked")
    res = t.commit()
    assert isinstance(res[0], RolledBackError) and isinstance(res[1], NoAuthError)
    assert other.exists(base + "/mine") is None
    assert owner.get(base + "/locked")[0] == b"L"
    t = other.transaction()
    t.check(base + "/locked", 0)  # check needs READ too
    res = t.commit()
    assert isinstance(res[0], NoAuthError)


def test_auth_acl_with_several_identities(server, kazoo_factory, base):
    c = kazoo_factory(server, auth_data=[("digest", "a:1"), ("digest", "b:2")])
    c.create(base + "/two", b"", acl=[ACL(31, Id("auth", ""))])
    acls, _ = c.get_acls(base + "/two")
    assert sorted((x.perms, x.id.scheme, x.id.id) for x in acls) == sorted([
        (31, "digest", make_digest_acl_credential("a", "1")), (31, "digest", make_digest_acl_credential("b", "2"))])
    only_b = kazoo_factory(server, auth_data=[("digest", "b:2")])
    assert only_b.get(base + "/two")[0] == b""
