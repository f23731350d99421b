#!/usr/bin/env bash
# The broker's fetch path against loopback TCP (see scripts/lib/fetch_limit_bench.py):
#   scripts/bench-kafka-fetch.sh
# 127.0.0.1 only; servers in a temporary directory, killed at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ensure_built zk zk-server
ensure_built broker kafka-server
ensure_built shell kafka-tools
exec python3 "$(dirname "${BASH_SOURCE[0]}")/lib/fetch_limit_bench.py"
