#!/usr/bin/env bash
# Kafka 2.5's bin/kafka-run-class.sh for the classes its tools run, backed by this repository's
# Rust binaries: `kafka-run-class.sh <class> [args]`. The class names guides use map to our
# tools (kafka.tools.GetOffsetShell, kafka.admin.TopicCommand, ...); kafka.Kafka starts the
# broker in the foreground. Any other class is refused as the JVM refuses a missing one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
if [ $# -lt 1 ]; then
  echo "USAGE: $0 [-daemon] [-name servicename] [-loggc] classname [opts]" >&2
  exit 1
fi
class="$1"; shift
case "$class" in
  kafka.tools.GetOffsetShell) tool=kafka-get-offset-shell ;;
  kafka.admin.TopicCommand) tool=kafka-topics ;;
  kafka.admin.ConfigCommand) tool=kafka-configs ;;
  kafka.admin.ConsumerGroupCommand) tool=kafka-consumer-groups ;;
  kafka.admin.BrokerApiVersionsCommand) tool=kafka-broker-api-versions ;;
  kafka.admin.DeleteRecordsCommand) tool=kafka-delete-records ;;
  kafka.admin.LogDirsCommand) tool=kafka-log-dirs ;;
  kafka.admin.LeaderElectionCommand) tool=kafka-leader-election ;;
  kafka.admin.PreferredReplicaLeaderElectionCommand) tool=kafka-preferred-replica-election ;;
  kafka.admin.ReassignPartitionsCommand) tool=kafka-reassign-partitions ;;
  kafka.tools.MirrorMaker) tool=kafka-mirror-maker ;;
  kafka.tools.StreamsResetter) tool=kafka-streams-application-reset ;;
  kafka.tools.ConsoleProducer) tool=kafka-console-producer ;;
  kafka.tools.ConsoleConsumer) tool=kafka-console-consumer ;;
  kafka.tools.DumpLogSegments) tool=kafka-dump-log ;;
  kafka.tools.ConsumerPerformance) tool=kafka-consumer-perf-test ;;
  org.apache.kafka.tools.ProducerPerformance) tool=kafka-producer-perf-test ;;
  org.apache.kafka.tools.VerifiableProducer) tool=kafka-verifiable-producer ;;
  org.apache.kafka.tools.VerifiableConsumer) tool=kafka-verifiable-consumer ;;
  kafka.Kafka) exec "$(dirname "${BASH_SOURCE[0]}")/kafka-server-start.sh" "$@" ;;
  *)
    echo "Error: Could not find or load main class $class" >&2
    echo "Caused by: java.lang.ClassNotFoundException: $class" >&2
    exit 1 ;;
esac
ensure_built shell kafka-tools
exec "$BIN_DIR/kafka-tools" "$tool" "$@"
