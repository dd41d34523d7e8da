#!/bin/bash
# bench_churn.sh: throughput, latency and recovery time with and without worker churn (issue 6).
#
# Three workers (BENCH_SLOTS slots each, default 2) run tests/guests/slowhash
# (100-500 ms, output checked) behind one gateway. Phase 1 without churn,
# phase 2 with a worker SIGKILLed about every 2 s and a fresh one started:
# each phase sends BENCH_N calls (200) at BENCH_RATE per second (10) for
# latency (queued -> ended, from the result), then a burst of BENCH_BURST
# calls (150) for throughput. Then the added latency of the invocations a
# death hit and the recovery time (a death -> that invocation's completion
# on another worker). The driver is bench/bench_churn.py (tests/e2e/cloud.py
# runs the processes and stops them by PID).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${SUKIMA_BUILD:-build}
make -s O="$B" "$B/sukima" "$B/sukima-vmm" "$B/guests/slowhash.musl" >/dev/null || exit 1
T=$(mktemp -d /tmp/sukima-bench-churn.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Private copies: others may rebuild build/ while we measure.
cp "$B/sukima" "$B/sukima-vmm" "$B/guests/slowhash.musl" "$T/" || exit 1
"$T/sukima-vmm" "$T/slowhash.musl" </dev/null >/dev/null 2>&1 || {
	echo "bench_churn: the micro-VM cannot run slowhash here"
	exit 1
}
SUKIMA_BUILD=$T SUKIMA_VMM=$T/sukima-vmm BENCH_FN=$T/slowhash.musl BENCH_TMP=$T \
	/usr/bin/python3 bench/bench_churn.py
