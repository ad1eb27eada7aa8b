#!/usr/bin/env bash
# Runs the Kafka real-broker test suite end to end: installs what is missing, starts Tansu on 127.0.0.1, runs
# `swift test --filter KafkaTests.KafkaProducerRealBrokerTests` against it with a librdkafka new enough to talk to
# Tansu, and stops the broker again (also on failure or Ctrl-C).
#
# Why a second librdkafka: Debian's librdkafka 2.0.2 fails the ApiVersions handshake with Tansu 0.6 ("Protocol read
# buffer underflow for ApiVersion v3"); the librdkafka 2.16 bundled in the PyPI confluent-kafka wheel works. The test
# binary is linked against Debian's librdkafka.so.1 (same soname, same C ABI), and at run time LD_LIBRARY_PATH points
# at a directory whose librdkafka.so.1 is a symlink to the wheel's library. The test checks which one was loaded
# (rd_kafka_version_str) against MESSAGEBRIDGE_TEST_EXPECT_LIBRDKAFKA_VERSION.
#
# Environment: PYTHON (default python3), SCRATCH_PATH (default .build-kafka), PACKAGE_DIR (default: this repository),
# TANSU_STATE_DIR (default /tmp/messagebridge-tansu), MESSAGEBRIDGE_TEST_KAFKA_RECORDS (default 2000),
# KAFKA_BENCHMARK=1 to also time 100 000 sends. Extra arguments go to `swift test`.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "$0")/../.." && pwd)"
PACKAGE_DIR="${PACKAGE_DIR:-$REPO_DIR}"
PYTHON="${PYTHON:-python3}"
SCRATCH_PATH="${SCRATCH_PATH:-.build-kafka}"
export TANSU_STATE_DIR="${TANSU_STATE_DIR:-/tmp/messagebridge-tansu}"
export PYTHON

if ! "$PYTHON" -c "import kafka, confluent_kafka" 2>/dev/null; then
    echo "run-real-broker-tests: installing kafka-python and confluent-kafka" >&2
    "$PYTHON" -m pip install --quiet kafka-python confluent-kafka >&2
fi

LIBRDKAFKA_DIR="$TANSU_STATE_DIR/librdkafka"
mkdir -p "$LIBRDKAFKA_DIR"
ln -sfn "$("$PYTHON" "$REPO_DIR/scripts/kafka/kafka_tool.py" librdkafka-path)" "$LIBRDKAFKA_DIR/librdkafka.so.1"
EXPECTED_VERSION="$("$PYTHON" -c "import confluent_kafka; print(confluent_kafka.libversion()[0])")"
echo "run-real-broker-tests: librdkafka $EXPECTED_VERSION from $(readlink "$LIBRDKAFKA_DIR/librdkafka.so.1")" >&2

# Build before LD_LIBRARY_PATH is set, so compiling and linking see only the system library.
(cd "$PACKAGE_DIR" && swift build --scratch-path "$SCRATCH_PATH" --build-tests)

BROKERS="$("$REPO_DIR/scripts/kafka/start-tansu.sh" | sed -n 's/^MESSAGEBRIDGE_TEST_KAFKA_BROKERS=//p')"
trap '"$REPO_DIR/scripts/kafka/stop-tansu.sh"' EXIT

cd "$PACKAGE_DIR"
LD_LIBRARY_PATH="$LIBRDKAFKA_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
MESSAGEBRIDGE_TEST_KAFKA_BROKERS="$BROKERS" \
MESSAGEBRIDGE_TEST_EXPECT_LIBRDKAFKA_VERSION="$EXPECTED_VERSION" \
MESSAGEBRIDGE_TEST_KAFKA_TOOL="$REPO_DIR/scripts/kafka/kafka_tool.py" \
    swift test --scratch-path "$SCRATCH_PATH" --skip-build --disable-xctest \
    --filter "RealBroker" "$@"
