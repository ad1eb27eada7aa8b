#!/usr/bin/env bash
# Checks the served OpenAPI document against the server with Schemathesis: starts the already built debug binary
# (`swift build` first; this script builds nothing) on a fresh database in a temporary directory, with one ingest
# route and an admin key made by `messagebridge keys create`, then runs
# `schemathesis run http://127.0.0.1:PORT/openapi.yaml --checks all` with that key as Bearer on every request.
# Exits non-zero on any Schemathesis failure, and when the server fails to start or dies during the run.
#
# Environment: SCRATCH_PATH (default .build: where `swift build` put the binary), MESSAGEBRIDGE_BINARY (the binary
# itself, overriding SCRATCH_PATH), SCHEMATHESIS_MAX_EXAMPLES (default 30 per operation), SCHEMATHESIS_MAX_TIME
# (default 110 s for the whole run), SCHEMATHESIS_SEED (default 1, so a run can be repeated),
# SCHEMATHESIS_EXCLUDE_CHECKS (default none), SCHEMATHESIS_WORKERS (default 1: with two, Hypothesis on this
# machine's Python 3.11 now and then fails inside its own lambda-source parsing, "AST constructor recursion depth
# mismatch", a runtime error of the tool that would fail the run). Extra arguments go to `schemathesis run`.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH_PATH="${SCRATCH_PATH:-.build}"
BIN="${MESSAGEBRIDGE_BINARY:-$SCRATCH_PATH/debug/messagebridge}"
[ -x "$BIN" ] || { echo "schemathesis: $BIN not found; run swift build first" >&2; exit 1; }
command -v schemathesis >/dev/null || { echo "schemathesis: not installed (scripts/setup.sh installs it)" >&2; exit 1; }

# shellcheck source=lib/serve.sh
. scripts/lib/serve.sh

# Port 0: the server picks a free port and logs it. The route delivers to a closed port with hour-long backoff, so
# accepted webhooks stay stored and retrying without the run waiting on deliveries.
cat >"$WORK/config.yaml" <<EOF
server:
  host: 127.0.0.1
  port: 0
  shutdown_timeout: 5s
routes:
  - path: "/hook"
    destination: "http://127.0.0.1:9/hook"
sqlite:
  database_path: "$WORK/messagebridge.db"
worker:
  initial_backoff: 1h
  max_backoff: 1h
  http_timeout: 2s
logging:
  level: info
  format: json
auth:
  # Cheap hashes: the run registers many accounts.
  bcrypt_cost: 4
EOF

"$BIN" check-config "$WORK/config.yaml" >/dev/null
# Admin commands never create the database: migrate makes it first, as an operator's first run would.
"$BIN" migrate --config "$WORK/config.yaml" >/dev/null
KEY="$("$BIN" keys create --config "$WORK/config.yaml" --name schemathesis --scope admin | sed -n 's/^key: *//p')"
[ -n "$KEY" ] || { echo "schemathesis: keys create printed no key" >&2; exit 1; }

serve_in_background "$BIN" "$WORK/config.yaml" "$WORK/server.log"
echo "schemathesis: $BIN serving on 127.0.0.1:$PORT" >&2

# The ingest template `/{route}` stands for the configured routes: test the one this server has. A path parameter
# holding a slash would be sent percent-encoded, so the route is a single segment.
# `before` must name a stored message, which no schema can say: a well-formed id of no message is a 400 there.
# No cache of earlier failures: every run is the same run.
cat >"$WORK/schemathesis.toml" <<'EOF'
cache = { enabled = false }

[[operations]]
include-operation-id = "ingestWebhook"
parameters = { route = "hook" }

[[operations]]
include-operation-id = "listMessages"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

# An endpoint URL's validity depends on what its host resolves to (the SSRF guard), and a header name may be one
# the server sets itself: neither is a schema property, so schema-valid input may be refused with 400.
[[operations]]
include-operation-id = "createEndpoint"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-operation-id = "updateEndpoint"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
EOF

# Every check runs by default; SCHEMATHESIS_EXCLUDE_CHECKS=name[,name] leaves some out.
EXCLUDE_CHECKS="${SCHEMATHESIS_EXCLUDE_CHECKS-}"
exclude=()
[ -n "$EXCLUDE_CHECKS" ] && exclude=(--exclude-checks "$EXCLUDE_CHECKS")

status=0
# From the temporary directory, so nothing Schemathesis writes lands in the repository.
(cd "$WORK" && schemathesis --config-file "$WORK/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.yaml" \
    --checks all "${exclude[@]}" \
    --header "Authorization: Bearer $KEY" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
    --max-time "${SCHEMATHESIS_MAX_TIME:-110}" \
    --seed "${SCHEMATHESIS_SEED:-1}" \
    --workers "${SCHEMATHESIS_WORKERS:-1}" \
    --request-timeout 10 \
    --generation-database none \
    --no-color \
    "$@") || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "schemathesis: the server died during the run:" >&2
    tail -50 "$WORK/server.log" >&2
    exit 1
fi
if grep -q '"level":"critical"\|Fatal error' "$WORK/server.log"; then
    echo "schemathesis: the server logged a critical error:" >&2
    grep '"level":"critical"\|Fatal error' "$WORK/server.log" | head -20 >&2
    status=1
fi
exit "$status"
