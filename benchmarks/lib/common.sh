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
