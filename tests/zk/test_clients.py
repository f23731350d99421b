"""The Java client (zkCli, scripted on stdin) and the C client (cli_mt) against the server."""

import os
import re
import subprocess
import time
import uuid

import pytest

from lib.paths import CLI_MT, CLIENT_CP
from lib.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def zkcli(server, commands, timeout=60):
    """Run zkCli with commands piped on stdin (ends with quit); returns (stdout, stderr)."""
    script = "\n".join(commands + ["quit"]) + "\n"
    r = subprocess.run(
        ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", CLIENT_CP,
         "org.apache.zookeeper.ZooKeeperMain", "-server", server.hosts],
        input=script, capture_output=True, text=True, timeout=timeout,
    )
    # exit status follows the last command's success, so it is not checked here
    assert r.returncode in (0, 1), (r.returncode, r.stdout, r.stderr)
    return r.stdout, r.stderr


def stat_block(text):
    return dict(re.findall(r"^(\w+) = (.*)$", text, re.M))


@pytest.mark.skipif(not os.path.exists("/usr/share/java/zookeeper.jar"), reason="zookeeper package missing")
def test_zkcli_scripted_session(server, kazoo_factory):
    b = "/cli-" + uuid.uuid4().hex[:8]
    out, err = zkcli(server, [
        "create %s hello" % b,
        "create %s/a" % b,
        "create -e %s/eph e1" % b,
        "create -s %s/seq- s" % b,
        "get %s" % b,
        "set %s world" % b,
        "get %s" % b,
        "stat %s" % b,
        "ls %s" % b,
        "getEphemerals %s" % b,
        "getAllChildrenNumber %s" % b,
        "set -v 7 %s nope" % b,
        "delete %s/a" % b,
        "create %s/x/y" % b,
        "get %s/nonexist" % b,
        "create %s/a" % b,
        "create %s/a" % b,
        "delete %s" % b,
        "getAcl %s" % b,
        "create -c %s/cont" % b,
        "create -t 60000 %s/ttl t" % b,
        "ls %s" % b,
        "whoami",
    ])
    lines = out.splitlines()
    assert "hello" in lines and "world" in lines, out
    assert lines.index("hello") < lines.index("world")
    st = stat_block(out)
    assert st["dataVersion"] == "1" and st["numChildren"] == "3" and st["cversion"] == "3", out
    assert st["dataLength"] == "5" and st["ephemeralOwner"] == "0x0" and st["aclVersion"] == "0", out
    assert "[a, eph, seq-0000000002]" in lines, out
    assert "[%s/eph]" % b in lines, out
    assert "3" in lines, out
    assert "Created %s" % b in err and "Created %s/seq-0000000002" % b in err, err
    assert "Node does not exist: %s/x/y" % b in err, err
    assert "Node does not exist: %s/nonexist" % b in err, err
    assert "Node already exists: %s/a" % b in err, err
    assert re.search(r"version No is not valid : %s" % re.escape(b), err), err
    assert "Node not empty: %s" % b in err, err
    assert "'world,'anyone\n: cdrwa" in out, out
    assert "Created %s/cont" % b in err and "Created %s/ttl" % b in err, err
    assert "[a, cont, eph, seq-0000000002, ttl]" in lines, out
    assert "ip: 127.0.0.1" in out, out
    # the zkCli session is closed: its ephemeral is gone, the rest is there
    zk = kazoo_factory(server)
    assert zk.exists(b + "/eph") is None
    assert sorted(zk.get_children(b)) == ["a", "cont", "seq-0000000002", "ttl"]
    assert zk.get(b)[0] == b"world"


@pytest.mark.skipif(not os.path.exists("/usr/share/java/zookeeper.jar"), reason="zookeeper package missing")
def test_zkcli_acl_and_auth(server, kazoo_factory):
    b = "/cliacl-" + uuid.uuid4().hex[:8]
    out, err = zkcli(server, [
        "addauth digest alice:secret",
        "create %s data auth::cdrwa" % b,
        "getAcl %s" % b,
        "get %s" % b,
        "setAcl -v 5 %s world:anyone:r" % b,
        "setAcl -v 0 %s auth::rwcda" % b,
        "stat %s" % b,
    ])
    assert "'digest,'alice:" in out, out
    assert "data" in out.splitlines(), out
    assert "version No is not valid" in err, err
    assert stat_block(out)["aclVersion"] == "1", out
    out2, err2 = zkcli(server, ["get %s" % b])
    assert "Insufficient permission : %s" % b in err2, err2
    out3, err3 = zkcli(server, ["addauth digest alice:secret", "get %s" % b, "delete %s" % b, "ls %s" % b])
    assert "data" in out3.splitlines(), (out3, err3)
    assert "Node does not exist: %s" % b in err3, err3


def cli_batch(server, cmd, timeout=20):
    r = subprocess.run([CLI_MT, "-h", server.hosts, "-c", cmd], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout + r.stderr


@pytest.mark.skipif(not os.path.exists(CLI_MT), reason="zookeeper-bin (cli_mt) missing")
def test_c_client_cli_mt_batch(server, kazoo_factory):
    b = "/cmt-" + uuid.uuid4().hex[:8]
    out = cli_batch(server, "create %s" % b)
    assert "[%s]: rc = 0" % b in out and "name = %s" % b in out, out
    out = cli_batch(server, "create %s" % b)
    assert "[%s]: rc = -110" % b in out, out
    out = cli_batch(server, "set %s hello" % b)
    assert "%s: rc = 0" % b in out and "version=1" in out, out
    out = cli_batch(server, "get %s" % b)
    assert "%s: rc = 0" % b in out and "value_len = 5" in out and "\nhello\n" in out, out
    out = cli_batch(server, "create +s %s/s-" % b)
    assert "name = %s/s-0000000000" % b in out, out
    out = cli_batch(server, "ls %s" % b)
    assert "%s: rc = 0" % b in out and "\ts-0000000000" in out, out
    out = cli_batch(server, "delete %s" % b)
    assert "%s: rc = -111" % b in out, out
    out = cli_batch(server, "delete %s/nope" % b)
    assert "%s/nope: rc = -101" % b in out, out
    out = cli_batch(server, "delete %s/s-0000000000" % b)
    assert "rc = 0" in out, out
    zk = kazoo_factory(server)
    assert zk.get(b)[0] == b"hello" and zk.get_children(b) == []


@pytest.mark.skipif(not os.path.exists(CLI_MT), reason="zookeeper-bin (cli_mt) missing")
def test_c_client_cli_mt_ephemeral_session(server, kazoo_factory):
    b = "/cmte-" + uuid.uuid4().hex[:8]
    zk = kazoo_factory(server)
    zk.create(b)
    p = subprocess.Popen([CLI_MT, server.hosts], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        p.stdin.write("create +e %s/eph\nset %s/eph abc\n" % (b, b))
        p.stdin.flush()
        st = wait_until(lambda: zk.exists(b + "/eph"), 15, msg="ephemeral from cli_mt")
        wait_until(lambda: zk.get(b + "/eph")[0] == b"abc", 10, msg="data set by cli_mt")
        owner = zk.exists(b + "/eph").ephemeralOwner
        assert owner != 0
        p.stdin.write("quit\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    m = re.search(r"Got a new session id: 0x([0-9a-f]+)", out)
    assert m and int(m.group(1), 16) == owner, out
    assert "[%s/eph]: rc = 0" % b in out, out
    wait_until(lambda: zk.exists(b + "/eph") is None, 15, msg="ephemeral gone after cli_mt quit")


class InteractiveZkCli:
    """zkCli kept open, fed line by line; output collected by a reader thread."""

    def __init__(self, server):
        import threading
        self.p = subprocess.Popen(
            ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", CLIENT_CP,
             "org.apache.zookeeper.ZooKeeperMain", "-server", server.hosts],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def wait_for(self, pattern, timeout=30, start=0):
        rx = re.compile(pattern)
        wait_until(lambda: any(rx.search(l) for l in self.lines[start:]), timeout,
                   msg="zkCli output %r; got:\n%s" % (pattern, "\n".join(self.lines[-30:])))

    def close(self):
        try:
            self.send("quit")
            self.p.wait(15)
        except Exception:
            pass
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def _java_watch_restart(make_server, kazoo_factory, crash, setup_cmds, changes, expect):
    server = make_server()
    zk = kazoo_factory(server, timeout=20.0)
    zk.create("/w", b"v0")
    zk.create("/c")
    cli = InteractiveZkCli(server)
    try:
        cli.wait_for(r"state:SyncConnected type:None")
        for cmd in setup_cmds:
            cli.send(cmd)
        cli.send("get /w")
        cli.wait_for(r"^v0$")
        time.sleep(0.5)
        mark = len(cli.lines)
        assert not any("Disconnected" in l or "ConnectionLoss" in l for l in cli.lines), \
            "zkCli lost its connection before the restart:\n" + "\n".join(cli.lines)
        server.restart(crash=crash)
        cli.wait_for(r"state:Disconnected", start=mark)
        cli.wait_for(r"state:SyncConnected type:None", start=mark)
        wait_until(lambda: zk.connected, 30, msg="kazoo reconnected")
        mark = len(cli.lines)
        changes(zk)
        for pattern in expect:
            cli.wait_for(pattern, start=mark)
        assert not any("Expired" in l for l in cli.lines), "\n".join(cli.lines)
    finally:
        cli.close()


@pytest.mark.skipif(not os.path.exists("/usr/share/java/zookeeper.jar"), reason="zookeeper package missing")
@pytest.mark.parametrize("crash", [False, True], ids=["graceful", "kill9"])
def test_java_client_watches_survive_server_restart(make_server, kazoo_factory, crash):
    """The Java client re-registers its one-shot watches (setWatches) after reconnecting to
    the restarted server; changes made afterwards fire them."""
    def changes(zk):
        zk.set("/w", b"v1")
        zk.create("/c/kid")
    _java_watch_restart(make_server, kazoo_factory, crash, ["get -w /w", "ls -w /c"], changes, [
        r"type:NodeDataChanged path:/w$", r"type:NodeChildrenChanged path:/c$"])


@pytest.mark.skipif(not os.path.exists("/usr/share/java/zookeeper.jar"), reason="zookeeper package missing")
def test_java_client_persistent_watch_survives_server_restart(make_server, kazoo_factory):
    """addWatch from the Java client, then setWatches2 after a crash-restart."""
    def changes(zk):
        zk.create("/r")
        zk.create("/r/a")
        zk.set("/r/a", b"x")
    _java_watch_restart(make_server, kazoo_factory, True, ["addWatch -m PERSISTENT_RECURSIVE /r"], changes, [
        r"type:NodeCreated path:/r$", r"type:NodeCreated path:/r/a$", r"type:NodeDataChanged path:/r/a$"])
