#!/bin/bash
# bench_owner.sh: the PC owner's slowdown beside a saturated worker, and the owner policy's reaction times (issue 7).
#
# In one run (bench/bench_owner.py says what exactly):
#  1. a CPU-bound job on every core and a compile of the whole project,
#     each alternately alone and beside a worker saturated with CPU-bound
#     functions, with --policy always and with --policy desktop (target:
#     <= 3 % slower);
#  2. owner activity -> the worker pulls nothing new (target <= 1 s);
#  3. Vacating -> the work running on another worker (<= 1 s + one pull).
# Knobs: BENCH_OWNER_CPU_REPS (7 pairs), BENCH_OWNER_CC_REPS (5 pairs),
# BENCH_OWNER_LAT_REPS (5), BENCH_OWNER_POLICIES ("always desktop";
# "desktop:--opt,value" is a variant with more worker options),
# BENCH_OWNER_CPU_MIB (400), BENCH_OWNER_AWAY (3 s),
# BENCH_OWNER_DESKTOP_ARGS (more options for the desktop worker),
# BENCH_OWNER_BUDGET (420 s: no pair starts after it).
# About 5 minutes on a quiet 2-CPU machine; bench/run.sh gives it 600 s.
# Raw lines: $SUKIMA_BUILD/reports/bench_owner.tsv.
# bench-timeout: 600
set -u
cd "$(dirname "$0")/.." || exit 1
B=${SUKIMA_BUILD:-build}
mkdir -p "$B/reports"
make -s O="$B" all guests >/dev/null || exit 1
T=$(mktemp -d /tmp/sukima-bench-owner.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Private copies: others may rebuild build/ or edit the tree while we
# measure.  The compile job builds a snapshot of the committed source
# (the working tree when this is not a git checkout).
mkdir -p "$T/guests" "$T/src"
cp "$B/sukima" "$B/sukima-vmm" "$T/" || exit 1
cp "$B/guests/sha256gen.musl" "$B/guests/napwork.musl" "$T/guests/" || exit 1
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	git archive HEAD Makefile src examples scripts | tar -x -C "$T/src" ||
		exit 1
else
	cp -r Makefile src examples scripts "$T/src/" || exit 1
fi
BENCH_OWNER_TSV=$(realpath "$B")/reports/bench_owner.tsv \
	BENCH_OWNER_SRC=$T/src SUKIMA_BUILD=$T SUKIMA_VMM=$T/sukima-vmm \
	/usr/bin/python3 bench/bench_owner.py
