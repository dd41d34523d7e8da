#!/bin/bash
# bench_warm.sh: the warm path (issue 4) against posix_spawn and cold micro-VMs.
#
# In one run: warm invocation latency (min/p50/p99, from `sukima-vmm
# --repeat`) and invocations per second per core (1e6 / mean latency) for a
# no-op musl function, a no-op glibc function (echo of a 2-byte request) and
# busybox sha256sum of 1 KiB; the same three spawned natively per request
# (posix_spawn, bench_spawn) and as a cold micro-VM per request; the memory
# an idle `--serve` monitor holds after one invocation (RSS split into
# anonymous, file and shmem = the snapshot). Monitors run with --priority
# normal (the jail's SCHED_IDLE default would measure the neighbours).
# Knobs: BENCH_WARM_N (5000), BENCH_SPAWN_N (200).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${SUKIMA_BUILD:-build}
VMM=${BENCH_VMM:-$B/sukima-vmm}
G=$B/guests
BS=$B/bench/bench_spawn
N=${BENCH_WARM_N:-5000}
SN=${BENCH_SPAWN_N:-200}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$B/bench"
make -s O="$B" guests >/dev/null || exit 1
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o "$BS" \
	bench/bench_spawn.c || exit 1
[ -x "$VMM" ] || {
	echo "bench_warm: $VMM not built"
	exit 1
}
printf 'x\n' >"$TMP/tiny"
head -c 1024 /dev/urandom >"$TMP/1k"

# name  input  argv...
cases=(
	"noop-musl|$TMP/tiny|$G/echo.musl"
	"noop-glibc|$TMP/tiny|$G/echo.glibc"
	"bb-sha256-1k|$TMP/1k|/bin/busybox sha256sum"
)

printf '%-14s %10s %10s %10s %12s %6s %12s %12s %9s %9s\n' function \
	"warm min" "warm p50" "warm p99" "warm inv/s" exits \
	"spawn p50" "cold p50" "vs spawn" "vs cold"
for c in "${cases[@]}"; do
	IFS='|' read -r name input cmd <<<"$c"
	# shellcheck disable=SC2086
	want=$($cmd <"$input")
	# shellcheck disable=SC2086
	got=$("$VMM" --priority normal --repeat "$N" $cmd <"$input" \
		2>"$TMP/lat") || {
		echo "bench_warm: $name failed: $(cat "$TMP/lat")"
		exit 1
	}
	[ "$got" = "$want" ] || {
		echo "bench_warm: $name: wrong output from the warm path"
		exit 1
	}
	# min A p50 B p99 C max D us (N warm invocations, E exits in the last)
	read -r _ wmin _ wp50 _ wp99 _ _ _ _ _ _ exits _ < <(tail -n 1 "$TMP/lat" | tr -d '(,')
	# shellcheck disable=SC2086
	spawn=$("$BS" -n "$SN" -w 5 -i "$input" nat $cmd -- \
		cold "$VMM" --priority normal $cmd) || exit 1
	sp50=$(echo "$spawn" | awk -F'\t' '$1 == "nat" { print $3 }')
	cp50=$(echo "$spawn" | awk -F'\t' '$1 == "cold" { print $3 }')
	awk -v n="$name" -v a="$wmin" -v b="$wp50" -v c="$wp99" -v e="$exits" \
		-v s="$sp50" -v k="$cp50" 'BEGIN {
		printf "%-14s %8.0f us %7.0f us %7.0f us %12.0f %6s %9.0f us %9.0f us %8.1fx %8.1fx\n",
			n, a, b, c, 1e6 / b, e, s, k, s / b, k / b }'
done

# Memory held by an idle pooled micro-VM: one --serve monitor after one
# invocation (the dirtied pages are dropped at the end of each invocation).
python3 - "$VMM" "$G/echo.glibc" <<'PYEOF'
import struct, subprocess, sys
p = subprocess.Popen([sys.argv[1], "--priority", "normal", "--serve", sys.argv[2]],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
try:
    def rd(n):
        b = b""
        while len(b) < n:
            c = p.stdout.read(n - len(b))
            if not c:
                raise SystemExit("bench_warm: serve monitor died")
            b += c
        return b
    hello = rd(32)
    init_us = struct.unpack("<4sIIIQQ", hello)[4]
    p.stdin.write(struct.pack("<4sIQQQ", b"SKQ1", 0, 0, 0, 3) + b"hi\n")
    p.stdin.flush()
    h = struct.unpack("<4siIIQQQII", rd(48))
    rd(h[4] + h[5] + h[3])
    st = {}
    for line in open("/proc/%d/status" % p.pid):
        k, _, v = line.partition(":")
        st[k] = v.strip()
    print("idle --serve monitor (echo.glibc, 64 MiB guest), after one "
          "invocation: VmRSS %s = anon %s (monitor heap + pages the function "
          "wrote) + file %s (monitor binary, libc) + shmem %s (snapshot pages "
          "mapped); start-up to snapshot %d us"
          % (st["VmRSS"], st["RssAnon"], st["RssFile"], st["RssShmem"], init_us))
finally:
    p.stdin.close()
    p.wait(timeout=30)
PYEOF
