"""Bounded waits: every wait in the suites ends, with a message naming what did not happen."""

import time


def wait_until(pred, timeout=10.0, msg="condition", interval=0.05):
    """Polls pred() every `interval` seconds until it returns a true value (returned), or raises
    AssertionError after `timeout` seconds naming `msg` and the last value seen."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.time() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, msg, last))
        time.sleep(interval)
