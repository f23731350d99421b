#!/usr/bin/env bash
# 3-member ensembles side by side: ours vs Apache ZooKeeper 3.8 (Debian package), same machine,
# fsync on in both, fresh data dirs; the sessions are spread over the three members.
#   scripts/bench-zk-ensemble.sh [duration-seconds] [sessions] [payload-bytes]
# Each ensemble runs alone while it is measured. 127.0.0.1 only.
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
WORK="$(mktemp -d /tmp/zk-bench-ens.XXXXXX)"
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop_all; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_mode() { for _ in $(seq 1 150); do echo srvr | nc -q1 127.0.0.1 "$1" 2>/dev/null | grep -q "Mode: \(leader\|follower\)" && return 0; sleep 0.2; done; echo "member on $1 did not join" >&2; exit 1; }
J=/usr/share/java
CP=$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/slf4j-nop.jar:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-common.jar:$J/netty-buffer.jar:$J/netty-codec.jar:$J/netty-resolver.jar:$J/netty-transport-native-unix-common.jar:$J/netty-transport-native-epoll.jar:$J/commons-cli.jar:$J/metrics-core.jar:$J/snappy-java.jar

# start_ensemble ours|apache <tag>: sets HOSTS.
start_ensemble() {
  local kind=$1 tag=$2 servers="" cports=()
  for i in 1 2 3; do
    cports+=("$(free_port)")
    servers+="server.$i=127.0.0.1:$(free_port):$(free_port)"$'\n'
  done
  for i in 1 2 3; do
    local d="$WORK/$kind-$tag-$i"; mkdir -p "$d"; echo "$i" >"$d/myid"
    printf 'tickTime=2000\ninitLimit=20\nsyncLimit=5\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\n%s' \
      "$d" "${cports[$((i-1))]}" "$servers" >"$d.cfg"
    if [ "$kind" = ours ]; then
      "$BIN_DIR/zk-server" "$d.cfg" >"$d.log" 2>&1 &
    else
      java -Xmx1g -cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$d.cfg" >"$d.log" 2>&1 &
    fi
    PIDS+=($!)
  done
  for p in "${cports[@]}"; do wait_mode "$p"; done
  HOSTS="127.0.0.1:${cports[0]},127.0.0.1:${cports[1]},127.0.0.1:${cports[2]}"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), 3 members each, pipelined=${PIPE_SESSIONS}x${INFLIGHT} closed=$SESSIONS payload=${PAYLOAD}B duration=${DURATION}s"
for mode in $MODES; do
for mix in create set get mixed; do
  start_ensemble ours "$mix"
  o=$("$BIN_DIR/zk-bench" --server "$HOSTS" --mix "$mix" $(load_args "$mode") --payload "$PAYLOAD" --duration "$DURATION" | tail -1)
  stop_all
  start_ensemble apache "$mix"
  a=$("$BIN_DIR/zk-bench" --server "$HOSTS" --mix "$mix" $(load_args "$mode") --payload "$PAYLOAD" --duration "$DURATION" | tail -1)
  stop_all
  echo "$mode $mix ours   $o"
  echo "$mode $mix apache $a"
  python3 - "$o" "$a" <<'PY'
import re, sys
def f(s, k): return float(re.search(k + r"=([\d.]+)", s).group(1))
o, a = sys.argv[1], sys.argv[2]
print("      ratio  throughput x%.2f   p99 %.2fms vs %.2fms" % (f(o, "ops/s") / f(a, "ops/s"), f(o, "p99"), f(a, "p99")))
PY
done
done
