#!/usr/bin/env bash
# Per-stage CPU breakdown of an ingest request and of an HTTP delivery (issue 17), next to stock Hummingbird in
# the same run. See benchmarks/README.md, "Where an ingest request and a delivery spend their CPU".
#
# Runs benchmarks/ingest/run.sh under `flock /tmp/bench.lock` with BENCH_PERF=1 (perf record -g, frame pointers)
# for ingest alone (BENCH_DELIVERY=stalled) and with deliveries on, then classifies every sample into a stage with
# breakdown.py and scales the shares by the server's CPU per request that run.sh measured from /proc. With
# BREAKDOWN_ALLOCS=1 it also runs both modes once more with BENCH_ALLOCS=1 (heap allocations per request; a
# separate run, so the counting does not perturb the profile).
#
# Environment: MESSAGEBRIDGE_BIN, HUMMINGBIRD_BASELINE_BIN, BENCH_* as for run.sh; BREAKDOWN_OUT (default: a new
# temporary directory) for the logs, profiles and tables; BREAKDOWN_MODES (default "stalled on").
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v perf >/dev/null || { echo "needs perf" >&2; exit 1; }
DEMANGLE=$(command -v swift-demangle || echo cat)
OUT="${BREAKDOWN_OUT:-$(mktemp -d -t mb-breakdown.XXXXXX)}"
mkdir -p "$OUT"

# us_per_request LOG TARGET -> the "server CPU: ... N us per request" figure of TARGET's measured run
us_per_request() {
    awk -v t="== $2: measured run" 'index($0, t) == 1 { hit = 1; next }
        hit && /server CPU:/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "us") { print $i; exit } }' "$1"
}

for mode in ${BREAKDOWN_MODES:-stalled on}; do
    log="$OUT/run-$mode.txt"
    echo "== $mode: run.sh with perf ($(date -u +%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
    flock /tmp/bench.lock env BENCH_DELIVERY="$mode" BENCH_PERF=1 BENCH_PERF_FREQ="${BENCH_PERF_FREQ:-999}" BENCH_KEEP=1 \
        benchmarks/ingest/run.sh > "$log" 2>&1 || { echo "run.sh failed, see $log" >&2; exit 1; }
    work=$(awk '/^kept / { print $2 }' "$log")
    grep -E 'busy with other processes|server CPU:|^(nginx 202|hummingbird|messagebridge) ' "$log" | sed 's/^/   /'
    for target in messagebridge hummingbird; do
        data="$work/perf.data"; [ "$target" = hummingbird ] && data="$work/perf-hummingbird.data"
        [ -s "$data" ] || continue
        perf script -i "$data" -F comm,tid,period,ip,sym,dso 2>/dev/null | "$DEMANGLE" --simplified > "$OUT/$mode-$target.script"
        echo "== $mode, $target"
        python3 benchmarks/ingest/breakdown.py "$OUT/$mode-$target.script" "$(us_per_request "$log" "$target")" |
            tee "$OUT/$mode-$target.md"
    done
    rm -rf "$work"
    if [ "${BREAKDOWN_ALLOCS:-0}" = 1 ]; then
        echo "== $mode: run.sh counting allocations"
        flock /tmp/bench.lock env BENCH_DELIVERY="$mode" BENCH_ALLOCS=1 benchmarks/ingest/run.sh > "$OUT/allocs-$mode.txt" 2>&1 ||
            { echo "run.sh failed, see $OUT/allocs-$mode.txt" >&2; exit 1; }
        grep -E '== .*: measured run|heap allocations|server CPU:' "$OUT/allocs-$mode.txt" | sed 's/^/   /'
    fi
done
echo "output in $OUT"
