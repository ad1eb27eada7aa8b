#!/usr/bin/env bash
# Ingest benchmark: how many durable 202s per second MessageBridge answers, next to nginx answering a fixed 202
# on the same machine in the same run (the HTTP ceiling). See benchmarks/README.md.
#
# Self-contained: builds (or reuses) the release binary, starts nginx and `messagebridge serve` on free loopback
# ports with their files in a temporary directory, drives both with wrk, checks the database afterwards, and
# stops and removes everything on exit. Every load run is bounded in time.
#
# Environment (all optional):
#   MESSAGEBRIDGE_BIN     use this binary instead of building .build-release
#   BENCH_DURATION        measured wrk run per target (default 15s)
#   BENCH_WARMUP          warm-up wrk run per target, not counted (default 3s)
#   BENCH_CONNECTIONS     wrk connections (default 64)
#   BENCH_THREADS         wrk threads (default 1)
#   BENCH_NGINX_WORKERS   nginx worker_processes (default 1; see README for why)
#   BENCH_DRAIN_TIMEOUT   seconds to wait for the delivery backlog to drain after the run (default 60)
#   BENCH_DELIVERY        on (default): every message is delivered to nginx's /sink during the run, as in production;
#                         stalled: the destination is a loopback listener that never answers and the worker runs one
#                         delivery at a time, so the run measures ingest alone (needs python3; nothing is delivered)
#   BENCH_PERF=1          also sample the server (and the Hummingbird baseline) with `perf record -g` during the
#                         measured run and print the server's hottest symbols (perturbs the figures a little; off by
#                         default); the samples are in perf.data and perf-hummingbird.data (with BENCH_KEEP=1)
#   BENCH_PERF_FREQ       perf sampling frequency in Hz (default 499)
#   BENCH_ALLOCS=1        count heap allocations (malloc and friends) in the server and the baseline with
#                         benchmarks/lib/alloc_count.c (LD_PRELOAD; needs cc) and print allocations per request
#   BENCH_HUMMINGBIRD     default (the default): also measure plain Hummingbird answering a fixed 202 with its stock
#                         HTTP/1.1 server, as MessageBridge runs it (the framework's own ceiling;
#                         benchmarks/ingest/hummingbird-baseline, built into .build-release-baseline); pinned: with
#                         each connection's handling on its socket's event loop instead; off: skip it
#   HUMMINGBIRD_BASELINE_BIN  use this baseline binary instead of building it
#   BENCH_KEEP=1          keep the temporary directory (config, database, logs) and print its path
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO_ROOT="$PWD"
. "$REPO_ROOT/benchmarks/lib/common.sh"   # free_port, wait_for_http, machine_ticks, cpu_ticks, to_seconds

DURATION="${BENCH_DURATION:-15s}"
WARMUP="${BENCH_WARMUP:-3s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-1}"
NGINX_WORKERS="${BENCH_NGINX_WORKERS:-1}"
DRAIN_TIMEOUT="${BENCH_DRAIN_TIMEOUT:-60}"
DELIVERY="${BENCH_DELIVERY:-on}"
HB_MODE="${BENCH_HUMMINGBIRD:-default}"
case "$HB_MODE" in
    pinned|default|off) ;;
    *) echo "BENCH_HUMMINGBIRD must be pinned, default or off, got $HB_MODE" >&2; exit 1 ;;
esac
case "$DELIVERY" in
    on) ;;
    stalled) command -v python3 >/dev/null || { echo "BENCH_DELIVERY=stalled needs python3" >&2; exit 1; } ;;
    *) echo "BENCH_DELIVERY must be on or stalled, got $DELIVERY" >&2; exit 1 ;;
esac
BODY_BYTES=170
ROUTE=/webhook/payment

for tool in nginx wrk sqlite3 curl ss awk timeout /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install nginx-light wrk sqlite3 curl time)" >&2; exit 1; }
done
PERF_FREQ="${BENCH_PERF_FREQ:-499}"

# ---------------------------------------------------------------------------------------------- setup & cleanup

WORK="$(mktemp -d -t mb-ingest-bench.XXXXXX)"
chmod 755 "$WORK"   # nginx workers drop to `nobody` when started as root
NGINX_PID=""
SERVER_PID=""
HB_PID=""
STALL_PID=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
    fi
    if [ -n "$STALL_PID" ]; then kill "$STALL_PID" 2>/dev/null || true; fi
    if [ -n "$HB_PID" ]; then kill "$HB_PID" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# "name ticks" per thread of a process (thread names with their numbers stripped, so pools sum up).
thread_ticks() {
    local task
    for task in /proc/"$1"/task/*; do
        local name
        name=$(tr -d '\n' < "$task/comm" 2>/dev/null | sed 's/[0-9]\+/N/g; s/ /_/g') || continue
        awk -v n="$name" '{ sub(/^.*\) /, ""); print n, $12 + $13 }' "$task/stat" 2>/dev/null || true
    done
}

HZ=$(getconf CLK_TCK)

# Allocation counting: a preloaded shim rewrites allocs-TARGET.txt with "allocations frees" every 200 ms.
PRELOAD_ENV=()
if [ "${BENCH_ALLOCS:-0}" = 1 ]; then
    cc -O2 -shared -fPIC -o "$WORK/alloc_count.so" "$REPO_ROOT/benchmarks/lib/alloc_count.c" -lpthread
    PRELOAD_ENV=(LD_PRELOAD="$WORK/alloc_count.so")
fi
# alloc_count TARGET -> allocations so far (0 when not counting)
alloc_count() {
    if [ -s "$WORK/allocs-$1.txt" ]; then awk '{ print $1 }' "$WORK/allocs-$1.txt"; else echo 0; fi
}

# --------------------------------------------------------------------------------------------------- machine

echo "== machine"
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpus:      $(nproc)"
echo "cpu model: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "memory:    $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "kernel:    $(uname -r)"
echo "disk:      $(df -hT "$WORK" | awk 'NR == 2 { print $2 " (" $1 ") for " $7 }')"
echo "nginx:     $(nginx -v 2>&1 | sed 's/^nginx version: //')"
echo "wrk:       $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
echo "commit:    $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || echo ' (Sources/ has uncommitted changes)')"

# ---------------------------------------------------------------------------------------------------- binary

if [ -n "${MESSAGEBRIDGE_BIN:-}" ]; then
    BIN="$MESSAGEBRIDGE_BIN"
else
    echo "== building release binary (.build-release)"
    swift build -c release --scratch-path .build-release --product messagebridge 2>&1 | tail -3
    BIN="$(swift build -c release --scratch-path .build-release --show-bin-path)/messagebridge"
fi
[ -x "$BIN" ] || { echo "no executable at $BIN" >&2; exit 1; }
echo "binary:    $BIN ($(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ))"
if [ "$HB_MODE" != off ]; then
    if [ -n "${HUMMINGBIRD_BASELINE_BIN:-}" ]; then
        HB_BIN="$HUMMINGBIRD_BASELINE_BIN"
    else
        echo "== building the plain Hummingbird baseline (.build-release-baseline)"
        HB_BUILD=(swift build -c release --package-path benchmarks/ingest/hummingbird-baseline
            --scratch-path .build-release-baseline --product HummingbirdBaseline)
        "${HB_BUILD[@]}" 2>&1 | tail -3
        HB_BIN="$("${HB_BUILD[@]}" --show-bin-path)/HummingbirdBaseline"
    fi
    [ -x "$HB_BIN" ] || { echo "no executable at $HB_BIN" >&2; exit 1; }
fi

# ------------------------------------------------------------------------------------------------ request body

# 170 bytes of JSON, padded with a note field to the exact length.
BODY_HEAD='{"event":"payment.succeeded","order_id":"12345","amount":100.00,"currency":"EUR","customer":{"id":"cus_8a3f2c91","email":"buyer@example.com"},"note":"'
BODY_TAIL='"}'
PAD_LENGTH=$(( BODY_BYTES - ${#BODY_HEAD} - ${#BODY_TAIL} ))
BODY="$BODY_HEAD$(printf '%*s' "$PAD_LENGTH" '' | tr ' ' x)$BODY_TAIL"
printf '%s' "$BODY" > "$WORK/body.json"
ACTUAL_BYTES=$(wc -c < "$WORK/body.json")
[ "$ACTUAL_BYTES" -eq "$BODY_BYTES" ] || { echo "body is $ACTUAL_BYTES bytes, not $BODY_BYTES" >&2; exit 1; }

cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = [[$BODY]]
wrk.headers["Content-Type"] = "application/json"

-- One machine-readable line at the end; wrk counts a response with status > 399 as a status error.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
        summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
EOF

# ------------------------------------------------------------------------------------------------------ nginx

NGINX_PORT=$(free_port)
USED_PORTS=$NGINX_PORT
SERVER_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
# The fixed body has the shape and length of MessageBridge's answer, and X-Request-ID like it.
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
error_log $WORK/nginx/logs/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /accept {
            add_header X-Request-ID \$request_id always;
            return 202 '{"message_id":"01a205fa-34e9-7dd4-a8cd-4fc32c9154c8","status":"accepted","timestamp":"2026-11-23T01:16:53Z"}';
        }
        location = /sink {
            return 200 '{"ok":true}';
        }
    }
}
EOF
nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
wait_for_http "http://127.0.0.1:$NGINX_PORT/sink" "$NGINX_PID" 10 || {
    echo "nginx did not start:" >&2; cat "$WORK/nginx/logs/error.log" >&2; exit 1; }
NGINX_WORKER_PIDS=$(ps -o pid= --ppid "$NGINX_PID" | tr -s ' \n' ' ')

# ------------------------------------------------------------------------------------------------ messagebridge

DB="$WORK/messagebridge.db"
DESTINATION="http://127.0.0.1:$NGINX_PORT/sink"
WORKER_CONFIG=""
if [ "$DELIVERY" = stalled ]; then
    # Accepts connections into its backlog and never reads them, for at most 10 minutes.
    USED_PORTS="$NGINX_PORT $SERVER_PORT"
    STALL_PORT=$(free_port)
    python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096); time.sleep(600)' "$STALL_PORT" &
    STALL_PID=$!
    DESTINATION="http://127.0.0.1:$STALL_PORT/stalled"
    WORKER_CONFIG="worker:
  concurrency: 1
  retry_interval: 1h
  http_timeout: 1h"
fi
cat > "$WORK/config.yaml" <<EOF
server:
  host: "127.0.0.1"
  port: $SERVER_PORT
  shutdown_timeout: 10s
routes:
  - path: "$ROUTE"
    destination: "$DESTINATION"
sqlite:
  database_path: "$DB"
logging:
  level: warning
  format: json
$WORKER_CONFIG
EOF
# The variables the server reads would override the file; this run must use exactly the file.
CLEAN_ENV=(env -u MESSAGEBRIDGE_SQLITE_DATABASE_PATH -u MESSAGEBRIDGE_SERVER_HOST -u MESSAGEBRIDGE_SERVER_PORT
    -u MESSAGEBRIDGE_REMOTE_URL -u LOG_LEVEL)
"${CLEAN_ENV[@]}" "$BIN" check-config "$WORK/config.yaml" > "$WORK/check-config.txt" 2>&1 || {
    echo "the benchmark's configuration does not pass check-config:" >&2; cat "$WORK/check-config.txt" >&2; exit 1; }
"${CLEAN_ENV[@]}" "${PRELOAD_ENV[@]}" ALLOC_COUNT_OUT="$WORK/allocs-messagebridge.txt" \
    "$BIN" serve --config "$WORK/config.yaml" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_for_http "http://127.0.0.1:$SERVER_PORT/health/ready" "$SERVER_PID" 30 || {
    echo "messagebridge did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }

echo "== setup"
echo "body:      $ACTUAL_BYTES bytes: $BODY"
echo "load:      wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), POST with Content-Type: application/json"
echo "nginx:     127.0.0.1:$NGINX_PORT, worker_processes $NGINX_WORKERS, access_log off; /accept returns 202 + fixed JSON, /sink returns 200"
echo "server:    127.0.0.1:$SERVER_PORT$ROUTE -> destination $DESTINATION (delivery $DELIVERY), SQLite $DB, log level warning"
printf 'sample:    nginx %s\n           server %s\n' \
    "$(curl -s -o /dev/null -w '%{http_code} %{size_download}B' -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/body.json" "http://127.0.0.1:$NGINX_PORT/accept")" \
    "$(curl -s -o /dev/null -w '%{http_code} %{size_download}B' -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/body.json" "http://127.0.0.1:$SERVER_PORT$ROUTE")"
SAMPLE_ACCEPTED=1   # the sample request above stored one message

# ------------------------------------------------------------------------------------------------------- load

# run_wrk NAME URL DURATION -> prints the RESULT line; wrk's full output goes to $WORK/wrk-NAME.txt
run_wrk() {
    local name=$1 url=$2 duration=$3
    local limit=$(( $(to_seconds "$duration") + 30 ))
    # wrk's own CPU (user+system seconds) goes to wrk-NAME.cpu, to see whether the load generator saturated.
    timeout "$limit" /usr/bin/time -f '%U %S' -o "$WORK/wrk-$name.cpu" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency -s "$WORK/post.lua" "$url" \
        > "$WORK/wrk-$name.txt" 2>&1 || { echo "wrk failed for $name:" >&2; cat "$WORK/wrk-$name.txt" >&2; return 1; }
    echo "$(grep '^RESULT ' "$WORK/wrk-$name.txt") wrk_cpu_s=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/wrk-$name.cpu")"
}

# field NAME LINE -> the value of NAME=... in a RESULT line
field() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# Runs warm-up and measured run against one target; sets RES_<target> and CPU figures.
# measure TARGET URL PIDS...
measure() {
    local target=$1 url=$2; shift 2
    local pids=("$@")
    # Other processes on the machine skew everything: measure them while nothing of ours is loaded.
    read -r busy0 total0 < <(machine_ticks)
    sleep 2
    read -r busy1 total1 < <(machine_ticks)
    BACKGROUND=$(awk -v b=$(( busy1 - busy0 )) -v t=$(( total1 - total0 )) 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')
    echo "== $target: machine $BACKGROUND % busy with other processes just before the run (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    [ "$BACKGROUND" -le 10 ] || echo "   WARNING: the machine is not idle; these figures are lower than on a quiet machine"
    echo "== $target: warm-up $WARMUP"
    WARM_RESULT=$(run_wrk "$target-warmup" "$url" "$WARMUP")
    echo "   $WARM_RESULT"
    sleep 1
    local before=0 after=0 pid
    for pid in "${pids[@]}"; do before=$(( before + $(cpu_ticks "$pid") )); done
    read -r busy0 total0 < <(machine_ticks)
    if [ "$target" = messagebridge ]; then thread_ticks "$SERVER_PID" > "$WORK/threads-before.txt"; fi
    local perf_pid="" perf_out=""
    case "$target" in messagebridge) perf_out="$WORK/perf.data" ;; hummingbird) perf_out="$WORK/perf-hummingbird.data" ;; esac
    if [ "${BENCH_PERF:-0}" = 1 ] && [ -n "$perf_out" ] && command -v perf >/dev/null; then
        perf record -q -F "$PERF_FREQ" -g -p "${pids[0]}" -o "$perf_out" -- sleep "$(to_seconds "$DURATION")" \
            > "$WORK/perf-record-$target.log" 2>&1 &
        perf_pid=$!
    fi
    sleep 0.3   # let the alloc counter file catch up with the warm-up's end
    local allocs_before; allocs_before=$(alloc_count "$target")
    echo "== $target: measured run $DURATION"
    RESULT=$(run_wrk "$target" "$url" "$DURATION")
    echo "   $RESULT"
    for pid in "${pids[@]}"; do after=$(( after + $(cpu_ticks "$pid") )); done
    read -r busy1 total1 < <(machine_ticks)
    local allocs_after; allocs_after=$(alloc_count "$target")
    if [ "$target" = messagebridge ]; then thread_ticks "$SERVER_PID" > "$WORK/threads-after.txt"; fi
    if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
    local requests; requests=$(field requests "$RESULT")
    SERVER_CPU_US=$(awk -v t=$(( after - before )) -v hz="$HZ" -v n="$requests" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
    MACHINE_BUSY=$(awk -v b=$(( busy1 - busy0 )) -v t=$(( total1 - total0 )) 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')
    SERVER_CPU_CORES=$(awk -v t=$(( after - before )) -v hz="$HZ" -v d="$(field duration_us "$RESULT")" 'BEGIN { printf "%.2f", d ? t / hz / (d / 1e6) : 0 }')
    WRK_CORES=$(awk -v c="$(field wrk_cpu_s "$RESULT")" -v d="$(field duration_us "$RESULT")" 'BEGIN { printf "%.2f", d ? c / (d / 1e6) : 0 }')
    echo "   server CPU: $SERVER_CPU_CORES cores, $SERVER_CPU_US us per request; wrk $WRK_CORES cores; whole machine $MACHINE_BUSY % busy"
    if [ "$allocs_after" -gt 0 ]; then
        ALLOCS_PER_REQ=$(awk -v a=$(( allocs_after - allocs_before )) -v n="$requests" 'BEGIN { printf "%.1f", n ? a / n : 0 }')
        echo "   heap allocations: $(( allocs_after - allocs_before )) during the run, $ALLOCS_PER_REQ per request (counted to within 200 ms of each end)"
    fi
}

# shellcheck disable=SC2086
measure nginx "http://127.0.0.1:$NGINX_PORT/accept" $NGINX_WORKER_PIDS
NGINX_RESULT=$RESULT
NGINX_CPU="$SERVER_CPU_CORES cores ($SERVER_CPU_US us/req), wrk $WRK_CORES cores, machine $MACHINE_BUSY % (background before: $BACKGROUND %)"

HB_RESULT=""
if [ "$HB_MODE" != off ]; then
    USED_PORTS="$USED_PORTS $NGINX_PORT $SERVER_PORT ${STALL_PORT:-}"
    HB_PORT=$(free_port)
    HB_ARGS=("$HB_PORT"); [ "$HB_MODE" = pinned ] && HB_ARGS+=(pinned)
    env "${PRELOAD_ENV[@]}" ALLOC_COUNT_OUT="$WORK/allocs-hummingbird.txt" "$HB_BIN" "${HB_ARGS[@]}" > "$WORK/hummingbird.log" 2>&1 &
    HB_PID=$!
    wait_for_http "http://127.0.0.1:$HB_PORT/accept" "$HB_PID" 30 || {
        echo "the Hummingbird baseline did not start:" >&2; cat "$WORK/hummingbird.log" >&2; exit 1; }
    sleep 2
    measure hummingbird "http://127.0.0.1:$HB_PORT/accept" "$HB_PID"
    HB_RESULT=$RESULT
    HB_CPU="$SERVER_CPU_CORES cores ($SERVER_CPU_US us/req), wrk $WRK_CORES cores, machine $MACHINE_BUSY % (background before: $BACKGROUND %)"
    kill "$HB_PID" 2>/dev/null || true
    wait "$HB_PID" 2>/dev/null || true
    HB_PID=""
fi

# The durability ceiling: a raw SQLite commit (WAL, synchronous=FULL) of half the connections' rows, in the same
# directory as the server's database, just before the server's run.
echo "== raw SQLite commit (WAL, synchronous=FULL, $(( CONNECTIONS / 2 )) rows of $BODY_BYTES bytes per transaction), 5s"
SQLITE_RESULT=$(python3 benchmarks/ingest/sqlite_commit.py "$WORK" $(( CONNECTIONS / 2 )) "$BODY_BYTES" 5)
echo "   $SQLITE_RESULT"

sleep 2
measure messagebridge "http://127.0.0.1:$SERVER_PORT$ROUTE" "$SERVER_PID"
MB_WARM_RESULT=$WARM_RESULT
MB_RESULT=$RESULT
MB_CPU="$SERVER_CPU_CORES cores ($SERVER_CPU_US us/req), wrk $WRK_CORES cores, machine $MACHINE_BUSY % (background before: $BACKGROUND %)"

echo "== messagebridge threads during the measured run (CPU seconds, by thread name as the kernel keeps it: 15 characters)"
join -a1 -e0 -o 0,1.2,2.2 \
    <(awk '{ s[$1] += $2 } END { for (n in s) print n, s[n] }' "$WORK/threads-after.txt" | sort) \
    <(awk '{ s[$1] += $2 } END { for (n in s) print n, s[n] }' "$WORK/threads-before.txt" | sort) |
    awk -v hz="$HZ" '{ d = ($2 - $3) / hz; if (d > 0) printf "   %-28s %6.2f s\n", $1, d }' | sort -k2 -nr -t' ' | head -12

if [ -s "$WORK/perf.data" ]; then
    echo "== perf: hottest symbols in messagebridge (self time, top 25)"
    perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | head -25 | cut -c1-150 || true   # head closes the pipe early: not a failure
fi

# --------------------------------------------------------------------------------------------------- database

sql() { sqlite3 -cmd '.timeout 10000' "$DB" "$1"; }

if [ "$DELIVERY" = on ]; then
    echo "== waiting for the delivery backlog to drain (at most ${DRAIN_TIMEOUT}s)"
    drain_start=$SECONDS
    while :; do
        undelivered=$(sql "SELECT count(*) FROM messages WHERE status <> 'delivered'")
        if [ "$undelivered" -eq 0 ] || [ $(( SECONDS - drain_start )) -ge "$DRAIN_TIMEOUT" ]; then break; fi
        sleep 1
    done
    echo "   $undelivered undelivered after $(( SECONDS - drain_start ))s"
fi

echo "== stopping messagebridge (SIGTERM)"
kill -TERM "$SERVER_PID"
server_exit=0
wait "$SERVER_PID" || server_exit=$?
SERVER_PID=""
echo "   exit status $server_exit"
if grep -q . "$WORK/server.log"; then
    echo "   server log (warning and above), first lines:"
    head -5 "$WORK/server.log" | cut -c1-200 | sed 's/^/     /'
fi

ROWS=$(sql "SELECT count(*) FROM messages")
DELIVERED=$(sql "SELECT count(*) FROM messages WHERE status = 'delivered'")
STATUSES=$(sql "SELECT status || '=' || count(*) FROM messages GROUP BY status ORDER BY status" | tr '\n' ' ')
ATTEMPTS=$(sql "SELECT count(*) FROM attempts")
JOURNAL=$(sql "PRAGMA journal_mode")

ok2xx() { echo $(( $(field requests "$1") - $(field status_errors "$1") )); }
ACCEPTED=$(( SAMPLE_ACCEPTED + $(ok2xx "$MB_WARM_RESULT") + $(ok2xx "$MB_RESULT") ))

# ------------------------------------------------------------------------------------------------------ report

row() { # row TARGET RESULT
    local r=$2
    awk -v t="$1" -v n="$(field requests "$r")" -v d="$(field duration_us "$r")" -v e="$(field status_errors "$r")" \
        -v p50="$(field p50_us "$r")" -v p99="$(field p99_us "$r")" \
        -v se="$(( $(field connect "$r") + $(field read "$r") + $(field write "$r") + $(field timeout "$r") ))" \
        'BEGIN { printf "%-14s %10.0f %9.2f ms %9.2f ms %8d %10d\n", t, n / (d / 1e6), p50 / 1000, p99 / 1000, e, se }'
}
rate() { awk -v n="$(field requests "$1")" -v d="$(field duration_us "$1")" 'BEGIN { print n / (d / 1e6) }'; }

echo
echo "== results: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $BODY_BYTES-byte JSON POST, delivery $DELIVERY, $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
printf '%-14s %10s %12s %12s %8s %10s\n' target 'req/s' p50 p99 non-2xx 'sock err'
row "nginx 202" "$NGINX_RESULT"
[ -n "$HB_RESULT" ] && row "hummingbird" "$HB_RESULT"
row messagebridge "$MB_RESULT"
awk -v m="$(rate "$MB_RESULT")" -v n="$(rate "$NGINX_RESULT")" 'BEGIN { printf "ratio messagebridge/nginx: %.3f (goal >= 0.5)\n", m / n }'
if [ -n "$HB_RESULT" ]; then
    awk -v h="$(rate "$HB_RESULT")" -v n="$(rate "$NGINX_RESULT")" -v m="$(rate "$MB_RESULT")" \
        'BEGIN { printf "ratio hummingbird ('"$HB_MODE"', fixed 202, nothing stored)/nginx: %.3f; messagebridge/hummingbird: %.3f\n", h / n, m / h }'
fi
awk -v c="$CONNECTIONS" -v mean="$(field mean_us "$SQLITE_RESULT")" -v p50="$(field p50_us "$SQLITE_RESULT")" \
    -v p90="$(field p90_us "$SQLITE_RESULT")" -v n="$(rate "$NGINX_RESULT")" -v m="$(rate "$MB_RESULT")" 'BEGIN {
        ceiling = c / (mean / 1e6)
        printf "raw SQLite commit: mean %.2f ms, p50 %.2f ms, p90 %.2f ms -> durable ceiling at %d connections (one commit each): %.0f req/s = %.3f of nginx; messagebridge reached %.2f of it\n",
            mean / 1000, p50 / 1000, p90 / 1000, c, ceiling, ceiling / n, m / ceiling
    }'
echo "CPU, nginx run:         nginx $NGINX_CPU"
[ -n "$HB_RESULT" ] && echo "CPU, hummingbird run:   hummingbird $HB_CPU"
echo "CPU, messagebridge run: messagebridge $MB_CPU"
echo
echo "== durability"
echo "2xx answered by messagebridge (sample + warm-up + measured): $ACCEPTED"
echo "rows in the messages table:                                 $ROWS"
if [ "$ROWS" -ge "$ACCEPTED" ]; then
    echo "check: rows >= 2xx: OK (rows beyond the 2xx are requests in flight when wrk stopped)"
else
    echo "check: rows >= 2xx: FAILED, $(( ACCEPTED - ROWS )) acknowledged messages are missing"
fi
echo "journal_mode:  $JOURNAL"
echo "synchronous:   FULL on the writer connection (set by SQLiteMessageStore after the pool opens; another"
echo "               connection cannot read it, see the test \"the database runs in WAL mode with synchronous=FULL\""
echo "               in Tests/StorageTests/SQLiteMessageStoreTests.swift)"
echo "delivered:     $DELIVERED of $ROWS to $DESTINATION, delivery $DELIVERY (statuses: ${STATUSES% }; $ATTEMPTS attempts recorded)"
echo "server exit:   $server_exit after SIGTERM"

[ "$ROWS" -ge "$ACCEPTED" ]
