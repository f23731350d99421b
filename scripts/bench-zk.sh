#!/usr/bin/env bash
# Side-by-side benchmark: our zk-server vs Apache ZooKeeper 3.8 (Debian package), same machine,
# same run, both with fsync on (forceSync=yes, the default of both), fresh data dirs in $WORK.
#   scripts/bench-zk.sh [duration-seconds] [sessions] [payload-bytes]
# Prints one line per (mix, server) and the ours/apache ratios. 127.0.0.1 only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
DURATION="${1:-10}"; SESSIONS="${2:-32}"; PAYLOAD="${3:-100}"
# Two loads per mix: pipelined (PIPE_SESSIONS sessions x INFLIGHT requests outstanding each, how
# Kafka's and Curator's async clients load ZooKeeper) and the closed loop (SESSIONS sessions, one
# request outstanding each). MODES="pipelined" or "closed" runs one of them.
PIPE_SESSIONS="${PIPE_SESSIONS:-16}"; INFLIGHT="${INFLIGHT:-32}"; MODES="${MODES:-pipelined closed}"
load_args() { if [ "$1" = pipelined ]; then echo "--sessions $PIPE_SESSIONS --inflight $INFLIGHT"; else echo "--sessions $SESSIONS --inflight 1"; fi; }
ensure_built zk zk-server
ensure_built zk zk-bench
WORK="$(mktemp -d /tmp/zk-bench.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ruok() { for _ in $(seq 1 100); do [ "$(echo ruok | nc -q1 127.0.0.1 "$1" 2>/dev/null)" = imok ] && return 0; sleep 0.2; done; echo "server on $1 did not start" >&2; exit 1; }

# Each start_* sets PORT and appends to PIDS (no command substitution: it would lose PIDS).
start_ours() {
  local port; port=$(free_port)
  mkdir -p "$WORK/ours-$1"
  printf 'dataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n' "$WORK/ours-$1" "$port" >"$WORK/ours-$1.properties"
  "$BIN_DIR/zk-server" "$WORK/ours-$1.properties" >"$WORK/ours-$1.log" 2>&1 &
  PIDS+=($!); wait_ruok "$port"; PORT=$port
}
start_apache() {
  local port; port=$(free_port)
  local J=/usr/share/java
  local CP=$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/slf4j-nop.jar:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-common.jar:$J/netty-buffer.jar:$J/netty-codec.jar:$J/netty-resolver.jar:$J/netty-transport-native-unix-common.jar:$J/netty-transport-native-epoll.jar:$J/commons-cli.jar:$J/metrics-core.jar:$J/snappy-java.jar
  mkdir -p "$WORK/apache-$1"
  printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\n' "$WORK/apache-$1" "$port" >"$WORK/apache-$1.cfg"
  java -Xmx2g -cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/apache-$1.cfg" >"$WORK/apache-$1.log" 2>&1 &
  PIDS+=($!); wait_ruok "$port"; PORT=$port
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), pipelined=${PIPE_SESSIONS}x${INFLIGHT} closed=$SESSIONS payload=${PAYLOAD}B duration=${DURATION}s"
for mode in $MODES; do
for mix in create set get mixed; do
  # A fresh pair of servers per mix, started together, measured one after the other.
  start_ours "$mix"; po=$PORT; start_apache "$mix"; pa=$PORT
  o=$("$BIN_DIR/zk-bench" --server "127.0.0.1:$po" --mix "$mix" $(load_args "$mode") --payload "$PAYLOAD" --duration "$DURATION" | tail -1)
  a=$("$BIN_DIR/zk-bench" --server "127.0.0.1:$pa" --mix "$mix" $(load_args "$mode") --payload "$PAYLOAD" --duration "$DURATION" | tail -1)
  echo "$mode $mix ours   $o"
  echo "$mode $mix apache $a"
  python3 - "$o" "$a" <<'PY'
import re, sys
def f(s, k): return float(re.search(k + r"=([\d.]+)", s).group(1))
o, a = sys.argv[1], sys.argv[2]
print("      ratio  throughput x%.2f   p99 %.2fms vs %.2fms" % (f(o, "ops/s") / f(a, "ops/s"), f(o, "p99"), f(a, "p99")))
PY
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; PIDS=()
done
done
