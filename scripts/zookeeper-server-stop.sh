#!/usr/bin/env bash
# Stops the server started by zookeeper-server-start.sh: SIGTERM (it stops accepting, shuts
# replication down cleanly and exits), then waits for it to be gone.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
stop_server zk-server zookeeper.pid "zookeeper server" 15
