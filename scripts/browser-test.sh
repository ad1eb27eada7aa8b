#!/usr/bin/env bash
# The browser test: starts the already built debug binary (this script builds nothing) on a fresh database, then
# drives two headless Chromium windows through the web client with Selenium (Tests/Browser/two_users.py): A
# registers, creates a room and adds B; B logs in and sees it; A's message reaches B live; B's reaction reaches A.
# Screenshots of both windows land in BROWSER_ARTIFACTS.
#
# Environment: SCRATCH_PATH (default .build), MESSAGEBRIDGE_BINARY (overrides SCRATCH_PATH), BROWSER_ARTIFACTS
# (default $SCRATCH_PATH/browser-artifacts), CHROMIUM and CHROMEDRIVER (default Debian's /usr/bin paths).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH_PATH="${SCRATCH_PATH:-.build}"
BIN="${MESSAGEBRIDGE_BINARY:-$SCRATCH_PATH/debug/messagebridge}"
ARTIFACTS="${BROWSER_ARTIFACTS:-$SCRATCH_PATH/browser-artifacts}"
[ -x "$BIN" ] || { echo "browser: $BIN not found; run swift build first" >&2; exit 1; }
command -v "${CHROMEDRIVER:-/usr/bin/chromedriver}" >/dev/null || { echo "browser: chromedriver missing (scripts/setup.sh installs chromium-driver)" >&2; exit 1; }

# shellcheck source=lib/serve.sh
. scripts/lib/serve.sh

cat >"$WORK/config.yaml" <<EOF2
server:
  host: 127.0.0.1
  port: 0
  shutdown_timeout: 5s
sqlite:
  database_path: "$WORK/messagebridge.db"
logging:
  level: info
  format: json
auth:
  bcrypt_cost: 4
EOF2

"$BIN" migrate --config "$WORK/config.yaml" >/dev/null
serve_in_background "$BIN" "$WORK/config.yaml" "$WORK/server.log"
echo "browser: $BIN serving on 127.0.0.1:$PORT" >&2

status=0
python3 Tests/Browser/two_users.py "http://127.0.0.1:$PORT" "$ARTIFACTS" || status=$?
if [ "$status" -ne 0 ]; then
    echo "browser: failed; the server's log ends:" >&2
    tail -30 "$WORK/server.log" >&2
fi
exit "$status"
