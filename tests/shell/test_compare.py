"""The same scripted session through our zookeeper-shell and through Apache's zkCli.

(1) both shells against Apache ZooKeeper 3.8: the outputs must match line by line (stdout and
    stderr separately), after masking zxids, times and session ids; watch notifications, which
    zkCli prints from another thread, are compared as a set.
(2) our shell against the server under test (ZK_SERVER, default ours) must print what zkCli
    prints against Apache.
"""

import pytest

from conftest import make_chroot, run_shell, run_zkcli, split_output

# Avoided on purpose: `version` (differs by design), `create /x ""` then `get` (the client
# library cannot tell empty from null data, see get.rs), commands zkCli crashes on
# (`delete -v abc`).
# No watch fires while `printwatches off` is in effect: whether such an event is printed
# depends on whether the client's event thread runs before the next `printwatches on`, a race
# in zkCli and in ours alike.
SCRIPT = """\
ls /
create /a
create /a/b hello
create /a/c "two words"
create -s /a/seq-
create -s /a/seq- data
create -e /a/eph
create -c /cont
create -t 60000 /ttl
get /a
get /a/b
get /a/c
get -s /a/b
ls /a
ls -s /a
ls -R /
stat /a/b
set /a/b world
set -s /a/b again
set -v 99 /a/b x
get /a/b
delete /a
delete /nonexistent
delete -v 5 /a/c
getAcl /a
getAcl -s /a/b
create /acl data world:anyone:r
getAcl /acl
setAcl /a world:anyone:cdrw
getAcl /a
setAcl -s /a/b world:anyone:cdrwa
getAllChildrenNumber /a
getEphemerals /no-such-prefix
sync /a
stat -w /a/b
set /a/b w1
get -w /a/b
ls -w /a
create /a/d
set /a/b w2
removewatches /a/b
get -w /a/b
removewatches /a/b -d
ls /a
stat /a/b
printwatches off
get -w /a/b
printwatches
printwatches on
ls -x /a
set /a/b
get
foo
create /a/b
create /a/eph/child
get a/b
get /a//b
create -c -s /bad
deleteall /a
ls /
history
redo 1
ls /
whoami
quit
"""


def assert_same(ours, theirs, what, session_events=True):
    o_lines, o_events = split_output(ours)
    t_lines, t_events = split_output(theirs)
    if not session_events:
        o_events = [e for e in o_events if "type:None" not in e]
        t_events = [e for e in t_events if "type:None" not in e]
    for i, (a, b) in enumerate(zip(o_lines, t_lines)):
        assert a == b, "%s line %d differs:\n ours:   %r\n zkCli:  %r\n(ours:\n%s\nzkCli:\n%s)" % (
            what, i + 1, a, b, "\n".join(o_lines), "\n".join(t_lines))
    assert len(o_lines) == len(t_lines), "%s: %d lines vs zkCli's %d:\nours:\n%s\nzkCli:\n%s" % (
        what, len(o_lines), len(t_lines), "\n".join(o_lines), "\n".join(t_lines))
    assert o_events == t_events, "%s watch events differ:\n ours:  %s\n zkCli: %s" % (what, o_events, t_events)


@pytest.fixture(scope="session")
def zkcli_reference(apache_server):
    """zkCli's transcript of SCRIPT against Apache ZooKeeper (in a fresh chroot)."""
    rc, out, err = run_zkcli(make_chroot(apache_server, "zkcli"), stdin_text=SCRIPT)
    assert "Exception in thread" not in err, err
    return rc, out, err


def test_same_output_as_zkcli_against_apache(shell_bin, apache_server, zkcli_reference):
    rc, out, err = run_shell([make_chroot(apache_server, "ours")], stdin_text=SCRIPT)
    z_rc, z_out, z_err = zkcli_reference
    assert "panicked" not in err
    assert_same(out, z_out, "stdout")
    assert_same(err, z_err, "stderr")
    assert rc == z_rc


def test_same_output_against_server_under_test(shell_bin, zk_server, zkcli_reference):
    rc, out, err = run_shell([make_chroot(zk_server, "ours")], stdin_text=SCRIPT)
    z_rc, z_out, z_err = zkcli_reference
    assert "panicked" not in err
    assert_same(out, z_out, "stdout")
    assert_same(err, z_err, "stderr")
    assert rc == z_rc


def test_one_shot_matches_zkcli(shell_bin, apache_server):
    """One command from the command line, as Kafka's zookeeper-shell.sh runs it."""
    hosts = make_chroot(apache_server, "oneshot")
    run_shell([hosts, "create", "/x", "{\"a\":1}"])
    for args in (["get", "/x"], ["get", "-s", "/x"], ["ls", "/"], ["get", "/missing"], ["stat", "/x"],
                 ["nosuchcommand"], ["get"]):
        rc, out, err = run_shell([hosts] + args)
        z_rc, z_out, z_err = run_zkcli(hosts, args)
        # A failing command may end zkCli before its connection event prints (a race in zkCli).
        assert_same(out, z_out, "stdout of %s" % args, session_events=(z_rc == 0))
        assert_same(err, z_err, "stderr of %s" % args)
        assert rc == z_rc, args
