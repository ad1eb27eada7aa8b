#!/usr/bin/env bash
# The room list (GET /api/v1/rooms) when one room holds a million messages: for a member who never read it (every
# message unread) and for its author (nothing unread), next to the raw SQL of counting those unread messages and of
# the capped count, on the same file in the same run. See benchmarks/README.md, "The room list with a large room".
#
#   MESSAGEBRIDGE_BIN   the binary (default: .build-release/release/messagebridge, built if missing)
#   MESSAGES            messages in the large room (default 1000000)
#   REQUESTS            timed requests per user (default 20, after 2 unmeasured)
#   BENCH_KEEP=1        keep the temporary directory
#
# The messages are written straight into the file with Python's sqlite3 while the server is stopped (the search
# index trigger is dropped for the fill and put back afterwards: the room list never reads that index), all by the
# author, whose read position is then set to the newest, as sending them would have left it.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO_ROOT="$PWD"
. "$REPO_ROOT/benchmarks/lib/common.sh"   # free_port, wait_for_http, copy_binary

MESSAGES="${MESSAGES:-1000000}"
REQUESTS="${REQUESTS:-20}"
BIN="${MESSAGEBRIDGE_BIN:-}"
if [ -z "$BIN" ]; then
    swift build -c release --scratch-path .build-release --product messagebridge >&2
    BIN="$REPO_ROOT/.build-release/release/messagebridge"
fi
for tool in curl python3 sqlite3; do
    command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/mb-unread.XXXXXX)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
copy_binary "$BIN" "$WORK/messagebridge"
PORT=$(free_port)
DB="$WORK/messagebridge.db"
cat > "$WORK/config.yaml" <<EOF
server:
  host: "127.0.0.1"
  port: $PORT
routes:
  - path: "/webhook/unused"
    destination: "http://127.0.0.1:9/unused"
sqlite:
  database_path: "$DB"
auth:
  registration: open
  bcrypt_cost: 4
  jwt_secret: "unread-benchmark-secret-0123456789abcdef"
  jwt_expiration: 1h
logging:
  level: warning
EOF
BASE="http://127.0.0.1:$PORT"

start_server() {
    env -u MESSAGEBRIDGE_SQLITE_DATABASE_PATH -u MESSAGEBRIDGE_SERVER_PORT -u JWT_SECRET -u MESSAGEBRIDGE_AUTH_JWT_SECRET \
        "$WORK/messagebridge" serve --config "$WORK/config.yaml" >> "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    wait_for_http "$BASE/health/ready" "$SERVER_PID" 60 || { echo "messagebridge did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
}
stop_server() {
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}
token() {   # register USER -> its access token
    curl -sf -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"password-$1-123\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

echo "== setup: $("$WORK/messagebridge" --version 2>/dev/null || echo messagebridge), $MESSAGES messages in one room"
start_server
AUTHOR=$(token author)
READER=$(token reader)
ROOM=$(curl -sf -X POST "$BASE/api/v1/rooms" -H "authorization: Bearer $AUTHOR" -H 'content-type: application/json' \
    -d '{"name":"large"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
curl -sf -o /dev/null -X POST "$BASE/api/v1/rooms/$ROOM/join" -H "authorization: Bearer $READER"
stop_server

python3 - "$DB" "$ROOM" "$MESSAGES" <<'EOF'
import random, sqlite3, sys, time
path, room, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path, isolation_level=None)
author = db.execute("SELECT id FROM chat_users WHERE username = 'author'").fetchone()[0]
trigger = db.execute("SELECT sql FROM sqlite_master WHERE name = 'chat_messages_search_insert'").fetchone()[0]
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
rng = random.Random(1)
now = int(time.time() * 1000)
started = time.monotonic()
db.execute("DROP TRIGGER chat_messages_search_insert")
db.execute("BEGIN")
db.executemany("INSERT INTO chat_messages (room_id, user_id, content, created_at) VALUES (?, ?, ?, ?)",
               ((room, author, " ".join(rng.choices(words, k=12)), now - count + i) for i in range(count)))
db.execute("UPDATE chat_members SET last_read_message_id = (SELECT MAX(id) FROM chat_messages) "
           "WHERE room_id = ? AND user_id = ?", (room, author))
db.execute("COMMIT")
db.execute(trigger)
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(f"   filled in {time.monotonic() - started:.1f} s")
EOF

READER_ID=$(sqlite3 "$DB" "SELECT id FROM chat_users WHERE username = 'reader'")
LAST_READ=$(sqlite3 "$DB" "SELECT last_read_message_id FROM chat_members WHERE room_id = $ROOM AND user_id = $READER_ID")
COUNT_SQL="FROM chat_messages x WHERE x.room_id = $ROOM AND x.id > $LAST_READ AND x.user_id != $READER_ID AND x.deleted_at IS NULL"
sql_ms() {   # the median of 5 runs of a query through sqlite3's timer, in ms
    for _ in 1 2 3 4 5; do
        printf '.timer on\n%s\n' "$1" | sqlite3 "$DB" | sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p'
    done | sort -n | sed -n 3p | awk '{ printf "%.2f", $1 * 1000 }'
}
echo "== raw SQL (sqlite3 $(sqlite3 --version | cut -d' ' -f1), median of 5)"
echo "   count every unread message of the reader:   $(sql_ms "SELECT COUNT(*) $COUNT_SQL;") ms"
echo "   count them up to 1 000:                      $(sql_ms "SELECT COUNT(*) FROM (SELECT 1 $COUNT_SQL LIMIT 1000);") ms"

start_server
measure() {   # NAME TOKEN
    local times=()
    for _ in 1 2; do curl -sf -o /dev/null "$BASE/api/v1/rooms" -H "authorization: Bearer $2"; done
    for _ in $(seq "$REQUESTS"); do
        times+=("$(curl -sf -o "$WORK/rooms-$1.json" -w '%{time_total}' "$BASE/api/v1/rooms" -H "authorization: Bearer $2")")
    done
    local unread
    unread=$(python3 -c "import json, sys; print(next(r['unread_count'] for r in json.load(open(sys.argv[1])) if r['room']['id'] == $ROOM))" "$WORK/rooms-$1.json")
    printf '%s\n' "${times[@]}" | sort -n | awk -v name="$1" -v unread="$unread" '
        { t[NR] = $1 * 1000 } END { printf "   %-8s unread_count %-8s p50 %7.2f ms   max %7.2f ms   (%d requests)\n", name, unread, t[int((NR + 1) / 2)], t[NR], NR }'
}
echo "== GET /api/v1/rooms (curl, one request at a time, each on a new connection)"
measure reader "$READER"
measure author "$AUTHOR"
stop_server
