#!/bin/bash
# test.sh: the whole test suite, phase by phase, ending with one summary line.
#
#   scripts/test.sh [--asan] [PHASE...]
#
# Phases: build unit vmm stdkvm guestos e2e (all, in that order, when none
# is named). With --asan everything is built into build-asan/ with ASan +
# UBSan; the standard-KVM phase is skipped there, since it runs a fully
# static monitor and the sanitizers cannot be linked statically (guestos
# copies the sanitized binaries with their libraries into its machine).
set -u
cd "$(dirname "$0")/.."

asan=0
if [ "${1:-}" = "--asan" ]; then
	asan=1
	shift
fi
phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(build unit vmm stdkvm guestos e2e)

if [ $asan -eq 1 ]; then
	export SUKIMA_BUILD=${SUKIMA_BUILD:-build-asan}
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	MAKEARGS=(O="$SUKIMA_BUILD" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" OPT="-O1 -g")
else
	export SUKIMA_BUILD=${SUKIMA_BUILD:-build}
	MAKEARGS=(O="$SUKIMA_BUILD")
fi
B=$SUKIMA_BUILD
R=$B/reports
mkdir -p "$R"
PY=/usr/bin/python3
JOBS=$(nproc)

total_pass=0
total_fail=0
total_skip=0

count() { # phase pass fail [skip]
	printf '%-8s %d passed, %d failed, %d skipped\n' "$1:" "$2" "$3" "${4:-0}"
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	total_skip=$((total_skip + ${4:-0}))
}

# junit XML -> "pass fail skip"
junit_counts() {
	$PY - "$1" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 1 0"); sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = s = 0
for su in suites:
    t += int(su.get("tests", 0)); f += int(su.get("failures", 0))
    e += int(su.get("errors", 0)); s += int(su.get("skipped", 0))
print(t - f - e - s, f + e, s)
PYEOF
}

pytest_phase() { # name dir
	local name=$1 dir=$2
	if ! ls "$dir"/test_*.py >/dev/null 2>&1; then
		echo "$name: no tests yet"
		return
	fi
	$PY -m pytest -q -p no:cacheprovider --junitxml="$R/$name.xml" "$dir"
	local rc=$?
	if [ $rc -eq 5 ]; then
		count "$name" 0 0 0
		return
	fi
	# shellcheck disable=SC2046
	count "$name" $(junit_counts "$R/$name.xml")
}

for phase in "${phases[@]}"; do
	echo "=== $phase"
	case $phase in
	build)
		if make -s -j"$JOBS" "${MAKEARGS[@]}" all guests unit; then
			count build 1 0
		else
			count build 0 1
			echo "build failed: the remaining phases cannot run"
			break
		fi
		;;
	unit)
		p=0
		f=0
		for t in "$B"/tests/unit/test_*; do
			[ -x "$t" ] || continue
			out=$("$t" 2>&1)
			rc=$?
			echo "$out" | grep -E '^\[  (FAILED|ERROR) |^\[  PASSED' || true
			run=$(echo "$out" | sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p')
			ok=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p')
			if [ -z "$run" ]; then
				echo "$t: crashed (status $rc)"
				f=$((f + 1))
				continue
			fi
			p=$((p + ${ok:-0}))
			f=$((f + run - ${ok:-0}))
			[ $rc -ne 0 ] && [ "$run" = "${ok:-0}" ] && f=$((f + 1))
		done
		count unit $p $f
		;;
	vmm)
		pytest_phase vmm tests/vmm
		;;
	stdkvm)
		if [ $asan -eq 1 ]; then
			echo "stdkvm: skipped under --asan (static monitor; see scripts/test.sh)"
			continue
		fi
		if [ ! -x tests/stdkvm/run.sh ]; then
			echo "stdkvm: no tests yet"
			continue
		fi
		out=$(tests/stdkvm/run.sh 2>&1 | tee "$R/stdkvm.log")
		line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
		if [ -z "$line" ]; then
			echo "$out" | tail -n 30
			count stdkvm 0 1
		else
			echo "$out" | grep -E '^(FAIL|PASS)' | grep FAIL || true
			# shellcheck disable=SC2046
			count stdkvm $(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
		fi
		;;
	guestos)
		# Its own make calls build with this build's flags.
		out=$(env "${MAKEARGS[@]}" tests/guestos/run.sh 2>&1 | tee "$R/guestos.log")
		line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
		if [ -z "$line" ]; then
			echo "$out" | tail -n 30
			count guestos 0 1
		else
			echo "$out" | grep -E '^FAIL' -A 8 || true
			# shellcheck disable=SC2046
			count guestos $(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
		fi
		;;
	e2e)
		pytest_phase e2e tests/e2e
		;;
	*)
		echo "unknown phase $phase"
		count "$phase" 0 1
		;;
	esac
done

echo
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ $total_fail -eq 0 ]
