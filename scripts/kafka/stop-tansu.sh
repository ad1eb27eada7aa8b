#!/usr/bin/env bash
# Stops the broker started by start-tansu.sh (by its recorded pid only).
set -euo pipefail
STATE_DIR="${TANSU_STATE_DIR:-/tmp/messagebridge-tansu}"
if [ -f "$STATE_DIR/tansu.pid" ]; then
    PID="$(cat "$STATE_DIR/tansu.pid")"
    if kill "$PID" 2>/dev/null; then
        for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PID" 2>/dev/null || true
        echo "stop-tansu: stopped pid $PID" >&2
    fi
    rm -f "$STATE_DIR/tansu.pid" "$STATE_DIR/brokers"
else
    echo "stop-tansu: nothing to stop in $STATE_DIR" >&2
fi
