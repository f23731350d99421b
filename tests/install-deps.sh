#!/usr/bin/env bash
# Installs what the interop tests need on a fresh Debian machine (idempotent):
#   Debian: zookeeper (Java client zkCli + reference server), zookeeper-bin (C client cli_mt),
#           netcat-openbsd (nc for four-letter words), tmux
#   PyPI:   tests/requirements.txt (kazoo, pytest, pytest-timeout, pure-sasl)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

missing=()
for p in zookeeper zookeeper-bin netcat-openbsd tmux; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PY="${PYTHON:-python3}"
if ! "$PY" - <<'PYEOF' >/dev/null 2>&1
import kazoo, pytest, pytest_timeout, puresasl
PYEOF
then
    echo "install-deps: pip install -r tests/requirements.txt"
    "$PY" -m pip install -q -r tests/requirements.txt
fi
