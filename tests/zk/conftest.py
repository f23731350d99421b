"""pytest fixtures of the zk suite (standalone servers, ZK_SERVER=ours|apache); the launcher is
lib/zookeeper.py's ZkServer, the binary check the root conftest's `_binary`."""

import os
import uuid

import pytest

from lib.paths import server_kind as _kind
from lib.zookeeper import ZkServer

SERVER_KIND = _kind("ZK_SERVER")


def pytest_collection_modifyitems(config, items):
    """Every test here is bounded in time even when pytest runs without this dir's ini."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120))


@pytest.fixture(scope="session")
def server_kind():
    return SERVER_KIND


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory, _binary):
    """One server for all tests that do not need a clean tree; tests use unique paths."""
    srv = ZkServer(SERVER_KIND, str(tmp_path_factory.mktemp("shared-zk")))
    srv.start()
    yield srv
    srv.kill9()


@pytest.fixture
def make_server(tmp_path_factory, _binary):
    """Factory for a fresh private server (its own dataDir and port)."""
    servers = []

    def make(extra=None, start=True):
        srv = ZkServer(SERVER_KIND, str(tmp_path_factory.mktemp("zk")), extra)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for s in servers:
        s.kill9()


@pytest.fixture
def fresh_server(make_server):
    return make_server()


@pytest.fixture
def server(shared_server):
    if not shared_server.alive():
        shared_server.start()
    return shared_server


@pytest.fixture
def base(server, kazoo_factory):
    """A unique, pre-created base path for a test on the shared server."""
    p = "/t-" + uuid.uuid4().hex[:12]
    kazoo_factory(server).create(p)
    return p


@pytest.fixture
def kazoo_factory():
    from kazoo.client import KazooClient

    clients = []

    def make(srv, timeout=10.0, start=True, **kw):
        kw.setdefault("timeout", timeout)
        # reconnect quickly after a server restart (kazoo's default backoff grows to a minute)
        kw.setdefault("connection_retry", dict(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0))
        c = KazooClient(hosts=srv.hosts if hasattr(srv, "hosts") else srv, **kw)
        clients.append(c)
        if start:
            c.start(timeout=15)
        return c

    yield make
    for c in clients:
        try:
            c.stop()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def zk(server, kazoo_factory):
    return kazoo_factory(server)


