#!/usr/bin/env bash
# Event-webhook egress benchmark (issue 15, "Speed"): 10 000 chat events fanned out to 10 endpoints on loopback
# (nginx answering 200), deliveries per second and event -> delivered latency, next to the webhook pipeline's own
# HTTP delivery rate (stored webhooks drained to nginx) in the same run. See benchmarks/README.md, "Event webhooks out".
#
# Self-contained: builds (or reuses) the release binary, starts nginx and `messagebridge serve` on free loopback
# ports with their files in a temporary directory, and stops and removes everything on exit. Every run is bounded.
#
# Environment (all optional):
#   MESSAGEBRIDGE_BIN       use this binary instead of building .build-release
#   BENCH_EVENTS            chat messages (= message.created events) (default 10000)
#   BENCH_ENDPOINTS         endpoints, each on its own nginx port, each subscribed to message.created (default 10)
#   BENCH_BASELINE          stored webhooks in the pipeline's backlog (default EVENTS x ENDPOINTS)
#   BENCH_ROUNDS            drains of each backlog, alternating pipeline / events (default 2)
#   BENCH_LIVE_RATE         chat messages per second in the live run (default auto: half the events drain's mean
#                           rate divided by ENDPOINTS, i.e. deliveries at about half the measured capacity;
#                           0 = as fast as the server answers)
#   BENCH_LIVE_CONNECTIONS  client connections sending them (default 16)
#   BENCH_LIVE=off          skip the live run
#   BENCH_WEBHOOKS_CONCURRENCY, BENCH_WEBHOOKS_PER_ENDPOINT
#                           webhooks.concurrency and webhooks.max_in_flight_per_endpoint for the drains and the live
#                           run (default: the server's defaults, 64 and 8)
#   BENCH_NGINX_WORKERS     nginx worker_processes (default 1)
#   BENCH_DRAIN_TIMEOUT     seconds a drain or the live run may take (default 300)
#   BENCH_WAIT_QUIET        wait up to this many seconds before each timed run for the machine to be <= 10 % busy
#                           with other processes (default 0: do not wait, only print how busy it is)
#   BENCH_PERF=1            perf-sample the server during each kind's last drain and print its hottest symbols
#   BENCH_TIMELINE=1        print the backlog left every 50 ms during the drains
#   BENCH_KEEP=1            keep the temporary directory (configs, databases, logs) and print its path
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO_ROOT="$PWD"
. "$REPO_ROOT/benchmarks/lib/common.sh"   # free_port, wait_for_http, machine_ticks, busy_2s, cpu_ticks
HELPER="$REPO_ROOT/benchmarks/egress/egress.py"

EVENTS="${BENCH_EVENTS:-10000}"
ENDPOINTS="${BENCH_ENDPOINTS:-10}"
DELIVERIES=$(( EVENTS * ENDPOINTS ))
BASELINE="${BENCH_BASELINE:-$DELIVERIES}"
ROUNDS="${BENCH_ROUNDS:-2}"
LIVE_RATE="${BENCH_LIVE_RATE:-auto}"
LIVE_CONNECTIONS="${BENCH_LIVE_CONNECTIONS:-16}"
LIVE="${BENCH_LIVE:-on}"
NGINX_WORKERS="${BENCH_NGINX_WORKERS:-1}"
DRAIN_TIMEOUT="${BENCH_DRAIN_TIMEOUT:-300}"
WAIT_QUIET="${BENCH_WAIT_QUIET:-0}"

for tool in nginx wrk sqlite3 curl ss awk timeout python3; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install nginx-light wrk sqlite3 curl)" >&2; exit 1; }
done
if [ "${BENCH_PERF:-0}" = 1 ] && ! command -v perf >/dev/null; then echo "BENCH_PERF=1 needs perf" >&2; exit 1; fi

# ---------------------------------------------------------------------------------------------- setup & cleanup

WORK="$(mktemp -d -t mb-egress-bench.XXXXXX)"
chmod 755 "$WORK"   # nginx workers drop to `nobody` when started as root
NGINX_PID=""
SERVER_PID=""
STALL_PID=""
WRK_PID=""
PERF_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    [ -n "$SERVER_PID" ] && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null || true; fi
    if [ -n "$WRK_PID" ]; then kill "$WRK_PID" 2>/dev/null || true; fi
    stop_server
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
    fi
    if [ -n "$STALL_PID" ]; then kill "$STALL_PID" 2>/dev/null || true; fi
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

HZ=$(getconf CLK_TCK)
# utime+stime of processes (all threads), in clock ticks.
# Prints the background before a timed run (waiting up to BENCH_WAIT_QUIET s for <= 10 %); sets BACKGROUND.
background() {
    local name=$1 waited=0
    BACKGROUND=$(busy_2s)
    while [ "$BACKGROUND" -gt 10 ] && [ "$waited" -lt "$WAIT_QUIET" ]; do
        sleep 8; waited=$(( waited + 10 )); BACKGROUND=$(busy_2s)
    done
    local builds; builds=$(pgrep -c -f 'swift-frontend|swift-build' 2>/dev/null || true)
    echo "== $name: machine $BACKGROUND % busy with other processes just before (load average $(cut -d' ' -f1-3 /proc/loadavg); swift build processes: ${builds:-0}$([ "$waited" -gt 0 ] && echo "; waited $waited s"))"
    [ "$BACKGROUND" -le 10 ] || echo "   WARNING: the machine is not idle; these figures are lower than on a quiet machine"
}
now() { date +%s.%N; }
field() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# --------------------------------------------------------------------------------------------------- machine

echo "== machine"
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpus:      $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "kernel:    $(uname -r), $(df -hT "$WORK" | awk 'NR == 2 { print $2 }') under $WORK"
echo "nginx:     $(nginx -v 2>&1 | sed 's/^nginx version: //'), python $(python3 -c 'import platform; print(platform.python_version())'), sqlite3 $(sqlite3 --version | cut -d' ' -f1)"
echo "commit:    $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || echo ' (Sources/ has uncommitted changes)')"

if [ -n "${MESSAGEBRIDGE_BIN:-}" ]; then
    BIN="$MESSAGEBRIDGE_BIN"
else
    echo "== building release binary (.build-release)"
    swift build -c release --scratch-path .build-release --product messagebridge 2>&1 | tail -3
    BIN="$(swift build -c release --scratch-path .build-release --show-bin-path)/messagebridge"
fi
[ -x "$BIN" ] || { echo "no executable at $BIN" >&2; exit 1; }
echo "binary:    $BIN ($(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ))"
"$BIN" endpoints --help >/dev/null 2>&1 || { echo "$BIN has no 'endpoints' command (built before event webhooks?)" >&2; exit 1; }

# The variables the server reads would override the files; every run must use exactly its file.
CLEAN_ENV=(env -u MESSAGEBRIDGE_SQLITE_DATABASE_PATH -u MESSAGEBRIDGE_SERVER_HOST -u MESSAGEBRIDGE_SERVER_PORT
    -u MESSAGEBRIDGE_REMOTE_URL -u MESSAGEBRIDGE_WEBHOOKS_ALLOW_NETWORKS -u LOG_LEVEL)
# (Only for commands run in the foreground: a function run with & would be a subshell, and its PID not the server's.)
mb() { "${CLEAN_ENV[@]}" "$BIN" "$@"; }

# ------------------------------------------------------------------------------------------------------- ports

SERVER_PORT=$(free_port)
SINK_PORT=$(free_port)
EP_PORTS=()
for _ in $(seq 1 "$ENDPOINTS"); do EP_PORTS+=("$(free_port)"); done

# config FILE DB MODE: MODE fill = nothing can be delivered (receivers that never answer, one request in flight,
# timeouts of an hour); MODE run = every delivery setting at its default.
config() {
    local file=$1 db=$2 mode=$3
    {
        cat <<EOF
server:
  host: "127.0.0.1"
  port: $SERVER_PORT
  shutdown_timeout: 10s
routes:
  - path: "/webhook/bench"
    destination: "http://127.0.0.1:$SINK_PORT/sink"
sqlite:
  database_path: "$db"
logging:
  level: warning
  format: json
auth:
  bcrypt_cost: 4
webhooks:
  allow_networks: ["127.0.0.0/8"]
EOF
        if [ "$mode" = fill ]; then
            printf '  concurrency: 1\n  timeout: 1h\nworker:\n  concurrency: 1\n  retry_interval: 1h\n  http_timeout: 1h\n'
        else
            [ -n "${BENCH_WEBHOOKS_CONCURRENCY:-}" ] && echo "  concurrency: $BENCH_WEBHOOKS_CONCURRENCY"
            [ -n "${BENCH_WEBHOOKS_PER_ENDPOINT:-}" ] && echo "  max_in_flight_per_endpoint: $BENCH_WEBHOOKS_PER_ENDPOINT"
            true
        fi
    } > "$file"
    mb check-config "$file" > "$file.check" 2>&1 || { echo "$file does not pass check-config:" >&2; cat "$file.check" >&2; exit 1; }
}

# start_server CONFIG LOG: starts `serve` and waits until it is ready.
start_server() {
    "${CLEAN_ENV[@]}" "$BIN" serve --config "$1" > "$2" 2>&1 &
    SERVER_PID=$!
    wait_for_http "http://127.0.0.1:$SERVER_PORT/health/live" "$SERVER_PID" 30 || {
        echo "messagebridge did not start:" >&2; cat "$2" >&2; exit 1; }
}

# make_endpoints CONFIG: one endpoint per nginx port, subscribed to message.created (with the CLI, before `serve`).
make_endpoints() {
    mb migrate --config "$1" > "$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; exit 1; }
    local port
    for port in "${EP_PORTS[@]}"; do
        mb endpoints create --url "http://127.0.0.1:$port/hook" --events message.created --config "$1" \
            > "$WORK/endpoint-$port.txt" 2>&1 || { echo "endpoints create failed:" >&2; cat "$WORK/endpoint-$port.txt" >&2; exit 1; }
    done
}

sql() { sqlite3 -cmd '.timeout 10000' "$1" "$2"; }

echo "== setup"
echo "server 127.0.0.1:$SERVER_PORT; pipeline sink 127.0.0.1:$SINK_PORT; $ENDPOINTS endpoint ports: ${EP_PORTS[*]}"
echo "events: $EVENTS chat messages x $ENDPOINTS endpoints = $DELIVERIES deliveries; pipeline backlog: $BASELINE stored webhooks"

# ---------------------------------------------------------------------------------------------- fill: stalled

# Receivers that accept connections and never read them, on every port nginx will use later.
python3 "$HELPER" stall --seconds 900 "$SINK_PORT" "${EP_PORTS[@]}" > "$WORK/stall.log" 2>&1 &
STALL_PID=$!
for _ in $(seq 1 50); do grep -q listening "$WORK/stall.log" 2>/dev/null && break; sleep 0.1; done

# Events backlog: the endpoints exist before the first message; every event is fanned out to all of them
# (webhook_deliveries rows, pending), and nothing is delivered; then kill -9.
EVENTS_DB="$WORK/events-backlog.db"
config "$WORK/fill-events.yaml" "$EVENTS_DB" fill
make_endpoints "$WORK/fill-events.yaml"
fill_start=$(now)
start_server "$WORK/fill-events.yaml" "$WORK/fill-events.log"
SETUP=$(python3 "$HELPER" setup --port "$SERVER_PORT")
TOKEN=$(echo "$SETUP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
ROOM=$(echo "$SETUP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["room"])')
FILL_SEND=$(timeout "$DRAIN_TIMEOUT" python3 "$HELPER" send --port "$SERVER_PORT" --token "$TOKEN" --room "$ROOM" \
    --count "$EVENTS" --connections 16 --rate 0 --timeout "$DRAIN_TIMEOUT")
deadline=$(( SECONDS + DRAIN_TIMEOUT ))
while fanned=$(sql "$EVENTS_DB" "SELECT count(*) FROM webhook_deliveries"); [ "$fanned" -lt "$DELIVERIES" ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
done
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
EVENT_BACKLOG=$(sql "$EVENTS_DB" "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
EVENT_BYTES=$(sql "$EVENTS_DB" "SELECT CAST(avg(length(payload)) AS INTEGER) + 70 FROM chat_events WHERE type = 'message.created'")
echo "events fill:   $(field sent "$FILL_SEND") messages sent in $(field seconds "$FILL_SEND") s ($(field rate "$FILL_SEND")/s, non-2xx $(field non2xx "$FILL_SEND")), fanned out to $fanned deliveries in $(awk -v a="$fill_start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s; after kill -9: $EVENT_BACKLOG pending; request body ~$EVENT_BYTES bytes"
[ "$EVENT_BACKLOG" -ge "$DELIVERIES" ] || { echo "the events backlog is short: $EVENT_BACKLOG of $DELIVERIES" >&2; exit 1; }

# Pipeline backlog: BASELINE webhooks of the same size as an event request's body, accepted and stored while the
# destination never answers; then kill -9.
PIPE_DB="$WORK/pipeline-backlog.db"
config "$WORK/fill-pipeline.yaml" "$PIPE_DB" fill
python3 - "$EVENT_BYTES" > "$WORK/body.json" <<'PY'
import json, sys
n = int(sys.argv[1])
head = json.dumps({"type": "payment.succeeded", "timestamp": "2026-12-01T12:00:00.000Z",
                   "data": {"order_id": "12345", "amount": 100, "currency": "EUR", "note": ""}})
sys.stdout.write(head[:-3] + "x" * max(0, n - len(head)) + '"}}')
PY
cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = [[$(cat "$WORK/body.json")]]
wrk.headers["Content-Type"] = "application/json"
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered >= $BASELINE then wrk.thread:stop() end
end
EOF
start_server "$WORK/fill-pipeline.yaml" "$WORK/fill-pipeline.log"
fill_start=$(now)
timeout "$DRAIN_TIMEOUT" wrk -t1 -c16 -d"${DRAIN_TIMEOUT}s" -s "$WORK/post.lua" "http://127.0.0.1:$SERVER_PORT/webhook/bench" > "$WORK/wrk-fill.txt" 2>&1 &
WRK_PID=$!
deadline=$(( SECONDS + DRAIN_TIMEOUT ))
while stored=$(sql "$PIPE_DB" "SELECT count(*) FROM messages"); [ "$stored" -lt "$BASELINE" ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
done
kill "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; WRK_PID=""
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
PIPE_BACKLOG=$(sql "$PIPE_DB" "SELECT count(*) FROM messages WHERE status IN ('pending', 'delivering', 'retrying')")
echo "pipeline fill: $stored webhooks of $(wc -c < "$WORK/body.json") bytes stored in $(awk -v a="$fill_start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s; after kill -9: $PIPE_BACKLOG undelivered"
kill "$STALL_PID" 2>/dev/null || true; wait "$STALL_PID" 2>/dev/null || true; STALL_PID=""

# Each drain starts from a copy of its backlog, checkpointed (no WAL), after the page cache is written back.
for db in "$EVENTS_DB" "$PIPE_DB"; do sql "$db" "PRAGMA wal_checkpoint(TRUNCATE)" > /dev/null; done

# ------------------------------------------------------------------------------------------------------ nginx

mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
LISTEN=""
for port in "$SINK_PORT" "${EP_PORTS[@]}"; do LISTEN="$LISTEN        listen 127.0.0.1:$port;
"; done
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
$LISTEN        location / {
            return 200 '{"ok":true}';
        }
    }
}
EOF
nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
wait_for_http "http://127.0.0.1:$SINK_PORT/sink" "$NGINX_PID" 10 || {
    echo "nginx did not start:" >&2; cat "$WORK/nginx/logs/error.log" >&2; exit 1; }
NGINX_WORKER_PIDS=$(ps -o pid= --ppid "$NGINX_PID" | tr -s ' \n' ' ')
echo "nginx:         worker_processes $NGINX_WORKERS, access_log off, keepalive_requests 1000000; POST / on $(( ENDPOINTS + 1 )) ports answers 200 {\"ok\":true}; sample: $(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$WORK/body.json" "http://127.0.0.1:${EP_PORTS[0]}/hook")"

# ------------------------------------------------------------------------------------------------------ drains

# drain KIND ROUND: a server with every delivery setting at its default, on a fresh copy of KIND's backlog; the clock
# runs from the process start until nothing is left to deliver in the file. Appends a line to $WORK/drains.txt.
drain() {
    local kind=$1 round=$2 backlog db cfg
    if [ "$kind" = events ]; then backlog=$EVENTS_DB; else backlog=$PIPE_DB; fi
    db="$WORK/drain-$kind-$round.db"
    cp "$backlog" "$db"
    cfg="$WORK/drain-$kind-$round.yaml"
    config "$cfg" "$db" run
    sync
    background "drain $round, $kind"
    local n0 m0 b0 t0 n1 m1 b1 t1 start end
    n0=$(cpu_ticks $NGINX_WORKER_PIDS)
    read -r b0 t0 < <(machine_ticks)
    start=$(now)
    if [ "${BENCH_PERF:-0}" = 1 ] && [ "$round" = "$ROUNDS" ]; then
        # The whole life of the server is sampled: perf starts it (its child is the server).
        perf record -q -F 499 -g -o "$WORK/perf-$kind.data" -- "${CLEAN_ENV[@]}" "$BIN" serve --config "$cfg" \
            > "$WORK/drain-$kind-$round.log" 2>&1 &
        PERF_PID=$!
        SERVER_PID=""
        for _ in $(seq 1 200); do SERVER_PID=$(pgrep -n -P "$PERF_PID" || true); [ -n "$SERVER_PID" ] && break; sleep 0.01; done
    else
        "${CLEAN_ENV[@]}" "$BIN" serve --config "$cfg" > "$WORK/drain-$kind-$round.log" 2>&1 &
        SERVER_PID=$!
    fi
    local result
    result=$(python3 "$HELPER" drain --db "$db" --kind "$kind" --timeout "$DRAIN_TIMEOUT" --since "$start" \
        ${BENCH_TIMELINE:+--timeline})
    end=$(field end "$result")
    m1=$(cpu_ticks "$SERVER_PID")
    n1=$(cpu_ticks $NGINX_WORKER_PIDS)
    read -r b1 t1 < <(machine_ticks)
    stop_server
    if [ -n "$PERF_PID" ]; then wait "$PERF_PID" 2>/dev/null || true; PERF_PID=""; fi
    local stats; stats=$(python3 "$HELPER" stats --db "$db" --kind "$kind")
    local delivered; delivered=$(field delivered "$stats")
    local n; n=$([ "$kind" = events ] && echo "$EVENT_BACKLOG" || echo "$PIPE_BACKLOG")
    awk -v kind="$kind" -v round="$round" -v n="$n" -v left="$(field left "$result")" -v s="$start" -v e="$end" \
        -v span="$(field span_s "$stats")" -v delivered="$delivered" -v mc=$(( m1 )) -v nc=$(( n1 - n0 )) -v hz="$HZ" \
        -v busy=$(( b1 - b0 )) -v total=$(( t1 - t0 )) -v bg="$BACKGROUND" -v st="$(field statuses "$stats")" 'BEGIN {
            d = e - s
            printf "%-9s %5d %9d %8.2f %8.0f %8.2f %8.0f %9.2f %7.1f %9.1f %6.0f %% %4d %%  %s%s\n",
                kind, round, delivered, d, n / d, span, delivered / span, mc / hz / d, mc / hz * 1e6 / delivered,
                nc / hz * 1e6 / delivered, total ? 100 * busy / total : 0, bg, st, (left == 0 ? "" : "  (TIMED OUT: " left " left)")
        }' >> "$WORK/drains.txt"
    tail -1 "$WORK/drains.txt" | sed 's/^/   /'
    rm -f "$db" "$db-wal" "$db-shm"
}

HEADER=$(printf '%-9s %5s %9s %8s %8s %8s %8s %9s %7s %9s %8s %6s  %s' \
    kind round delivered 'drain s' '/s' 'span s' 'span /s' 'srv cores' 'us/dlv' 'nginx us' machine bg statuses)
echo "== drains (columns: $HEADER)"
: > "$WORK/drains.txt"
for round in $(seq 1 "$ROUNDS"); do
    drain pipeline "$round"
    drain events "$round"
done

# ---------------------------------------------------------------------------------------------------- live run

LIVE_LINE=""
if [ "$LIVE" != off ]; then
    if [ "$LIVE_RATE" = auto ]; then
        LIVE_RATE=$(awk -v e="$ENDPOINTS" '$1 == "events" { r += $5; k++ } END { x = int(r / k / e / 2 / 10) * 10; print x < 10 ? 10 : x }' "$WORK/drains.txt")
    fi
    echo "== live run: $EVENTS chat messages at $LIVE_RATE/s over $LIVE_CONNECTIONS connections, $ENDPOINTS endpoints live on nginx"
    LIVE_DB="$WORK/live.db"
    config "$WORK/live.yaml" "$LIVE_DB" run
    make_endpoints "$WORK/live.yaml"
    start_server "$WORK/live.yaml" "$WORK/live.log"
    SETUP=$(python3 "$HELPER" setup --port "$SERVER_PORT")
    TOKEN=$(echo "$SETUP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
    ROOM=$(echo "$SETUP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["room"])')
    sleep 1
    background "live run"
    m0=$(cpu_ticks "$SERVER_PID"); n0=$(cpu_ticks $NGINX_WORKER_PIDS); read -r b0 t0 < <(machine_ticks)
    live_start=$(now)
    SEND=$(timeout $(( DRAIN_TIMEOUT + 30 )) python3 "$HELPER" send --port "$SERVER_PORT" --token "$TOKEN" --room "$ROOM" \
        --count "$EVENTS" --connections "$LIVE_CONNECTIONS" --rate "$LIVE_RATE" --timeout "$DRAIN_TIMEOUT")
    sent_end=$(now)
    deadline=$(( SECONDS + DRAIN_TIMEOUT ))
    while left=$(sql "$LIVE_DB" "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') + $(field sent "$SEND") * $ENDPOINTS - (SELECT count(*) FROM webhook_deliveries)");
        [ "$left" -gt 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
    done
    live_end=$(now)
    m1=$(cpu_ticks "$SERVER_PID"); n1=$(cpu_ticks $NGINX_WORKER_PIDS); read -r b1 t1 < <(machine_ticks)
    stop_server
    LIVE_STATS=$(python3 "$HELPER" stats --db "$LIVE_DB" --kind events)
    echo "   send:  $SEND"
    echo "   stats: $LIVE_STATS"
    LIVE_LINE=$(awk -v sent="$(field sent "$SEND")" -v ss="$(field seconds "$SEND")" -v dl="$(field delivered "$LIVE_STATS")" \
        -v fe="$(field first_event_ms "$LIVE_STATS")" -v ld="$(field last_delivered_ms "$LIVE_STATS")" \
        -v p50="$(field lat_p50_ms "$LIVE_STATS")" -v p90="$(field lat_p90_ms "$LIVE_STATS")" -v p99="$(field lat_p99_ms "$LIVE_STATS")" \
        -v mx="$(field lat_max_ms "$LIVE_STATS")" -v a="$live_start" -v b="$sent_end" -v c="$live_end" -v left="$left" \
        -v mc=$(( m1 - m0 )) -v nc=$(( n1 - n0 )) -v hz="$HZ" -v busy=$(( b1 - b0 )) -v total=$(( t1 - t0 )) \
        -v rate="$LIVE_RATE" -v conns="$LIVE_CONNECTIONS" -v bg="$BACKGROUND" -v non2xx="$(field non2xx "$SEND")" 'BEGIN {
            w = (ld - fe) / 1000
            printf "live: %d messages at %s/s offered (%d connections), sent in %.2f s (%.0f/s, non-2xx %d); %d deliveries, first event -> last delivery %.2f s = %.0f deliveries/s; all delivered %.2f s after the last send%s\n",
                sent, rate == 0 ? "max" : rate, conns, ss, sent / ss, non2xx, dl, w, dl / w, c - b, (left > 0 ? " (TIMED OUT: " left " left)" : "")
            printf "live latency event commit -> delivered (all %d deliveries): p50 %d ms, p90 %d ms, p99 %d ms, max %d ms\n", dl, p50, p90, p99, mx
            printf "live CPU: server %.2f s (%.0f us per delivery incl. the chat send), nginx %.2f s, machine %.0f %% over %.1f s (background before: %d %%)\n",
                mc / hz, mc / hz * 1e6 / dl, nc / hz, total ? 100 * busy / total : 0, c - a, bg
        }')
fi

# ------------------------------------------------------------------------------------------------------ report

echo
echo "== results ($(nproc) cores, $(date -u +%H:%MZ)): drains from process start until nothing is left in the file"
echo "$HEADER"
cat "$WORK/drains.txt"
awk '{ r[$1] += $5; s[$1] += $7; c[$1] += $9; k[$1]++ } END {
    p = r["pipeline"] / k["pipeline"]; e = r["events"] / k["events"]
    ps = s["pipeline"] / k["pipeline"]; es = s["events"] / k["events"]
    printf "mean drain rate: pipeline %.0f/s, events %.0f/s -> ratio events/pipeline %.3f (goal >= 0.8): %s\n", p, e, e / p, (e / p >= 0.8 ? "PASS" : "MISS")
    printf "mean over the delivered_at span: pipeline %.0f/s, events %.0f/s -> ratio %.3f; server CPU per delivery: pipeline %.1f us, events %.1f us\n",
        ps, es, es / ps, c["pipeline"] / k["pipeline"], c["events"] / k["events"]
}' "$WORK/drains.txt"
[ -n "$LIVE_LINE" ] && echo "$LIVE_LINE"

if [ "${BENCH_PERF:-0}" = 1 ]; then
    for kind in pipeline events; do
        [ -s "$WORK/perf-$kind.data" ] || continue
        echo "== perf, $kind drain $ROUNDS: samples by thread"
        # (`|| true`: head ends the pipe early, and pipefail would end the script.)
        perf report -i "$WORK/perf-$kind.data" --stdio --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -8 || true
        echo "== perf, $kind drain $ROUNDS: by library"
        perf report -i "$WORK/perf-$kind.data" --stdio --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -10 || true
        echo "== perf, $kind drain $ROUNDS: hottest symbols (self time, top 30)"
        perf report -i "$WORK/perf-$kind.data" --stdio --no-children --sort dso,symbol 2>/dev/null |
            grep -E '^ +[0-9]' | head -30 | cut -c1-160 || true
        echo "== perf, $kind drain $ROUNDS: messagebridge's own functions by inclusive time (call chains, top 30)"
        perf report -i "$WORK/perf-$kind.data" --stdio --children --sort symbol --dsos messagebridge -g none 2>/dev/null |
            grep -E '^ +[0-9]' | head -30 | cut -c1-200 || true
    done
fi
