#!/usr/bin/env bash
# One command from a fresh Debian machine to a running server on its embedded SQLite store:
# installs what is missing, builds a release binary, writes ./config.yaml with `messagebridge init` if there is
# none, checks it, and starts `messagebridge serve`. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build -c release --product messagebridge
BIN="$(swift build -c release --show-bin-path)/messagebridge"
CONFIG="${MESSAGEBRIDGE_CONFIG:-config.yaml}"
if [ ! -f "$CONFIG" ]; then
    "$BIN" init --output "$CONFIG"
fi
"$BIN" check-config "$CONFIG"
exec "$BIN" serve --config "$CONFIG" "$@"
