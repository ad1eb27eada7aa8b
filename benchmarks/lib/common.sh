# Shell helpers shared by the benchmark scripts (sourced after `cd` to the repository root, under `set -euo pipefail`).

# A loopback port no socket uses and not in USED_PORTS, below the kernel's ephemeral range so that no outgoing
# connection takes it meanwhile (best effort). Called as `PORT=$(free_port)`, a subshell: a caller that picks several
# ports before binding them adds each to USED_PORTS itself.
read -r EPHEMERAL_LOW _ < /proc/sys/net/ipv4/ip_local_port_range
USED_PORTS=""
free_port() {
    local port low=10000 high=$(( EPHEMERAL_LOW - 1 ))
    if [ "$high" -le $(( low + 1000 )) ]; then low=20000; high=65000; fi
    for _ in $(seq 1 200); do
        port=$(( low + (RANDOM * 32768 + RANDOM) % (high - low + 1) ))
        if [ -z "$(ss -Htan "sport = :$port")" ] && [[ " ${USED_PORTS:-} " != *" $port "* ]]; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# wait_for_http URL PID SECONDS: until URL answers, while PID lives, for at most SECONDS.
wait_for_http() {
    local url=$1 pid=$2 seconds=$3
    local deadline=$(( SECONDS + seconds ))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        if curl -s -o /dev/null -m 1 "$url"; then return 0; fi
        sleep 0.05
    done
    return 1
}

# Busy and total CPU ticks of the whole machine so far.
machine_ticks() {
    awk '/^cpu / { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total - idle, total }' /proc/stat
}

# Percent of the machine busy over the next 2 s (called while nothing of the benchmark's own is loaded).
busy_2s() {
    local b0 t0 b1 t1
    read -r b0 t0 < <(machine_ticks)
    sleep 2
    read -r b1 t1 < <(machine_ticks)
    awk -v b=$(( b1 - b0 )) -v t=$(( t1 - t0 )) 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }'
}

# Waits (up to BENCH_WAIT_QUIET seconds, default 0) for a 2 s stretch with the machine under 10 % busy; sets BG to
# the last reading.
wait_quiet() {
    local waited=0
    BG=$(busy_2s)
    while [ "$BG" -gt 10 ] && [ "$waited" -lt "${BENCH_WAIT_QUIET:-0}" ]; do
        sleep 3
        waited=$(( waited + 5 ))
        BG=$(busy_2s)
    done
    if [ "$waited" -gt 0 ]; then echo "   (waited ${waited}s for the machine to quieten)"; fi
}

# cpu_ticks PID...: utime+stime of these processes and all their threads, in clock ticks (0 for one that is gone).
cpu_ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        sum=$(( sum + t ))
    done
    echo "$sum"
}

# to_seconds 15s|2m|1h|30 -> seconds
to_seconds() {
    local v=$1
    case "$v" in
        *h) echo $(( ${v%h} * 3600 )) ;;
        *m) echo $(( ${v%m} * 60 )) ;;
        *s) echo "${v%s}" ;;
        *) echo "$v" ;;
    esac
}

# copy_binary SOURCE DEST: copies a messagebridge binary and, when it is there, the resource bundle beside it (the
# web client and the OpenAPI document): a copy without the bundle starts only while its build directory exists.
copy_binary() {
    cp "$1" "$2"
    local bundle; bundle="$(dirname "$1")/MessageBridge_App.resources"
    if [ -d "$bundle" ] && [ ! -e "$(dirname "$2")/MessageBridge_App.resources" ]; then cp -r "$bundle" "$(dirname "$2")/"; fi
}
