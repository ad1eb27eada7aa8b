#!/usr/bin/env bash
# History and search benchmark: with MESSAGES (1,000,000) stored messages across ROOMS (1,000) rooms, the latency
# of a 50-message history page (GET /api/v1/rooms/{id}/messages?limit=50, and with before=<id>) and of a search
# (GET /api/v1/search?q=...), next to the same SQL statements run directly against the same SQLite file in the same
# run (the baseline); and message ingest (POST /api/v1/rooms/{id}/messages) on an empty store against the filled
# one. See benchmarks/README.md, "History and search".
#
# Self-contained: uses (or builds) the release binary, starts `messagebridge serve` on free loopback ports with its
# files in a temporary directory, creates users, rooms and members over REST, stops the server and fills the
# database directly with Python's sqlite3 (the messages, their `message.created` events, the authors' read
# positions; the FTS5 triggers index them), starts the server again on the filled file, measures, and stops and
# removes everything on exit. Every client run is bounded in time.
#
# Environment (all optional):
#   MESSAGES                 messages to store (default 1000000; MESSAGES=50000 is a quick run)
#   ROOMS                    rooms they are spread over (default 1000; sizes follow a Zipf law, s=0.8)
#   MESSAGEBRIDGE_BIN        use this binary (it is copied first); default .build/release/messagebridge, built with
#                            `swift build -c release --product messagebridge` when missing
#   BENCH_USERS              users (default 100); each room has BENCH_MEMBERS of them (default 10), so each user is
#                            in ROOMS * BENCH_MEMBERS / BENCH_USERS rooms
#   BENCH_BATCH              rows per fill transaction (default 50000)
#   BENCH_WORKERS            concurrent latency clients, each sequential on its own keep-alive connection, and as
#                            many read-only SQLite connections for the baseline (default 4)
#   BENCH_SEQUENTIAL         1 (default): also run each kind with one client alone (the first worker's requests:
#                            the cost of a request without queueing behind others); 0: skip
#   BENCH_HISTORY_REQUESTS   measured requests per history kind and target (default 4000, after 400 of warm-up)
#   BENCH_SEARCH_REQUESTS    measured searches per target (default 900: 100 per query class, after 45 of warm-up)
#   BENCH_PHASE_SECONDS      cap on each measured latency run (default 120)
#   BENCH_INGEST_CONNECTIONS concurrent senders for the ingest runs (default 32)
#   BENCH_INGEST_DURATION    measured seconds per ingest run (default 10, after BENCH_INGEST_WARMUP=2)
#   BENCH_INGEST_ROUNDS      ingest runs per store, alternating empty and filled (default 2)
#   BENCH_WAIT_QUIET         wait up to this many seconds before each measured run for a 2 s stretch in which the
#                            machine is under 10 % busy (default 0: do not wait; the machines are shared)
#   BENCH_SEED               seed of the generated messages (default 1)
#   BENCH_PERF=1             after the measured runs, repeat each server run under `perf record` (not counted in
#                            the figures) and print where the server's CPU went
#   BENCH_KEEP=1             keep the temporary directory (configs, databases, logs, results)
#   BENCH_REUSE=DIR          skip the setup and the fill: copy both databases as they were before any request
#                            (DIR/pristine, which a run with BENCH_KEEP=1 keeps) and the setup's files from DIR, so
#                            two binaries or settings are measured on the same file
#   BENCH_SQLITE_OPTIONS     extra `sqlite:` keys for every server, e.g. "mmap_size_mb: 0" (the binary must know them)
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO_ROOT="$PWD"
. "$REPO_ROOT/benchmarks/lib/common.sh"   # free_port, wait_for_http, wait_quiet, cpu_ticks, to_seconds, copy_binary
HERE="$REPO_ROOT/benchmarks/history"

MESSAGES="${MESSAGES:-1000000}"
ROOMS="${ROOMS:-1000}"
USERS="${BENCH_USERS:-100}"
MEMBERS="${BENCH_MEMBERS:-10}"
BATCH="${BENCH_BATCH:-50000}"
WORKERS="${BENCH_WORKERS:-4}"
HISTORY_REQUESTS="${BENCH_HISTORY_REQUESTS:-4000}"
SEARCH_REQUESTS="${BENCH_SEARCH_REQUESTS:-900}"
PHASE_SECONDS="${BENCH_PHASE_SECONDS:-120}"
INGEST_CONNECTIONS="${BENCH_INGEST_CONNECTIONS:-32}"
INGEST_DURATION="${BENCH_INGEST_DURATION:-10}"
INGEST_WARMUP="${BENCH_INGEST_WARMUP:-2}"
INGEST_ROUNDS="${BENCH_INGEST_ROUNDS:-2}"
SEED="${BENCH_SEED:-1}"
for v in MESSAGES ROOMS USERS MEMBERS BATCH WORKERS HISTORY_REQUESTS SEARCH_REQUESTS PHASE_SECONDS \
    INGEST_CONNECTIONS INGEST_DURATION INGEST_WARMUP INGEST_ROUNDS SEED; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be a whole number, got ${!v}" >&2; exit 1; }
done
[ "$MEMBERS" -le "$USERS" ] || { echo "BENCH_MEMBERS ($MEMBERS) must not exceed BENCH_USERS ($USERS)" >&2; exit 1; }

for tool in python3 curl ss awk timeout; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
python3 -c 'import sqlite3; sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize=trigram)")' \
    2>/dev/null || { echo "Python's sqlite3 lacks FTS5 with the trigram tokenizer (SQLite >= 3.34 needed)" >&2; exit 1; }
if ! python3 -c 'import uvloop' 2>/dev/null; then
    echo "note: uvloop is not installed (pip install uvloop): the ingest client uses asyncio's loop, which costs it more CPU" >&2
fi

# ---------------------------------------------------------------------------------------------- setup & cleanup

WORK="$(mktemp -d -t mb-history-bench.XXXXXX)"
FULL_PID=""
EMPTY_PID=""
PERF_PID=""

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
    # Python clients run in the foreground under `timeout`; the servers and perf are the only background processes.
    if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; fi
    stop_pid "$FULL_PID"
    stop_pid "$EMPTY_PID"
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

rss_mb() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
checkpoint() {
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()' "$1"
}

# --------------------------------------------------------------------------------------------------- machine

echo "== machine"
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpus:      $(nproc) (shared by the server and the clients)"
echo "cpu model: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "memory:    $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "kernel:    $(uname -r)"
echo "python:    $(python3 -c 'import sys, sqlite3; print(sys.version.split()[0], "sqlite", sqlite3.sqlite_version)')$(python3 -c 'import uvloop; print(", uvloop", uvloop.__version__)' 2>/dev/null || true)"
START_COMMIT=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "commit:    $START_COMMIT$(git -C "$REPO_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || echo ' (Sources/ has uncommitted changes)')"
echo "disk:      $(df -h --output=avail "$WORK" | tail -1 | tr -d ' ') free where the databases go ($WORK)"

# ---------------------------------------------------------------------------------------------------- binary

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
[ -x "$SOURCE_BIN" ] || { echo "no executable at $SOURCE_BIN" >&2; exit 1; }
BIN="$WORK/messagebridge"
copy_binary "$SOURCE_BIN" "$BIN"
echo "binary:    $SOURCE_BIN ($(date -u -r "$SOURCE_BIN" +%Y-%m-%dT%H:%M:%SZ)), copied to $BIN"
NEWER=$(find "$REPO_ROOT/Sources" -newer "$SOURCE_BIN" -name '*.swift' 2>/dev/null | head -1)
if [ -n "$NEWER" ]; then
    echo "   WARNING: Sources/ has files newer than the binary (e.g. ${NEWER#"$REPO_ROOT/"}): rebuild, or pass MESSAGEBRIDGE_BIN"
fi

# ---------------------------------------------------------------------------------------------------- servers

# write_config FILE PORT DATABASE
write_config() {
    local extra=""
    if [ -n "${BENCH_SQLITE_OPTIONS:-}" ]; then extra="  ${BENCH_SQLITE_OPTIONS}"; fi
    cat > "$1" <<EOF
server:
  host: "127.0.0.1"
  port: $2
  shutdown_timeout: 10s
# serve needs a webhook route; nothing is posted to it.
routes:
  - path: "/webhook/unused"
    destination: "http://127.0.0.1:9/unused"
sqlite:
  database_path: "$3"
$extra
auth:
  registration: open
  bcrypt_cost: 4
  jwt_secret: "history-benchmark-secret-0123456789abcdef"
  jwt_expiration: 4h
logging:
  level: warning
  format: json
EOF
}
CLEAN_ENV=(env -u MESSAGEBRIDGE_SQLITE_DATABASE_PATH -u MESSAGEBRIDGE_SERVER_HOST -u MESSAGEBRIDGE_SERVER_PORT
    -u MESSAGEBRIDGE_REMOTE_URL -u LOG_LEVEL -u JWT_SECRET -u JWT_EXPIRATION -u MESSAGEBRIDGE_AUTH_JWT_SECRET
    -u MESSAGEBRIDGE_AUTH_JWT_EXPIRATION)
# start_server CONFIG LOG PORT -> sets STARTED_PID, STARTED_S (seconds until /health/ready answered)
start_server() {
    "${CLEAN_ENV[@]}" "$BIN" check-config "$1" > "$WORK/check-config.txt" 2>&1 || {
        echo "the benchmark's configuration does not pass check-config:" >&2; cat "$WORK/check-config.txt" >&2; exit 1; }
    local t0; t0=$(date +%s.%N)
    "${CLEAN_ENV[@]}" "$BIN" serve --config "$1" >> "$2" 2>&1 &
    STARTED_PID=$!
    wait_for_http "http://127.0.0.1:$3/health/ready" "$STARTED_PID" 120 || {
        echo "messagebridge did not start:" >&2; cat "$2" >&2; exit 1; }
    STARTED_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

mkdir -p "$WORK/full" "$WORK/empty"
DB="$WORK/full/messagebridge.db"
EMPTY_DB="$WORK/empty/messagebridge.db"
PORT=$(free_port)
write_config "$WORK/full.yaml" "$PORT" "$DB"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

if [ -n "${BENCH_REUSE:-}" ]; then
    for f in pristine/full.db pristine/empty.db setup.json probe.json fill.json; do
        [ -f "$BENCH_REUSE/$f" ] || { echo "BENCH_REUSE: $BENCH_REUSE/$f is missing (keep a run with BENCH_KEEP=1)" >&2; exit 1; }
    done
    echo "== reusing the filled and the empty store of $BENCH_REUSE (copied)"
    cp "$BENCH_REUSE/pristine/full.db" "$DB"
    cp "$BENCH_REUSE/pristine/empty.db" "$EMPTY_DB"
    for f in setup.json probe.json fill.json; do cp "$BENCH_REUSE/$f" "$WORK/$f"; done
    python3 - "$WORK/fill.json" "$MESSAGES" <<'PYEOF'
import json, sys
fill = json.load(open(sys.argv[1]))
if fill["total_messages"] < int(sys.argv[2]):
    sys.exit(f"BENCH_REUSE: the kept fill has {fill['total_messages']} messages, MESSAGES is {sys.argv[2]}")
PYEOF
else
    # 1. Schema, users, rooms, members: through the server.
    echo "== setup: $USERS users, $ROOMS public rooms of $MEMBERS members each, over REST"
    start_server "$WORK/full.yaml" "$WORK/server.log" "$PORT"
    FULL_PID=$STARTED_PID
    timeout 1800 python3 "$HERE/history.py" setup --port "$PORT" --users "$USERS" --rooms "$ROOMS" --members "$MEMBERS" \
        --out "$WORK/setup.json"
    stop_pid "$FULL_PID"; FULL_PID=""
    checkpoint "$DB"
    # The empty store: the same users, rooms and members, no messages (its own directory: lock file, attachments).
    cp "$DB" "$EMPTY_DB"

    # 2. A few messages through the server, whose event payloads the fill checks its own against.
    start_server "$WORK/full.yaml" "$WORK/server.log" "$PORT"
    FULL_PID=$STARTED_PID
    timeout 60 python3 "$HERE/history.py" probe --port "$PORT" --setup "$WORK/setup.json" --out "$WORK/probe.json"
    stop_pid "$FULL_PID"; FULL_PID=""

    # 3. The fill, with the server stopped.
    echo "== fill: $MESSAGES messages straight into $DB (server stopped; Python sqlite3, $BATCH rows per transaction)"
    timeout 14400 python3 "$HERE/history.py" fill --db "$DB" --setup "$WORK/setup.json" --probe "$WORK/probe.json" \
        --messages "$MESSAGES" --batch "$BATCH" --seed "$SEED" --out "$WORK/fill.json" 2> "$WORK/fill-progress.log" || {
        tail -5 "$WORK/fill-progress.log" >&2; exit 1; }
    tail -1 "$WORK/fill-progress.log" | sed 's/^ */   last batch: /'
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        mkdir -p "$WORK/pristine"
        cp "$DB" "$WORK/pristine/full.db"
        cp "$EMPTY_DB" "$WORK/pristine/empty.db"
    fi
fi

# 4. The server on the filled file.
start_server "$WORK/full.yaml" "$WORK/server.log" "$PORT"
FULL_PID=$STARTED_PID
echo "== messagebridge on the filled file: ready after $STARTED_S s, RSS $(rss_mb "$FULL_PID") MB; /stats $(curl -s "http://127.0.0.1:$PORT/stats" || true)"
python3 "$HERE/history.py" requests --db "$DB" --setup "$WORK/setup.json" --workers "$WORKERS" \
    --history "$HISTORY_REQUESTS" --search "$SEARCH_REQUESTS" --out "$WORK/requests.json"

# 5. Latency: each kind against the server, then the same requests as direct SQL on the same file.
for kind in latest before search; do
    wait_quiet
    bg=$BG
    echo "== $kind: machine $bg % busy just before (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "$bg" -gt 10 ]; then echo "   WARNING: the machine is not idle; these figures are worse than on a quiet machine"; fi
    clients="$WORKERS"
    if [ "${BENCH_SEQUENTIAL:-1}" = 1 ] && [ "$WORKERS" -gt 1 ]; then clients="$WORKERS 1"; fi
    for n in $clients; do
        for target in http sql; do
            timeout $(( PHASE_SECONDS + 900 )) python3 "$HERE/history.py" latency --target "$target" --kind "$kind" \
                --port "$PORT" --db "$DB" --requests "$WORK/requests.json" --max-seconds "$PHASE_SECONDS" \
                --workers "$n" --background "$bg" $( [ "$target" = http ] && echo --server-pid "$FULL_PID" ) \
                --out "$WORK/lat-$target-$kind-$n.json"
            cat "$WORK/lat-$target-$kind-$n.json" >> "$RESULTS"; echo >> "$RESULTS"
        done
    done
done
echo "   messagebridge RSS after the reads: $(rss_mb "$FULL_PID") MB"

# Optional: where the server's CPU goes, from a repeat of each run under perf (not in the figures).
if [ "${BENCH_PERF:-0}" = 1 ]; then
    if ! command -v perf >/dev/null; then
        echo "== BENCH_PERF=1 but perf is not installed: no profile"
    else
        for kind in latest before search; do
            echo "== profile: a repeat of the messagebridge $kind run under perf record -F 999 -g (not in the figures)"
            perf record -q -F 999 -g -p "$FULL_PID" -o "$WORK/perf-$kind.data" > "$WORK/perf-record-$kind.log" 2>&1 &
            PERF_PID=$!
            sleep 1
            timeout $(( PHASE_SECONDS + 900 )) python3 "$HERE/history.py" latency --target http --kind "$kind" \
                --port "$PORT" --db "$DB" --requests "$WORK/requests.json" --max-seconds "$PHASE_SECONDS" \
                --server-pid "$FULL_PID" --out "$WORK/perf-lat-$kind.json" > "$WORK/perf-lat-$kind.txt"
            head -1 "$WORK/perf-lat-$kind.txt"
            kill -INT "$PERF_PID" 2>/dev/null || true
            wait "$PERF_PID" 2>/dev/null || true
            PERF_PID=""
            echo "   CPU by library (self time):"
            perf report -i "$WORK/perf-$kind.data" --no-children --sort dso --stdio 2>/dev/null |
                awk '$1 ~ /^[0-9.]+%$/ { printf "     %7s  %s\n", $1, $2 }' | head -8 || true
            echo "   inclusive time of some frames (from frame-pointer call chains: a lower bound where SQLite is below):"
            perf report -i "$WORK/perf-$kind.data" --children --sort symbol --stdio -g none 2>/dev/null |
                grep -E '^ +[0-9]' > "$WORK/perf-children-$kind.txt" || true
            while IFS='|' read -r label pattern; do
                share=$(grep -m1 -F -- "$pattern" "$WORK/perf-children-$kind.txt" | awk '{ print $1 }' || true)
                printf '     %7s  %s\n' "${share:-0%}" "$label"
            done <<'PATTERNS'
JSON encoding of the response (Foundation JSONEncoder under Hummingbird's ResponseEncoder)|JSONEncoderC11HummingbirdE6encode_4from7context
the store's history() (GRDB and row decoding; SQLite's own frames lack frame pointers, see the library table)|SQLiteChatStoreC7history
the store's search() (the same)|SQLiteChatStoreC6search
GRDB's statement authorizer, called back by SQLite while it prepares each statement|StatementAuthorizerC9authorize
rows decoded into ChatMessage values|SQLiteChatStoreC7messagey4Core0C7MessageV4GRDB3RowCFZ
the access token check (JWT verification)|ChatAuthenticatorV6userID
HTTP request parsing (NIOHTTP1)|HTTPDecoderC6decode7context
socket writes (writev)|__GI___writev
PATTERNS
            echo "   hottest symbols (self time, top 12):"
            perf report -i "$WORK/perf-$kind.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
                grep -E '^ +[0-9]' | head -12 | cut -c1-150 | sed 's/^/   /' || true
        done
    fi
fi

# 6. Query plans and where a search's time goes (the server idle).
echo
timeout 900 python3 "$HERE/history.py" plan --db "$DB" --setup "$WORK/setup.json" --requests "$WORK/requests.json" \
    --fill "$WORK/fill.json" --out "$WORK/plan.json"
echo

# 7. Ingest, alternating the empty store and the filled one (both servers up, the other one idle).
EMPTY_PORT=$(free_port)
write_config "$WORK/empty.yaml" "$EMPTY_PORT" "$EMPTY_DB"
start_server "$WORK/empty.yaml" "$WORK/server-empty.log" "$EMPTY_PORT"
EMPTY_PID=$STARTED_PID
echo "== ingest: $INGEST_CONNECTIONS connections, ${INGEST_DURATION}s measured after ${INGEST_WARMUP}s warm-up, $INGEST_ROUNDS rounds per store"
for round in $(seq 1 "$INGEST_ROUNDS"); do
    for store in empty full; do
        if [ "$store" = empty ]; then p=$EMPTY_PORT; pid=$EMPTY_PID; else p=$PORT; pid=$FULL_PID; fi
        wait_quiet
        bg=$BG
        if [ "$bg" -gt 10 ]; then echo "   WARNING: the machine is $bg % busy before this run"; fi
        timeout $(( INGEST_WARMUP + INGEST_DURATION + 120 )) python3 "$HERE/history.py" ingest --port "$p" \
            --setup "$WORK/setup.json" --connections "$INGEST_CONNECTIONS" --duration "$INGEST_DURATION" \
            --warmup "$INGEST_WARMUP" --server-pid "$pid" --label "$store" --round "$round" --background "$bg" \
            --out "$WORK/ingest-$store-$round.json"
        cat "$WORK/ingest-$store-$round.json" >> "$RESULTS"; echo >> "$RESULTS"
    done
done

# 8. Stop both, then check that every stored message is in the file.
STATS=$(curl -s "http://127.0.0.1:$PORT/stats" || true)
stop_pid "$FULL_PID"; FULL_PID=""
stop_pid "$EMPTY_PID"; EMPTY_PID=""
echo "== stopped; /stats of the filled server before stopping: $STATS"
python3 - "$DB" "$EMPTY_DB" "$WORK/fill.json" "$RESULTS" <<'EOF'
import json, sqlite3, sys
db, empty, fill, results = sys.argv[1:5]
fill = json.load(open(fill))
ing = [json.loads(l) for l in open(results) if l.strip() and '"store"' in l]
for path, store in ((db, "full"), (empty, "empty")):
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    m, e = c.execute("SELECT (SELECT COUNT(*) FROM chat_messages), (SELECT COUNT(*) FROM chat_events WHERE type = 'message.created')").fetchone()
    acked = sum(r["ok"] for r in ing if r["store"] == store)
    base = fill["total_messages"] if store == "full" else 0
    ok = m >= base + acked and m == e
    print(f"   {store:<5} store: {m} messages, {m} == {e} message.created events: {'yes' if m == e else 'NO'}; "
          f"201s counted in the measured windows {acked}, messages beyond the fill {m - base} (>= : {'yes' if m >= base + acked else 'NO'})")
    if not ok:
        sys.exit(1)
EOF
if grep -q . "$WORK/server.log" "$WORK/server-empty.log" 2>/dev/null; then
    echo "   server logs (warning and above): $(cat "$WORK/server.log" "$WORK/server-empty.log" | wc -l) lines, first:"
    cat "$WORK/server.log" "$WORK/server-empty.log" | head -5 | cut -c1-200 | sed 's/^/     /'
fi

# --------------------------------------------------------------------------------------------------- report

echo
echo "== results: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $START_COMMIT at the start, binary $SOURCE_BIN, $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
python3 "$HERE/history.py" report --results "$RESULTS" --fill "$WORK/fill.json" --rooms "$ROOMS"
