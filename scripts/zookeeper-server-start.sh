#!/usr/bin/env bash
# Starts the ZooKeeper-compatible server, as Kafka 2.5's bin/zookeeper-server-start.sh does.
#   zookeeper-server-start.sh [-daemon] zookeeper.properties
# Foreground: logs to stdout. -daemon: background, logs in $LOG_DIR (default <repo>/logs) as
# zookeeper.out, pid in $LOG_DIR/zookeeper.pid; returns once the server is serving.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
usage() { echo "USAGE: $0 [-daemon] zookeeper.properties" >&2; exit 1; }
parse_start_args "$@"
[ ${#START_ARGS[@]} -eq 0 ] || usage
ensure_built zk zk-server
start_server zk-server zookeeper.pid zookeeper.out "serving clients" 30 "$CONFIG"
