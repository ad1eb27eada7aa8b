#!/usr/bin/env bash
# One command from a fresh Debian machine to a full test run: installs what is missing, builds, runs every test
# (SQLite files, HTTP servers on loopback, the real binary as a child process, librdkafka's in-process mock
# cluster), checks the OpenAPI document against the running binary with Schemathesis, drives the web client in two
# headless Chromium windows (scripts/browser-test.sh), starts a real Kafka-compatible broker (Tansu) on 127.0.0.1
# and runs the suites that need it, then checks the operations side (scripts/ops-test.sh: the release tarball packed
# from this build, a scratch install behind nginx, systemd-analyze, promtool).
#
# Environment: SCRATCH_PATH (default .build), the build directory every step uses.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH_PATH="${SCRATCH_PATH:-.build}"

scripts/setup.sh
swift build --build-tests --scratch-path "$SCRATCH_PATH"

LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT

echo "== all suites (Debian's librdkafka, mock cluster; real-broker suites skip here and run below)" >&2
swift test --skip-build --disable-xctest --scratch-path "$SCRATCH_PATH" --skip BrokerOutage 2>&1 | tee "$LOGS/main.log"

# librdkafka 2.0's mock broker, set down, closes its listener and binds the same port again at once, aborting the
# process if another socket took the port in between: the suites that take brokers down run alone, one at a time.
echo "== broker outage suites (mock cluster brokers down and up; alone, one test at a time)" >&2
swift test --skip-build --disable-xctest --scratch-path "$SCRATCH_PATH" --filter BrokerOutage --no-parallel 2>&1 | tee "$LOGS/outage.log"

echo "== Schemathesis against the debug binary (served /openapi.yaml, --checks all)" >&2
SCRATCH_PATH="$SCRATCH_PATH" scripts/schemathesis.sh

echo "== browser: two users in headless Chromium through the web client (screenshots in \$SCRATCH_PATH/browser-artifacts)" >&2
SCRATCH_PATH="$SCRATCH_PATH" scripts/browser-test.sh

echo "== real broker suites (Tansu on 127.0.0.1, librdkafka from the confluent-kafka wheel)" >&2
SCRATCH_PATH="$SCRATCH_PATH" scripts/kafka/run-real-broker-tests.sh 2>&1 | tee "$LOGS/broker.log"

# Last: it relinks $SCRATCH_PATH/debug/messagebridge with the Swift runtime static (no recompiling), which a later
# `swift build` would relink back.
echo "== operations: release tarball from this build, scratch install behind nginx, systemd, promtool (scripts/ops-test.sh)" >&2
SCRATCH_PATH="$SCRATCH_PATH" scripts/ops-test.sh

# Every run passed (pipefail would have stopped the script otherwise): one closing line for all of them.
count() { sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} in .* passed.*/\1/p' "$1" | tail -1; }
# The browser test and the operations test are one more each (they passed, or set -e had stopped the script).
echo "tests: $(( $(count "$LOGS/main.log") + $(count "$LOGS/outage.log") + 1 + 1 + $(count "$LOGS/broker.log") )) passed, 0 failed"
