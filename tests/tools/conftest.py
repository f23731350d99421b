import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from tharness import Cluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.close()
