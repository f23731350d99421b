#!/usr/bin/env bash
# Stops the members started by zookeeper-ensemble-start.sh.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
status=0
for d in "$ROOT"/logs/zk*/; do
  [ -f "$d/zookeeper.pid" ] || continue
  LOG_DIR="${d%/}" "$ROOT/scripts/zookeeper-server-stop.sh" || status=1
done
exit $status
