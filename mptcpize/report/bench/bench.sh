#!/bin/sh
# User-space instructions per operation that the report library of `mptcpize run --report`
# adds, measured with callgrind (see BENCHMARKS.md, "mptcpize run --report").
# Run from the workspace root after `cargo build --release -p mptcpize-preload -p mptcpize-report`,
# as root (the loopback connections run in a network namespace of their own).
set -eu
N=${N:-2000}
T=$(mktemp -d)
trap 'rm -rf "$T"; ip netns del mptcpize-report-bench 2>/dev/null || true' EXIT
gcc -O2 -o "$T/close_cost" mptcpize/report/bench/close_cost.c
SHIM=$PWD/target/release/libmptcpize_preload.so
REPORT=$PWD/target/release/libmptcpize_report.so
ip netns add mptcpize-report-bench
ip -n mptcpize-report-bench link set lo up
# Instructions of the whole run for `n` iterations.
count() { # preload mode n
	ip netns exec mptcpize-report-bench env -i LD_PRELOAD="$1" MPTCPIZE_REPORT="$T/report" \
		valgrind --tool=callgrind --callgrind-out-file="$T/cg" "$T/close_cost" "$2" "$3" \
		2>&1 | sed -n 's/.*Collected : //p'
}
for mode in file conn; do
	for preload in "" "$SHIM" "$SHIM:$REPORT"; do
		a=$(count "$preload" "$mode" 0)
		b=$(count "$preload" "$mode" "$N")
		echo "$mode preload=${preload:-none}: $(( (b - a) / N )) instructions per iteration, start-up+exit $a"
	done
done
wc -l < "$T/report" | sed 's/^/report lines written: /'
