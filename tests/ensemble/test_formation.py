"""Groups form (3 and 5 members), writes through any member are visible on every other after
sync; restarting every member keeps the data; a missing or wrong myid is a clear error."""

import os
import time

import pytest

from ensharness import converged, sync_read_all, wait_serves
from lib.waiting import wait_until
from lib.zookeeper import parse_mntr


def member_client(kazoo_factory, m, **kw):
    """A client of exactly this member."""
    return kazoo_factory(m.host, **kw)


@pytest.mark.parametrize("n", [3, 5])
def test_group_forms_and_writes_are_visible_everywhere(n, make_ensemble, kazoo_factory, report, server_kind):
    t0 = time.time()
    ens = make_ensemble(n)
    formed_s = time.time() - t0
    modes = {m.sid: m.mode() for m in ens.members}
    assert sorted(modes.values()) == ["follower"] * (n - 1) + ["leader"], modes
    leader = ens.leader()
    for m in ens.members:
        assert m.four("isro").strip() == "rw", m
    # the leader sees every other member replicating from it
    def followers():
        mn = parse_mntr(leader.four("mntr"))
        # Apache ZooKeeper 3.8 says zk_learners where 3.4/3.5 and ours say zk_followers
        f = mn.get("zk_followers") if server_kind == "ours" else mn.get("zk_learners")
        return mn if f == str(n - 1) and mn.get("zk_synced_followers") == str(n - 1) else None
    mn = wait_until(followers, timeout=10, msg="zk_followers == zk_synced_followers == %d on the leader" % (n - 1))
    assert mn["zk_server_state"] == "leader"
    for m in ens.members:
        if m is not leader:
            assert "zk_synced_followers" not in parse_mntr(m.four("mntr")), "a follower reports zk_synced_followers"
    report("%d members formed in %.2fs, leader member %d" % (n, formed_s, leader.sid))

    base_nodes = leader.srvr()["nodes"]  # 5 on Apache (an empty ensemble), 4 on ours
    clients = [member_client(kazoo_factory, m) for m in ens.members]
    clients[0].create("/vis")
    # every member takes writes: creates, a shared counter, a delete
    for i, (m, c) in enumerate(zip(ens.members, clients)):
        c.create("/vis/m%d" % m.sid, b"from-%d" % m.sid)
        c.ensure_path("/vis/shared")
        st = c.set("/vis/shared", b"%d" % i)
        assert st.version == i + 1, "shared node version %d after %d sets" % (st.version, i + 1)
        c.create("/vis/gone-%d" % m.sid)
        c.delete("/vis/gone-%d" % m.sid)
    views = {}
    for m, c in zip(ens.members, clients):
        views[m.sid] = sync_read_all(c, "/vis")
        for o in ens.members:
            assert c.get("/vis/m%d" % o.sid)[0] == b"from-%d" % o.sid, "member %d does not see member %d's write" % (m.sid, o.sid)
        assert c.get("/vis/shared")[0] == b"%d" % (n - 1)
        assert sorted(c.get_children("/vis")) == sorted(["shared"] + ["m%d" % o.sid for o in ens.members])
    first = views[ens.members[0].sid]
    for sid, v in views.items():
        assert v == first, "member %d's tree differs from member 1's" % sid
    zxid, nodes = converged(ens)
    assert nodes == base_nodes + 1 + n + 1, "node count %d, %d before" % (nodes, base_nodes)


def read_tree(client, root):
    return sync_read_all(client, root)


def test_restart_all_keeps_data(make_ensemble, kazoo_factory, report):
    ens = make_ensemble(3)
    c = kazoo_factory(ens.hosts)
    c.create("/keep")
    c.create("/serves")
    for i in range(60):
        c.create("/keep/n%03d" % i, b"v%d" % i)
    for i in range(0, 60, 3):
        c.set("/keep/n%03d" % i, b"w%d" % i)
    before = read_tree(c, "/keep")
    zxid_before, nodes_before = converged(ens)
    c.stop()

    # 1: clean stop of every member (SIGTERM), then start
    for m in ens.members:
        m.stop()
    ens.start()
    for m in ens.members:
        wait_serves(m, "/serves", what=" after every member was stopped and started")
    # 2: kill -9 of every member, then start
    ens.kill_all()
    ens.start()
    for m in ens.members:
        wait_serves(m, "/serves", what=" after every member was killed and started")
    for m in ens.members:
        mc = member_client(kazoo_factory, m)
        after = read_tree(mc, "/keep")
        assert after == before, "member %d lost data over restarts: %d of %d paths" % (m.sid, len(after), len(before))
        mc.create("/after-%d" % m.sid)  # and writes work again
    zxid_after, nodes_after = converged(ens)
    assert nodes_after == nodes_before + 3
    assert zxid_after > zxid_before
    report("restart of all members: %d nodes kept, zxid %#x -> %#x" % (nodes_before, zxid_before, zxid_after))


def test_missing_or_wrong_myid_is_a_clear_error(make_ensemble, kazoo_factory, server_kind):
    ens = make_ensemble(3)
    m = ens.members[2]
    m.kill9()
    myid = os.path.join(m.data_dir, "myid")
    cases = [("missing", None), ("no server.7 line", "7"), ("not a number", "three"), ("zero", "0")]
    for what, text in cases:
        if text is None:
            os.remove(myid)
        else:
            m.write_myid(text)
        mark = len(m.log_text())
        m.spawn()
        try:
            rc = m.proc.wait(20)
        except Exception:
            m.kill9()
            pytest.fail("myid %s: the member kept running instead of refusing to start:\n%s" % (what, m.log_tail()))
        out = m.log_text()[mark:]
        assert rc != 0, "myid %s: exit status 0" % what
        if server_kind == "ours":  # (Apache says e.g. "serverid three is not a number")
            assert "myid" in out, "myid %s: the error does not name myid:\n%s" % (what, out)
            lines = [l for l in out.splitlines() if "myid" in l]
            assert any(l.startswith("zk-server:") for l in lines), "myid %s: no one-line error:\n%s" % (what, out)
    # the right myid again: it joins and catches up
    m.write_myid()
    c = kazoo_factory(ens.members[0].host)
    c.create("/myid-ok", b"1")
    m.start()
    ens.wait_formed()
    mc = member_client(kazoo_factory, m)
    mc.sync("/")
    assert mc.get("/myid-ok")[0] == b"1"
