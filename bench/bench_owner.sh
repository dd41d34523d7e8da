#!/bin/bash
# bench_owner.sh: the PC owner's slowdown beside a saturated worker, and the owner policy's reaction times (issue 7).
#
# In one run (bench/bench_owner.py says what exactly):
#  1. a CPU-bound job on every core and a compile of the monitor, each
#     alternately alone and beside a worker saturated with CPU-bound
#     functions (target: <= 3 % slower);
#  2. owner activity -> the worker pulls nothing new (target <= 1 s);
#  3. Vacating -> the work running on another worker (<= 1 s + one pull).
# Knobs: BENCH_OWNER_CPU_REPS (5), BENCH_OWNER_CC_REPS (3),
# BENCH_OWNER_LAT_REPS (5). Raw lines: $SUKIMA_BUILD/reports/bench_owner.tsv.
set -u
cd "$(dirname "$0")/.." || exit 1
B=${SUKIMA_BUILD:-build}
mkdir -p "$B/reports"
make -s O="$B" all guests >/dev/null || exit 1
T=$(mktemp -d /tmp/sukima-bench-owner.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Private copies: others may rebuild build/ while we measure.
mkdir -p "$T/guests"
cp "$B/sukima" "$B/sukima-vmm" "$T/" || exit 1
cp "$B/guests/sha256gen.musl" "$B/guests/napwork.musl" "$T/guests/" || exit 1
BENCH_OWNER_TSV=$(realpath "$B")/reports/bench_owner.tsv \
	SUKIMA_BUILD=$T SUKIMA_VMM=$T/sukima-vmm \
	/usr/bin/python3 bench/bench_owner.py
