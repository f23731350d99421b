"""ZooKeeper authentication as 3.8 does it: SASL DIGEST-MD5 (kazoo + pure-sasl, zkCli with a JAAS
`Client` section, a raw client for exact reply codes), `sasl:` ACLs, `enforce.auth` /
`sessionRequireClientSASLAuth`, and the addauth (opcode 100) and reconfig (16) replies.
Every test runs against ours and, with ZK_SERVER=apache, against Debian's ZooKeeper 3.8 started
with the same JAAS file (SERVER_JVMFLAGS for ours, the java command line for Apache)."""

import os
import subprocess
import uuid

import pytest

from lib.paths import CLIENT_CP
from lib.zkraw import (AUTH_XID, AUTHFAILED, NOAUTH, OK, Closed, RawClient, Reader, p_buf, p_int,
                       p_long)
from lib.waiting import wait_until
from lib.zookeeper import ZkServer

puresasl = pytest.importorskip("puresasl.client")

pytestmark = pytest.mark.timeout(120)

SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
SESSIONCLOSEDREQUIRESASLAUTH = -124
RECONFIGDISABLED = -123
USERS = {"alice": "alice-secret", "bob": "bob-secret"}

JAAS = """Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_alice="alice-secret"
    user_bob="bob-secret";
};
"""


def client_jaas(tmp_path, user, password):
    p = os.path.join(str(tmp_path), "client-%s-%s.conf" % (user, uuid.uuid4().hex[:6]))
    with open(p, "w") as f:
        f.write('Client {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                '    username="%s"\n    password="%s";\n};\n' % (user, password))
    return p


@pytest.fixture
def sasl_server(tmp_path_factory, server_kind, _binary):
    """factory(**common): a fresh server with SASL (authProvider.1 + the JAAS Server section)."""
    servers = []

    def make(**common):
        d = str(tmp_path_factory.mktemp("zk-sasl"))
        jaas = os.path.join(d, "jaas.conf")
        with open(jaas, "w") as f:
            f.write(JAAS)
        settings = {"authProvider.1": SASL_PROVIDER}
        settings.update(common)
        srv = ZkServer(server_kind, d, common=settings, jvmflags=["-Djava.security.auth.login.config=%s" % jaas])
        servers.append(srv)
        srv.start()
        return srv

    yield make
    for s in servers:
        s.kill9()


def kazoo_sasl(kazoo_factory, srv, user, password, **kw):
    return kazoo_factory(srv, sasl_options={"mechanism": "DIGEST-MD5", "username": user, "password": password}, **kw)


def raw_sasl(c, user, password):
    """The SASL exchange on a RawClient; returns the reply to the digest-response."""
    cli = puresasl.SASLClient(host="zk-sasl-md5", service="zookeeper", mechanism="DIGEST-MD5",
                              username=user, password=password)
    rep = c.call("sasl", p_buf(b""))
    assert rep.err == OK, rep
    challenge = Reader(rep.body).buf()
    assert b"nonce=" in challenge and b"zk-sasl-md5" in challenge, challenge
    return c.call("sasl", p_buf(cli.process(challenge)))


def closed_soon(c):
    """True when the server closes the connection (a ping gets no answer)."""
    try:
        c.ping()
    except (Closed, OSError):
        return True
    return False


def whoami(c):
    rep = c.call("whoAmI")
    assert rep.err == OK
    r = Reader(rep.body)
    return {(r.str(), r.str()) for _ in range(r.int())}


def test_kazoo_sasl_acl(sasl_server, kazoo_factory):
    from kazoo.exceptions import NoAuthError
    from kazoo.security import make_acl

    srv = sasl_server()
    alice = kazoo_sasl(kazoo_factory, srv, "alice", USERS["alice"])
    p = "/s-" + uuid.uuid4().hex[:8]
    alice.create(p, b"secret", acl=[make_acl("sasl", "alice", all=True)])
    assert alice.get(p)[0] == b"secret"
    acl, _ = alice.get_acls(p)
    assert [(a.id.scheme, a.id.id, a.perms) for a in acl] == [("sasl", "alice", 31)]
    bob = kazoo_sasl(kazoo_factory, srv, "bob", USERS["bob"])
    anon = kazoo_factory(srv)
    for c in (bob, anon):
        with pytest.raises(NoAuthError):
            c.get(p)
        with pytest.raises(NoAuthError):
            c.set(p, b"x")
    alice.set(p, b"changed")
    assert alice.get(p)[0] == b"changed"
    # the `auth` scheme expands to the session's sasl identity
    q = p + "-auth"
    alice.create(q, acl=[make_acl("auth", "", read=True, write=True)])
    assert [(a.id.scheme, a.id.id) for a in alice.get_acls(q)[0]] == [("sasl", "alice")]


def test_sasl_identity_in_whoami(sasl_server):
    srv = sasl_server()
    c = RawClient(srv.port)
    c.connect()
    assert raw_sasl(c, "alice", USERS["alice"]).err == OK
    assert ("sasl", "alice") in whoami(c)


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("carol", "whatever")])
def test_wrong_password_is_auth_failed(sasl_server, user, password):
    srv = sasl_server()
    c = RawClient(srv.port)
    c.connect()
    rep = raw_sasl(c, user, password)
    assert rep.err == AUTHFAILED, rep
    assert closed_soon(c)
    # the server keeps serving others
    ok = RawClient(srv.port)
    ok.connect()
    assert raw_sasl(ok, "alice", USERS["alice"]).err == OK


def test_kazoo_wrong_password(sasl_server, kazoo_factory, caplog):
    """kazoo reports the refusal as AUTH_FAILED (its log; it keeps retrying the connection)."""
    srv = sasl_server()
    c = kazoo_sasl(kazoo_factory, srv, "alice", "wrong", start=False)
    c.start_async()
    wait_until(lambda: any("AUTH_FAILED" in r.getMessage() for r in caplog.records), timeout=15,
               msg="kazoo never logged AUTH_FAILED")


@pytest.mark.parametrize("setting", [
    {"enforce.auth.enabled": "true", "enforce.auth.schemes": "sasl"},
    {"sessionRequireClientSASLAuth": "true"},
])
def test_enforce_auth_refuses_anonymous(sasl_server, kazoo_factory, setting):
    srv = sasl_server(**setting)
    anon = RawClient(srv.port)
    anon.connect()
    rep = anon.call("exists", p_buf(b"/") [:0] + p_int(1) + b"/" + b"\0")
    assert rep.err == SESSIONCLOSEDREQUIRESASLAUTH, rep
    assert closed_soon(anon)
    # digest is not sasl: still refused
    d = RawClient(srv.port)
    d.connect()
    d.send("auth", p_int(0) + p_buf(b"digest") + p_buf(b"u:p"), xid=AUTH_XID)
    assert d.read_reply().err == OK
    assert d.call("exists", p_int(1) + b"/" + b"\0").err == SESSIONCLOSEDREQUIRESASLAUTH
    # SASL sessions work, kazoo's too
    a = RawClient(srv.port)
    a.connect()
    assert raw_sasl(a, "alice", USERS["alice"]).err == OK
    assert a.call("exists", p_int(1) + b"/" + b"\0").err == OK
    k = kazoo_sasl(kazoo_factory, srv, "bob", USERS["bob"])
    assert k.exists("/") is not None
    # a failed SASL exchange while SASL is required says so
    w = RawClient(srv.port)
    w.connect()
    assert raw_sasl(w, "alice", "wrong").err == SESSIONCLOSEDREQUIRESASLAUTH


def addauth(c, scheme, cred):
    c.send("auth", p_int(0) + p_buf(scheme.encode()) + p_buf(cred), xid=AUTH_XID)
    return c.read_reply()


@pytest.mark.parametrize("with_sasl", [False, True])
def test_auth_packets(sasl_server, fresh_server, with_sasl):
    srv = sasl_server() if with_sasl else fresh_server
    c = RawClient(srv.port)
    c.connect()
    base = whoami(c)
    assert addauth(c, "digest", b"nocolon").err == OK
    assert addauth(c, "digest", b"").err == OK
    assert addauth(c, "digest", b"\xff\xfe:x").err == OK
    assert addauth(c, "ip", b"anything").err == OK
    ids = whoami(c)
    assert ("digest", "nocolon") in ids and ("digest", "") in ids
    assert ("ip", "127.0.0.1") in ids
    assert base <= ids
    # schemes with no provider, or sasl (negotiated with opcode 102, never through addauth)
    for scheme in ("foo", "super", "world", "sasl", "x509"):
        x = RawClient(srv.port)
        x.connect()
        assert addauth(x, scheme, b"a:b").err == AUTHFAILED, scheme
        assert closed_soon(x), scheme


def test_reconfig_disabled(server):
    c = RawClient(server.port)
    c.connect()
    body = p_buf(b"") + p_buf(b"") + p_buf(b"server.9=127.0.0.1:1:2") + p_long(-1)
    rep = c.call("reconfig", body)
    assert rep.err == RECONFIGDISABLED, rep
    assert c.call("exists", p_int(1) + b"/" + b"\0").err == OK


def zkcli(srv, commands, jaas=None, timeout=60):
    flags = ["-Djava.security.auth.login.config=%s" % jaas] if jaas else ["-Dzookeeper.sasl.client=false"]
    r = subprocess.run(
        ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1"] + flags + ["-cp", CLIENT_CP,
         "org.apache.zookeeper.ZooKeeperMain", "-server", srv.hosts],
        input="\n".join(commands + ["quit"]) + "\n", capture_output=True, text=True, timeout=timeout,
    )
    return r.stdout + r.stderr


@pytest.mark.skipif(not os.path.exists("/usr/share/java/zookeeper.jar"), reason="zookeeper package missing")
def test_zkcli_sasl(sasl_server, tmp_path, kazoo_factory):
    srv = sasl_server()
    p = "/cli-" + uuid.uuid4().hex[:8]
    alice = client_jaas(tmp_path, "alice", USERS["alice"])
    out = zkcli(srv, ["create %s hello sasl:alice:cdrwa" % p, "get %s" % p, "getAcl %s" % p], jaas=alice)
    assert "Created %s" % p in out, out
    assert "hello" in out and "'sasl,'alice" in out, out
    bob = client_jaas(tmp_path, "bob", USERS["bob"])
    out = zkcli(srv, ["get %s" % p], jaas=bob)
    assert "Insufficient permission" in out and "hello" not in out, out
    out = zkcli(srv, ["get %s" % p])
    assert "Insufficient permission" in out and "hello" not in out, out
    assert kazoo_sasl(kazoo_factory, srv, "alice", USERS["alice"]).get(p)[0] == b"hello"
