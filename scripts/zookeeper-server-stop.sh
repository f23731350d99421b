#!/usr/bin/env bash
# Stops the server started by zookeeper-server-start.sh: SIGTERM (it drains in-flight writes
# to disk and exits), then waits for it to be gone.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
LOG_DIR="${LOG_DIR:-$ROOT/logs}"
PID_FILE="$LOG_DIR/zookeeper.pid"
PIDS=""
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  PIDS="$(cat "$PID_FILE")"
else
  PIDS="$(pgrep -f "$BIN_DIR/zk-server" || true)"
fi
if [ -z "$PIDS" ]; then
  echo "No zookeeper server to stop"
  exit 1
fi
kill -TERM $PIDS
for _ in $(seq 1 150); do
  alive=0
  for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && { rm -f "$PID_FILE"; exit 0; }
  sleep 0.1
done
echo "$0: server did not stop within 15s; sending SIGKILL" >&2
kill -KILL $PIDS 2>/dev/null
rm -f "$PID_FILE"
exit 0
