#!/usr/bin/env bash
# Stops the broker started by kafka-server-start.sh: SIGTERM (it flushes and checkpoints its
# logs and closes its ZooKeeper session, so /brokers/ids/<id> goes at once), then waits.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
LOG_DIR="${LOG_DIR:-$ROOT/logs}"
PID_FILE="$LOG_DIR/kafka.pid"
PIDS=""
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  PIDS="$(cat "$PID_FILE")"
else
  PIDS="$(pgrep -f "$BIN_DIR/kafka-server" || true)"
fi
if [ -z "$PIDS" ]; then
  echo "No kafka server to stop"
  exit 1
fi
kill -TERM $PIDS
for _ in $(seq 1 300); do
  alive=0
  for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && { rm -f "$PID_FILE"; exit 0; }
  sleep 0.1
done
echo "$0: broker did not stop within 30s; sending SIGKILL" >&2
kill -KILL $PIDS 2>/dev/null
rm -f "$PID_FILE"
exit 0
