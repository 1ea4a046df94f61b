#!/usr/bin/env bash
# Benchmarks of `mptcpize run --seccomp` for BENCHMARKS.md ("mptcpize --seccomp").
# Usage: mptcpize/tests/seccomp-programs/bench.sh [MPTCPIZE]  (default target/release/mptcpize)
# Prints the median of RUNS runs (default 9) of each case, timed inside the program.
# Creates sockets only (no traffic); needs net.mptcp.enabled=1 where it runs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
mptcpize=$(realpath "${1:-target/release/mptcpize}")
runs=${RUNS:-9}
src=mptcpize/tests/seccomp-programs/sockets.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -static -pthread -O2 -o "$tmp/static" "$src"
gcc -pthread -O2 -o "$tmp/dynamic" "$src"

# median of $runs runs of "$@" (each prints ns_per_iteration=X)
median() {
    for _ in $(seq "$runs"); do
        "$@" | sed -n 's/.*ns_per_iteration=//p'
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# mean wall time of one start, over $1 starts of "${@:2}", in microseconds
starts() {
    local n=$1
    shift
    local t0 t1
    t0=$(date +%s%N)
    for _ in $(seq "$n"); do "$@" >/dev/null; done
    t1=$(date +%s%N)
    echo $(((t1 - t0) / n / 1000))
}

n=20000
printf '%-58s %10s\n' "case" "ns"
printf '%-58s %10s\n' "socket()+close(), no interception (static, TCP)" \
    "$(median "$tmp/static" bench-socket $n)"
printf '%-58s %10s\n' "socket()+close(), IPPROTO_MPTCP asked for directly" \
    "$(median "$tmp/static" bench-mptcp $n)"
printf '%-58s %10s\n' "socket()+close(), LD_PRELOAD shim (dynamic)" \
    "$(median "$mptcpize" run "$tmp/dynamic" bench-socket $n)"
printf '%-58s %10s\n' "socket()+close(), seccomp mode (static)" \
    "$(median "$mptcpize" run --seccomp "$tmp/static" bench-socket $n)"
printf '%-58s %10s\n' "socket()+close(), seccomp mode, pinned to one CPU" \
    "$(median taskset -c 0 "$mptcpize" run --seccomp "$tmp/static" bench-socket $n)"
printf '%-58s %10s\n' "setsockopt(IP_TTL) on UDP, no interception" \
    "$(median "$tmp/static" bench-ttl $n)"
printf '%-58s %10s\n' "setsockopt(IP_TTL) on UDP, seccomp mode (watched option)" \
    "$(median "$mptcpize" run --seccomp "$tmp/static" bench-ttl $n)"
printf '%-58s %10s\n' "getppid(), no interception" \
    "$(median "$tmp/static" bench-syscall 2000000)"
printf '%-58s %10s\n' "getppid(), seccomp mode (a call the filter allows)" \
    "$(median "$mptcpize" run --seccomp "$tmp/static" bench-syscall 2000000)"
printf '%-58s %10s\n' "start+exit of busybox true, no launcher (us)" \
    "$(starts 300 busybox true)"
printf '%-58s %10s\n' "start+exit of busybox true, mptcpize run --seccomp (us)" \
    "$(starts 300 "$mptcpize" run --seccomp busybox true)"
printf '%-58s %10s\n' "start+exit of /bin/true, mptcpize run (shim) (us)" \
    "$(starts 300 "$mptcpize" run /bin/true)"
printf '%-58s %10s\n' "start+exit of /bin/true, no launcher (us)" \
    "$(starts 300 /bin/true)"
