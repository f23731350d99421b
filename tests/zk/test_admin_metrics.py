"""The AdminServer (admin.enableServer, GET /commands/<name>, JSON as ZooKeeper 3.8) and the
Prometheus endpoint (metricsProvider.className=...PrometheusMetricsProvider, GET /metrics) of
our zk-server, on free 127.0.0.1 ports, against real state made with kazoo: the JSON values
and the metric samples must agree with `mntr` and follow the tree.

Apache comparison: Debian's zookeeper 3.8 package depends on Jetty 9 and Jackson
(libjetty9-java, libjackson2-*), so its AdminServer can run when those jars are installed;
`test_key_sets_match_apache` then starts Apache with its AdminServer on a free port and checks
that, for a few commands, every key Apache returns is one ours returns too (ours may not add
keys Apache lacks either, except where noted). Debian does not package Prometheus'
simpleclient, so Apache's PrometheusMetricsProvider cannot run there: /metrics is checked
against the 3.8 metric names documented in zk/src/server/prometheus.rs. Without the jars
the comparison is skipped and our answers are still checked against 3.8's documented key sets
(the other tests here).

Run: cargo build --release -p zk && python3 -m pytest -q tests/zk/test_admin_metrics.py
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from lib.paths import APACHE_CP, JAVA_DIR, java_available
from lib.ports import free_port, wait_port
from lib.waiting import wait_until
from lib.zookeeper import ZkServer, four_letter, parse_mntr

PROMETHEUS = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"


def http_get(port, path, timeout=10.0, method="GET"):
    """(status, content type, body text) of an HTTP request to 127.0.0.1:port."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def command(port, name):
    status, ctype, body = http_get(port, "/commands/" + name)
    assert status == 200, (name, status, body)
    assert ctype.startswith("application/json"), ctype
    doc = json.loads(body)
    assert doc["error"] is None, doc
    return doc


def metrics(port):
    """/metrics' samples as {name: float}; every sample has a TYPE line."""
    status, ctype, body = http_get(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
    typed, out = set(), {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            assert name in typed, line
            out[name] = float(value)
    return out


def mntr(srv):
    return parse_mntr(four_letter(srv.port, "mntr"))


@pytest.fixture
def admin_server(make_server, server_kind):
    if server_kind != "ours":
        pytest.skip("the admin/metrics tests start our server with its HTTP listeners")
    admin_port, metrics_port = free_port(), free_port()
    srv = make_server({
        "admin.enableServer": "true",
        "admin.serverAddress": "127.0.0.1",
        "admin.serverPort": admin_port,
        "metricsProvider.className": PROMETHEUS,
        "metricsProvider.httpHost": "127.0.0.1",
        "metricsProvider.httpPort": metrics_port,
    })
    assert wait_port(admin_port) and wait_port(metrics_port), srv.log_tail()
    srv.admin_port, srv.metrics_port = admin_port, metrics_port
    return srv


def test_command_list_and_envelope(admin_server):
    status, ctype, body = http_get(admin_server.admin_port, "/commands")
    assert status == 200 and "text/html" in ctype
    for name in ("monitor", "connections", "dump", "watch_summary", "leader", "voting_view"):
        assert '<a href="/commands/%s">%s</a>' % (name, name) in body
    names = ["ruok", "monitor", "mntr", "srvr", "stat", "conf", "cons", "connections", "dump", "environment",
             "is_read_only", "dirs", "initial_configuration", "last_snapshot", "voting_view",
             "system_properties", "watches", "watch_summary", "watches_by_path"]
    primary = {"mntr": "monitor", "srvr": "server_stats", "stat": "stats", "conf": "configuration",
               "cons": "connections"}
    for n in names:
        doc = command(admin_server.admin_port, n)
        assert doc["command"] == primary.get(n, n), doc
    assert command(admin_server.admin_port, "ruok") == {"command": "ruok", "error": None}


def test_unknown_command_is_404(admin_server):
    """3.8.0 answers 200 with this body; ours answers 404 with the same body (see admin.rs)."""
    status, ctype, body = http_get(admin_server.admin_port, "/commands/no_such_thing")
    assert status == 404
    assert json.loads(body) == {"command": "no_such_thing", "error": "Unknown command: no_such_thing"}
    assert http_get(admin_server.admin_port, "/elsewhere")[0] == 404
    assert http_get(admin_server.metrics_port, "/nothing-here")[0] == 404


def test_monitor_agrees_with_mntr_and_follows_the_tree(admin_server, kazoo_factory):
    zk = kazoo_factory(admin_server)
    before = command(admin_server.admin_port, "monitor")
    assert before["znode_count"] == int(mntr(admin_server)["zk_znode_count"])
    base = "/adm-" + uuid.uuid4().hex[:8]
    zk.create(base)
    zk.create(base + "/a", b"x" * 100)
    zk.create(base + "/e", ephemeral=True)
    after = command(admin_server.admin_port, "monitor")
    m = mntr(admin_server)
    assert after["znode_count"] == before["znode_count"] + 3
    for key in ("znode_count", "ephemerals_count", "approximate_data_size", "global_sessions", "watch_count"):
        assert after[key] == int(m["zk_" + key]), key
    assert after["ephemerals_count"] >= 1
    assert after["server_state"] == m["zk_server_state"] == "standalone"
    srvr = command(admin_server.admin_port, "srvr")
    assert srvr["node_count"] == after["znode_count"]
    assert srvr["server_stats"]["server_state"] == "standalone"
    assert srvr["server_stats"]["num_alive_client_connections"] >= 1


def test_connections_list_the_kazoo_session(admin_server, kazoo_factory):
    zk = kazoo_factory(admin_server)
    zk.get("/")
    sid = "%x" % zk.client_id[0]
    cons = command(admin_server.admin_port, "connections")
    assert cons["secure_connections"] == []
    assert len(cons["connections"]) >= 1
    local = "%s:%d" % zk._connection._socket.getsockname()
    assert any(c["remote_socket_address"] == local for c in cons["connections"]), (local, cons)
    mine = [c for c in cons["connections"] if c.get("session_id") == sid]
    assert len(mine) == 1, (sid, cons["connections"])
    assert mine[0]["packets_received"] >= 1 and mine[0]["session_timeout"] > 0
    # `stats` lists the brief form (as 3.8 does)
    stats = command(admin_server.admin_port, "stats")
    assert any(c["remote_socket_address"] == local for c in stats["connections"])
    assert all("session_id" not in c for c in stats["connections"])


def test_watches_and_dump(admin_server, kazoo_factory):
    zk = kazoo_factory(admin_server)
    sid = zk.client_id[0]
    base = "/wd-" + uuid.uuid4().hex[:8]
    zk.create(base)
    zk.create(base + "/eph", ephemeral=True)
    zk.get(base, watch=lambda ev: None)
    by_path = command(admin_server.admin_port, "watches_by_path")["path_to_session_ids"]
    assert sid in by_path[base]
    by_session = command(admin_server.admin_port, "watches")["session_id_to_watched_paths"]
    assert base in by_session[str(sid)]
    summary = command(admin_server.admin_port, "watch_summary")
    assert summary["num_total_watches"] == int(mntr(admin_server)["zk_watch_count"]) >= 1
    dump = command(admin_server.admin_port, "dump")
    assert base + "/eph" in dump["session_id_to_ephemeral_paths"][str(sid)]
    assert any(sid in ids for ids in dump["expiry_time_to_session_ids"].values())
    assert command(admin_server.admin_port, "is_read_only")["read_only"] is False
    conf = command(admin_server.admin_port, "configuration")
    assert conf["client_port"] == admin_server.port and conf["tick_time"] == 500
    assert "admin.enableServer=true" in command(admin_server.admin_port, "initial_configuration")["initial_configuration"]


def test_metrics_agree_with_mntr(admin_server, kazoo_factory):
    zk = kazoo_factory(admin_server)
    base = "/met-" + uuid.uuid4().hex[:8]
    zk.create(base)
    zk.create(base + "/e", ephemeral=True)
    zk.exists(base + "/nothing", watch=lambda ev: None)
    samples = metrics(admin_server.metrics_port)
    m = mntr(admin_server)
    for key in ("znode_count", "watch_count", "ephemerals_count", "approximate_data_size", "global_sessions",
                "num_alive_connections", "outstanding_requests"):
        assert samples[key] == float(m["zk_" + key]), key
    for key in ("packets_received", "packets_sent", "avg_latency", "min_latency", "max_latency",
                "open_file_descriptor_count", "max_file_descriptor_count", "uptime", "quorum_size"):
        assert key in samples, key
    assert samples["quorum_size"] == 1.0
    zk.create(base + "/more")
    assert metrics(admin_server.metrics_port)["znode_count"] == samples["znode_count"] + 1


def test_hostile_requests_do_not_hurt(admin_server, kazoo_factory):
    port = admin_server.admin_port
    assert http_get(port, "/commands/monitor", method="POST")[0] == 405
    for raw in (b"\x00\x01garbage\r\n\r\n", b"GET /commands/ruok HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
                b"GET /commands/%ff%00 HTTP/1.1\r\nHost: x\r\n\r\n", b"GET " + b"/x" * 20000 + b" HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(raw)
                s.recv(1024)
            except OSError:
                pass
    # a connection that never sends a request is simply left to time out
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert command(port, "ruok")["command"] == "ruok"
    idle.close()
    assert kazoo_factory(admin_server).exists("/") is not None
    assert admin_server.alive()


def test_disabled_admin_server_listens_nowhere(make_server, server_kind):
    if server_kind != "ours":
        pytest.skip("our server only")
    port = free_port()
    srv = make_server({"admin.enableServer": "false", "admin.serverAddress": "127.0.0.1", "admin.serverPort": port})
    time.sleep(0.5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert four_letter(srv.port, "ruok") == "imok"


def test_bind_failure_is_logged_and_clients_are_served(make_server, server_kind, kazoo_factory):
    if server_kind != "ours":
        pytest.skip("our server only")
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    taken = blocker.getsockname()[1]
    try:
        srv = make_server({"admin.enableServer": "true", "admin.serverAddress": "127.0.0.1", "admin.serverPort": taken})
        assert kazoo_factory(srv).exists("/") is not None
        assert wait_until(lambda: "admin server not started" in srv.log_tail(), 10), srv.log_tail()
    finally:
        blocker.close()


# -- Apache comparison -------------------------------------------------------------------------

# What Apache's JettyAdminServer needs beside APACHE_CP (Debian: libjetty9-java, libjackson2-*).
ADMIN_JARS = ["jetty9-server.jar", "jetty9-servlet.jar", "jetty9-http.jar", "jetty9-io.jar", "jetty9-util.jar",
              "jetty9-util-ajax.jar", "jetty9-security.jar", "servlet-api.jar", "jackson-databind.jar",
              "jackson-core.jar", "jackson-annotations.jar"]


def _admin_classpath():
    """Apache's classpath plus the AdminServer's jars, or None when they are not installed."""
    jars = [os.path.join(JAVA_DIR, j) for j in ADMIN_JARS]
    if not all(os.path.exists(j) for j in jars):
        return None
    return APACHE_CP + ":" + ":".join(jars)


@pytest.fixture
def apache_admin(tmp_path):
    if not java_available():
        pytest.skip("Apache ZooKeeper (Debian zookeeper) is not installed")
    cp = _admin_classpath()
    if cp is None:
        pytest.skip("Jetty/Jackson jars not installed: Apache's AdminServer cannot run")
    srv = ZkServer("apache", str(tmp_path))
    admin_port = free_port()
    cfg = srv._write_config()
    # Config-file keys become zookeeper.* system properties in Apache, over any -D: edit the file.
    with open(cfg) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith("admin.")]
    lines += ["admin.enableServer=true", "admin.serverAddress=127.0.0.1", "admin.serverPort=%d" % admin_port]
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    cmd = [a for a in srv._command(cfg) if not a.startswith("-Dzookeeper.admin.enableServer")]
    cmd[cmd.index("-cp") + 1] = cp
    log = open(srv.log_path, "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path),
                            start_new_session=True)
    log.close()
    try:
        if not wait_port(admin_port, 40):
            pytest.fail("Apache's AdminServer did not listen:\n" + srv.log_tail())
        assert wait_until(lambda: http_get(admin_port, "/commands/ruok")[0] == 200, 30)
        srv.admin_port = admin_port
        yield srv
    finally:
        proc.kill()
        proc.wait(10)


# Keys ours returns that Apache's does not, and why (none expected beyond these).
OURS_ONLY = {
    # Apache's MonitorCommand adds the metrics provider's values only; ours has mntr's list.
    "monitor": set(),
}


def test_key_sets_match_apache(apache_admin, admin_server, kazoo_factory):
    for srv in (apache_admin, admin_server):
        zk = kazoo_factory(srv)
        zk.create("/cmp-" + uuid.uuid4().hex[:6], ephemeral=True)
        zk.get("/", watch=lambda ev: None)
    for name in ("ruok", "watch_summary", "dump", "is_read_only", "dirs", "last_snapshot", "connections",
                 "server_stats", "watches", "watches_by_path", "voting_view"):
        theirs = set(command(apache_admin.admin_port, name))
        ours = set(command(admin_server.admin_port, name))
        assert theirs == ours, (name, sorted(theirs ^ ours))
    for name in ("configuration", "stats"):
        assert set(command(apache_admin.admin_port, name)) == set(command(admin_server.admin_port, name)), name
    theirs_stats = set(command(apache_admin.admin_port, "server_stats")["server_stats"])
    assert set(command(admin_server.admin_port, "server_stats")["server_stats"]) == theirs_stats
    theirs_404 = json.loads(http_get(apache_admin.admin_port, "/commands/nope")[2])
    assert theirs_404 == json.loads(http_get(admin_server.admin_port, "/commands/nope")[2])
    theirs_mon = set(command(apache_admin.admin_port, "monitor"))
    ours_mon = set(command(admin_server.admin_port, "monitor"))
    assert ours_mon - theirs_mon <= OURS_ONLY["monitor"], sorted(ours_mon - theirs_mon)
    for name in ("connections", "stats"):
        c_theirs = command(apache_admin.admin_port, name)["connections"]
        c_ours = command(admin_server.admin_port, name)["connections"]
        assert c_theirs and c_ours and set(c_theirs[0]) == set(c_ours[0]), (name, c_theirs[0], c_ours[0])
    e_theirs = set(command(apache_admin.admin_port, "environment"))
    e_ours = set(command(admin_server.admin_port, "environment"))
    assert e_ours <= e_theirs, sorted(e_ours - e_theirs)
