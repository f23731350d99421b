#!/usr/bin/env bash
# Starts the Kafka-compatible broker, as Kafka 2.5's bin/kafka-server-start.sh does.
#   kafka-server-start.sh [-daemon] server.properties [--override property=value]*
# Foreground: logs to stdout. -daemon: background, logs in $LOG_DIR (default <repo>/logs)
# as kafkaServer.out, pid in $LOG_DIR/kafka.pid; returns once the broker is serving.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { echo "USAGE: $0 [-daemon] server.properties [--override property=value]*" >&2; exit 1; }
DAEMON=0
while [ $# -gt 0 ]; do
  case "$1" in
    -daemon) DAEMON=1; shift ;;
    -h|--help) usage ;;
    -*) echo "$0: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
CONFIG="$1"; shift
[ -f "$CONFIG" ] || { echo "$0: config file $CONFIG not found" >&2; exit 1; }

ensure_built broker kafka-server
EXE="$BIN_DIR/kafka-server"
LOG_DIR="${LOG_DIR:-$ROOT/logs}"
if [ "$DAEMON" = 1 ]; then
  mkdir -p "$LOG_DIR"
  PID_FILE="$LOG_DIR/kafka.pid"
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "$0: already running as pid $(cat "$PID_FILE")" >&2
    exit 1
  fi
  OUT="$LOG_DIR/kafkaServer.out"
  START_LINE=1; [ -f "$OUT" ] && START_LINE=$(( $(wc -l <"$OUT") + 1 ))
  nohup "$EXE" "$CONFIG" "$@" >>"$OUT" 2>&1 </dev/null &
  PID=$!
  echo "$PID" >"$PID_FILE"
  # Report a start-up failure (bad config, port in use, no ZooKeeper) instead of pretending.
  for _ in $(seq 1 300); do
    kill -0 "$PID" 2>/dev/null || { echo "$0: kafka-server exited at start; see $OUT:" >&2; tail -n 3 "$OUT" >&2; rm -f "$PID_FILE"; exit 1; }
    tail -n +"$START_LINE" "$OUT" 2>/dev/null | grep -q "started (listening" && exit 0
    sleep 0.1
  done
  echo "$0: kafka-server (pid $PID) not ready after 30s; see $OUT" >&2
  exit 0
fi
exec "$EXE" "$CONFIG" "$@"
