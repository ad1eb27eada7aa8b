#!/usr/bin/env bash
# Cost that stays flat (issue 17, goal 4): with PREFILL (1,000,000) webhooks already stored, mostly delivered and
# some pending, retrying and failed, webhook ingest against an empty store in the same run (alternating), and the
# latency of GET /status and GET /metrics on both. With BASELINE_BIN, a second binary is measured the same way in
# the same run, alternating with the first, on a copy of the same prefilled file (migrated by each binary). See
# benchmarks/README.md, "Cost that stays flat".
#
# Self-contained: starts the servers on free loopback ports with their files in a temporary directory, points the
# route at a loopback listener that never answers (deliveries stalled, as benchmarks/ingest's BENCH_DELIVERY=stalled,
# so the runs measure ingest alone), fills the database straight with Python's sqlite3, measures, and stops and
# removes everything on exit. Every load run is bounded in time.
#
# Environment (all optional):
#   MESSAGEBRIDGE_BIN   the binary to measure (copied first); default .build/release/messagebridge, built with
#                       `swift build -c release --product messagebridge` when missing
#   BASELINE_BIN        also measure this binary (e.g. a release build of main), labelled "baseline"; its schema must
#                       not be newer than MESSAGEBRIDGE_BIN's (the prefilled file is made with it, then migrated by the
#                       other)
#   PREFILL             messages stored before the runs (default 1000000; PREFILL=20000 is a quick run)
#   BENCH_ROUNDS        ingest runs per binary and store, alternating (default 2)
#   BENCH_DURATION      measured wrk run (default 10s, after BENCH_WARMUP=2s)
#   BENCH_CONNECTIONS   wrk connections (default 64, one thread)
#   BENCH_REQUESTS      GET /status and GET /metrics requests per server, one at a time (default 200)
#   BENCH_SCRAPES       refreshing /metrics scrapes per server, BENCH_SCRAPE_INTERVAL (5.5) seconds apart (default 6)
#   BENCH_SEED          seed of the prefill (default 1)
#   BENCH_WAIT_QUIET    wait up to this many seconds before each measured run for a 2 s stretch in which the
#                       machine is under 10 % busy (default 0: do not wait; the machines are shared)
#   BENCH_KEEP=1        keep the temporary directory (configs, databases, logs, results)
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO_ROOT="$PWD"
. "$REPO_ROOT/benchmarks/lib/common.sh"   # free_port, wait_for_http, wait_quiet, cpu_ticks, to_seconds, copy_binary
HERE="$REPO_ROOT/benchmarks/flat"

PREFILL="${PREFILL:-1000000}"
ROUNDS="${BENCH_ROUNDS:-2}"
DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-2s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
REQUESTS="${BENCH_REQUESTS:-200}"
SCRAPES="${BENCH_SCRAPES:-6}"
SCRAPE_INTERVAL="${BENCH_SCRAPE_INTERVAL:-5.5}"
SEED="${BENCH_SEED:-1}"
for v in PREFILL ROUNDS CONNECTIONS REQUESTS SCRAPES SEED; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be a whole number, got ${!v}" >&2; exit 1; }
done
BODY_BYTES=170
ROUTE=/webhook/payment

for tool in wrk curl ss awk timeout python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install wrk curl time python3)" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------- setup & cleanup

WORK="$(mktemp -d -t mb-flat-bench.XXXXXX)"
declare -A PIDS=()
STALL_PID=""

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local key
    for key in "${!PIDS[@]}"; do stop_pid "${PIDS[$key]}"; done
    if [ -n "$STALL_PID" ]; then kill "$STALL_PID" 2>/dev/null || true; wait "$STALL_PID" 2>/dev/null || true; fi
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

HZ=$(getconf CLK_TCK)
field() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# --------------------------------------------------------------------------------------------------- machine

echo "== machine"
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpus:      $(nproc) (shared by the servers, wrk and the clients)"
echo "cpu model: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "memory:    $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "kernel:    $(uname -r)"
echo "python:    $(python3 -c 'import sys, sqlite3; print(sys.version.split()[0], "sqlite", sqlite3.sqlite_version)')"
echo "wrk:       $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
echo "commit:    $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || echo ' (Sources/ has uncommitted changes)')"
echo "disk:      $(df -h --output=avail "$WORK" | tail -1 | tr -d ' ') free where the databases go ($WORK)"

# ---------------------------------------------------------------------------------------------------- binaries

if [ -n "${MESSAGEBRIDGE_BIN:-}" ]; then
    SOURCE_BIN="$MESSAGEBRIDGE_BIN"
else
    SOURCE_BIN="$REPO_ROOT/.build/release/messagebridge"
    if [ ! -x "$SOURCE_BIN" ]; then
        if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
        echo "== building release binary (.build/release)"
        swift build -c release --product messagebridge 2>&1 | tail -3
        SOURCE_BIN="$(swift build -c release --show-bin-path)/messagebridge"
    fi
fi
LABELS=()
declare -A BIN=()
if [ -n "${BASELINE_BIN:-}" ]; then
    [ -x "$BASELINE_BIN" ] || { echo "no executable at $BASELINE_BIN" >&2; exit 1; }
    LABELS+=(baseline)
    copy_binary "$BASELINE_BIN" "$WORK/messagebridge-baseline"
    BIN[baseline]="$WORK/messagebridge-baseline"
    echo "baseline:  $BASELINE_BIN ($(date -u -r "$BASELINE_BIN" +%Y-%m-%dT%H:%M:%SZ))"
fi
[ -x "$SOURCE_BIN" ] || { echo "no executable at $SOURCE_BIN" >&2; exit 1; }
LABELS+=(candidate)
copy_binary "$SOURCE_BIN" "$WORK/messagebridge-candidate"
BIN[candidate]="$WORK/messagebridge-candidate"
echo "candidate: $SOURCE_BIN ($(date -u -r "$SOURCE_BIN" +%Y-%m-%dT%H:%M:%SZ))"
NEWER=$(find "$REPO_ROOT/Sources" -newer "$SOURCE_BIN" -name '*.swift' 2>/dev/null | head -1)
if [ -z "${MESSAGEBRIDGE_BIN:-}" ] && [ -n "$NEWER" ]; then
    echo "   WARNING: Sources/ has files newer than the candidate (e.g. ${NEWER#"$REPO_ROOT/"}): rebuild, or pass MESSAGEBRIDGE_BIN"
fi

# ---------------------------------------------------------------------------------------------------- stores

# One listener for every server's deliveries: it accepts connections into its backlog and never reads them, for at
# most two hours. With one delivery at a time and an hour's timeout, each server holds one message in flight.
STALL_PORT=$(free_port); USED_PORTS="$USED_PORTS $STALL_PORT"
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096); time.sleep(7200)' "$STALL_PORT" &
STALL_PID=$!
DESTINATION="http://127.0.0.1:$STALL_PORT/stalled"

CLEAN_ENV=(env -u MESSAGEBRIDGE_SQLITE_DATABASE_PATH -u MESSAGEBRIDGE_SERVER_HOST -u MESSAGEBRIDGE_SERVER_PORT
    -u MESSAGEBRIDGE_REMOTE_URL -u LOG_LEVEL)
declare -A PORT=()
# write_config LABEL STORE: $WORK/LABEL-STORE/config.yaml, its database beside it.
write_config() {
    local dir="$WORK/$1-$2" port
    port=$(free_port); USED_PORTS="$USED_PORTS $port"
    PORT[$1-$2]=$port
    mkdir -p "$dir"
    cat > "$dir/config.yaml" <<EOF
server:
  host: "127.0.0.1"
  port: $port
  shutdown_timeout: 10s
routes:
  - path: "$ROUTE"
    destination: "$DESTINATION"
sqlite:
  database_path: "$dir/messagebridge.db"
worker:
  concurrency: 1
  retry_interval: 1h
  http_timeout: 1h
logging:
  level: warning
  format: json
EOF
    "${CLEAN_ENV[@]}" "${BIN[$1]}" check-config "$dir/config.yaml" > "$dir/check-config.txt" 2>&1 || {
        echo "the benchmark's configuration does not pass check-config:" >&2; cat "$dir/check-config.txt" >&2; exit 1; }
}
migrate() { "${CLEAN_ENV[@]}" "${BIN[$1]}" migrate --config "$WORK/$1-$2/config.yaml"; }
# start LABEL STORE -> PIDS[LABEL-STORE]
start() {
    local dir="$WORK/$1-$2"
    "${CLEAN_ENV[@]}" "${BIN[$1]}" serve --config "$dir/config.yaml" >> "$dir/server.log" 2>&1 &
    PIDS[$1-$2]=$!
    wait_for_http "http://127.0.0.1:${PORT[$1-$2]}/health/ready" "${PIDS[$1-$2]}" 120 || {
        echo "messagebridge ($1, $2 store) did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
}

for label in "${LABELS[@]}"; do
    write_config "$label" empty
    write_config "$label" full
    echo "== $label: $(migrate "$label" empty)"
    # Kept to start every empty run on a fresh file.
    cp "$WORK/$label-empty/messagebridge.db" "$WORK/$label-empty/pristine.db"
done

FIRST=${LABELS[0]}
FULL_DB="$WORK/$FIRST-full/messagebridge.db"
echo "== $FIRST: $(migrate "$FIRST" full)"
echo "== prefill: $PREFILL messages straight into $FULL_DB (Python sqlite3, 50 000 rows per transaction)"
timeout 3600 python3 "$HERE/flat.py" prefill --db "$FULL_DB" --messages "$PREFILL" --seed "$SEED" \
    --body-bytes "$BODY_BYTES" --route "$ROUTE" --destination "$DESTINATION" \
    > "$WORK/prefill.json" 2> "$WORK/prefill-progress.log" || { tail -5 "$WORK/prefill-progress.log" >&2; exit 1; }
echo "   $(cat "$WORK/prefill.json")"
for label in "${LABELS[@]}"; do
    [ "$label" = "$FIRST" ] && continue
    cp "$FULL_DB" "$WORK/$label-full/messagebridge.db"
    t0=$(date +%s.%N)
    report=$(migrate "$label" full)
    echo "== $label: $report ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
done
for label in "${LABELS[@]}"; do
    echo "   direct SQL on $label's full file (median of 5, warm): $(python3 "$HERE/flat.py" sqlcost --db "$WORK/$label-full/messagebridge.db")"
done
CANDIDATE_EMPTY="$WORK/candidate-empty/pristine.db"
if python3 -c 'import sqlite3, sys; sys.exit(0 if sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM sqlite_master WHERE name = ?", ("message_status_counts",)).fetchone()[0] else 1)' "$CANDIDATE_EMPTY"; then
    echo "== the SQLite cost of keeping the counts (CPU per row in Python's sqlite3, median of 5 alternating rounds; none / as the candidate keeps them / with an insert trigger)"
    echo "   $(python3 "$HERE/flat.py" triggers --db "$CANDIDATE_EMPTY")"
fi

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

# ----------------------------------------------------------------------------------------- /status and /metrics

for label in "${LABELS[@]}"; do
    for store in empty full; do start "$label" "$store"; done
done
for label in "${LABELS[@]}"; do
    echo "   $label full store's /status counts: $(curl -s "http://127.0.0.1:${PORT[$label-full]}/status" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["messages"])')"
done
for label in "${LABELS[@]}"; do
    for store in empty full; do
        wait_quiet
        bg=$BG
        echo "== $label, $store store: $REQUESTS x GET /status, then $REQUESTS x GET /metrics, one at a time (machine $bg % busy just before)"
        [ "$bg" -le 10 ] || echo "   WARNING: the machine is not idle; these figures are worse than on a quiet machine"
        for path in /status /metrics; do
            timeout 900 python3 "$HERE/flat.py" latency --port "${PORT[$label-$store]}" --path "$path" \
                --requests "$REQUESTS" --label "$label" --store "$store" | tee -a "$RESULTS" | sed 's/^/   /'
        done
    done
done
targets=()
for label in "${LABELS[@]}"; do for store in empty full; do targets+=("$label:$store:${PORT[$label-$store]}"); done; done
echo "== $SCRAPES refreshing scrapes of /metrics per server, ${SCRAPE_INTERVAL}s apart (each one recounts the backlog)"
timeout 900 python3 "$HERE/flat.py" scrapes --targets "${targets[@]}" --rounds "$SCRAPES" --interval "$SCRAPE_INTERVAL" |
    tee -a "$RESULTS" | sed 's/^/   /'

# ---------------------------------------------------------------------------------------------------- ingest

BODY_HEAD='{"event":"payment.succeeded","order_id":"12345","amount":100.00,"currency":"EUR","customer":{"id":"cus_8a3f2c91","email":"buyer@example.com"},"note":"'
BODY_TAIL='"}'
BODY="$BODY_HEAD$(printf '%*s' $(( BODY_BYTES - ${#BODY_HEAD} - ${#BODY_TAIL} )) '' | tr ' ' x)$BODY_TAIL"
[ "${#BODY}" -eq "$BODY_BYTES" ] || { echo "body is ${#BODY} bytes, not $BODY_BYTES" >&2; exit 1; }
cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = [[$BODY]]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p99_us=%d\n",
        summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
EOF

# ingest LABEL STORE ROUND: a warm-up and a measured wrk run; one JSON line into $RESULTS.
ingest() {
    local label=$1 store=$2 round=$3 key="$1-$2"
    if [ "$store" = empty ]; then
        # A fresh empty file for every run, so "empty" stays empty.
        stop_pid "${PIDS[$key]}"
        rm -f "$WORK/$key/messagebridge.db" "$WORK/$key/messagebridge.db-wal" "$WORK/$key/messagebridge.db-shm"
        cp "$WORK/$key/pristine.db" "$WORK/$key/messagebridge.db"
        start "$label" "$store"
    fi
    local url="http://127.0.0.1:${PORT[$key]}$ROUTE" pid=${PIDS[$key]}
    wait_quiet
    local bg=$BG
    local limit=$(( $(to_seconds "$DURATION") + $(to_seconds "$WARMUP") + 60 ))
    timeout "$limit" wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" -s "$WORK/post.lua" "$url" > "$WORK/wrk-warmup.txt" 2>&1 || {
        echo "wrk failed:" >&2; cat "$WORK/wrk-warmup.txt" >&2; return 1; }
    sleep 1
    local before; before=$(cpu_ticks "$pid")
    timeout "$limit" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/post.lua" "$url" \
        > "$WORK/wrk-$key-$round.txt" 2>&1 || { echo "wrk failed:" >&2; cat "$WORK/wrk-$key-$round.txt" >&2; return 1; }
    local after; after=$(cpu_ticks "$pid")
    local r; r=$(grep '^RESULT ' "$WORK/wrk-$key-$round.txt")
    local rows; rows=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT max(seq) FROM messages").fetchone()[0])' "$WORK/$key/messagebridge.db")
    awk -v l="$label" -v s="$store" -v round="$round" -v n="$(field requests "$r")" -v d="$(field duration_us "$r")" \
        -v e="$(field status_errors "$r")" -v se="$(field socket_errors "$r")" -v p50="$(field p50_us "$r")" \
        -v p99="$(field p99_us "$r")" -v t=$(( after - before )) -v hz="$HZ" -v bg="$bg" -v rows="$rows" 'BEGIN {
            printf "{\"kind\": \"ingest\", \"binary\": \"%s\", \"store\": \"%s\", \"round\": %d, \"rate\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"cpu_us\": %.1f, \"non_2xx\": %d, \"socket_errors\": %d, \"background\": %d, \"last_seq\": %d}\n",
                l, s, round, n / (d / 1e6), p50 / 1000, p99 / 1000, n ? t / hz * 1e6 / n : 0, e, se, bg, rows
        }' | tee -a "$RESULTS" | sed 's/^/   /'
}

echo "== ingest: wrk -t1 -c$CONNECTIONS, $WARMUP warm-up then $DURATION measured, $BODY_BYTES-byte JSON POST, deliveries stalled; $ROUNDS rounds, alternating"
for round in $(seq 1 "$ROUNDS"); do
    order=()
    for label in "${LABELS[@]}"; do order+=("$label empty" "$label full"); done
    if [ $(( round % 2 )) -eq 0 ]; then
        # Every other round in reverse, so drift over the session does not favour one side.
        reversed=(); for (( i = ${#order[@]} - 1; i >= 0; i-- )); do reversed+=("${order[$i]}"); done; order=("${reversed[@]}")
    fi
    for item in "${order[@]}"; do
        # shellcheck disable=SC2086
        ingest $item "$round"
    done
done

# ----------------------------------------------------------------------------------------------------- checks

for label in "${LABELS[@]}"; do
    status=$(curl -s "http://127.0.0.1:${PORT[$label-full]}/status")
    counted=$(python3 -c 'import sqlite3, sys, json
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(json.dumps(dict(c.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall()), sort_keys=True))' \
        "$WORK/$label-full/messagebridge.db")
    echo "== $label full store after the runs: /status $(echo "$status" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["messages"], sort_keys=True))'); rows by status in the file $counted"
done
for key in "${!PIDS[@]}"; do stop_pid "${PIDS[$key]}"; unset "PIDS[$key]"; done
for label in "${LABELS[@]}"; do
    for store in empty full; do
        log="$WORK/$label-$store/server.log"
        if grep -q . "$log"; then echo "   $label $store server log (warning and above), first lines:"; head -3 "$log" | cut -c1-200 | sed 's/^/     /'; fi
    done
done

echo
echo "== results: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
python3 "$HERE/flat.py" report --results "$RESULTS" --prefill "$WORK/prefill.json"
