#!/usr/bin/env bash
# Starts the Kafka-compatible broker, as Kafka 2.5's bin/kafka-server-start.sh does.
#   kafka-server-start.sh [-daemon] server.properties [--override property=value]*
#   kafka-server-start.sh --version
# Foreground: logs to stdout. -daemon: background, logs in $LOG_DIR (default <repo>/logs)
# as kafkaServer.out, pid in $LOG_DIR/kafka.pid; returns once the broker is serving. Either
# way Kafka's server.log, controller.log, state-change.log and log-cleaner.log are written in
# $LOG_DIR (KAFKA_LOG4J_FILES=false: not).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
usage() { echo "USAGE: $0 [-daemon] server.properties [--override property=value]*" >&2; exit 1; }
# Kafka 2.5 answers --version anywhere on the line with its version string, and starts nothing.
for arg in "$@"; do
  if [ "$arg" = "--version" ]; then echo "2.5.0 (Commit:66563e712b0b9f84)"; exit 0; fi
done
parse_start_args "$@"
ensure_built broker kafka-server
# Kafka's log4j files (server.log, controller.log, state-change.log, log-cleaner.log) go to
# $LOG_DIR, foreground or not, as kafka-run-class.sh's kafka.logs.dir.
export LOG_DIR="${LOG_DIR:-$ROOT/logs}"
start_server kafka-server kafka.pid kafkaServer.out "started (listening" 30 "$CONFIG" ${START_ARGS[@]+"${START_ARGS[@]}"}
