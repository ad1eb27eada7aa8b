#!/usr/bin/env bash
# Installs MessageBridge as a systemd service, from a release tarball (scripts/release.sh) or from a checkout
# after `swift build -c release`, and with an nginx site in front unless --minimal. Run it again to upgrade: the
# binary is replaced, the configuration and the data are kept.
#
#   sudo ./scripts/install.sh --domain hooks.example.com     full: service + nginx site with TLS
#   sudo ./scripts/install.sh --minimal                      the service alone, on server.port (8080)
#   ./scripts/install.sh --help                              this text, and a check of every requirement
#                                                            (changes nothing)
#
# What it does, in order: checks the OS (Debian or Ubuntu for apt-get; elsewhere the libraries must be there) and
# the binary; installs the C libraries the binary links (libsqlite3-0, librdkafka1) and nginx when missing;
# creates the system user `messagebridge`, /etc/messagebridge (root:messagebridge 0750) and
# /var/lib/messagebridge (messagebridge 0750); installs the binary and its resource bundle in
# PREFIX/lib/messagebridge with a link PREFIX/bin/messagebridge; writes /etc/messagebridge/config.yaml with
# `messagebridge init` only when there is none (the database in /var/lib/messagebridge; behind nginx the server
# listens on 127.0.0.1 only; mode 0600, owned by the service user) and checks it with `messagebridge
# check-config`; installs /etc/systemd/system/messagebridge.service (deploy/systemd) and enables and (re)starts
# it; writes /etc/nginx/sites-available/messagebridge (deploy/nginx) and reloads nginx after `nginx -t`.
#
# Options:
#   --minimal                 no nginx site; the server listens on server.host (0.0.0.0 in a new config)
#   --domain NAME             the nginx site's server_name (required without --minimal). The server's
#                             configuration has no nginx section (it rejects unknown keys), so the seed's
#                             nginx.domain / ssl_certificate / ssl_certificate_key are these three options
#   --ssl-certificate FILE    default /etc/letsencrypt/live/NAME/fullchain.pem
#   --ssl-certificate-key FILE default /etc/letsencrypt/live/NAME/privkey.pem
#   --binary FILE             the binary to install (default: ./messagebridge of the tarball, else the checkout's
#                             .build/release/messagebridge); its MessageBridge_App.resources must be beside it
#   --prefix DIR              program files (default /usr/local)
#   --user NAME               the service user (default messagebridge)
#   --no-packages             do not apt-get install anything; missing libraries are an error
#   --no-start                install and enable the unit, but do not start or restart the service
#   --root DIR                install into DIR as if it were / (for tests, and to look before installing):
#                             everything goes below DIR and the files written name the paths below DIR, so the
#                             installation runs in place (`DIR/usr/local/bin/messagebridge serve --config
#                             DIR/etc/messagebridge/config.yaml`). Implies --no-packages; no user is made and no
#                             owner changed, and systemctl and nginx are not called.
#   -h, --help
#
# Exit status: 0 installed (or --help), 1 a requirement is missing or a step failed (nothing is half-replaced:
# the new binary is checked against the existing configuration before it replaces the old one).
set -euo pipefail

SOURCE_DIR="$(cd "$(dirname "$0")/.." && pwd)"

MINIMAL=0
DOMAIN=""
SSL_CERTIFICATE=""
SSL_CERTIFICATE_KEY=""
BINARY=""
PREFIX=/usr/local
SERVICE_USER=messagebridge
INSTALL_PACKAGES=1
START=1
ROOT=""
HELP=0

die() { echo "install: $*" >&2; exit 1; }
note() { echo "install: $*" >&2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --minimal) MINIMAL=1; shift ;;
        --domain) need_value "$@"; DOMAIN="$2"; shift 2 ;;
        --ssl-certificate) need_value "$@"; SSL_CERTIFICATE="$2"; shift 2 ;;
        --ssl-certificate-key) need_value "$@"; SSL_CERTIFICATE_KEY="$2"; shift 2 ;;
        --binary) need_value "$@"; BINARY="$2"; shift 2 ;;
        --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
        --user) need_value "$@"; SERVICE_USER="$2"; shift 2 ;;
        --no-packages) INSTALL_PACKAGES=0; shift ;;
        --no-start) START=0; shift ;;
        --root) need_value "$@"; ROOT="$(realpath -m "$2")"; shift 2 ;;
        -h|--help) HELP=1; shift ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

# Where things go. With --root every path is below ROOT, in the files written too.
LIB_DIR="$ROOT$PREFIX/lib/messagebridge"
BIN_LINK="$ROOT$PREFIX/bin/messagebridge"
DOC_DIR="$ROOT$PREFIX/share/doc/messagebridge"
CONFIG_DIR="$ROOT/etc/messagebridge"
CONFIG="$CONFIG_DIR/config.yaml"
DATA_DIR="$ROOT/var/lib/messagebridge"
UNIT_DIR="$ROOT/etc/systemd/system"
UNIT="$UNIT_DIR/messagebridge.service"
NGINX_SITE="$ROOT/etc/nginx/sites-available/messagebridge"
NGINX_ENABLED="$ROOT/etc/nginx/sites-enabled/messagebridge"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1
# Whether this run changes the machine itself (users, packages, services) or only files below --root.
SYSTEM_WIDE=1
if [ -n "$ROOT" ]; then
    SYSTEM_WIDE=0
    INSTALL_PACKAGES=0
fi

if [ -z "$BINARY" ]; then
    if [ -x "$SOURCE_DIR/messagebridge" ]; then
        BINARY="$SOURCE_DIR/messagebridge"
    else
        BINARY="$SOURCE_DIR/.build/release/messagebridge"
    fi
fi
BUNDLE="$(dirname "$BINARY")/MessageBridge_App.resources"
if [ -n "$DOMAIN" ]; then
    SSL_CERTIFICATE="${SSL_CERTIFICATE:-/etc/letsencrypt/live/$DOMAIN/fullchain.pem}"
    SSL_CERTIFICATE_KEY="${SSL_CERTIFICATE_KEY:-/etc/letsencrypt/live/$DOMAIN/privkey.pem}"
fi

# ---- requirements ------------------------------------------------------------------------------------------

# The Debian packages that provide the shared libraries the binary links: ldd names them, and a missing one shows
# as "not found". The Swift runtime is inside the release binary (--static-swift-stdlib).
package_for_library() {
    case "$1" in
        libsqlite3.so.*) echo libsqlite3-0 ;;
        librdkafka.so.*) echo librdkafka1 ;;
        libsasl2.so.*) echo libsasl2-2 ;;
        libssl.so.3|libcrypto.so.3) echo libssl3 ;;
        liblz4.so.*) echo liblz4-1 ;;
        libzstd.so.*) echo libzstd1 ;;
        libz.so.*) echo zlib1g ;;
        libstdc++.so.*) echo libstdc++6 ;;
        libgcc_s.so.*) echo libgcc-s1 ;;
        *) echo "" ;;
    esac
}
# ca-certificates: HTTPS destinations and TLS to Kafka; curl: the installer's health check after the start.
REQUIRED_PACKAGES=(libsqlite3-0 librdkafka1 ca-certificates curl)

problems=()
to_install=()
report() { printf '  %-4s %s\n' "$1" "$2" >&2; }

check_requirements() {
    local os_id="unknown" os_like="" has_apt=0
    if [ -r /etc/os-release ]; then
        os_id="$(. /etc/os-release && echo "${ID:-unknown}")"
        os_like="$(. /etc/os-release && echo "${ID_LIKE:-}")"
    fi
    command -v apt-get >/dev/null && command -v dpkg >/dev/null && has_apt=1
    case "$os_id $os_like" in
        *debian*|*ubuntu*) report ok "OS: $os_id (apt-get installs missing packages)" ;;
        *) report warn "OS: $os_id is not Debian or Ubuntu: install SQLite 3 and librdkafka 1.x yourself"
           has_apt=0 ;;
    esac
    [ "$(uname -s)" = Linux ] || { report no "Linux is required"; problems+=("not Linux"); }

    if [ ! -x "$BINARY" ]; then
        report no "binary: $BINARY not found (a tarball has it beside scripts/; in a checkout run swift build -c release, or pass --binary)"
        problems+=("binary")
    elif [ ! -d "$BUNDLE" ]; then
        report no "resource bundle: $BUNDLE not found (it must be beside the binary: OpenAPI document, web client)"
        problems+=("bundle")
    else
        report ok "binary: $BINARY"
        local missing_libs
        missing_libs="$(ldd "$BINARY" 2>/dev/null | awk '/not found/ {print $1}')"
        local lib pkg
        for lib in $missing_libs; do
            pkg="$(package_for_library "$lib")"
            if [ -n "$pkg" ] && [ "$has_apt" -eq 1 ]; then
                report todo "library $lib: missing, package $pkg will be installed"
                to_install+=("$pkg")
            else
                report no "library $lib: missing${pkg:+ (Debian package $pkg)}"
                problems+=("$lib")
            fi
        done
        if [ -z "$missing_libs" ]; then
            local version
            if version="$("$BINARY" --version 2>/dev/null)"; then
                report ok "runs: messagebridge $version"
            else
                report no "the binary does not run here (another architecture?)"
                problems+=("binary does not run")
            fi
        fi
    fi
    if [ "$has_apt" -eq 1 ]; then
        local pkg
        for pkg in "${REQUIRED_PACKAGES[@]}"; do
            if dpkg -s "$pkg" >/dev/null 2>&1; then
                report ok "package $pkg"
            else
                report todo "package $pkg: will be installed"
                to_install+=("$pkg")
            fi
        done
    fi

    if [ "$SYSTEM_WIDE" -eq 1 ]; then
        if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
            report ok "systemd: running (the unit is installed, enabled and started)"
        else
            report warn "systemd: not running here; the unit is installed but nobody starts it (start the server yourself)"
        fi
        [ "$IS_ROOT" -eq 1 ] && report ok "running as root" || { report no "root: run with sudo (or use --root DIR for a scratch installation)"; problems+=("root"); }
        command -v useradd >/dev/null || { report no "useradd (package passwd) is needed to create the service user"; problems+=("useradd"); }
    else
        report ok "scratch root $ROOT: no packages, users or services are touched"
    fi

    if [ "$MINIMAL" -eq 1 ]; then
        report ok "nginx: not used (--minimal)"
    else
        [ -n "$DOMAIN" ] && report ok "domain: $DOMAIN" || { report no "--domain NAME is required for the nginx site (or use --minimal)"; problems+=("domain"); }
        if command -v nginx >/dev/null; then
            report ok "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //')"
        elif [ "$SYSTEM_WIDE" -eq 1 ] && [ "$has_apt" -eq 1 ]; then
            report todo "nginx: missing, package nginx will be installed"
            to_install+=(nginx)
        elif [ "$SYSTEM_WIDE" -eq 1 ]; then
            report no "nginx: missing"
            problems+=("nginx")
        fi
        if [ -n "$DOMAIN" ]; then
            local file
            for file in "$SSL_CERTIFICATE" "$SSL_CERTIFICATE_KEY"; do
                if [ -r "$file" ] || [ "$SYSTEM_WIDE" -eq 0 ]; then
                    report ok "TLS file $file"
                else
                    report no "TLS file $file not readable: get a certificate first (apt-get install certbot; certbot certonly --standalone -d $DOMAIN, with port 80 free), pass --ssl-certificate/--ssl-certificate-key, or use --minimal"
                    problems+=("$file")
                fi
            done
        fi
    fi
}

if [ "$HELP" -eq 1 ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    echo "Requirements on this machine (nothing is changed):" >&2
    check_requirements
    if [ ${#problems[@]} -eq 0 ]; then
        echo "All requirements are met${to_install:+; the installer would install ${to_install[*]}}." >&2
    else
        echo "Missing: ${problems[*]}" >&2
    fi
    exit 0
fi

echo "install: checking requirements" >&2
check_requirements
[ ${#problems[@]} -eq 0 ] || die "missing: ${problems[*]} (./scripts/install.sh --help lists every requirement)"

if [ ${#to_install[@]} -gt 0 ]; then
    [ "$INSTALL_PACKAGES" -eq 1 ] || die "missing packages ${to_install[*]} and --no-packages was given"
    # Unique, in order.
    mapfile -t to_install < <(printf '%s\n' "${to_install[@]}" | awk '!seen[$0]++')
    note "installing ${to_install[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${to_install[@]}" >/dev/null
    ldd "$BINARY" | grep -q 'not found' && die "the binary still misses libraries: $(ldd "$BINARY" | grep 'not found' | tr -s ' \t' ' ')"
fi

# ---- user and directories ----------------------------------------------------------------------------------

SET_OWNER=0
if [ "$SYSTEM_WIDE" -eq 1 ] && [ "$IS_ROOT" -eq 1 ]; then
    SET_OWNER=1
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        note "creating system user $SERVICE_USER"
        useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "MessageBridge" "$SERVICE_USER"
    fi
fi

install -d -m 0755 "$LIB_DIR" "$(dirname "$BIN_LINK")" "$DOC_DIR"
install -d -m 0750 "$CONFIG_DIR" "$DATA_DIR"
if [ "$SET_OWNER" -eq 1 ]; then
    chown "root:$SERVICE_USER" "$CONFIG_DIR"
    chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
fi

# ---- binary: staged and checked, then swapped in -----------------------------------------------------------

STAGE="$(mktemp -d "$LIB_DIR/.install.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
cp "$BINARY" "$STAGE/messagebridge"
chmod 0755 "$STAGE/messagebridge"
cp -R "$BUNDLE" "$STAGE/MessageBridge_App.resources"
chmod -R u=rwX,go=rX "$STAGE/MessageBridge_App.resources"
NEW_VERSION="$("$STAGE/messagebridge" --version)"
OLD_VERSION=""
[ -x "$LIB_DIR/messagebridge" ] && OLD_VERSION="$("$LIB_DIR/messagebridge" --version 2>/dev/null || echo unknown)"

# ---- configuration: written once, kept on every later run --------------------------------------------------

# `server:`'s scalar KEY in the configuration (top-level section, two-space indent), or DEFAULT.
server_value() {
    local key="$1" default="$2" value
    value="$(awk -v key="$key" '
        /^[^ #]/ { in_server = ($0 ~ /^server:/) }
        in_server && $0 ~ "^  " key ":" { sub("^  " key ":[ ]*", ""); sub("[ ]*#.*$", ""); gsub("\"", ""); print; exit }
    ' "$CONFIG")"
    echo "${value:-$default}"
}

if [ -e "$CONFIG" ]; then
    note "keeping $CONFIG"
else
    note "writing $CONFIG (messagebridge init)"
    NEW_CONFIG="$CONFIG_DIR/.config.yaml.new"
    rm -f "$NEW_CONFIG"
    (umask 077 && "$STAGE/messagebridge" init --output "$NEW_CONFIG" >/dev/null)
    # The database lives in the data directory (ProtectSystem=strict leaves only that writable); behind nginx the
    # server need not be reachable from other machines.
    sed -i "s|^  database_path: .*|  database_path: \"$DATA_DIR/messagebridge.db\"|" "$NEW_CONFIG"
    if [ "$MINIMAL" -eq 0 ]; then
        sed -i 's|^  host: "0.0.0.0"|  host: "127.0.0.1"             # behind nginx (scripts/install.sh)|' "$NEW_CONFIG"
    fi
    chmod 0600 "$NEW_CONFIG"
    [ "$SET_OWNER" -eq 1 ] && chown "$SERVICE_USER:$SERVICE_USER" "$NEW_CONFIG"
    mv "$NEW_CONFIG" "$CONFIG"
fi
# The new binary must accept the configuration before it replaces the old one.
CHECK="$("$STAGE/messagebridge" check-config "$CONFIG" 2>&1)" || die "$CONFIG is not valid for messagebridge $NEW_VERSION; nothing was replaced:
$CHECK"
note "$CHECK"

# Swap: rename is atomic, so a running server keeps its old file and the next start gets the new one.
rm -rf "$LIB_DIR/MessageBridge_App.resources.old"
[ -d "$LIB_DIR/MessageBridge_App.resources" ] && mv "$LIB_DIR/MessageBridge_App.resources" "$LIB_DIR/MessageBridge_App.resources.old"
mv "$STAGE/MessageBridge_App.resources" "$LIB_DIR/MessageBridge_App.resources"
mv "$STAGE/messagebridge" "$LIB_DIR/messagebridge"
rm -rf "$LIB_DIR/MessageBridge_App.resources.old"
# A link, so the binary finds its bundle beside its real path.
ln -sfn "$LIB_DIR/messagebridge" "$BIN_LINK"
for doc in README.md TROUBLESHOOTING.md; do
    [ -f "$SOURCE_DIR/$doc" ] && install -m 0644 "$SOURCE_DIR/$doc" "$DOC_DIR/$doc"
done
if [ -n "$OLD_VERSION" ]; then
    note "upgraded $LIB_DIR/messagebridge: $OLD_VERSION -> $NEW_VERSION"
else
    note "installed $LIB_DIR/messagebridge $NEW_VERSION"
fi

# ---- systemd unit ------------------------------------------------------------------------------------------

install -d -m 0755 "$UNIT_DIR"
sed -e "s|/usr/local/lib/messagebridge/|$LIB_DIR/|g" \
    -e "s|/usr/local/share/doc/messagebridge/|$DOC_DIR/|g" \
    -e "s|/etc/messagebridge/|$CONFIG_DIR/|g" \
    -e "s|/var/lib/messagebridge|$DATA_DIR|g" \
    -e "s|^User=messagebridge$|User=$SERVICE_USER|" \
    -e "s|^Group=messagebridge$|Group=$SERVICE_USER|" \
    "$SOURCE_DIR/deploy/systemd/messagebridge.service" >"$UNIT.new"
chmod 0644 "$UNIT.new"
mv "$UNIT.new" "$UNIT"
note "wrote $UNIT"

# ---- nginx site --------------------------------------------------------------------------------------------

if [ "$MINIMAL" -eq 0 ]; then
    PORT="$(server_value port 8080)"
    MAX_BODY_BYTES="$(server_value max_body_bytes 1048576)"
    install -d -m 0755 "$(dirname "$NGINX_SITE")" "$(dirname "$NGINX_ENABLED")"
    sed -e "s|@DOMAIN@|$DOMAIN|g" \
        -e "s|@UPSTREAM@|127.0.0.1:$PORT|g" \
        -e "s|@MAX_BODY_BYTES@|$MAX_BODY_BYTES|g" \
        -e "s|@SSL_CERTIFICATE@|$SSL_CERTIFICATE|g" \
        -e "s|@SSL_CERTIFICATE_KEY@|$SSL_CERTIFICATE_KEY|g" \
        "$SOURCE_DIR/deploy/nginx/messagebridge.conf.template" >"$NGINX_SITE.new"
    # Keep the site that works until nginx accepts the new one.
    [ -f "$NGINX_SITE" ] && cp "$NGINX_SITE" "$NGINX_SITE.previous"
    mv "$NGINX_SITE.new" "$NGINX_SITE"
    ln -sfn "$NGINX_SITE" "$NGINX_ENABLED"
    note "wrote $NGINX_SITE (https://$DOMAIN -> 127.0.0.1:$PORT, bodies up to $MAX_BODY_BYTES bytes)"
    if [ "$SYSTEM_WIDE" -eq 1 ]; then
        if ! TEST_OUTPUT="$(nginx -t 2>&1)"; then
            if [ -f "$NGINX_SITE.previous" ]; then mv "$NGINX_SITE.previous" "$NGINX_SITE"; else rm -f "$NGINX_ENABLED"; fi
            die "nginx -t rejected the site (the previous one is back in place):
$TEST_OUTPUT"
        fi
        rm -f "$NGINX_SITE.previous"
        if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
            systemctl enable --now nginx >/dev/null 2>&1 || true
            systemctl reload nginx
        else
            nginx -s reload 2>/dev/null || nginx
        fi
        note "nginx reloaded"
    fi
fi

# ---- start -------------------------------------------------------------------------------------------------

PORT="$(server_value port 8080)"
if [ "$SYSTEM_WIDE" -eq 0 ]; then
    note "scratch installation in $ROOT; start it with: $BIN_LINK serve --config $CONFIG"
elif ! command -v systemctl >/dev/null || [ ! -d /run/systemd/system ]; then
    note "systemd is not running here: start the server with: sudo -u $SERVICE_USER $BIN_LINK serve --config $CONFIG"
else
    systemctl daemon-reload
    systemctl enable messagebridge >/dev/null 2>&1
    if [ "$START" -eq 1 ]; then
        # restart: a running server (an upgrade) gets the new binary; a stopped one starts.
        systemctl restart messagebridge
        for _ in $(seq 1 60); do
            if curl -fsS "http://127.0.0.1:$PORT/health/live" >/dev/null 2>&1; then
                note "messagebridge $NEW_VERSION is up on port $PORT (systemctl status messagebridge; journalctl -u messagebridge -f)"
                exit 0
            fi
            systemctl is-failed --quiet messagebridge && break
            sleep 1
        done
        systemctl status messagebridge --no-pager >&2 || true
        die "the service did not come up on port $PORT: journalctl -u messagebridge -e"
    fi
    note "enabled; start it with: systemctl start messagebridge"
fi
