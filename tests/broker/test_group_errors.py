"""Bad input to the group coordinator, with raw frames: each gets Kafka's error code and
the broker keeps serving (unknown group, empty or unknown member id, wrong generation,
oversize commit metadata, bad session timeout, empty group id, inconsistent protocols)."""

from lib import kraw
from lib.kraw import kstr

UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79


def coordinator_conn(cluster, group):
    conn = kraw.Conn(cluster.brokers[0].port)
    import time

    deadline = time.time() + 20
    while True:
        err, node = kraw.find_coordinator(conn, group)
        if err == 0 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert (err, node) == (0, 0)
    # The partition may still be loading right after the topic was created.
    while kraw.heartbeat(conn, group, 1, "x") in (14, NOT_COORDINATOR) and time.time() < deadline:
        time.sleep(0.2)
    return conn


def test_group_protocol_errors(cluster):
    from confluent_kafka.admin import AdminClient, NewTopic

    a = AdminClient({"bootstrap.servers": cluster.bootstrap})
    a.create_topics([NewTopic("errs", 1, 1)], operation_timeout=10)["errs"].result(15)
    g = "bad-input-group"
    conn = coordinator_conn(cluster, g)
    # Unknown group: heartbeat / sync / leave name the member unknown.
    assert kraw.heartbeat(conn, "no-such-group", 1, "m") == UNKNOWN_MEMBER_ID
    assert kraw.sync_group(conn, "no-such-group", 1, "m")[0] == UNKNOWN_MEMBER_ID
    assert kraw.leave_group(conn, "no-such-group", "m") == UNKNOWN_MEMBER_ID
    # A join with a member id the group never handed out.
    assert kraw.join_group(conn, "no-such-group", member_id="made-up")["error"] == UNKNOWN_MEMBER_ID
    # Empty group id; session timeout outside group.min/max.session.timeout.ms.
    assert kraw.join_group(conn, "")["error"] == INVALID_GROUP_ID
    assert kraw.join_group(conn, g, session=10)["error"] == INVALID_SESSION_TIMEOUT
    # v4: an empty member id first gets MEMBER_ID_REQUIRED with the id to use.
    r = kraw.join_group(conn, g)
    assert r["error"] == MEMBER_ID_REQUIRED and r["member_id"]
    r = kraw.join_group(conn, g, member_id=r["member_id"])
    assert r["error"] == 0 and r["generation"] == 1 and r["leader"] == r["member_id"] and len(r["members"]) == 1
    me, gen = r["member_id"], r["generation"]
    # Another member with a protocol nobody else supports.
    assert kraw.join_group(conn, g, version=3, protocols=(("other", b""),))["error"] == INCONSISTENT_GROUP_PROTOCOL
    # Wrong generation, empty member id.
    assert kraw.sync_group(conn, g, gen + 5, me)[0] == ILLEGAL_GENERATION
    assert kraw.heartbeat(conn, g, gen, "") == UNKNOWN_MEMBER_ID
    err, assignment = kraw.sync_group(conn, g, gen, me, [(me, b"\x00\x01")])
    assert (err, assignment) == (0, b"\x00\x01")
    assert kraw.heartbeat(conn, g, gen, me) == 0
    assert kraw.heartbeat(conn, g, gen - 1, me) == ILLEGAL_GENERATION
    # Commits: right member/generation ok; wrong generation; oversize metadata; unknown topic.
    assert kraw.offset_commit(conn, g, gen, me, "errs", 0, 7) == 0
    assert kraw.offset_commit(conn, g, gen + 1, me, "errs", 0, 8) == ILLEGAL_GENERATION
    assert kraw.offset_commit(conn, g, -1, "", "errs", 0, 8) == UNKNOWN_MEMBER_ID
    assert kraw.offset_commit(conn, g, gen, me, "errs", 0, 9, metadata="x" * 5000) == OFFSET_METADATA_TOO_LARGE
    assert kraw.offset_commit(conn, g, gen, me, "no-such-topic", 0, 9) == UNKNOWN_TOPIC_OR_PARTITION
    assert kraw.offset_fetch(conn, g, "errs", 0) == (7, 0)
    assert kraw.offset_fetch(conn, "never-committed", "errs", 0) == (-1, 0)
    # Group-less commit to a fresh group id with a generation is refused.
    assert kraw.offset_commit(conn, "fresh-group", 3, "m", "errs", 0, 1) == ILLEGAL_GENERATION
    # Delete: not while it has members; unknown group.
    assert kraw.delete_groups(conn, g) == NON_EMPTY_GROUP
    assert kraw.delete_groups(conn, "no-such-group") == GROUP_ID_NOT_FOUND
    assert kraw.leave_group(conn, g, me) == 0
    assert kraw.heartbeat(conn, g, gen, me) == UNKNOWN_MEMBER_ID
    assert kraw.delete_groups(conn, g) == 0
    assert kraw.offset_fetch(conn, g, "errs", 0) == (-1, 0)
    conn.close()


def test_truncated_group_request_closes_only_that_connection(cluster):
    conn = kraw.Conn(cluster.brokers[0].port)
    # JoinGroup v4 cut after the group id: the codec fails, the connection is closed.
    bad = kraw.frame(kraw.header(11, 4, 1) + kstr("g") + b"\x00\x00")
    conn.s.sendall(bad)
    assert kraw.read_frame(conn.s) is None
    conn.close()
    ok = kraw.Conn(cluster.brokers[0].port)
    assert kraw.find_coordinator(ok, "g")[0] in (0, 15)
    ok.close()
