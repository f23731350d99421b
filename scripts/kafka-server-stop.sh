#!/usr/bin/env bash
# Stops the broker started by kafka-server-start.sh: SIGTERM (it flushes and checkpoints its
# logs and closes its ZooKeeper session, so /brokers/ids/<id> goes at once), then waits.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
stop_server kafka-server kafka.pid "kafka server" 30
