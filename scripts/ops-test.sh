#!/usr/bin/env bash
# The operations test (issue 16): what an operator does with a release, run for real on this machine.
#
#  1. scripts/release.sh builds the tarball (by default from the build scripts/test.sh already made: debug
#     configuration, the same scratch path, relinked with the Swift runtime static; `make release` builds the
#     release configuration), and it holds the binary, its resource bundle and every deploy file.
#  2. The tarball is extracted into a scratch directory; its scripts/install.sh --help checks requirements and
#     changes nothing; install.sh --root installs into a scratch root (the full variant, with an nginx site).
#  3. The installed binary is started with the installed configuration (no systemd), a webhook is posted to the
#     starter route and read back with `messagebridge messages list`; the web client and OpenAPI document are
#     served from the installed bundle. nginx, started on scratch ports with the installed site, redirects HTTP to
#     HTTPS, proxies the webhook with its X-Request-ID, refuses a body over server.max_body_bytes with 413 and
#     upgrades /ws to a WebSocket.
#  4. Running install.sh again upgrades in place and keeps config and data; uninstall.sh (safe) removes the
#     program and keeps config and data, with the message still readable; --remove-data --remove-nginx removes all.
#  5. systemd: `systemd-analyze verify` of the installed unit prints nothing, and `systemd-analyze security
#     --offline=yes` rates the unit OK or better.
#  6. promtool: the alert rules check and pass their unit tests, prometheus.yml checks, every dashboard query
#     parses as PromQL.
#  7. Metric names: a server with deliveries, dead letters, duplicates, signature and rate-limit rejections, a
#     Kafka route and a circuit breaker is scraped; every metric name in alerts.yml and the dashboard must be one
#     it exposes (or Prometheus's own up / scrape_*). `promtool check metrics` on the scrape is reported.
#  8. Docker Compose file and Makefile parse.
#
# Each check prints PASS, FAIL or SKIP (only when a tool is not installed; scripts/setup.sh installs them all).
# Exits non-zero on any FAIL.
#
# Environment: SCRATCH_PATH (default .build), OPS_TEST_CONFIGURATION (debug, the default, or release),
# OPS_TEST_TARBALL (test this tarball instead of building one), OPS_TEST_KEEP=1 (keep the scratch directory).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

SCRATCH_PATH="${SCRATCH_PATH:-.build}"
CONFIGURATION="${OPS_TEST_CONFIGURATION:-debug}"
# Counters that exist only after their first event, which this test cannot cause safely (a store write failing):
# each must still be declared in Sources/ under exactly this name.
EVENT_ONLY_METRICS=(messagebridge_store_failures_total)
# Series Prometheus makes itself for every target.
PROMETHEUS_SERIES=(up scrape_duration_seconds scrape_samples_scraped scrape_samples_post_metric_relabeling scrape_series_added)

# shellcheck source=lib/serve.sh
. scripts/lib/serve.sh
# serve.sh's trap removes WORK; keep it on request, and stop whatever this script started.
NGINX_PID=""
RECEIVER_PID=""
cleanup() {
    stop_server
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    [ -n "$RECEIVER_PID" ] && kill "$RECEIVER_PID" 2>/dev/null || true
    if [ "${OPS_TEST_KEEP:-0}" = 1 ]; then echo "ops-test: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

PASSED=0
FAILED=0
SKIPPED=0
pass() { echo "ops-test: PASS $*" >&2; PASSED=$((PASSED + 1)); }
fail() { echo "ops-test: FAIL $*" >&2; FAILED=$((FAILED + 1)); }
skip() { echo "ops-test: SKIP $*" >&2; SKIPPED=$((SKIPPED + 1)); }
note() { echo "ops-test: NOTE $*" >&2; }
# check NAME COMMAND...: PASS when the command succeeds, FAIL with its output when not.
check() {
    local name="$1" output
    shift
    if output="$("$@" 2>&1)"; then pass "$name"; else fail "$name"; echo "$output" | tail -20 | sed 's/^/    /' >&2; fi
}
has() { command -v "$1" >/dev/null; }
START_TIME=$SECONDS

# ---- 1. the tarball ----------------------------------------------------------------------------------------

echo "== ops-test: release tarball ($CONFIGURATION, scratch path $SCRATCH_PATH)" >&2
if [ -n "${OPS_TEST_TARBALL:-}" ]; then
    TARBALL="$OPS_TEST_TARBALL"
else
    t0=$SECONDS
    TARBALL="$(scripts/release.sh --configuration "$CONFIGURATION" --scratch-path "$SCRATCH_PATH" --output-dir "$WORK/dist")"
    note "release.sh took $((SECONDS - t0)) s"
fi
NAME="$(basename "$TARBALL" .tar.gz)"
if [[ "$NAME" =~ ^messagebridge-[0-9][0-9A-Za-z.+-]*-linux-[a-z0-9_]+$ ]]; then
    pass "tarball name $NAME.tar.gz"
else
    fail "tarball name $NAME.tar.gz is not messagebridge-VERSION-linux-ARCH.tar.gz"
fi
CONTENTS="$(tar -tzf "$TARBALL")"
missing=()
for entry in messagebridge MessageBridge_App.resources/openapi.yaml MessageBridge_App.resources/web/index.html \
    scripts/install.sh scripts/uninstall.sh deploy/systemd/messagebridge.service \
    deploy/nginx/messagebridge.conf.template deploy/prometheus/alerts.yml deploy/prometheus/alerts_test.yml \
    deploy/grafana/messagebridge-dashboard.json README.md TROUBLESHOOTING.md VERSION; do
    grep -qx "$NAME/$entry" <<<"$CONTENTS" || missing+=("$entry")
done
if [ ${#missing[@]} -eq 0 ]; then pass "tarball holds the binary, its bundle, scripts, unit, nginx template, rules, dashboard, docs"
else fail "tarball lacks ${missing[*]}"; fi

EXTRACT="$WORK/extract"
mkdir -p "$EXTRACT"
tar -xzf "$TARBALL" -C "$EXTRACT"
PKG="$EXTRACT/$NAME"
BIN="$PKG/messagebridge"
VERSION="$("$BIN" --version)"
[[ "$NAME" == "messagebridge-$VERSION-linux-"* ]] && pass "tarball version $VERSION is the binary's --version" \
    || fail "tarball $NAME does not carry the binary's version $VERSION"
if ldd "$BIN" | grep -q 'libswift\|libFoundation\|libdispatch'; then
    fail "the binary links the Swift runtime dynamically: $(ldd "$BIN" | grep -o 'libswift[A-Za-z_]*\.so' | head -3 | tr '\n' ' ')"
else
    pass "the binary has the Swift runtime inside (links only: $(ldd "$BIN" | awk '$1 ~ /^lib/ {print $1}' | tr '\n' ' '))"
fi

# ---- 2. install into a scratch root ------------------------------------------------------------------------

echo "== ops-test: install.sh into a scratch root" >&2
ROOT="$WORK/root"
HELP_OUTPUT="$("$PKG/scripts/install.sh" --help --root "$ROOT" 2>&1)" && help_status=0 || help_status=$?
if [ "$help_status" -eq 0 ] && grep -q "Requirements on this machine" <<<"$HELP_OUTPUT" && grep -q "libsqlite3-0" <<<"$HELP_OUTPUT" \
    && grep -q "librdkafka1" <<<"$HELP_OUTPUT" && [ ! -e "$ROOT" ]; then
    pass "install.sh --help lists and checks the requirements and changes nothing"
else
    fail "install.sh --help (status $help_status, root created: $([ -e "$ROOT" ] && echo yes || echo no))"
    echo "$HELP_OUTPUT" | tail -15 | sed 's/^/    /' >&2
fi

TLS="$WORK/tls"
mkdir -p "$TLS"
# A self-signed certificate for the site (nginx -t loads it); without openssl the nginx checks below are skipped.
HAS_TLS=0
if has openssl && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=hooks.example.test \
    -keyout "$TLS/key.pem" -out "$TLS/cert.pem" >/dev/null 2>&1; then
    HAS_TLS=1
fi
INSTALL_ARGS=(--root "$ROOT" --domain hooks.example.test --ssl-certificate "$TLS/cert.pem" --ssl-certificate-key "$TLS/key.pem")
check "install.sh --root (full, with the nginx site)" "$PKG/scripts/install.sh" "${INSTALL_ARGS[@]}"

CONFIG="$ROOT/etc/messagebridge/config.yaml"
DATA="$ROOT/var/lib/messagebridge"
UNIT="$ROOT/etc/systemd/system/messagebridge.service"
SITE="$ROOT/etc/nginx/sites-available/messagebridge"
INSTALLED_BIN="$ROOT/usr/local/bin/messagebridge"
layout_problems=()
[ -x "$ROOT/usr/local/lib/messagebridge/messagebridge" ] || layout_problems+=("binary")
[ -f "$ROOT/usr/local/lib/messagebridge/MessageBridge_App.resources/openapi.yaml" ] || layout_problems+=("bundle")
[ "$(readlink "$INSTALLED_BIN")" = "$ROOT/usr/local/lib/messagebridge/messagebridge" ] || layout_problems+=("bin link")
[ -d "$DATA" ] || layout_problems+=("data directory")
[ "$(stat -c %a "$CONFIG" 2>/dev/null)" = 600 ] || layout_problems+=("config mode $(stat -c %a "$CONFIG" 2>/dev/null || echo missing)")
grep -q "database_path: \"$DATA/messagebridge.db\"" "$CONFIG" || layout_problems+=("config database_path")
grep -q '^  host: "127.0.0.1"' "$CONFIG" || layout_problems+=("config host (behind nginx)")
[ -L "$ROOT/etc/nginx/sites-enabled/messagebridge" ] || layout_problems+=("nginx site enabled")
grep -q "^ExecStart=$ROOT/usr/local/lib/messagebridge/messagebridge serve --config $CONFIG$" "$UNIT" || layout_problems+=("unit ExecStart")
grep -q "^ReadWritePaths=$DATA$" "$UNIT" || layout_problems+=("unit ReadWritePaths")
if [ ${#layout_problems[@]} -eq 0 ]; then pass "installed layout: binary and bundle, link, config 0600 with the data path, unit, nginx site"
else fail "installed layout: ${layout_problems[*]}"; fi
grep -q "client_max_body_size 1048576;" "$SITE" && grep -q "server 127.0.0.1:8080;" "$SITE" \
    && grep -q "return 301 https://" "$SITE" && grep -q 'proxy_set_header Upgrade $http_upgrade;' "$SITE" \
    && grep -q "proxy_set_header X-Request-ID" "$SITE" && grep -q "server_name hooks.example.test;" "$SITE" \
    && pass "nginx site: domain, upstream port and body limit from the config, redirect, upgrade, request id" \
    || fail "nginx site $SITE lacks one of: server_name, upstream 127.0.0.1:8080, client_max_body_size 1048576, 301, Upgrade, X-Request-ID"

# ---- 3. run the installed server, with nginx in front ------------------------------------------------------

echo "== ops-test: the installed binary with the installed configuration" >&2
# Port 0: any free port (MESSAGEBRIDGE_SERVER_PORT overrides server.port, as it would in an environment file).
MESSAGEBRIDGE_SERVER_PORT=0 serve_in_background "$INSTALLED_BIN" "$CONFIG" "$WORK/installed.log"
BASE="http://127.0.0.1:$PORT"
RESPONSE="$(curl -sS -X POST "$BASE/webhook/payment" -H 'Content-Type: application/json' \
    -d '{"order_id": "ops-test-1", "amount": 100.00}' -w '\n%{http_code}')"
STATUS="$(tail -1 <<<"$RESPONSE")"
MESSAGE_ID="$(head -1 <<<"$RESPONSE" | sed -n 's/.*"message_id":"\([^"]*\)".*/\1/p')"
if [ "$STATUS" = 202 ] && [ -n "$MESSAGE_ID" ]; then pass "webhook to the starter route: 202, message $MESSAGE_ID"
else fail "webhook to the starter route answered $STATUS: $(head -1 <<<"$RESPONSE")"; fi
if "$INSTALLED_BIN" messages list --config "$CONFIG" --json 2>/dev/null | grep -q "\"$MESSAGE_ID\""; then
    pass "messages list --config (installed) shows the message stored"
else
    fail "messages list does not show $MESSAGE_ID"
fi
check "installed server: /health/live" curl -fsS "$BASE/health/live"
check "installed server: web client and OpenAPI document from the installed bundle" \
    bash -c "curl -fsS '$BASE/' | grep -qi '<html' && curl -fsS '$BASE/openapi.yaml' | grep -q '^openapi:'"

if ! has nginx; then
    skip "nginx checks: nginx is not installed (scripts/setup.sh installs nginx-light)"
elif [ "$HAS_TLS" -eq 0 ]; then
    skip "nginx checks: openssl is not installed, so there is no certificate for the site (scripts/setup.sh installs it)"
else
    NGINX_DIR="$WORK/nginx"
    mkdir -p "$NGINX_DIR/tmp"
    HTTP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    HTTPS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    # The installed site as it is, but on scratch ports, loopback only, and upstream on the port the server took.
    sed -e "s/listen 80;/listen 127.0.0.1:$HTTP_PORT;/" -e "s/listen 443 ssl http2;/listen 127.0.0.1:$HTTPS_PORT ssl http2;/" \
        -e '/listen \[::\]/d' -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$PORT;/" "$SITE" >"$NGINX_DIR/site.conf"
    cat >"$NGINX_DIR/nginx.conf" <<EOF
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events {}
http {
    access_log $NGINX_DIR/access.log;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    include $NGINX_DIR/site.conf;
}
EOF
    check "nginx -t accepts the installed site" nginx -t -q -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf"
    nginx -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf" &
    NGINX_PID=$!
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break; sleep 0.1; done
    RESOLVE=(--resolve "hooks.example.test:$HTTPS_PORT:127.0.0.1" --resolve "hooks.example.test:$HTTP_PORT:127.0.0.1")
    REDIRECT="$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "${RESOLVE[@]}" "http://hooks.example.test:$HTTP_PORT/webhook/payment")"
    [[ "$REDIRECT" == "301 https://hooks.example.test/webhook/payment" ]] && pass "nginx: HTTP redirects to HTTPS" \
        || fail "nginx: HTTP answered '$REDIRECT', not a 301 to https"
    HEADERS="$(curl -sk -o "$WORK/proxied.json" -D - "${RESOLVE[@]}" -X POST "https://hooks.example.test:$HTTPS_PORT/webhook/payment" \
        -H 'Content-Type: application/json' -H 'X-Request-ID: ops-test-request-1' -d '{"order_id": "ops-test-2"}')"
    if grep -q "^HTTP/[0-9.]* 202" <<<"$HEADERS" && grep -qi "^x-request-id: ops-test-request-1" <<<"$HEADERS"; then
        pass "nginx: HTTPS webhook proxied (202) with the client's X-Request-ID passed through"
    else
        fail "nginx: proxied webhook: $(head -1 <<<"$HEADERS"), request id: $(grep -i '^x-request-id' <<<"$HEADERS" || echo none)"
    fi
    BIG_STATUS="$(head -c 1100000 /dev/zero | tr '\0' 'a' | curl -sk -o /dev/null -w '%{http_code}' "${RESOLVE[@]}" -X POST \
        "https://hooks.example.test:$HTTPS_PORT/webhook/payment" -H 'Content-Type: application/json' --data-binary @-)"
    [ "$BIG_STATUS" = 413 ] && pass "nginx: a body over server.max_body_bytes gets 413" || fail "nginx: an oversized body answered $BIG_STATUS"
    UPGRADE="$(curl -sk --http1.1 -o /dev/null -w '%{http_code}' --max-time 3 "${RESOLVE[@]}" \
        -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "https://hooks.example.test:$HTTPS_PORT/ws" || true)"
    [ "$UPGRADE" = 101 ] && pass "nginx: /ws upgrades to a WebSocket (101)" || fail "nginx: /ws upgrade answered $UPGRADE"
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
fi
stop_server
SERVER_PID=""

# ---- 4. upgrade in place, then uninstall -------------------------------------------------------------------

echo "== ops-test: reinstall (upgrade) and uninstall" >&2
CONFIG_SUM="$(sha256sum "$CONFIG" | cut -d' ' -f1)"
if OUTPUT="$("$PKG/scripts/install.sh" "${INSTALL_ARGS[@]}" 2>&1)" && grep -q "keeping $CONFIG" <<<"$OUTPUT" \
    && grep -q "upgraded" <<<"$OUTPUT" && [ "$(sha256sum "$CONFIG" | cut -d' ' -f1)" = "$CONFIG_SUM" ] \
    && "$INSTALLED_BIN" messages list --config "$CONFIG" --json | grep -q "\"$MESSAGE_ID\""; then
    pass "install.sh again: binary upgraded in place, config unchanged, the stored message still there"
else
    fail "install.sh again"
    echo "$OUTPUT" | tail -10 | sed 's/^/    /' >&2
fi

check "uninstall.sh --root (safe)" "$PKG/scripts/uninstall.sh" --root "$ROOT"
if [ ! -e "$ROOT/usr/local/lib/messagebridge" ] && [ ! -e "$INSTALLED_BIN" ] && [ ! -e "$UNIT" ] \
    && [ -f "$CONFIG" ] && [ -f "$DATA/messagebridge.db" ] && [ -f "$SITE" ] \
    && "$BIN" messages list --config "$CONFIG" --json | grep -q "\"$MESSAGE_ID\""; then
    pass "safe uninstall: program and unit gone; config, database (with the message) and nginx site kept"
else
    fail "safe uninstall left $(ls -R "$ROOT" 2>/dev/null | head -20 | tr '\n' ' ')"
fi
check "uninstall.sh --root --remove-data --remove-nginx" "$PKG/scripts/uninstall.sh" --root "$ROOT" --remove-data --remove-nginx
if [ -z "$(find "$ROOT" -type f 2>/dev/null)" ]; then pass "full uninstall: no file left"
else fail "full uninstall left $(find "$ROOT" -type f | head -5 | tr '\n' ' ')"; fi

# ---- 5. systemd --------------------------------------------------------------------------------------------

echo "== ops-test: systemd unit" >&2
if has systemd-analyze; then
    # Verify the unit as installed (its paths exist in a fresh scratch root), so a missing binary would show.
    ROOT2="$WORK/root-systemd"
    "$PKG/scripts/install.sh" --root "$ROOT2" --minimal >/dev/null 2>&1
    UNIT2="$ROOT2/etc/systemd/system/messagebridge.service"
    if VERIFY="$(systemd-analyze verify "$UNIT2" 2>&1)" && [ -z "$VERIFY" ]; then
        pass "systemd-analyze verify: clean"
    else
        fail "systemd-analyze verify:"
        echo "$VERIFY" | sed 's/^/    /' >&2
    fi
    SECURITY="$(systemd-analyze security --offline=yes deploy/systemd/messagebridge.service 2>&1 || true)"
    LEVEL_LINE="$(grep -o 'Overall exposure level for messagebridge.service: [0-9.]* [A-Z]*' <<<"$SECURITY" || true)"
    case "$LEVEL_LINE" in
        *" OK"|*" SAFE"|*" PERFECT") pass "systemd-analyze security: ${LEVEL_LINE#Overall exposure level for }" ;;
        *) fail "systemd-analyze security: '${LEVEL_LINE:-no overall level}' is worse than OK"
           grep '✗' <<<"$SECURITY" | head -20 | sed 's/^/    /' >&2 ;;
    esac
    unit_problems=()
    for line in 'Restart=on-failure' 'RestartPreventExitStatus=1' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
        'ReadWritePaths=/var/lib/messagebridge' 'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
        'CapabilityBoundingSet=' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'SystemCallFilter=@system-service' \
        'LimitNOFILE=65536'; do
        grep -qx "$line" deploy/systemd/messagebridge.service || unit_problems+=("$line")
    done
    # Exit 2 (restart required) must restart: nothing may prevent it or count it as success.
    grep -Eq '^(RestartPreventExitStatus|SuccessExitStatus)=.*\b2\b' deploy/systemd/messagebridge.service && unit_problems+=("exit 2 does not restart")
    [ ${#unit_problems[@]} -eq 0 ] && pass "unit: exit 1 not restarted, exit 2 restarted, hardening directives present" \
        || fail "unit lacks: ${unit_problems[*]}"
else
    skip "systemd checks: systemd-analyze is not installed (scripts/setup.sh installs the systemd package)"
fi

# ---- 6. promtool -------------------------------------------------------------------------------------------

echo "== ops-test: Prometheus rules and dashboard queries" >&2
# PyYAML comes with Schemathesis (scripts/setup.sh); the metric-name and compose checks read YAML with it.
python3 -c 'import yaml' 2>/dev/null || { fail "python3 cannot import yaml (PyYAML; scripts/setup.sh installs it with schemathesis)"; exit 1; }
# Metric names of every PromQL expression in the alert rules and the dashboard, one "FILE<TAB>NAME" a line; and
# the dashboard's queries as recording rules, for promtool to parse.
python3 - "$WORK" <<'PYTHON'
import json, re, sys
import yaml

work = sys.argv[1]
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "inf", "nan", "atan2"}

def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    e = re.sub(r"\{[^}]*\}", "", e)                          # label matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)  # label lists
    e = re.sub(r"\[[^\]]*\]", "", e)                         # ranges and subqueries
    e = re.sub(r"\$\{?\w+\}?", "1", e)                       # Grafana variables
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue                                         # 5m, 1e3
        if e[m.end():].lstrip().startswith("("):
            continue                                         # function or aggregation
        if m.group() in KEYWORDS:
            continue
        yield m.group()

used = []
rules = yaml.safe_load(open("deploy/prometheus/alerts.yml"))
for group in rules["groups"]:
    for rule in group["rules"]:
        used += [("deploy/prometheus/alerts.yml", n) for n in metric_names(rule["expr"])]

dashboard = json.load(open("deploy/grafana/messagebridge-dashboard.json"))
exprs = []
def walk(panels):
    for panel in panels:
        for target in panel.get("targets", []):
            if target.get("expr"):
                exprs.append(target["expr"])
        walk(panel.get("panels", []))
walk(dashboard["panels"])
for variable in dashboard.get("templating", {}).get("list", []):
    query = variable.get("query")
    query = query.get("query") if isinstance(query, dict) else query
    m = re.match(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", query or "")
    if m:
        used.append(("deploy/grafana/messagebridge-dashboard.json", m.group(1)))
for expr in exprs:
    used += [("deploy/grafana/messagebridge-dashboard.json", n) for n in metric_names(expr)]

with open(f"{work}/used-metrics.tsv", "w") as out:
    for source, name in sorted(set(used)):
        out.write(f"{source}\t{name}\n")
substituted = [re.sub(r"\$__rate_interval|\$__interval", "5m", re.sub(r"\$\{?(job|instance)\}?", ".*", e)) for e in exprs]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": e}
                                                             for i, e in enumerate(substituted)]}]},
               open(f"{work}/dashboard-rules.yml", "w"))
print(f"{len(exprs)} dashboard queries", file=sys.stderr)
PYTHON
if has promtool; then
    check "promtool check rules alerts.yml" promtool check rules deploy/prometheus/alerts.yml
    check "promtool test rules alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml
    check "promtool check config prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
    check "every dashboard query parses as PromQL" promtool check rules "$WORK/dashboard-rules.yml"
else
    skip "promtool checks: promtool is not installed (scripts/setup.sh installs the prometheus package)"
fi

# ---- 7. metric names the server exposes --------------------------------------------------------------------

echo "== ops-test: metric names used by the rules and the dashboard, against a scrape" >&2
# A destination that accepts /ok and refuses /gone with 410 (a permanent failure: a dead letter at once).
cat >"$WORK/receiver.py" <<'PYTHON'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200 if self.path.startswith("/ok") else 410)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PYTHON
python3 "$WORK/receiver.py" >"$WORK/receiver.port" &
RECEIVER_PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/receiver.port" ] && break; sleep 0.1; done
RECEIVER="http://127.0.0.1:$(cat "$WORK/receiver.port")"
cat >"$WORK/metrics.yaml" <<EOF
server:
  host: 127.0.0.1
  port: 0
  shutdown_timeout: 5s
routes:
  - path: "/hook/ok"
    destination: "$RECEIVER/ok"
    dedup: { header: "Idempotency-Key", window: 1h }
  - path: "/hook/gone"
    destination: "$RECEIVER/gone"
  - path: "/hook/signed"
    destination: "$RECEIVER/ok"
    verify: { scheme: hmac, header: "X-Signature", secret: "ops-test-secret-ops-test-secret-0123" }
  - path: "/hook/limited"
    destination: "$RECEIVER/ok"
  - path: "/hook/kafka"
    queue: "ops-test"
kafka:
  brokers: ["127.0.0.1:9"]
  timeout: 2s
sqlite:
  database_path: "$WORK/metrics.db"
worker:
  initial_backoff: 1s
  max_backoff: 2s
  http_timeout: 2s
rate_limits:
  paths: [{ pattern: "/hook/limited", limit: 1, period: 1h, burst: 1 }]
logging:
  level: warning
  format: json
EOF
METRICS_BIN="$BIN"
if ! "$METRICS_BIN" check-config "$WORK/metrics.yaml" >"$WORK/metrics-check.log" 2>&1; then
    fail "the metrics scenario's configuration: $(cat "$WORK/metrics-check.log")"
fi
# serve.sh waits for the "server listening" line, logged at info.
LOG_LEVEL=info serve_in_background "$METRICS_BIN" "$WORK/metrics.yaml" "$WORK/metrics-server.log"
BASE="http://127.0.0.1:$PORT"
post() { curl -s -o /dev/null -w '%{http_code} ' -X POST "$BASE$1" -H 'Content-Type: application/json' "${@:2}" -d '{"id": 1}'; }
SENT="$(post /hook/ok -H 'Idempotency-Key: a'; post /hook/ok -H 'Idempotency-Key: a'; post /hook/gone; post /hook/signed; \
    post /hook/limited; post /hook/limited; post /hook/kafka)"
note "scenario answers: $SENT(202 delivered, 200 duplicate, 202 dead letter, 401 signature, 202 + 429 rate limit, 202 Kafka)"
# Wait (30 s at most) until the delivery and the dead letter are recorded and Kafka's delivery report has timed
# out (kafka.timeout 2 s), then scrape.
for _ in $(seq 1 300); do
    curl -s "$BASE/metrics" >"$WORK/metrics.txt"
    grep -q '^messagebridge_messages_delivered_total' "$WORK/metrics.txt" \
        && grep -q '^messagebridge_backlog{status="failed"} [1-9]' "$WORK/metrics.txt" \
        && grep -q '^messagebridge_kafka_failed_total' "$WORK/metrics.txt" && break
    sleep 0.1
done
stop_server
SERVER_PID=""
kill "$RECEIVER_PID" 2>/dev/null || true
RECEIVER_PID=""

# Sample names in the scrape (histograms as their _bucket/_sum/_count series, as queries use them).
grep -v '^#' "$WORK/metrics.txt" | sed -n 's/^\([A-Za-z_:][A-Za-z0-9_:]*\).*/\1/p' | sort -u >"$WORK/exposed.txt"
note "the scrape has $(grep -c . "$WORK/exposed.txt") series names"
unknown=()
while IFS=$'\t' read -r source name; do
    if grep -qx "$name" "$WORK/exposed.txt"; then continue; fi
    if printf '%s\n' "${PROMETHEUS_SERIES[@]}" | grep -qx "$name"; then continue; fi
    if printf '%s\n' "${EVENT_ONLY_METRICS[@]}" | grep -qx "$name" && grep -rqF "\"$name\"" Sources; then
        note "$name ($source) is not in this scrape: it appears on the first store write failure (declared in $(grep -rlF "\"$name\"" Sources | head -1))"
        continue
    fi
    unknown+=("$name ($source)")
done <"$WORK/used-metrics.tsv"
if [ ${#unknown[@]} -eq 0 ]; then
    pass "every metric name in alerts.yml and the dashboard ($(cut -f2 "$WORK/used-metrics.tsv" | sort -u | wc -l) names) is one the server exposes"
else
    fail "metric names the server does not expose: ${unknown[*]}"
fi

if has promtool; then
    LINT="$(promtool check metrics <"$WORK/metrics.txt" 2>&1)" && lint_status=0 || lint_status=$?
    if [ "$lint_status" -eq 0 ] && [ -z "$LINT" ]; then
        pass "promtool check metrics: nothing reported"
    else
        fail "promtool check metrics: $LINT"
    fi
fi

# ---- 8. compose file and Makefile --------------------------------------------------------------------------

echo "== ops-test: docker-compose.yml, Dockerfile and Makefile" >&2
check "docker-compose.yml: services, profiles kafka and monitoring, mounted files exist" python3 - <<'PYTHON'
import os, sys, yaml
compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
assert "profiles" not in services["messagebridge"], "the server must run without a profile"
assert services["kafka"]["profiles"] == ["kafka"], "kafka profile"
assert services["prometheus"]["profiles"] == ["monitoring"] and services["grafana"]["profiles"] == ["monitoring"]
assert "messagebridge-data:/var/lib/messagebridge" in services["messagebridge"]["volumes"]
for service in services.values():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert os.path.exists(source), f"{source} does not exist"
PYTHON
dockerfile_problems=()
grep -q '^FROM ${SWIFT_IMAGE} AS build' Dockerfile && grep -q '^ARG SWIFT_IMAGE=swift:6.3' Dockerfile || dockerfile_problems+=("Swift 6.3 build stage")
grep -q '^ARG RUNTIME_IMAGE=debian:bookworm-slim' Dockerfile || dockerfile_problems+=("bookworm-slim runtime")
grep -q '^USER messagebridge' Dockerfile || dockerfile_problems+=("non-root user")
grep -q '^VOLUME \["/var/lib/messagebridge"\]' Dockerfile || dockerfile_problems+=("volume")
grep -q '^HEALTHCHECK .*' Dockerfile && grep -q '/health/live' Dockerfile || dockerfile_problems+=("healthcheck")
grep -q 'MessageBridge_App.resources /usr/local/lib/messagebridge/' Dockerfile || dockerfile_problems+=("resource bundle")
[ ${#dockerfile_problems[@]} -eq 0 ] && pass "Dockerfile: Swift 6.3 build stage, bookworm-slim runtime, bundle, non-root, volume, health check" \
    || fail "Dockerfile lacks: ${dockerfile_problems[*]}"
if has make; then
    check "Makefile: every target the seed names" make -n deps build test run-dev install uninstall-safe uninstall-full \
        docker-build test-webhook fmt lint release
else
    skip "Makefile check: make is not installed"
fi
check "shell scripts parse" bash -n scripts/install.sh scripts/uninstall.sh scripts/release.sh scripts/ops-test.sh

echo "ops-test: $PASSED passed, $FAILED failed, $SKIPPED skipped in $((SECONDS - START_TIME)) s" >&2
[ "$FAILED" -eq 0 ]
