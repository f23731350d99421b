#!/usr/bin/env bash
# Installs what tests/broker needs on a fresh Debian machine (idempotent):
#   Debian: kcat (librdkafka's command-line client), golang-go and
#           golang-github-shopify-sarama-dev (sarama 1.22, for test_old_versions.py)
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

if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/github.com/Shopify/sarama ]; then
    echo "install-deps(broker): apt-get install golang-go golang-github-shopify-sarama-dev"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go golang-github-shopify-sarama-dev
fi

PY="${PYTHON:-python3}"
if ! "$PY" - <<'PYEOF' >/dev/null 2>&1
import confluent_kafka, kafka, pytest, pytest_timeout
PYEOF
then
    echo "install-deps(broker): pip install confluent-kafka kafka-python pytest pytest-timeout"
    "$PY" -m pip install -q confluent-kafka kafka-python pytest pytest-timeout
fi
