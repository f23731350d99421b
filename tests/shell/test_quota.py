"""setquota, listquota and delquota: our zookeeper-shell prints what ZooKeeper 3.8's zkCli
prints for the same session, against Apache ZooKeeper and against the server under test."""

import pytest

from conftest import run_shell, run_zkcli
from test_compare import assert_same

SCRIPT = """\
create {r}
create {r}/a x
setquota -n 3 {r}
setquota -N 2 {r}
listquota {r}
get /zookeeper/quota{r}/zookeeper_limits
get /zookeeper/quota{r}/zookeeper_stats
create {r}/b yy
get /zookeeper/quota{r}/zookeeper_stats
set {r}/b 12345
get /zookeeper/quota{r}/zookeeper_stats
delete {r}/a
listquota {r}
create {r}/c
create {r}/c/d
setquota -n 5 {r}/c/d
setquota -n 5 {r}/nope
delquota -N {r}
listquota {r}
setquota -b 100 {r}
listquota {r}
delquota {r}
listquota {r}
delquota {r}
setquota {r}
setquota -n abc {r}
create {r}/c/d/e
setquota -B 40 {r}/c/d/e
setquota -n 1 {r}/c
listquota {r}/c/d/e
delquota {r}/c/d/e
ls /zookeeper/quota{r}
"""


def transcript(root):
    return SCRIPT.replace("{r}", root)


@pytest.fixture(scope="module")
def zkcli_quota(apache_server):
    rc, out, err = run_zkcli(apache_server.hosts, stdin_text=transcript("/quota-zkcli"))
    assert "Exception in thread" not in err, err
    return rc, out.replace("/quota-zkcli", "/R"), err.replace("/quota-zkcli", "/R")


@pytest.mark.parametrize("target", ["apache", "under_test"])
def test_quota_commands_print_what_zkcli_prints(shell_bin, apache_server, zk_server, zkcli_quota, target):
    server = apache_server if target == "apache" else zk_server
    root = "/quota-ours-" + target
    rc, out, err = run_shell([server.hosts], stdin_text=transcript(root))
    assert "panicked" not in err
    z_rc, z_out, z_err = zkcli_quota
    assert_same(out.replace(root, "/R"), z_out, "stdout")
    assert_same(err.replace(root, "/R"), z_err, "stderr")
    assert rc == z_rc
