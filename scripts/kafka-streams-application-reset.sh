#!/usr/bin/env bash
# Kafka 2.5's bin/kafka-streams-application-reset.sh, backed by this repository's Rust `kafka-tools` (crate shell).
# Builds the release binary when it is missing or older than its sources, then runs it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ensure_built shell kafka-tools
exec "$BIN_DIR/kafka-tools" kafka-streams-application-reset "$@"
