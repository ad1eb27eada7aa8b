#!/usr/bin/env bash
# Removes what scripts/install.sh installed: stops and disables the service, removes the unit, the binary and its
# resource bundle, the link in PREFIX/bin and the documentation. Keeps the configuration (/etc/messagebridge) and
# the data (/var/lib/messagebridge: the database, its backups and attachments) unless --remove-data, and the
# nginx site unless --remove-nginx, so that installing again picks up where it stopped.
#
#   sudo ./scripts/uninstall.sh                               safe: program removed, config and data kept
#   sudo ./scripts/uninstall.sh --remove-data --remove-nginx  everything, the service user too
#
# Options:
#   --remove-data    also delete /etc/messagebridge, /var/lib/messagebridge and the service user
#   --remove-nginx   also delete the nginx site (sites-available and sites-enabled) and reload nginx
#   --prefix DIR     as given to install.sh (default /usr/local)
#   --user NAME      as given to install.sh (default messagebridge)
#   --root DIR       as given to install.sh: remove the scratch installation below DIR (systemctl, nginx and
#                    userdel are not called)
#   -h, --help
set -euo pipefail

REMOVE_DATA=0
REMOVE_NGINX=0
PREFIX=/usr/local
SERVICE_USER=messagebridge
ROOT=""

die() { echo "uninstall: $*" >&2; exit 1; }
note() { echo "uninstall: $*" >&2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --remove-data) REMOVE_DATA=1; shift ;;
        --remove-nginx) REMOVE_NGINX=1; shift ;;
        --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
        --user) need_value "$@"; SERVICE_USER="$2"; shift 2 ;;
        --root) need_value "$@"; [ -d "$2" ] || die "--root $2: no such directory"; ROOT="$(realpath "$2")"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

LIB_DIR="$ROOT$PREFIX/lib/messagebridge"
BIN_LINK="$ROOT$PREFIX/bin/messagebridge"
DOC_DIR="$ROOT$PREFIX/share/doc/messagebridge"
CONFIG_DIR="$ROOT/etc/messagebridge"
DATA_DIR="$ROOT/var/lib/messagebridge"
UNIT="$ROOT/etc/systemd/system/messagebridge.service"
NGINX_SITE="$ROOT/etc/nginx/sites-available/messagebridge"
NGINX_ENABLED="$ROOT/etc/nginx/sites-enabled/messagebridge"

SYSTEM_WIDE=1
[ -n "$ROOT" ] && SYSTEM_WIDE=0
if [ "$SYSTEM_WIDE" -eq 1 ] && [ "$(id -u)" -ne 0 ]; then
    die "run with sudo (or --root DIR for a scratch installation)"
fi
HAS_SYSTEMD=0
[ "$SYSTEM_WIDE" -eq 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ] && HAS_SYSTEMD=1

if [ "$HAS_SYSTEMD" -eq 1 ] && systemctl list-unit-files messagebridge.service >/dev/null 2>&1; then
    # stop: SIGTERM, a graceful shutdown (in-flight requests and deliveries finish within server.shutdown_timeout).
    systemctl stop messagebridge 2>/dev/null || true
    systemctl disable messagebridge >/dev/null 2>&1 || true
    note "stopped and disabled messagebridge.service"
fi
if [ -f "$UNIT" ]; then
    rm -f "$UNIT"
    note "removed $UNIT"
    [ "$HAS_SYSTEMD" -eq 1 ] && { systemctl daemon-reload; systemctl reset-failed messagebridge 2>/dev/null || true; }
fi

if [ -L "$BIN_LINK" ] || [ -f "$BIN_LINK" ]; then
    rm -f "$BIN_LINK"
fi
if [ -d "$LIB_DIR" ]; then
    rm -rf "$LIB_DIR"
    note "removed $LIB_DIR"
fi
rm -rf "$DOC_DIR"

if [ "$REMOVE_NGINX" -eq 1 ]; then
    if [ -e "$NGINX_SITE" ] || [ -L "$NGINX_ENABLED" ]; then
        rm -f "$NGINX_ENABLED" "$NGINX_SITE" "$NGINX_SITE.previous"
        note "removed the nginx site $NGINX_SITE"
        if [ "$SYSTEM_WIDE" -eq 1 ] && command -v nginx >/dev/null; then
            if nginx -t >/dev/null 2>&1; then
                if [ "$HAS_SYSTEMD" -eq 1 ]; then systemctl reload nginx 2>/dev/null || true; else nginx -s reload 2>/dev/null || true; fi
                note "nginx reloaded"
            else
                note "nginx -t fails without the site; not reloaded (nginx -t says why)"
            fi
        fi
    fi
elif [ -e "$NGINX_SITE" ]; then
    note "kept the nginx site $NGINX_SITE (--remove-nginx removes it); it now points at a stopped server"
fi

if [ "$REMOVE_DATA" -eq 1 ]; then
    rm -rf "$CONFIG_DIR" "$DATA_DIR"
    note "removed $CONFIG_DIR and $DATA_DIR"
    if [ "$SYSTEM_WIDE" -eq 1 ] && id -u "$SERVICE_USER" >/dev/null 2>&1; then
        userdel "$SERVICE_USER" 2>/dev/null && note "removed the user $SERVICE_USER" || note "could not remove the user $SERVICE_USER"
    fi
else
    [ -d "$CONFIG_DIR" ] && note "kept the configuration in $CONFIG_DIR"
    [ -d "$DATA_DIR" ] && note "kept the data in $DATA_DIR (--remove-data deletes it)"
fi
note "done"
