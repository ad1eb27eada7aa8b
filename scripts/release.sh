#!/usr/bin/env bash
# Builds the release tarball messagebridge-VERSION-linux-ARCH.tar.gz: the messagebridge binary with the Swift
# runtime linked statically (--static-swift-stdlib; it then needs only the shared C libraries it links, which
# scripts/install.sh takes from the distribution) and its resource bundle MessageBridge_App.resources beside it
# (the OpenAPI document and the web client), the install and uninstall scripts, the systemd unit, the nginx
# template, the Prometheus rules, the Grafana dashboard, README.md and TROUBLESHOOTING.md. Prints the tarball's
# path on stdout.
#
#   scripts/release.sh                                  release build in .build (what `make release` runs)
#   scripts/release.sh --configuration debug --scratch-path .build --output-dir /tmp/x
#                                                       a tarball from the debug build (scripts/ops-test.sh: the
#                                                       build the tests already made, relinked, not a second build)
#
# Options: --configuration release|debug (default release), --scratch-path DIR (default $SCRATCH_PATH or .build),
# --output-dir DIR (default dist), --skip-build (package what DIR/CONFIGURATION already holds).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIGURATION=release
SCRATCH_PATH="${SCRATCH_PATH:-.build}"
OUTPUT_DIR=dist
SKIP_BUILD=0

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --configuration|-c) CONFIGURATION="$2"; shift 2 ;;
        --scratch-path) SCRATCH_PATH="$2"; shift 2 ;;
        --output-dir) OUTPUT_DIR="$2"; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "release: unknown option $1 (see --help)" >&2; exit 1 ;;
    esac
done
case "$CONFIGURATION" in release|debug) ;; *) echo "release: --configuration is release or debug" >&2; exit 1 ;; esac

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
# Linking the runtime statically with SwiftPM 6.3 (swift-package-manager issue 10564): the libraries static
# Foundation depends on (CoreFoundation, _FoundationICU, _FoundationCollections, _FoundationCShims) reach the link
# through the product's autolink file, which SwiftPM writes once and reuses whatever the link mode. Left from a
# normal build, it lacks them ("undefined reference to 'swift_ulocdata_open'", 'CFBundleGetMainBundle', ...); left
# from a static build, it names them and the next normal build fails ("cannot find -l_FoundationCShims"). So the
# file is removed before the static link (SwiftPM writes it anew for that link) and after it (for the next normal
# build), the four libraries are also named explicitly, and the link uses lld (the toolchain's own), which takes
# archives in any order and pulls only what is referenced. The toolset changes only the link step: on a scratch
# path that already holds that configuration's build this relinks the binary (about 30 s for debug).
BIN_DIR="$(swift build -c "$CONFIGURATION" --scratch-path "$SCRATCH_PATH" --show-bin-path)"
remove_autolink_files() { rm -f "$BIN_DIR"/*.build/messagebridge.autolink; }
LLD="$(dirname "$(readlink -f "$(command -v swift)")")/ld.lld"
[ -x "$LLD" ] || { echo "release: $LLD not found (the Swift toolchain ships it)" >&2; exit 1; }
printf '{ "schemaVersion": "1.0", "linker": { "path": "%s" } }\n' "$LLD" >"$STAGE/toolset.json"
STATIC_FLAGS=(--static-swift-stdlib --toolset "$STAGE/toolset.json")
for library in CoreFoundation _FoundationICU _FoundationCollections _FoundationCShims; do
    STATIC_FLAGS+=(-Xlinker "-l$library")
done
if [ "$SKIP_BUILD" -eq 0 ]; then
    echo "release: swift build -c $CONFIGURATION --static-swift-stdlib (lld, Foundation's own libraries named) --scratch-path $SCRATCH_PATH" >&2
    remove_autolink_files
    trap 'remove_autolink_files; rm -rf "$STAGE"' EXIT
    swift build -c "$CONFIGURATION" --product messagebridge "${STATIC_FLAGS[@]}" --scratch-path "$SCRATCH_PATH" >&2
fi
BIN="$BIN_DIR/messagebridge"
BUNDLE="$BIN_DIR/MessageBridge_App.resources"
[ -x "$BIN" ] || { echo "release: $BIN not found" >&2; exit 1; }
[ -d "$BUNDLE" ] || { echo "release: $BUNDLE not found (the binary cannot serve without it)" >&2; exit 1; }
# A binary that still loads the Swift runtime from the toolchain would not start on a machine without Swift.
if ldd "$BIN" | grep -q 'libswiftCore\.so\|libFoundation\.so'; then
    echo "release: $BIN links the Swift runtime dynamically; build it with --static-swift-stdlib" >&2
    exit 1
fi

VERSION="$("$BIN" --version)"
ARCH="$(dpkg --print-architecture 2>/dev/null || uname -m)"
NAME="messagebridge-$VERSION-linux-$ARCH"
mkdir -p "$OUTPUT_DIR"
ROOT="$STAGE/$NAME"
mkdir -p "$ROOT/scripts" "$ROOT/deploy"
# Debug info off (about 205 MB to 125 MB for release); the symbol table stays, so crash backtraces keep their names.
if command -v strip >/dev/null; then
    strip --strip-debug -o "$ROOT/messagebridge" "$BIN"
else
    cp "$BIN" "$ROOT/messagebridge"
fi
cp -R "$BUNDLE" "$ROOT/MessageBridge_App.resources"
cp scripts/install.sh scripts/uninstall.sh "$ROOT/scripts/"
cp -R deploy/systemd deploy/nginx deploy/prometheus deploy/grafana "$ROOT/deploy/"
cp README.md TROUBLESHOOTING.md "$ROOT/"
echo "$VERSION" >"$ROOT/VERSION"
# Reproducible enough: fixed owner and sorted names, so two packings of the same files differ only in times.
TARBALL="$OUTPUT_DIR/$NAME.tar.gz"
tar -C "$STAGE" --owner=0 --group=0 --numeric-owner --sort=name -czf "$TARBALL" "$NAME"
echo "release: $TARBALL ($(du -h "$TARBALL" | cut -f1); binary $(du -h "$ROOT/messagebridge" | cut -f1), $CONFIGURATION)" >&2
echo "$TARBALL"
