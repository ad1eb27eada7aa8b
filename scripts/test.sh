#!/usr/bin/env bash
# One command from a fresh Debian machine to a full test run: installs what is missing, builds, runs every test
# (SQLite files, HTTP servers on loopback, the real binary as a child process, librdkafka's in-process mock
# cluster), then starts a real Kafka-compatible broker (Tansu) on 127.0.0.1 and runs the suites that need it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build --build-tests

echo "== all suites (Debian's librdkafka, mock cluster; real-broker suites skip here and run below)" >&2
swift test --skip-build --disable-xctest

echo "== real broker suites (Tansu on 127.0.0.1, librdkafka from the confluent-kafka wheel)" >&2
SCRATCH_PATH=.build scripts/kafka/run-real-broker-tests.sh
