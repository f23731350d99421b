#!/usr/bin/env bash
# Starts ZooKeeper and one Kafka broker together: the main job of this repository.
#   kafka-quickstart.sh [-daemon] [zookeeper.properties [server.properties]] [--override property=value]*
# Defaults: configs/zookeeper.properties and configs/server.properties. Builds the release
# binaries when missing or stale, starts the ZooKeeper-compatible server, waits until it
# serves, starts the broker against it, waits (bounded) until the broker answers on its
# port, and prints one line starting with "Kafka quickstart ready:".
#
# Foreground (default): logs go to $LOG_DIR (default <repo>/logs) as zookeeper.out and
# kafkaServer.out, pids to zookeeper.pid and kafka.pid (so kafka-server-stop.sh and
# zookeeper-server-stop.sh work from another terminal too). Ctrl-C, SIGTERM or SIGHUP stop
# the broker first (controlled shutdown needs ZooKeeper), then ZooKeeper, and the script
# exits 0. If either server exits on its own, the other is stopped and the script exits 1.
# The servers run in their own sessions so that Ctrl-C reaches only this script, which then
# stops them in that order.
# -daemon: both in the background (the -daemon modes of zookeeper-server-start.sh and
# kafka-server-start.sh); stop with scripts/kafka-server-stop.sh, then
# scripts/zookeeper-server-stop.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
usage() {
  echo "USAGE: $0 [-daemon] [zookeeper.properties [server.properties]] [--override property=value]*" >&2
  exit 1
}

DAEMON=0
ZK_CONFIG="$ROOT/configs/zookeeper.properties"
KAFKA_CONFIG="$ROOT/configs/server.properties"
OVERRIDES=()
positional=0
while [ $# -gt 0 ]; do
  case "$1" in
    -daemon) DAEMON=1; shift ;;
    -h|--help) usage ;;
    --override)
      [ $# -ge 2 ] || usage
      OVERRIDES+=("--override" "$2"); shift 2 ;;
    -*) echo "$(basename "$0"): unknown option $1" >&2; usage ;;
    *)
      case "$positional" in
        0) ZK_CONFIG="$1" ;;
        1) KAFKA_CONFIG="$1" ;;
        *) usage ;;
      esac
      positional=$((positional + 1)); shift ;;
  esac
done
for f in "$ZK_CONFIG" "$KAFKA_CONFIG"; do
  [ -f "$f" ] || { echo "$(basename "$0"): config file $f not found" >&2; exit 1; }
done

ensure_built zk zk-server
ensure_built broker kafka-server
LOG_DIR="${LOG_DIR:-$ROOT/logs}"
export LOG_DIR
mkdir -p "$LOG_DIR"
ZK_OUT="$LOG_DIR/zookeeper.out"
KAFKA_OUT="$LOG_DIR/kafkaServer.out"

# The "started (listening on HOST:PORT, ...)" line of the broker's log since line $1.
listening_addr() {
  sed -n "$1,\$ s/.*started (listening on \([^,]*\),.*/\1/p" "$KAFKA_OUT" 2>/dev/null | tail -n 1 || true
}

# wait_answers <host:port> <seconds>: until a TCP connection to it succeeds.
wait_answers() {
  local addr="$1" secs="$2" host port
  host="${addr%:*}"; port="${addr##*:}"
  [ "$host" = 0.0.0.0 ] && host=127.0.0.1
  for _ in $(seq 1 $((secs * 10))); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

ready_line() {
  echo "Kafka quickstart ready: ZooKeeper (pid $1, config $ZK_CONFIG) and broker on $3 (pid $2, config $KAFKA_CONFIG); logs in $LOG_DIR"
}

if [ "$DAEMON" = 1 ]; then
  start_line=1
  [ -f "$KAFKA_OUT" ] && start_line=$(( $(wc -l <"$KAFKA_OUT") + 1 ))
  "$ROOT/scripts/zookeeper-server-start.sh" -daemon "$ZK_CONFIG"
  if ! "$ROOT/scripts/kafka-server-start.sh" -daemon "$KAFKA_CONFIG" ${OVERRIDES[@]+"${OVERRIDES[@]}"}; then
    "$ROOT/scripts/zookeeper-server-stop.sh" >/dev/null || true
    exit 1
  fi
  addr="$(listening_addr "$start_line")"
  if [ -z "$addr" ] || ! wait_answers "$addr" 30; then
    echo "$(basename "$0"): the broker does not answer; see $KAFKA_OUT" >&2
    exit 1
  fi
  ready_line "$(cat "$LOG_DIR/zookeeper.pid")" "$(cat "$LOG_DIR/kafka.pid")" "$addr"
  echo "Stop with: scripts/kafka-server-stop.sh && scripts/zookeeper-server-stop.sh"
  exit 0
fi

for pf in zookeeper.pid kafka.pid; do
  if [ -f "$LOG_DIR/$pf" ] && kill -0 "$(cat "$LOG_DIR/$pf")" 2>/dev/null; then
    echo "$(basename "$0"): already running as pid $(cat "$LOG_DIR/$pf") ($LOG_DIR/$pf)" >&2
    exit 1
  fi
done

ZK_PID=""
KAFKA_PID=""
SLEEP_PID=""

# stop_one <pid> <name> <seconds>: SIGTERM, wait, SIGKILL after <seconds>.
stop_one() {
  local pid="$1" name="$2" secs="$3"
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 $((secs * 10))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "$(basename "$0"): $name (pid $pid) did not stop within ${secs}s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

stop_all() {
  trap '' INT TERM HUP
  if [ -n "$SLEEP_PID" ]; then kill "$SLEEP_PID" 2>/dev/null || true; fi
  echo "Stopping the broker, then ZooKeeper..."
  stop_one "$KAFKA_PID" "the broker" 30
  rm -f "$LOG_DIR/kafka.pid"
  stop_one "$ZK_PID" "ZooKeeper" 15
  rm -f "$LOG_DIR/zookeeper.pid"
}

on_signal() {
  stop_all
  echo "Stopped."
  exit 0
}

# fail <message> <log file>: report, show the log's tail, stop what runs, exit 1.
fail() {
  echo "$(basename "$0"): $1; last lines of $2:" >&2
  tail -n 5 "$2" >&2 || true
  stop_all
  exit 1
}

trap on_signal INT TERM HUP

zk_start=1
[ -f "$ZK_OUT" ] && zk_start=$(( $(wc -l <"$ZK_OUT") + 1 ))
setsid "$BIN_DIR/zk-server" "$ZK_CONFIG" >>"$ZK_OUT" 2>&1 </dev/null &
ZK_PID=$!
echo "$ZK_PID" >"$LOG_DIR/zookeeper.pid"
echo "Starting ZooKeeper (pid $ZK_PID, log $ZK_OUT)..."
ok=0
for _ in $(seq 1 300); do
  kill -0 "$ZK_PID" 2>/dev/null || fail "ZooKeeper exited at start" "$ZK_OUT"
  if awk -v s="$zk_start" 'NR >= s && /serving clients/ { f = 1 } END { exit !f }' "$ZK_OUT"; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || fail "ZooKeeper not serving after 30s" "$ZK_OUT"

kafka_start=1
[ -f "$KAFKA_OUT" ] && kafka_start=$(( $(wc -l <"$KAFKA_OUT") + 1 ))
setsid "$BIN_DIR/kafka-server" "$KAFKA_CONFIG" ${OVERRIDES[@]+"${OVERRIDES[@]}"} >>"$KAFKA_OUT" 2>&1 </dev/null &
KAFKA_PID=$!
echo "$KAFKA_PID" >"$LOG_DIR/kafka.pid"
echo "Starting the broker (pid $KAFKA_PID, log $KAFKA_OUT)..."
addr=""
for _ in $(seq 1 300); do
  kill -0 "$KAFKA_PID" 2>/dev/null || fail "the broker exited at start" "$KAFKA_OUT"
  addr="$(listening_addr "$kafka_start")"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || fail "the broker did not start within 30s" "$KAFKA_OUT"
wait_answers "$addr" 30 || fail "the broker does not answer on $addr" "$KAFKA_OUT"
ready_line "$ZK_PID" "$KAFKA_PID" "$addr"
echo "Press Ctrl-C to stop both."

# Wait in short sleeps: a trapped signal interrupts `wait` at once.
while true; do
  kill -0 "$KAFKA_PID" 2>/dev/null || fail "the broker exited" "$KAFKA_OUT"
  kill -0 "$ZK_PID" 2>/dev/null || fail "ZooKeeper exited" "$ZK_OUT"
  sleep 1 &
  SLEEP_PID=$!
  wait "$SLEEP_PID" 2>/dev/null || true
  SLEEP_PID=""
done
