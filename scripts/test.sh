#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine of this kind:
#   1. installs what the tests need (Debian: zookeeper, zookeeper-bin, netcat, tmux, kcat;
#      PyPI: kazoo, pytest, confluent-kafka, kafka-python)
#   2. builds the release binaries (zk-server, zk-bench, zookeeper-shell, kafka-server)
#   3. unit tests of every crate (cargo test)
#   4. interop tests against the real processes: tests/zk (kazoo, zkCli, cli_mt, raw protocol,
#      Kafka 2.5 replay, kill -9 durability), tests/ensemble (3- and 5-member groups, faults),
#      tests/shell (zookeeper-shell vs zkCli), tests/broker (kcat, confluent-kafka, kafka-python),
#      tests/tools (the kafka-* tools)
# Everything listens on 127.0.0.1 only. Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh
bash tests/broker/install-deps.sh
echo "== build (release)"
cargo build --release --workspace --bins
cargo build --release -p broker --examples
cargo build --release -p zk --examples
echo "== unit tests"
cargo test --workspace --release
echo "== interop tests"
# Each suite in its own pytest run: each has its own conftest.py.
status=0
for suite in tests/zk tests/ensemble tests/shell tests/broker tests/tools; do
  [ -d "$suite" ] || continue
  echo "== $suite"
  python3 -m pytest -q "$suite" || status=1
done
exit $status
