"""Free ports on 127.0.0.1 and waiting for one to listen."""

import socket
import time


def free_port(taken=None):
    """A port nobody listens on now (the kernel's pick; it stays closed until someone binds it).
    `taken`: a set of ports already handed out, never returned twice and updated."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if taken is None:
            return port
        if port not in taken:
            taken.add(port)
            return port


def wait_port(port, timeout=20.0):
    """True once 127.0.0.1:port accepts a connection, False after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# For unreachable-server tests: the same pick, named for what the test relies on.
closed_port = free_port
