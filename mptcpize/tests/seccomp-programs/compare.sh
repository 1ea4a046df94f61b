#!/usr/bin/env bash
# Two builds of mptcpize side by side in seccomp mode, for BENCHMARKS.md: the cost of one
# intercepted socket()+close(), with no launcher, OLD and NEW, pinned to CPU 0 and
# unpinned, alternating run by run so that both see the same machine load.
# Usage: mptcpize/tests/seccomp-programs/compare.sh OLD_MPTCPIZE NEW_MPTCPIZE
# Prints median, min and max (ns per iteration) of RUNS runs (default 15) of each case.
set -euo pipefail
cd "$(dirname "$0")/../../.."
old=$(realpath "$1")
new=$(realpath "$2")
runs=${RUNS:-15}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -static -pthread -O2 -o "$tmp/static" mptcpize/tests/seccomp-programs/sockets.c

ns() { "$@" bench-socket 20000 | sed -n 's/.*ns_per_iteration=//p'; }

for _ in $(seq "$runs"); do
    echo "none-pinned $(ns taskset -c 0 "$tmp/static")"
    echo "old-pinned $(ns taskset -c 0 "$old" run --seccomp "$tmp/static")"
    echo "new-pinned $(ns taskset -c 0 "$new" run --seccomp "$tmp/static")"
    echo "old-unpinned $(ns "$old" run --seccomp "$tmp/static")"
    echo "new-unpinned $(ns "$new" run --seccomp "$tmp/static")"
done | sort -k1,1 -k2n | awk '
    { n[$1]++; v[$1, n[$1]] = $2 }
    END { for (k in n) printf "%-14s median %10s min %10s max %10s\n", k, v[k, int((n[k] + 1) / 2)], v[k, 1], v[k, n[k]] }' | sort
