#!/usr/bin/env bash
# Starts the local 3-member ensemble of configs/zookeeper-ensemble/ in the background:
# writes each member's dataDir/myid (N from zkN.properties) if missing, then runs
# zookeeper-server-start.sh -daemon for each, with logs and pid files under logs/zkN/.
#   zookeeper-ensemble-start.sh [config-dir]      stop with: zookeeper-ensemble-stop.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
DIR="${1:-$ROOT/configs/zookeeper-ensemble}"
shopt -s nullglob
configs=("$DIR"/zk*.properties)
[ ${#configs[@]} -gt 0 ] || { echo "$0: no zkN.properties in $DIR" >&2; exit 1; }
for cfg in "${configs[@]}"; do
  n="$(basename "$cfg" .properties)"; n="${n#zk}"
  data="$(sed -n 's/^dataDir=//p' "$cfg" | tail -1)"
  [ -n "$data" ] || { echo "$0: $cfg has no dataDir" >&2; exit 1; }
  mkdir -p "$data"
  [ -f "$data/myid" ] || echo "$n" >"$data/myid"
  LOG_DIR="$ROOT/logs/zk$n" "$ROOT/scripts/zookeeper-server-start.sh" -daemon "$cfg"
  echo "member $n started (client port $(sed -n 's/^clientPort=//p' "$cfg"))"
done
