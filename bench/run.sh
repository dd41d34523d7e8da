#!/bin/bash
# run.sh: every benchmark under bench/ (make bench), one after the other.
#
#   bench/run.sh [NAME...]      NAME: vmm for bench/bench_vmm.sh, ...
#
# Runs each bench/bench_*.sh in name order (or only those named), each
# bounded by BENCH_TIMEOUT seconds (default 170; a script that needs more
# says so in a "# bench-timeout: SECONDS" line), with SUKIMA_BUILD set.
# A benchmark script prints its own table and exits non-zero if it could
# not measure; adding a benchmark = dropping a bench/bench_<name>.sh here.
# Everything printed is also kept in $SUKIMA_BUILD/reports/bench.txt.
set -u
cd "$(dirname "$0")/.." || exit 1
export SUKIMA_BUILD=${SUKIMA_BUILD:-build}
LIMIT=${BENCH_TIMEOUT:-170}
mkdir -p "$SUKIMA_BUILD/reports"
REPORT=$SUKIMA_BUILD/reports/bench.txt

scripts=()
if [ $# -gt 0 ]; then
	for n in "$@"; do
		scripts+=("bench/bench_$n.sh")
	done
else
	for s in bench/bench_*.sh; do
		[ -e "$s" ] && scripts+=("$s")
	done
fi

failed=0
{
	echo "sukima benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r)," \
		"$(nproc) CPUs: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
	for s in "${scripts[@]}"; do
		echo
		echo "=== $s"
		if [ ! -x "$s" ]; then
			echo "$s: missing or not executable"
			failed=$((failed + 1))
			continue
		fi
		limit=$(sed -n 's/^# bench-timeout: \([0-9]*\)$/\1/p' "$s")
		if [ -n "${BENCH_TIMEOUT:-}" ] || [ -z "$limit" ]; then
			limit=$LIMIT # BENCH_TIMEOUT, when given, bounds them all
		fi
		start=$(date +%s)
		timeout -k 5 "$limit" "$s"
		rc=$?
		if [ $rc -ne 0 ]; then
			[ $rc -eq 124 ] && echo "$s: stopped after $limit s"
			echo "$s: FAILED (status $rc)"
			failed=$((failed + 1))
		fi
		echo "($s took $(($(date +%s) - start)) s)"
	done
	echo
	echo "bench: ${#scripts[@]} benchmarks, $failed failed"
} 2>&1 | tee "$REPORT"
# The status of the block, not of tee.
[ "$(tail -n 1 "$REPORT" | sed -E 's/.* ([0-9]+) failed$/\1/')" = 0 ]
