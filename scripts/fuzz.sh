#!/bin/bash
# fuzz.sh: builds every libFuzzer driver tests/fuzz/fuzz_NAME.c into build-fuzz/
# and runs each for a bounded time (FUZZ_SECONDS, default 30).
#
#   scripts/fuzz.sh [NAME...]
#
# A driver names the sources it links in one comment line:
#   /* FUZZ_SOURCES: src/vmm/vmm_elf.c */
# Seeds come from tests/fuzz/corpus/NAME/ (committed, never written to); the
# growing corpus and any crash-* / leak-* / timeout-* files go to
# build-fuzz/NAME/.  Exit status: 0 when no driver found a bug.
set -u
cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang-14}
SECONDS_EACH=${FUZZ_SECONDS:-30}
OUT=build-fuzz
CFLAGS=(-g -O1 -std=c11 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer)
mkdir -p "$OUT"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		[ -e "$f" ] || continue
		n=${f##*/fuzz_}
		names+=("${n%.c}")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "fuzz: no drivers under tests/fuzz"
	exit 0
fi

failed=0
for n in "${names[@]}"; do
	src=tests/fuzz/fuzz_$n.c
	bin=$OUT/fuzz_$n
	work=$OUT/$n
	# shellcheck disable=SC2207
	extra=($(sed -n 's|.*FUZZ_SOURCES:\(.*\)\*/.*|\1|p' "$src"))
	echo "=== fuzz_$n: build"
	if ! $CC "${CFLAGS[@]}" -o "$bin" "$src" "${extra[@]}"; then
		echo "fuzz_$n: build failed"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$work/corpus"
	seeds=()
	[ -d "tests/fuzz/corpus/$n" ] && seeds=("tests/fuzz/corpus/$n")
	echo "=== fuzz_$n: ${SECONDS_EACH}s"
	if (cd "$work" && "../fuzz_$n" -max_total_time="$SECONDS_EACH" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus \
		"${seeds[@]/#/../../}" >log 2>&1); then
		grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/log" |
			tr '\n' ' '
		echo
		echo "fuzz_$n: ok"
	else
		tail -n 40 "$work/log"
		echo "fuzz_$n: FAILED (crash input and log in $work/)"
		failed=$((failed + 1))
	fi
done
echo "fuzz: ${#names[@]} driver(s), $failed failed"
[ $failed -eq 0 ]
