#!/usr/bin/env bash
# Starts the ZooKeeper-compatible server, as Kafka 2.5's bin/zookeeper-server-start.sh does.
#   zookeeper-server-start.sh [-daemon] zookeeper.properties
# Foreground: logs to stdout. -daemon: background, logs in $LOG_DIR (default <repo>/logs),
# pid in $LOG_DIR/zookeeper.pid.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { echo "USAGE: $0 [-daemon] zookeeper.properties" >&2; exit 1; }
DAEMON=0
while [ $# -gt 0 ]; do
  case "$1" in
    -daemon) DAEMON=1; shift ;;
    -h|--help) usage ;;
    -*) echo "$0: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
CONFIG="$1"
[ -f "$CONFIG" ] || { echo "$0: config file $CONFIG not found" >&2; exit 1; }

ensure_built zk zk-server
EXE="$BIN_DIR/zk-server"
LOG_DIR="${LOG_DIR:-$ROOT/logs}"
if [ "$DAEMON" = 1 ]; then
  mkdir -p "$LOG_DIR"
  PID_FILE="$LOG_DIR/zookeeper.pid"
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "$0: already running as pid $(cat "$PID_FILE")" >&2
    exit 1
  fi
  nohup "$EXE" "$CONFIG" >>"$LOG_DIR/zookeeper.out" 2>&1 </dev/null &
  PID=$!
  echo "$PID" >"$PID_FILE"
  # Report a start-up failure (bad config, port in use) instead of pretending.
  for _ in $(seq 1 20); do
    kill -0 "$PID" 2>/dev/null || { echo "$0: zk-server exited at start; see $LOG_DIR/zookeeper.out:" >&2; tail -n 3 "$LOG_DIR/zookeeper.out" >&2; rm -f "$PID_FILE"; exit 1; }
    grep -q "serving clients" "$LOG_DIR/zookeeper.out" 2>/dev/null && break
    sleep 0.1
  done
  exit 0
fi
exec "$EXE" "$CONFIG"
