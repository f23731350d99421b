#!/usr/bin/env bash
# Installs what tests/broker needs on a fresh Debian machine (idempotent):
#   Debian: kcat (librdkafka's command-line client)
#   PyPI:   confluent-kafka, kafka-python, pytest, pytest-timeout
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if ! command -v kcat >/dev/null 2>&1; then
    echo "install-deps(broker): apt-get install kcat"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kcat
fi

PY="${PYTHON:-python3}"
if ! "$PY" - <<'PYEOF' >/dev/null 2>&1
import confluent_kafka, kafka, pytest, pytest_timeout
PYEOF
then
    echo "install-deps(broker): pip install confluent-kafka kafka-python pytest pytest-timeout"
    "$PY" -m pip install -q confluent-kafka kafka-python pytest pytest-timeout
fi
