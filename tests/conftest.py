"""Root conftest of the interop suites. Each suite runs on its own (`python3 -m pytest -q
tests/<suite>`, one pytest.ini per suite); their pytest.ini files set `pythonpath = ..` and
`--confcutdir=..` so that `from lib import ...` works and this file is loaded too.

What every suite may use: `_binary` (session): our zk-server is built (cargo, once, if
missing) or, for `server_kind` apache, java is there. Suite-specific fixtures stay in each
suite's conftest.py."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # run without the suite's ini: still find lib/
    sys.path.insert(0, HERE)

from lib.zookeeper import ensure_server  # noqa: E402


@pytest.fixture(scope="session")
def _binary(server_kind):
    """Our zk-server binary exists (built if missing), or java for Apache ZooKeeper."""
    problem = ensure_server(server_kind)
    if problem:
        pytest.exit(problem, returncode=2)
