"""Where things are: the repository root, the release binaries (each overridable by an
environment variable) and the Debian packages of Apache ZooKeeper."""

import os
import shutil

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPTS = os.path.join(REPO, "scripts")
RELEASE = os.path.join(REPO, "target", "release")

ZK_BIN = os.environ.get("ZK_SERVER_BIN", os.path.join(RELEASE, "zk-server"))
KAFKA_BIN = os.environ.get("KAFKA_SERVER_BIN", os.path.join(RELEASE, "kafka-server"))
SHELL_BIN = os.environ.get("ZOOKEEPER_SHELL_BIN", os.path.join(RELEASE, "zookeeper-shell"))
SHELL_SCRIPT = os.path.join(SCRIPTS, "zookeeper-shell.sh")

# Apache ZooKeeper 3.8 from Debian (packages zookeeper, zookeeper-bin).
JAVA_DIR = "/usr/share/java"
APACHE_JARS = [
    "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
    "netty-handler.jar", "netty-transport.jar", "netty-common.jar", "netty-buffer.jar",
    "netty-codec.jar", "netty-resolver.jar", "netty-transport-native-unix-common.jar",
    "netty-transport-native-epoll.jar", "commons-cli.jar", "metrics-core.jar",
    "snappy-java.jar",
]
APACHE_CP = ":".join(os.path.join(JAVA_DIR, j) for j in APACHE_JARS)
# The Java client classes (zkCli, the tests' small Java programs), without logging.
CLIENT_CP = ":".join(os.path.join(JAVA_DIR, j) for j in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-nop.jar"))
ZKCLI_JARS = ["zookeeper.jar", "zookeeper-jute.jar", "slf4j-nop.jar", "commons-cli.jar"]
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"


def java_available():
    """Whether java and the Apache ZooKeeper jars are installed."""
    return shutil.which("java") is not None and all(os.path.exists(os.path.join(JAVA_DIR, j)) for j in APACHE_JARS)


def server_kind(*env_vars):
    """ours|apache from the first of env_vars that is set (default ours)."""
    for var in env_vars:
        if var in os.environ:
            kind = os.environ[var].strip().lower()
            if kind not in ("ours", "apache"):
                raise RuntimeError("%s must be 'ours' or 'apache', got %r" % (var, kind))
            return kind
    return "ours"
