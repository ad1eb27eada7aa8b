# Sourced by the scripts that run the built binary against a client (Schemathesis, the browser test).
#
# serve_in_background BIN CONFIG LOG: starts `BIN serve --config CONFIG` (the config's server.port 0, JSON logs),
# waits until it logs the port it listens on, and sets SERVER_PID and PORT. Exits the calling script, with the log,
# when the server exits or never starts. stop_server: TERM and wait (safe to call twice, and from a trap).
# Sourcing it also makes WORK, a temporary directory, and a trap that stops the server and removes WORK on exit.

SERVER_PID=""
PORT=""
WORK="$(mktemp -d)"
trap 'stop_server; rm -rf "$WORK"' EXIT

serve_in_background() {
    local bin="$1" config="$2" log="$3"
    "$bin" serve --config "$config" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        PORT="$(sed -n 's/.*"msg":"server listening".*"port":"\([0-9]*\)".*/\1/p' "$log" | head -1)"
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "serve: the server exited:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "serve: the server did not start:" >&2
    cat "$log" >&2
    exit 1
}

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
