#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine of this kind:
#   1. installs what the tests need (Debian: zookeeper, zookeeper-bin, netcat, tmux; PyPI: kazoo, pytest)
#   2. builds the release binaries (zk-server, zk-bench, zookeeper-shell)
#   3. unit tests of every crate (cargo test)
#   4. interop tests against the real processes: tests/zk (kazoo, zkCli, cli_mt, raw protocol,
#      Kafka 2.5 replay, kill -9 durability) and tests/shell (zookeeper-shell vs zkCli)
# Everything listens on 127.0.0.1 only. Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh
echo "== build (release)"
cargo build --release --workspace --bins
echo "== unit tests"
cargo test --workspace --release
echo "== interop tests"
suites=(tests/zk)
[ -d tests/shell ] && suites+=(tests/shell)
python3 -m pytest -q "${suites[@]}"
