#!/usr/bin/env bash
# Produce/consume benchmark of our broker, with the machine's limits measured in the same run.
#   scripts/bench-kafka.sh [--brokers N] [--replication-factor R] [--records-100 N] [--records-1k N]
#                          [--tool-records-100 N] [--tool-records-1k N]
# Starts our zk-server and N kafka-servers (default 1) on free 127.0.0.1 ports with fresh
# directories under one mktemp dir in /tmp (the log dirs and the disk probe share a
# filesystem), then for records of 100 B and 1 KiB, 1 and 6 partitions, acks 1 and -1 (topics
# with replication factor R, default 1):
#   - librdkafka (confluent-kafka, scripts/lib/kafka_bench.py): produce --records-* records
#     (linger.ms=5, no compression), then consume them all from the beginning;
#   - this repository's kafka-producer-perf-test.sh / kafka-consumer-perf-test.sh (Kafka's
#     summary lines) on --tool-records-* records.
# Limits first: sequential 1 GiB write with one fdatasync and 256 MiB of O_DSYNC 1 MiB writes
# (dd, in the same directory), and loopback TCP bandwidth (one connection, 5 s).
# Prints the raw lines, then a Markdown table (MB = 2^20 bytes, as Kafka's tools).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
usage() {
  echo "USAGE: $0 [--brokers N] [--replication-factor R] [--records-100 N] [--records-1k N] [--tool-records-100 N] [--tool-records-1k N] [--transactions PER_TXN]" >&2
  exit 1
}
BROKERS=1; RF=1; REC100=1000000; REC1K=300000; TOOL100=2000000; TOOL1K=500000; TXN=0
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --brokers) BROKERS="$2" ;;
    --replication-factor) RF="$2" ;;
    --records-100) REC100="$2" ;;
    --records-1k) REC1K="$2" ;;
    --tool-records-100) TOOL100="$2" ;;
    --tool-records-1k) TOOL1K="$2" ;;
    --transactions) TXN="$2" ;;
    *) usage ;;
  esac
  shift 2
done
[[ "$TXN" =~ ^[0-9]+$ ]] || { echo "$(basename "$0"): '$TXN' is not a number" >&2; exit 1; }
for v in "$BROKERS" "$RF" "$REC100" "$REC1K" "$TOOL100" "$TOOL1K"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "$(basename "$0"): '$v' is not a positive integer" >&2; exit 1; }
done
[ "$RF" -le "$BROKERS" ] || { echo "$(basename "$0"): replication factor $RF > $BROKERS broker(s)" >&2; exit 1; }

ensure_built zk zk-server
ensure_built broker kafka-server
ensure_built shell kafka-tools
PY="$ROOT/scripts/lib/kafka_bench.py"
WORK="$(mktemp -d /tmp/kafka-bench.XXXXXX)"
PIDS=()
stop_pids() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}
cleanup() {
  # Brokers first (their controlled shutdown talks to ZooKeeper), then ZooKeeper (PIDS[0]).
  if [ "${#PIDS[@]}" -gt 1 ]; then stop_pids "${PIDS[@]:1}"; fi
  if [ "${#PIDS[@]}" -gt 0 ]; then stop_pids "${PIDS[0]}"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS="$WORK/results.txt"
: >"$RESULTS"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(uname -sr), fs of $WORK: $(df -T "$WORK" | awk 'NR==2 {print $2}'), brokers=$BROKERS rf=$RF"
echo "# cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"

# --- Limits -------------------------------------------------------------------------------
line=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=1024 conv=fdatasync 2>&1 | tail -n 1)
r=$(python3 "$PY" dd "$line"); rm -f "$WORK/dd.bin"
echo "limit disk sequential write 1 GiB + fdatasync: $r"; echo "L|disk-fdatasync|$r" >>"$RESULTS"
line=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=256 oflag=dsync 2>&1 | tail -n 1)
r=$(python3 "$PY" dd "$line"); rm -f "$WORK/dd.bin"
echo "limit disk O_DSYNC 1 MiB writes (256 MiB): $r"; echo "L|disk-dsync|$r" >>"$RESULTS"
r=$(python3 "$PY" tcp 5)
echo "limit loopback TCP, one connection: $r"; echo "L|tcp-loopback|$r" >>"$RESULTS"

# --- Servers ------------------------------------------------------------------------------
ZK_PORT=$(free_port)
mkdir -p "$WORK/zk"
printf 'dataDir=%s/zk/data\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n' "$WORK" "$ZK_PORT" >"$WORK/zk/zookeeper.properties"
"$BIN_DIR/zk-server" "$WORK/zk/zookeeper.properties" >"$WORK/zk/zk.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do grep -q "serving clients" "$WORK/zk/zk.log" 2>/dev/null && break; sleep 0.1; done
grep -q "serving clients" "$WORK/zk/zk.log" || { echo "zk-server did not start:" >&2; tail -n 5 "$WORK/zk/zk.log" >&2; exit 1; }

BOOTSTRAP=""
for i in $(seq 0 $((BROKERS - 1))); do
  port=$(free_port); d="$WORK/broker-$i"; mkdir -p "$d"
  {
    echo "broker.id=$i"
    echo "listeners=PLAINTEXT://127.0.0.1:$port"
    echo "log.dirs=$d/logs"
    echo "zookeeper.connect=127.0.0.1:$ZK_PORT"
    echo "num.partitions=1"
    echo "offsets.topic.replication.factor=$(( BROKERS < 3 ? BROKERS : 3 ))"
    echo "group.initial.rebalance.delay.ms=0"
    echo "transaction.state.log.replication.factor=$(( BROKERS < 3 ? BROKERS : 3 ))"
    echo "transaction.state.log.min.isr=$(( BROKERS < 2 ? BROKERS : 2 ))"
  } >"$d/server.properties"
  "$BIN_DIR/kafka-server" "$d/server.properties" >"$d/kafkaServer.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do grep -q "started (listening" "$d/kafkaServer.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "started (listening" "$d/kafkaServer.out" || { echo "kafka-server $i did not start:" >&2; tail -n 5 "$d/kafkaServer.out" >&2; exit 1; }
  BOOTSTRAP="${BOOTSTRAP:+$BOOTSTRAP,}127.0.0.1:$port"
done
echo "# servers: zk 127.0.0.1:$ZK_PORT, brokers $BOOTSTRAP (default flush policy: the page cache, as Kafka's defaults)"

create_topic() {
  "$BIN_DIR/kafka-tools" kafka-topics --bootstrap-server "$BOOTSTRAP" --create --topic "$1" --partitions "$2" --replication-factor "$RF" >/dev/null
  python3 "$PY" leaders "$BOOTSTRAP" "$1" "$2" >/dev/null
}

# --- Cells --------------------------------------------------------------------------------
# --transactions N: acks=all, 6 partitions, the same records plain and in transactions of N
# records, each consumed read_uncommitted (plain) and read_committed (transactional).
if [ "$TXN" -gt 0 ]; then
  for size in 100 1024; do
    if [ "$size" = 100 ]; then n=$REC100; else n=$REC1K; fi
    cell="$size|6|-1"
    t="bench-${size}b-p6-plain-rf$RF"
    create_topic "$t" 6
    r=$(python3 "$PY" produce "$BOOTSTRAP" "$t" "$n" "$size" -1)
    echo "produce ${size}B p6 acks=-1 plain: $r"; echo "P|$cell|librdkafka|$r" >>"$RESULTS"
    r=$(python3 "$PY" consume "$BOOTSTRAP" "$t" 6 "$n" read_uncommitted)
    echo "consume ${size}B p6 read_uncommitted: $r"; echo "C|$cell|librdkafka|$r" >>"$RESULTS"
    t="bench-${size}b-p6-txn-rf$RF"
    create_topic "$t" 6
    r=$(python3 "$PY" produce "$BOOTSTRAP" "$t" "$n" "$size" -1 "$TXN")
    echo "produce ${size}B p6 acks=-1 transactions of $TXN: $r"; echo "P|$cell|librdkafka-txn-$TXN|$r" >>"$RESULTS"
    r=$(python3 "$PY" consume "$BOOTSTRAP" "$t" 6 "$n" read_committed)
    echo "consume ${size}B p6 read_committed: $r"; echo "C|$cell|librdkafka-txn-$TXN|$r" >>"$RESULTS"
  done
fi
for size in 100 1024; do
  [ "$TXN" -eq 0 ] || break
  if [ "$size" = 100 ]; then n=$REC100; tn=$TOOL100; else n=$REC1K; tn=$TOOL1K; fi
  for parts in 1 6; do
    for acks in 1 -1; do
      cell="$size|$parts|$acks"
      if [ "$acks" = -1 ]; then an=all; else an=$acks; fi
      t="bench-${size}b-p${parts}-acks${an}-rf$RF"
      create_topic "$t" "$parts"
      r=$(python3 "$PY" produce "$BOOTSTRAP" "$t" "$n" "$size" "$acks")
      echo "produce ${size}B p$parts acks=$acks librdkafka: $r"; echo "P|$cell|librdkafka|$r" >>"$RESULTS"
      r=$(python3 "$PY" consume "$BOOTSTRAP" "$t" "$parts" "$n")
      echo "consume ${size}B p$parts acks=$acks librdkafka: $r"; echo "C|$cell|librdkafka|$r" >>"$RESULTS"

      t="$t-tools"
      create_topic "$t" "$parts"
      r=$("$BIN_DIR/kafka-tools" kafka-producer-perf-test --topic "$t" --num-records "$tn" --record-size "$size" --throughput -1 \
            --producer-props "bootstrap.servers=$BOOTSTRAP" "acks=$acks" | tail -n 1)
      echo "produce ${size}B p$parts acks=$acks kafka-producer-perf-test: $r"; echo "P|$cell|kafka-tools|$r" >>"$RESULTS"
      r=$("$BIN_DIR/kafka-tools" kafka-consumer-perf-test --bootstrap-server "$BOOTSTRAP" --topic "$t" --messages "$tn" | tail -n 1)
      echo "consume ${size}B p$parts acks=$acks kafka-consumer-perf-test: $r"; echo "C|$cell|kafka-tools|$r" >>"$RESULTS"
    done
  done
done
echo "# done $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 "$PY" table "$RESULTS"
