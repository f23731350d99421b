"""pytest fixtures of the ensemble suite; the launchers are lib/zookeeper.py's, the suite's
own helpers in ensharness.py, the binary check the root conftest's `_binary`."""

import os

import pytest

from ensharness import SERVER_KIND, kazoo_client
from lib.zookeeper import Ensemble


def pytest_collection_modifyitems(config, items):
    """Every test here is bounded in time even when pytest runs without this dir's ini."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(150))


@pytest.fixture
def make_ensemble(tmp_path_factory, _binary, request):
    """Factory: make_ensemble(n, extra={...}, start=True) -> a formed Ensemble. Every member
    is killed (SIGCONT first if paused) when the test ends; on failure the log tails are
    printed."""
    made = []

    def make(n=3, extra=None, start=True):
        e = Ensemble(SERVER_KIND, n, str(tmp_path_factory.mktemp("ens%d" % n)), extra)
        made.append(e)
        if start:
            e.start()
        return e

    request.node._ensembles = made
    yield make
    for e in made:
        e.kill_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the tail of every member's log."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for e in getattr(item, "_ensembles", []):
            rep.sections.append(("member logs", e.logs_tail(25)))


@pytest.fixture
def kazoo_factory():
    """Factory: kazoo_factory(hosts, timeout=10.0, **kw) -> a started client (hosts in the
    given order); stopped and closed at the end."""
    clients = []

    def make(hosts, timeout=10.0, start=True, **kw):
        c = kazoo_client(hosts, timeout=timeout, start=False, **kw)
        clients.append(c)
        if start:
            c.start(timeout=20)
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


@pytest.fixture(scope="session")
def server_kind():
    return SERVER_KIND


_FIGURES = []


@pytest.fixture
def report(request):
    """report(line): a figure printed in the terminal summary (counts, failover times)."""
    def add(line):
        _FIGURES.append("%s: %s" % (request.node.name, line))
        print(line)
    return add


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("ensemble figures (%s)" % SERVER_KIND)
        for line in _FIGURES:
            terminalreporter.write_line(line)
