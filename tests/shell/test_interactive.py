"""The interactive prompt, driven through tmux (send-keys) and read back (capture-pane): the
zkCli prompt, tab completion of command names and znode paths, history recall with the arrow
keys, `history`/`redo`, watch notifications, and the history file surviving a restart."""

import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import make_chroot, run_shell
from lib.paths import SHELL_BIN

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

WAIT = 10.0


class Tmux:
    """One tmux server (private socket) running the shell in a 200x50 window."""

    def __init__(self, command, env):
        self.socket = "zkshell-test-%s" % uuid.uuid4().hex[:8]
        self.session = "shell"
        env_prefix = " ".join("%s=%s" % (k, v) for k, v in env.items())
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-s", self.session, "-x", "200", "-y", "50",
                        "env %s %s; echo SHELL-EXITED=$?; sleep 30" % (env_prefix, command)], check=True, timeout=10)

    def keys(self, *keys):
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", self.session] + list(keys), check=True, timeout=10)

    def screen(self):
        out = subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p", "-t", self.session],
                             capture_output=True, text=True, timeout=10)
        return out.stdout

    def wait_for(self, predicate, what):
        deadline = time.time() + WAIT
        while time.time() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; screen:\n%s" % (what, self.screen()))

    def wait_text(self, text):
        return self.wait_for(lambda s: text in s, repr(text))

    def last_line(self):
        lines = [l for l in self.screen().splitlines() if l.strip()]
        return lines[-1] if lines else ""

    def wait_last_line(self, text):
        return self.wait_for(lambda s: ([l for l in s.splitlines() if l.strip()] or [""])[-1].rstrip() == text,
                             "last line %r" % text)

    def close(self):
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def session(shell_bin, zk_server, tmp_path, request):
    hosts = make_chroot(zk_server, "tty")
    for args in (["create", "/alpha", "alpha-data"], ["create", "/alpha/child"], ["create", "/beta", "b"]):
        assert run_shell([hosts] + args)[0] == 0
    history = str(tmp_path / "history")
    started = []

    def start():
        t = Tmux("%s %s" % (SHELL_BIN, hosts), {"ZOOKEEPER_SHELL_HISTORY": history, "TERM": "xterm"})
        started.append(t)
        return t

    request.addfinalizer(lambda: [t.close() for t in started])
    return hosts, history, start


def prompt(hosts, n):
    return "[zk: %s(CONNECTED) %d] " % (hosts, n)


def test_prompt_completion_history(session):
    hosts, history, start = session
    t = start()
    t.wait_text("Welcome to ZooKeeper!")
    t.wait_last_line(prompt(hosts, 0).rstrip())

    # Command completion: `ge` completes to the common prefix `get`, a second Tab lists.
    t.keys("ge", "Tab")
    t.wait_last_line(prompt(hosts, 0) + "get")
    t.keys("Tab")
    screen = t.wait_text("getAllChildrenNumber")
    assert "getAcl" in screen and "getEphemerals" in screen
    # A unique command completes with a trailing space; then a path completes from the server.
    t.keys("C-u", "getA", "l", "l", "Tab")
    t.wait_last_line(prompt(hosts, 0) + "getAllChildrenNumber")
    t.keys("C-u", "get /al", "Tab")
    t.wait_last_line(prompt(hosts, 0) + "get /alpha")
    t.keys("Enter")
    t.wait_last_line(prompt(hosts, 1).rstrip())
    assert "alpha-data" in t.screen()

    # Children of a deeper path; Tab Tab lists both top-level nodes.
    t.keys("ls /alpha/", "Tab")
    t.wait_last_line(prompt(hosts, 1) + "ls /alpha/child")
    t.keys("C-u", "ls /", "Tab", "Tab")
    screen = t.wait_for(lambda s: re.search(r"alpha\s+beta", s) is not None, "path candidates")
    t.keys("C-u")

    # History: Up recalls the last command; `history` numbers them; `redo` reruns one.
    t.keys("Up")
    t.wait_last_line(prompt(hosts, 1) + "get /alpha")
    t.keys("C-u", "set /beta b2", "Enter")
    t.wait_last_line(prompt(hosts, 2).rstrip())
    t.keys("history", "Enter")
    t.wait_text("0 - get /alpha")
    t.wait_text("1 - set /beta b2")
    t.wait_last_line(prompt(hosts, 3).rstrip())
    t.keys("redo 0", "Enter")
    t.wait_last_line(prompt(hosts, 4).rstrip())
    assert t.screen().count("alpha-data") == 2

    # A watch set at the prompt prints its notification while the prompt waits.
    t.keys("get -w /beta", "Enter")
    t.wait_last_line(prompt(hosts, 5).rstrip())
    assert run_shell([hosts, "set", "/beta", "b3"])[0] == 0
    t.wait_text("WatchedEvent state:SyncConnected type:NodeDataChanged path:/beta")

    t.keys("quit", "Enter")
    t.wait_text("WatchedEvent state:Closed type:None path:null")
    t.wait_text("SHELL-EXITED=0")

    # The history file persisted and a new shell recalls from it.
    deadline = time.time() + WAIT
    while time.time() < deadline and not (os.path.exists(history) and "quit" in open(history).read()):
        time.sleep(0.1)
    with open(history) as f:
        saved = f.read()
    assert "get /alpha" in saved and "set /beta b2" in saved and "quit" in saved
    t2 = start()
    t2.wait_last_line(prompt(hosts, 0).rstrip())
    t2.keys("Up")
    t2.wait_last_line(prompt(hosts, 0) + "quit")
    t2.keys("Up")
    t2.wait_last_line(prompt(hosts, 0) + "get -w /beta")
    t2.keys("C-u", "C-d")
    t2.wait_text("SHELL-EXITED=0")


def test_close_and_connect_change_the_prompt(session):
    hosts, history, start = session
    t = start()
    t.wait_last_line(prompt(hosts, 0).rstrip())
    t.keys("close", "Enter")
    t.wait_last_line("[zk: %s(CLOSED) 1]" % hosts)
    t.keys("ls /", "Enter")
    t.wait_text("Not connected")
    t.keys("connect %s" % hosts, "Enter")
    t.wait_last_line(prompt(hosts, 3).rstrip())
    t.keys("ls /", "Enter")
    t.wait_text("[alpha, beta]")
    t.keys("quit", "Enter")
    t.wait_text("SHELL-EXITED=0")
