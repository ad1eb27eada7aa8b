#!/usr/bin/env bash
# Chat fan-out benchmark: 1,000 WebSocket members of one room, one sender at a fixed rate; fan-out deliveries per
# second and send->receive latency, next to nats-server with WebSocket enabled (nothing stored) driven by the same
# clients in the same run; then memory per idle authenticated connection at 10,000 sockets, for both. See
# benchmarks/README.md, "Chat fan-out".
#
# Self-contained: builds (or reuses) the release binary, starts nats-server and `messagebridge serve` on free
# loopback ports with their files in a temporary directory, registers the members over REST, runs the clients
# (benchmarks/fanout/fanout.py; the subscribers by default benchmarks/fanout/subscriber.c, compiled into the temporary
# directory), and stops and removes everything on exit. Every client run is bounded in time.
#
# Environment (all optional):
#   MESSAGEBRIDGE_BIN        use this binary instead of building .build-release (it is copied first, so a rebuild
#                            during the run does not change it)
#   BENCH_MEMBERS            subscribers in the room (default 1000; the sender is one more member)
#   BENCH_RATES              sender rates in messages per second, one measured run per rate and target (default
#                            "50 max"); "max": as fast as the server answers, at most BENCH_WINDOW sends unanswered
#                            (MessageBridge: its ack; NATS: the sender's own copy of the message)
#   BENCH_WINDOW             unanswered sends at rate max (default 32)
#   BENCH_DURATION           measured seconds per run (default 20)
#   BENCH_WARMUP             warm-up seconds before each measured run, same rate, not counted (default 3)
#   BENCH_CLIENT_PROCS       subscriber processes, the members split evenly (default 2)
#   BENCH_CLIENT             c (default, when `cc` is there) / python: the subscribers, subscriber.c (epoll, one
#                            thread, a few us per frame) or `fanout.py subscribe` (10-40 us per frame); the sender
#                            and the idle sockets are Python either way
#   BENCH_IDLE               idle authenticated sockets for the memory figure (default 10000; 0 skips it)
#   BENCH_IDLE_PROCS         processes holding them (default 4)
#   BENCH_MEMORY_SPLIT=1     also measure, each on a fresh server, idle TCP connections that sent nothing and
#                            WebSockets that sent no auth frame yet (where the per-connection memory goes)
#   BENCH_NATS               on (default) / off: the nats-server baseline
#   BENCH_EVENT_LOOP         uvloop (default, when installed) / asyncio: the Python clients' event loop
#   BENCH_WAIT_QUIET         wait up to this many seconds before each fan-out run for a 2 s stretch in which other
#                            processes use under 10 % of the machine (default 0: do not wait; the shared
#                            development machines run other engineers' builds and test suites)
#   BENCH_PERF=1             also sample messagebridge with `perf record` during its measured runs and print its
#                            hottest symbols (perturbs the figures a little; off by default)
#   BENCH_KEEP=1             keep the temporary directory (config, database, logs, client results)
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO_ROOT="$PWD"
. "$REPO_ROOT/benchmarks/lib/common.sh"   # free_port, wait_for_http, machine_ticks, wait_quiet, cpu_ticks, copy_binary
HERE="$REPO_ROOT/benchmarks/fanout"

MEMBERS="${BENCH_MEMBERS:-1000}"
RATES="${BENCH_RATES:-50 max}"
WINDOW="${BENCH_WINDOW:-32}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-3}"
CLIENT_PROCS="${BENCH_CLIENT_PROCS:-2}"
IDLE="${BENCH_IDLE:-10000}"
IDLE_PROCS="${BENCH_IDLE_PROCS:-4}"
NATS="${BENCH_NATS:-on}"
case "$NATS" in on|off) ;; *) echo "BENCH_NATS must be on or off, got $NATS" >&2; exit 1 ;; esac
for rate in $RATES; do
    [[ "$rate" == max || "$rate" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "BENCH_RATES: $rate is neither a number nor max" >&2; exit 1; }
done
export BENCH_EVENT_LOOP="${BENCH_EVENT_LOOP:-uvloop}"
if [ -z "${BENCH_CLIENT:-}" ]; then
    if command -v cc >/dev/null; then BENCH_CLIENT=c; else BENCH_CLIENT=python; fi
fi
case "$BENCH_CLIENT" in
    c) command -v cc >/dev/null || { echo "BENCH_CLIENT=c needs a C compiler (cc), or BENCH_CLIENT=python" >&2; exit 1; } ;;
    python) ;;
    *) echo "BENCH_CLIENT must be c or python, got $BENCH_CLIENT" >&2; exit 1 ;;
esac

for tool in python3 curl ss awk timeout; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
python3 -c 'import websockets' 2>/dev/null || { echo "missing Python package websockets: pip install websockets uvloop" >&2; exit 1; }
if [ "$BENCH_EVENT_LOOP" = uvloop ] && ! python3 -c 'import uvloop' 2>/dev/null; then
    echo "note: uvloop is not installed (pip install uvloop): the clients use asyncio's loop, which costs them more CPU" >&2
    BENCH_EVENT_LOOP=asyncio
fi
if [ "$NATS" = on ]; then
    command -v nats-server >/dev/null || { echo "missing tool: nats-server (apt-get install nats-server), or BENCH_NATS=off" >&2; exit 1; }
fi

# Descriptors: the server holds every socket, each idle-client process its share.
WANT_FDS=$(( IDLE + MEMBERS + 4096 ))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$WANT_FDS" ]; then ulimit -Hn "$WANT_FDS" 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$WANT_FDS" ]; then
    echo "ulimit -n is $(ulimit -n), below the $WANT_FDS needed for BENCH_IDLE=$IDLE (raise the hard limit, or lower BENCH_IDLE)" >&2
    exit 1
fi

# ---------------------------------------------------------------------------------------------- setup & cleanup

WORK="$(mktemp -d -t mb-fanout-bench.XXXXXX)"
SERVER_PID=""
NATS_PID=""
SPLIT_PID=""
CLIENT_PIDS=()

stop_clients() {
    local pid
    for pid in "${CLIENT_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${CLIENT_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    CLIENT_PIDS=()
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_clients
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$SPLIT_PID" ] && kill -0 "$SPLIT_PID" 2>/dev/null; then kill -KILL "$SPLIT_PID" 2>/dev/null || true; fi
    if [ -n "$NATS_PID" ] && kill -0 "$NATS_PID" 2>/dev/null; then
        kill -TERM "$NATS_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$NATS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NATS_PID" 2>/dev/null || true
    fi
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

# Waits until every file named exists, at most SECONDS; false on timeout or when a process of PIDS is gone.
wait_for_files() {
    local seconds=$1; shift
    local deadline=$(( SECONDS + seconds )) f missing pid
    while [ "$SECONDS" -lt "$deadline" ]; do
        missing=0
        for f in "$@"; do [ -f "$f" ] || missing=1; done
        [ "$missing" = 0 ] && return 0
        for pid in "${CLIENT_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { [ "$missing" = 0 ] || return 1; }; done
        sleep 0.2
    done
    return 1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# "name ticks" per thread of a process (thread names with their numbers stripped, so pools sum up).
thread_ticks() {
    local task name
    for task in /proc/"$1"/task/*; do
        name=$(tr -d '\n' < "$task/comm" 2>/dev/null | sed 's/[0-9]\+/N/g; s/ /_/g') || continue
        awk -v n="$name" '{ sub(/^.*\) /, ""); print n, $12 + $13 }' "$task/stat" 2>/dev/null || true
    done
}
HZ=$(getconf CLK_TCK)

# Which other processes used the most CPU in the last 2 s (to say what the background was).
busiest_others() {
    local before after
    before=$(for p in /proc/[0-9]*; do awk -v p="${p#/proc/}" '{ sub(/^.*\) /, ""); print p, $12 + $13 }' "$p/stat" 2>/dev/null; done | sort)
    sleep 2
    after=$(for p in /proc/[0-9]*; do awk -v p="${p#/proc/}" '{ sub(/^.*\) /, ""); print p, $12 + $13 }' "$p/stat" 2>/dev/null; done | sort)
    join <(echo "$before") <(echo "$after") | awk -v hz="$HZ" '$3 - $2 > 10 { printf "%s %.0f\n", $1, 100 * ($3 - $2) / hz / 2 }' |
        sort -k2 -nr | head -3 | while read -r pid pct; do
            printf '%s%% %s; ' "$pct" "$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)"
        done
}

# --------------------------------------------------------------------------------------------------- machine

echo "== machine"
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpus:      $(nproc) (shared with the clients: client and servers run on the same cores)"
echo "cpu model: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "memory:    $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "kernel:    $(uname -r)"
echo "python:    $(python3 -c 'import sys, websockets; print(sys.version.split()[0], "websockets", websockets.__version__)')${BENCH_EVENT_LOOP:+, event loop $BENCH_EVENT_LOOP}$( [ "$BENCH_EVENT_LOOP" = uvloop ] && python3 -c 'import uvloop; print("", uvloop.__version__)')"
[ "$NATS" = on ] && echo "nats:      $(nats-server --version 2>&1 | head -1)"
if [ "$BENCH_CLIENT" = c ]; then
    echo "client:    c, benchmarks/fanout/subscriber.c ($(cc --version | head -1), -O2; the sender and idle sockets: Python)"
else
    echo "client:    python, fanout.py subscribe (event loop $BENCH_EVENT_LOOP)"
fi
echo "commit:    $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || echo ' (Sources/ has uncommitted changes)')"
echo "ulimit -n: $(ulimit -n)"

# ---------------------------------------------------------------------------------------------------- binary

if [ -n "${MESSAGEBRIDGE_BIN:-}" ]; then
    SOURCE_BIN="$MESSAGEBRIDGE_BIN"
else
    if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
    echo "== building release binary (.build-release)"
    swift build -c release --scratch-path .build-release --product messagebridge 2>&1 | tail -3
    SOURCE_BIN="$(swift build -c release --scratch-path .build-release --show-bin-path)/messagebridge"
fi
[ -x "$SOURCE_BIN" ] || { echo "no executable at $SOURCE_BIN" >&2; exit 1; }
BIN="$WORK/messagebridge"
copy_binary "$SOURCE_BIN" "$BIN"
echo "binary:    $SOURCE_BIN ($(date -u -r "$SOURCE_BIN" +%Y-%m-%dT%H:%M:%SZ)), copied to $BIN"

# The subscriber processes: `SUBSCRIBER --target ... --out FILE`, the same options and result files either way.
if [ "$BENCH_CLIENT" = c ]; then
    cc -O2 -Wall -o "$WORK/subscriber" "$HERE/subscriber.c" || { echo "benchmarks/fanout/subscriber.c does not compile" >&2; exit 1; }
    SUBSCRIBER=("$WORK/subscriber")
else
    SUBSCRIBER=(python3 "$HERE/fanout.py" subscribe)
fi

# ---------------------------------------------------------------------------------------------------- servers

# write_config FILE PORT DATABASE [TIMEOUTS]: the server's configuration; with TIMEOUTS=long, connections that send
# no request head and sockets that send no auth frame are kept for 10 minutes (for BENCH_MEMORY_SPLIT).
write_config() {
    local file=$1 port=$2 db=$3 timeouts=${4:-}
    local server_extra="" chat_extra=""
    if [ "$timeouts" = long ]; then
        server_extra="  request_head_timeout: 10m"
        chat_extra="  auth_timeout: 10m"
    fi
    cat > "$file" <<EOF
server:
  host: "127.0.0.1"
  port: $port
  max_connections: $(( IDLE + MEMBERS + 1000 ))
  shutdown_timeout: 10s
$server_extra
# serve needs a webhook route; nothing is posted to it.
routes:
  - path: "/webhook/unused"
    destination: "http://127.0.0.1:9/unused"
sqlite:
  database_path: "$db"
auth:
  registration: open
  bcrypt_cost: 4
  jwt_secret: "fanout-benchmark-secret-0123456789abcdef"
  jwt_expiration: 2h
  login_rate_limit:
    per_ip: {limit: 100000, period: 1s}
    per_account: {limit: 1000, period: 1s}
chat:
  send_buffer_events: 4096
$chat_extra
logging:
  level: warning
  format: json
EOF
}
CLEAN_ENV=(env -u MESSAGEBRIDGE_SQLITE_DATABASE_PATH -u MESSAGEBRIDGE_SERVER_HOST -u MESSAGEBRIDGE_SERVER_PORT
    -u MESSAGEBRIDGE_REMOTE_URL -u LOG_LEVEL)
# start_server CONFIG LOG PORT -> sets STARTED_PID
start_server() {
    "${CLEAN_ENV[@]}" "$BIN" check-config "$1" > "$WORK/check-config.txt" 2>&1 || {
        echo "the benchmark's configuration does not pass check-config:" >&2; cat "$WORK/check-config.txt" >&2; exit 1; }
    "${CLEAN_ENV[@]}" "$BIN" serve --config "$1" > "$2" 2>&1 &
    STARTED_PID=$!
    wait_for_http "http://127.0.0.1:$3/health/ready" "$STARTED_PID" 30 || {
        echo "messagebridge did not start:" >&2; cat "$2" >&2; exit 1; }
}
stop_server() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

SERVER_PORT=$(free_port)
write_config "$WORK/config.yaml" "$SERVER_PORT" "$WORK/messagebridge.db"
start_server "$WORK/config.yaml" "$WORK/server.log" "$SERVER_PORT"
SERVER_PID=$STARTED_PID

if [ "$NATS" = on ]; then
    NATS_WS_PORT=$(free_port)
    NATS_PORT=$(free_port)
    NATS_HTTP_PORT=$(free_port)
    # No persistence (NATS core, no JetStream); max_pending is NATS's per-client outbound limit (64 MB default).
    cat > "$WORK/nats.conf" <<EOF
listen: 127.0.0.1:$NATS_PORT
http: 127.0.0.1:$NATS_HTTP_PORT
max_connections: $(( IDLE + MEMBERS + 1000 ))
websocket {
  host: 127.0.0.1
  port: $NATS_WS_PORT
  no_tls: true
}
EOF
    nats-server -c "$WORK/nats.conf" > "$WORK/nats.log" 2>&1 &
    NATS_PID=$!
    wait_for_http "http://127.0.0.1:$NATS_HTTP_PORT/varz" "$NATS_PID" 10 || {
        echo "nats-server did not start:" >&2; cat "$WORK/nats.log" >&2; exit 1; }
fi

echo "== setup"
echo "server:    messagebridge on 127.0.0.1:$SERVER_PORT (SQLite $WORK/messagebridge.db, WAL, synchronous=FULL, every sent message committed before its fan-out), log level warning"
[ "$NATS" = on ] && echo "baseline:  nats-server core (nothing stored) WebSocket on 127.0.0.1:$NATS_WS_PORT"
SETUP_OUT=$(python3 "$HERE/fanout.py" setup --port "$SERVER_PORT" --users $(( MEMBERS + 1 )) --out "$WORK/tokens.json")
echo "members:   $SETUP_OUT"

# --------------------------------------------------------------------------------------------- idle memory

# idle_memory TARGET PORT PID [KIND] -> prints a line, sets MEM[TARGET or TARGET-KIND] to
# "opened before during after per_connection" (KB). KIND: authenticated (default), upgraded, tcp (see fanout.py).
declare -A MEM
idle_memory() {
    local target=$1 port=$2 pid=$3 kind=${4:-authenticated}
    local per=$(( (IDLE + IDLE_PROCS - 1) / IDLE_PROCS )) left=$IDLE i count files=()
    local key=$target; [ "$kind" = authenticated ] || key="$target-$kind"
    echo "== $target: memory with $IDLE idle $kind sockets ($IDLE_PROCS client processes)"
    sleep 2
    local before; before=$(rss_kb "$pid")
    for i in $(seq 0 $(( IDLE_PROCS - 1 ))); do
        count=$(( left < per ? left : per ))
        left=$(( left - count ))
        [ "$count" -gt 0 ] || continue
        rm -f "$WORK/idle-$key-$i.ready"
        python3 "$HERE/fanout.py" idle --target "$target" --kind "$kind" --port "$port" --tokens "$WORK/tokens.json" \
            --first $(( i * per )) --count "$count" --ready "$WORK/idle-$key-$i.ready" --timeout 600 \
            > "$WORK/idle-$key-$i.log" 2>&1 &
        CLIENT_PIDS+=($!)
        files+=("$WORK/idle-$key-$i.ready")
    done
    if ! wait_for_files 300 "${files[@]}"; then
        echo "   the idle clients did not all connect within 300 s:" >&2
        tail -5 "$WORK"/idle-"$key"-*.log >&2
        stop_clients
        return 1
    fi
    local opened=0 errors=0 f
    for f in "${files[@]}"; do
        opened=$(( opened + $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["sockets"])' "$f") ))
        errors=$(( errors + $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["error_count"])' "$f") ))
    done
    sleep 5   # let the server settle (lazy allocations, the first ping round)
    local during; during=$(rss_kb "$pid")
    local seen
    if [ "$target" = mb ] && [ "$kind" = authenticated ]; then
        seen="server counts $(curl -s "http://127.0.0.1:$port/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["active_sockets"])') open sockets"
    elif [ "$target" = mb ]; then
        seen="$(ss -Htn state established "sport = :$port" | wc -l) established on the server port"
    else
        seen="server counts $(curl -s "http://127.0.0.1:$NATS_HTTP_PORT/varz" | python3 -c 'import json, sys; print(json.load(sys.stdin)["connections"])') connections"
    fi
    stop_clients
    sleep 3
    local after; after=$(rss_kb "$pid")
    local per_conn; per_conn=$(awk -v b="$before" -v d="$during" -v n="$opened" 'BEGIN { printf "%.1f", n ? (d - b) / n : 0 }')
    echo "   opened $opened (errors $errors; $seen); RSS before $before KB, with the sockets $during KB, 3 s after closing them $after KB"
    MEM[$key]="$opened $before $during $after $per_conn"
}

if [ "$IDLE" -gt 0 ]; then
    idle_memory mb "$SERVER_PORT" "$SERVER_PID"
    [ "$NATS" = on ] && idle_memory nats "$NATS_WS_PORT" "$NATS_PID"
    if [ "${BENCH_MEMORY_SPLIT:-0}" = 1 ]; then
        # Each on a server of its own: memory freed by closed sockets stays in the process (RSS does not fall), and
        # new sockets would reuse it.
        for kind in tcp upgraded; do
            SPLIT_PORT=$(free_port)
            write_config "$WORK/config-$kind.yaml" "$SPLIT_PORT" "$WORK/split-$kind.db" long
            start_server "$WORK/config-$kind.yaml" "$WORK/server-$kind.log" "$SPLIT_PORT"
            SPLIT_PID=$STARTED_PID
            idle_memory mb "$SPLIT_PORT" "$SPLIT_PID" "$kind"
            stop_server "$SPLIT_PID"
            SPLIT_PID=""
        done
    fi
fi

# ------------------------------------------------------------------------------------------------------ fan-out

# fanout TARGET PORT PID RATE -> prints progress; appends the summary line (JSON) to $WORK/results.jsonl
fanout() {
    local target=$1 port=$2 pid=$3 rate=$4
    local name="$target-$rate" per=$(( (MEMBERS + CLIENT_PROCS - 1) / CLIENT_PROCS )) left=$MEMBERS i count
    local files=() results=() send_rate=$rate
    [ "$rate" = max ] && send_rate=0
    wait_quiet
    local bg=$BG
    echo "== $target at $rate msg/s: machine $bg % busy with other processes just before the run (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "$bg" -gt 10 ]; then
        echo "   WARNING: the machine is not idle; these figures are worse than on a quiet machine. Busiest: $(busiest_others)"
    fi
    for i in $(seq 0 $(( CLIENT_PROCS - 1 ))); do
        count=$(( left < per ? left : per ))
        left=$(( left - count ))
        [ "$count" -gt 0 ] || continue
        rm -f "$WORK/sub-$name-$i.ready"
        "${SUBSCRIBER[@]}" --target "$target" --port "$port" --tokens "$WORK/tokens.json" \
            --first $(( i * per )) --count "$count" --ready "$WORK/sub-$name-$i.ready" \
            --timeout $(( WARMUP + DURATION + 60 )) --out "$WORK/sub-$name-$i.json" > "$WORK/sub-$name-$i.log" 2>&1 &
        CLIENT_PIDS+=($!)
        files+=("$WORK/sub-$name-$i.ready")
        results+=("$WORK/sub-$name-$i.json")
    done
    if ! wait_for_files 120 "${files[@]}"; then
        echo "   the subscribers did not all connect within 120 s:" >&2
        tail -5 "$WORK"/sub-"$name"-*.log >&2
        return 1
    fi
    sleep 1
    local before after b0 t0 b1 t1
    before=$(cpu_ticks "$pid")
    read -r b0 t0 < <(machine_ticks)
    local started=$SECONDS perf_pid=""
    [ "$target" = mb ] && thread_ticks "$pid" > "$WORK/threads-before-$name.txt"
    if [ "${BENCH_PERF:-0}" = 1 ] && [ "$target" = mb ] && command -v perf >/dev/null; then
        perf record -q -F 499 -g -p "$pid" -o "$WORK/perf-$name.data" -- sleep "$(( WARMUP + DURATION ))" \
            > "$WORK/perf-record-$name.log" 2>&1 &
        perf_pid=$!
    fi
    timeout $(( WARMUP + DURATION + 60 )) python3 "$HERE/fanout.py" send --target "$target" --port "$port" \
        --tokens "$WORK/tokens.json" --rate "$send_rate" --window "$WINDOW" --duration "$DURATION" --warmup "$WARMUP" \
        --out "$WORK/send-$name.json" > "$WORK/send-$name.log" 2>&1 || {
        echo "   the sender failed:" >&2; tail -5 "$WORK/send-$name.log" >&2; return 1; }
    local pidc
    for pidc in "${CLIENT_PIDS[@]}"; do wait "$pidc" 2>/dev/null || true; done
    CLIENT_PIDS=()
    after=$(cpu_ticks "$pid")
    read -r b1 t1 < <(machine_ticks)
    if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
    local elapsed=$(( SECONDS - started ))
    local summary
    summary=$(python3 "$HERE/fanout.py" summarize --name "$target" --sender "$WORK/send-$name.json" "${results[@]}")
    # Server CPU and machine load over the sender's run (warm-up included), per delivery (warm-up included).
    summary=$(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
ticks, hz, b, t = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s["rate_label"] = sys.argv[6]
s["server_cpu_s"] = ticks / hz
s["machine_busy"] = 100 * b / t if t else 0
s["window_s"] = t / hz / int(sys.argv[8])
s["background"] = int(sys.argv[9])
# Other processes during the run: the machine busy time less ours (server, subscribers, sender), in cores.
ours = s["server_cpu_s"] + sum(s["client_cpu_s"]) + s["sender_cpu_s"]
s["others_cores"] = max(0.0, b / hz - ours) / s["window_s"] if s["window_s"] else 0
deliveries = s["received"] + s["warmup_received"]
s["server_us_per_delivery"] = 1e6 * s["server_cpu_s"] / deliveries if deliveries else 0
print(json.dumps(s))' "$summary" $(( after - before )) "$HZ" $(( b1 - b0 )) $(( t1 - t0 )) "$rate" "$WARMUP" "$(nproc)" "$bg")
    echo "$summary" >> "$WORK/results.jsonl"
    if [ "$target" = mb ]; then
        thread_ticks "$pid" > "$WORK/threads-after-$name.txt"
        echo "   messagebridge threads during the run (CPU seconds, by thread name as the kernel keeps it: 15 characters):"
        join -a1 -e0 -o 0,1.2,2.2 \
            <(awk '{ s[$1] += $2 } END { for (n in s) print n, s[n] }' "$WORK/threads-after-$name.txt" | sort) \
            <(awk '{ s[$1] += $2 } END { for (n in s) print n, s[n] }' "$WORK/threads-before-$name.txt" | sort) |
            awk -v hz="$HZ" '{ d = ($2 - $3) / hz; if (d > 0) printf "%s %.2f\n", $1, d }' | sort -k2 -nr | head -8 |
            awk '{ printf "     %-28s %6.2f s\n", $1, $2 }' || true
    fi
    if [ -s "$WORK/perf-$name.data" ]; then
        echo "   perf: hottest symbols in messagebridge (self time, top 25)"
        perf report -i "$WORK/perf-$name.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
            grep -E '^ +[0-9]' | head -25 | cut -c1-150 | sed 's/^/   /' || true
    fi
    python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("   sent %d msg (%.1f/s), %d sockets: %d of %d deliveries (missing %d, gaps %d, duplicates %d, unfinished %d, open errors %d, closed early %s, other frames %s)"
      % (s["sent"], s["send_rate"], s["sockets"], s["received"], s["expected"], s["missing"], s["gaps"], s["dups"],
         s["unfinished"], s["open_errors"], s["closed_early"] or "none", s["other_frames"] or "none"))
print("   latency p50 %.2f ms, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f; p50 of the first fifth of arrivals %.2f ms, of the last fifth %.2f ms"
      % (s["p50_ms"], s["p90_ms"], s["p99_ms"], s["p999_ms"], s["max_ms"], s["p50_first_fifth_ms"], s["p50_last_fifth_ms"]))
if s.get("acks"):
    what = "acks (%d of them repeats)" % s["ack_repeats"] if s["target"] == "mb" else "own copies (NATS has no ack)"
    print("   sender: %d %s, send->answer p50 %.2f ms, p99 %.2f ms; unanswered %d; errors %s"
          % (s["acks"], what, s["ack_p50_ms"], s["ack_p99_ms"], s["unacked"], s["ack_errors"] or "none"))
print("   CPU: server %.2f s (%.1f us per delivery), subscribers %s s in %s s, sender %.2f s; machine %.0f %% busy, of which other processes ~%.2f cores"
      % (s["server_cpu_s"], s["server_us_per_delivery"], s["client_cpu_s"], s["client_wall_s"], s["sender_cpu_s"], s["machine_busy"], s["others_cores"]))
' "$summary"
}

: > "$WORK/results.jsonl"
for rate in $RATES; do
    [ "$NATS" = on ] && fanout nats "$NATS_WS_PORT" "$NATS_PID" "$rate"
    fanout mb "$SERVER_PORT" "$SERVER_PID" "$rate"
done

# --------------------------------------------------------------------------------------------------- stop

STATS=$(curl -s "http://127.0.0.1:$SERVER_PORT/stats" || true)
echo "== stopping messagebridge (SIGTERM)"
kill -TERM "$SERVER_PID"
server_exit=0
wait "$SERVER_PID" || server_exit=$?
SERVER_PID=""
echo "   exit status $server_exit; /stats before stopping: $STATS"
if grep -q . "$WORK/server.log"; then
    echo "   server log (warning and above): $(wc -l < "$WORK/server.log") lines, first:"
    head -5 "$WORK/server.log" | cut -c1-200 | sed 's/^/     /'
fi

# ------------------------------------------------------------------------------------------------------ report

echo
if [ "$BENCH_CLIENT" = c ]; then SUBSCRIBER_LABEL="C, epoll"; else SUBSCRIBER_LABEL="Python, $BENCH_EVENT_LOOP"; fi
echo "== results: $MEMBERS members in one room, one sender, ${DURATION}s measured after ${WARMUP}s warm-up per run, $CLIENT_PROCS subscriber processes ($SUBSCRIBER_LABEL), $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "   (latency: time.time_ns() in the sender just before the send, to the subscriber's read of the frame; clients and servers share the $(nproc) cores)"
python3 - "$WORK/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
names = {"nats": "nats (no store)", "mb": "messagebridge"}
print("%-16s %6s %8s %12s %8s %8s %8s %8s %8s %10s %12s %8s %7s" % (
    "target", "rate", "msg/s", "deliveries/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "missing", "server CPU", "us/delivery", "machine", "others"))
for r in rows:
    print("%-16s %6s %8.1f %12.0f %8.2f %8.2f %8.2f %8.1f %8d %9.2fc %12.1f %7.0f%% %6.2fc" % (
        names[r["target"]], r["rate_label"], r["send_rate"], r["rate"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"],
        r["missing"], r["server_cpu_s"] / r["window_s"], r["server_us_per_delivery"], r["machine_busy"], r["others_cores"]))
print("(server CPU in cores over the run; us/delivery: server CPU per delivery, warm-up included; others: cores used by")
print(" processes not of this benchmark during the run, the machine's busy time less ours)")
by = {}
for r in rows:
    by.setdefault(r["rate_label"], {})[r["target"]] = r
for rate, pair in by.items():
    mb = pair.get("mb")
    for r in pair.values():
        if r.get("acks"):
            print("%s at %s msg/s: sender's send->%s p50 %.2f ms, p99 %.2f ms" % (
                names[r["target"]], rate, "ack (stored, fsync'd)" if r["target"] == "mb" else "own copy", r["ack_p50_ms"], r["ack_p99_ms"]))
    if mb:
        print("messagebridge at %s msg/s: p99 %.2f ms (goal < 20 ms: %s)" % (rate, mb["p99_ms"], "met" if mb["p99_ms"] < 20 else "missed"))
    if mb and "nats" in pair:
        ratio = mb["rate"] / pair["nats"]["rate"] if pair["nats"]["rate"] else 0
        print("ratio deliveries/s messagebridge/nats at %s msg/s: %.3f (goal >= 0.5)%s" % (
            rate, ratio, "; at a fixed rate both deliver what is offered when they keep up, so 1.0 only says neither fell behind" if rate != "max" else ""))
    for r in pair.values():
        cores = [round(c / w, 2) if w else 0 for c, w in zip(r["client_cpu_s"], r["client_wall_s"])]
        frames = r["received"] + r["warmup_received"]
        per_frame = 1e6 * sum(r["client_cpu_s"]) / frames if frames else 0
        print("client CPU, %s at %s msg/s: subscriber processes %s cores each (1.0 = a process saturated), %.1f us per delivery; sender %.2f s; background before: %d %%" % (
            names[r["target"]], rate, cores, per_frame, r["sender_cpu_s"], r["background"]))
EOF
if [ "$IDLE" -gt 0 ]; then
    echo
    echo "== memory per idle authenticated connection: VmRSS of the server with the sockets open minus before, divided by the sockets"
    printf '%-16s %8s %12s %14s %16s %14s\n' target sockets 'RSS before' 'RSS with them' 'per connection' 'after closing'
    for target in mb nats mb-upgraded mb-tcp; do
        [ -n "${MEM[$target]:-}" ] || continue
        read -r opened before during after per_conn <<< "${MEM[$target]}"
        case $target in
            mb) label=messagebridge ;;
            nats) label="nats (no store)" ;;
            mb-upgraded) label="mb: upgraded" ;;
            mb-tcp) label="mb: tcp only" ;;
        esac
        printf '%-16s %8d %9.1f MB %11.1f MB %13.2f KB %11.1f MB\n' "$label" "$opened" "$(awk -v k="$before" 'BEGIN { print k / 1024 }')" \
            "$(awk -v k="$during" 'BEGIN { print k / 1024 }')" "$per_conn" "$(awk -v k="$after" 'BEGIN { print k / 1024 }')"
    done
    read -r _ _ _ _ mb_per <<< "${MEM[mb]}"
    awk -v p="$mb_per" 'BEGIN { printf "messagebridge: %.2f KB per idle connection (goal <= 8 KB: %s)\n", p, p <= 8 ? "met" : "missed" }'
    if [ -n "${MEM[mb-tcp]:-}" ]; then
        echo "(mb: tcp only = a connection that has sent no request head; mb: upgraded = a WebSocket that has sent no auth"
        echo " frame yet; each on a fresh server with request_head_timeout and auth_timeout 10m)"
    fi
fi
