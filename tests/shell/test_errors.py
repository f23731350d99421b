"""Failures are one clear line on stderr with zkCli's wording and exit code, never a panic."""

from kazoo.security import make_digest_acl

from conftest import run_shell
from lib.ports import free_port


def one_shot(hosts, *args):
    rc, out, err = run_shell([hosts] + list(args))
    assert "panicked" not in err and "RUST_BACKTRACE" not in err, err
    return rc, out, err


def test_unknown_command_prints_usage_and_exits_127(shell_bin, chroot_hosts):
    rc, out, err = one_shot(chroot_hosts, "frobnicate", "/x")
    assert rc == 127
    lines = err.splitlines()
    assert lines[0] == "ZooKeeper -server host:port -client-configuration properties-file cmd args"
    assert "\tls [-s] [-w] [-R] path" in lines
    assert lines[-1] == "Command not found: Command not found frobnicate"


def test_wrong_arguments_print_the_command_usage(shell_bin, chroot_hosts):
    for args, usage in ((["get"], "get [-s] [-w] path"), (["set", "/x"], "set [-s] [-v version] path data"),
                        (["create"], "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
                        (["ls"], "ls [-s] [-w] [-R] path")):
        rc, out, err = one_shot(chroot_hosts, *args)
        assert (rc, err) == (1, usage + "\n"), args


def test_bad_options_and_values_are_one_line(shell_bin, chroot_hosts):
    rc, _, err = one_shot(chroot_hosts, "ls", "-x", "/")
    assert (rc, err) == (1, "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x\n")
    rc, _, err = one_shot(chroot_hosts, "set", "-v", "abc", "/x", "d")
    assert rc == 1 and len(err.splitlines()) == 1 and "abc" in err
    rc, _, err = one_shot(chroot_hosts, "get", "nope")
    assert (rc, err) == (1, "Path must start with / character\n")


def test_no_node(shell_bin, chroot_hosts):
    rc, out, err = one_shot(chroot_hosts, "get", "/x")
    assert (rc, err) == (1, "Node does not exist: /x\n")
    assert out.startswith("Connecting to %s\n" % chroot_hosts)
    rc, out, err = one_shot(chroot_hosts, "stat", "/x")
    assert (rc, err) == (1, "Node does not exist: /x\n")


def test_node_exists_not_empty_bad_version(shell_bin, chroot_hosts):
    assert one_shot(chroot_hosts, "create", "/p", "v")[2] == "Created /p\n"
    assert one_shot(chroot_hosts, "create", "/p/c")[0] == 0
    rc, _, err = one_shot(chroot_hosts, "create", "/p")
    assert (rc, err) == (1, "Node already exists: /p\n")
    rc, _, err = one_shot(chroot_hosts, "delete", "/p")
    assert (rc, err) == (1, "Node not empty: /p\n")
    rc, _, err = one_shot(chroot_hosts, "set", "-v", "7", "/p", "x")
    assert (rc, err) == (1, "version No is not valid : /p\n")
    rc, _, err = one_shot(chroot_hosts, "delete", "-v", "7", "/p/c")
    assert (rc, err) == (1, "version No is not valid : /p/c\n")
    assert one_shot(chroot_hosts, "deleteall", "/p")[0] == 0
    assert one_shot(chroot_hosts, "get", "/p")[0] == 1


def test_no_auth(shell_bin, zk_server, kazoo):
    acl = make_digest_acl("owner", "secret", all=True)
    kazoo.create("/locked-%d" % free_port(), b"s3cret", acl=[acl])
    path = [p for p in kazoo.get_children("/") if p.startswith("locked-")][-1]
    rc, out, err = one_shot(zk_server.hosts, "get", "/" + path)
    assert (rc, err) == (1, "Insufficient permission : /%s\n" % path)
    # With the right credentials (addauth in a piped session) the data is readable.
    rc, out, err = run_shell([zk_server.hosts], "addauth digest owner:secret\nget /%s\n" % path)
    assert "s3cret" in out.splitlines(), (out, err)


def test_connection_refused_names_the_address(shell_bin):
    port = free_port()
    rc, out, err = one_shot("127.0.0.1:%d" % port, "ls", "/")
    assert rc == 1
    assert len(err.splitlines()) == 1, err
    assert "127.0.0.1:%d" % port in err and "refused" in err.lower(), err


def test_binary_data_is_escaped(shell_bin, zk_server, kazoo):
    path = "/bin-%d" % free_port()
    kazoo.create(path, b"\xff\x00ok\x1b[31m\xc3\xa9")
    rc, out, err = one_shot(zk_server.hosts, "get", path)
    assert rc == 0, err
    assert out.splitlines()[-1] == "\\xff\\x00ok\\x1b[31m\u00e9"


def test_piped_script_exit_code_is_the_last_commands(shell_bin, chroot_hosts):
    rc, out, err = run_shell([chroot_hosts], "ls /\nget /missing\n")
    assert rc == 1 and err == "Node does not exist: /missing\n"
    rc, out, err = run_shell([chroot_hosts], "get /missing\nls /\n")
    assert rc == 0
    rc, out, err = run_shell([chroot_hosts], "nosuch\n")
    assert rc == 127


def test_ephemeral_nodes_go_away_when_the_shell_quits(shell_bin, chroot_hosts):
    rc, out, err = run_shell([chroot_hosts], "create -e /eph\ngetEphemerals /\nquit\n")
    assert "[/eph]" in out.splitlines(), out
    rc, out, err = one_shot(chroot_hosts, "ls", "/")
    assert out.splitlines()[-1] == "[]"


def test_lost_server_is_reported_in_one_line(shell_bin, tmp_path_factory, request):
    """The server dies mid-session: the shell reports the disconnect and the expiry as zkCli's
    watcher does, the next command fails in one line, and nothing panics or hangs."""
    import subprocess
    import time

    from conftest import SERVER_KIND, start_server
    from lib.paths import SHELL_BIN

    server = start_server("apache" if SERVER_KIND == "apache" else "ours", tmp_path_factory, request)
    proc = subprocess.Popen([SHELL_BIN, "-timeout", "2000", server.hosts], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"ls /zookeeper\n")
        proc.stdin.flush()
        time.sleep(1.0)
        server.kill9()
        time.sleep(0.5)
        out, err = proc.communicate(b"ls /\nls /\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    assert "panicked" not in err
    assert "WatchedEvent state:Disconnected type:None path:null" in out
    assert "Not connected" in out or "KeeperErrorCode = " in err, (out, err)
    for line in err.splitlines():
        assert line.startswith("KeeperErrorCode = "), err
