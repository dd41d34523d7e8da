#!/bin/bash
# bench_cloud.sh: the cloud path (issue 5) against local runs and a fork/exec HTTP baseline.
#
# In one run, the same trivial function, the echo guest
# (build/guests/echo.musl) called with an empty body: it reads its request,
# so the worker snapshots it at that read and serves it WARM (a restored
# micro-VM per call). The no-op guest never reads stdin, has no snapshot and
# always runs COLD (one monitor per call): it gets its own row.
#  1. gateway -> NATS JetStream -> worker -> micro-VM, sync, one worker (warm);
#  1c. the same, cold (noop guest), one worker;
#  2. the same (warm) with two workers;
#  3. `sukima run` locally (spawn the CLI, which execs the monitor);
#  4. the gateway's own share: the 404 path of an unknown function (HTTP
#     parsing + one KV read), i.e. what the gateway adds before NATS;
#  5. the baseline: an HTTP server written for this benchmark that
#     fork/execs the same binary natively per request (the OpenFaaS classic
#     watchdog model), driven by the same load generator.
# For each: latency p50/p99 with one client in sequence, then throughput
# with BENCH_CONC concurrent clients (keep-alive connections; for `sukima
# run`, concurrent spawns). Medians of BENCH_ROUNDS rounds; ratios are
# against the baseline. Knobs: BENCH_LAT_N (300), BENCH_TPUT_N (1500),
# BENCH_CONC (16), BENCH_ROUNDS (3), BENCH_SLOTS (slots per worker, 2).
# Raw lines go to $SUKIMA_BUILD/reports/bench_cloud.tsv.
set -u
cd "$(dirname "$0")/.." || exit 1
B=${SUKIMA_BUILD:-build}
LAT_N=${BENCH_LAT_N:-300}
TPUT_N=${BENCH_TPUT_N:-1500}
CONC=${BENCH_CONC:-16}
ROUNDS=${BENCH_ROUNDS:-3}
SLOTS=${BENCH_SLOTS:-2}
FN=$B/guests/echo.musl
COLDFN=$B/guests/noop.musl
BC=$B/bench/bench_cloud
TSV=$B/reports/bench_cloud.tsv
S=$B/sukima

mkdir -p "$B/bench" "$B/reports"
# BENCH_NOBUILD=1 measures $SUKIMA_BUILD as it is (e.g. a saved "before"
# build, for interleaved before/after runs).
[ -n "${BENCH_NOBUILD:-}" ] || make -s O="$B" all guests >/dev/null || exit 1
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o "$BC" \
	bench/bench_cloud.c -lpthread || exit 1
T=$(mktemp -d /tmp/sukima-bench-cloud.XXXXXX)
# Private copies: others may rebuild build/ while we measure.
mkdir -p "$T/bin"
cp "$S" "$B/sukima-vmm" "$FN" "$COLDFN" "$T/bin/" || exit 1
S=$T/bin/sukima
FN=$T/bin/echo.musl
COLDFN=$T/bin/noop.musl
export SUKIMA_VMM=$T/bin/sukima-vmm
"$S" run "$FN" </dev/null || {
	echo "bench_cloud: the micro-VM cannot run $FN here"
	rm -rf "$T"
	exit 1
}

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_log() { # file pattern seconds
	for _ in $(seq $(($3 * 20))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench_cloud: timed out waiting for '$2' in $1"
	tail -n 5 "$1"
	return 1
}

NP=$(free_port)
printf 'listen: 127.0.0.1:%s\nmax_payload: 8388608\njetstream { store_dir: %s }\n' \
	"$NP" "$T/js" >"$T/nats.conf"
nats-server -c "$T/nats.conf" >"$T/nats.log" 2>&1 &
pids+=($!)
wait_log "$T/nats.log" "Server is ready" 10 || exit 1
GP=$(free_port)
"$S" gateway --nats "nats://127.0.0.1:$NP" --listen "127.0.0.1:$GP" --insecure \
	>"$T/gw.log" 2>&1 &
pids+=($!)
wait_log "$T/gw.log" "listening on" 10 || exit 1
export SUKIMA_GATEWAY=http://127.0.0.1:$GP
start_worker() { # name
	"$S" worker --nats "nats://127.0.0.1:$NP" --name "$1" --slots "$SLOTS" \
		--cache "$T/cache-$1" >"$T/$1.log" 2>&1 &
	pids+=($!)
	wait_log "$T/$1.log" "ready: pulling" 15
}
start_worker b1 || exit 1
"$S" deploy echo "$FN" >/dev/null || exit 1
"$S" deploy noop "$COLDFN" >/dev/null || exit 1
for f in echo noop; do
	"$S" invoke $f </dev/null >/dev/null || {
		echo "bench_cloud: invoking $f through the gateway fails"
		exit 1
	}
done

BP=$(free_port)
"$BC" server "$BP" "$FN" &
pids+=($!)
for _ in $(seq 100); do
	/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$BP),1)" 2>/dev/null && break
	sleep 0.05
done

# Per run, so two runs at once (make bench twice) cannot mix their rows.
RUN_TSV=$T/bench_cloud.tsv
: >"$RUN_TSV"
measure() { # label kind(http|spawn) conc count args...
	local label=$1 kind=$2 conc=$3 n=$4
	shift 4
	local line
	if [ "$label" = gwonly ]; then # every answer is a 404 there
		line=$("$BC" http 127.0.0.1 "$1" "$2" "$conc" "$n" 2>/dev/null)
	elif [ "$kind" = http ]; then
		line=$("$BC" http 127.0.0.1 "$1" "$2" "$conc" "$n")
	else
		line=$("$BC" spawn "$conc" "$n" "$@")
	fi
	printf '%s\t%s\t%s\n' "$label" "$conc" "$line" | tr ' ' '\t' >>"$RUN_TSV"
}
run_all() { # suffix for the gateway rows
	for r in $(seq "$ROUNDS"); do
		measure "gw-$1" http 1 "$LAT_N" "$GP" /function/echo
		measure "gw-$1" http "$CONC" "$TPUT_N" "$GP" /function/echo
		if [ "$1" = 1w ]; then
			measure gwcold-1w http 1 "$((LAT_N / 3))" "$GP" /function/noop
			measure gwcold-1w http "$CONC" "$((TPUT_N / 3))" "$GP" /function/noop
			# The gateway's own share: HTTP + one KV read (a 404).
			measure gwonly http 1 "$LAT_N" "$GP" /function/nosuch
			measure baseline http 1 "$LAT_N" "$BP" /
			measure baseline http "$CONC" "$TPUT_N" "$BP" /
			measure run spawn 1 "$((LAT_N / 3))" "$S" run "$FN"
			measure run spawn "$CONC" "$((TPUT_N / 3))" "$S" run "$FN"
		fi
		: "$r"
	done
}
# Warm the path (cache fetch, connections) before timing.
"$BC" http 127.0.0.1 "$GP" /function/echo 4 200 >/dev/null
"$BC" http 127.0.0.1 "$GP" /function/noop 4 40 >/dev/null
run_all 1w
start_worker b2 || exit 1
"$BC" http 127.0.0.1 "$GP" /function/echo 4 200 >/dev/null
run_all 2w

cp "$RUN_TSV" "$TSV"
/usr/bin/python3 - "$RUN_TSV" "$CONC" "$SLOTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, conc, n, p50, p99, rps, err = line.split("\t")
    rows.setdefault((label, int(conc)), []).append(
        (float(p50), float(p99), float(rps), int(err)))
conc = int(sys.argv[2])
def med(label, c, i):
    v = rows.get((label, c))
    return statistics.median(x[i] for x in v) if v else float("nan")
def errs(label):
    return sum(x[3] for c in (1, conc) for x in rows.get((label, c), []))
names = [("gw-1w", f"gateway->NATS->worker->VM warm, 1 wk x {sys.argv[3]} slots"),
         ("gw-2w", f"gateway->NATS->worker->VM warm, 2 wk x {sys.argv[3]} slots"),
         ("gwcold-1w", f"gateway->NATS->worker->VM COLD (noop), 1 wk"),
         ("run", "sukima run (local spawn of CLI + monitor)"),
         ("baseline", "fork/exec HTTP server (classic watchdog model)")]
b50, brps = med("baseline", 1, 0), med("baseline", conc, 2)
print(f"bench_cloud: echo function (empty body; cold row: noop), medians of rounds; latency = 1 client, "
      f"throughput = {conc} concurrent")
print(f"{'path':<52} {'p50 us':>8} {'p99 us':>8} {'req/s':>8} "
      f"{'p50/base':>9} {'rps/base':>9} {'errors':>6}")
for key, desc in names:
    p50, p99, rps = med(key, 1, 0), med(key, 1, 1), med(key, conc, 2)
    print(f"{desc:<52} {p50:8.0f} {p99:8.0f} {rps:8.0f} "
          f"{p50 / b50:9.2f} {rps / brps:9.2f} {errs(key):6d}")
print(f"{'gateway p99 under load (1w / 2w)':<52} "
      f"{med('gw-1w', conc, 1):8.0f} {med('gw-2w', conc, 1):8.0f}")
g50, g99 = med("gwonly", 1, 0), med("gwonly", 1, 1)
print(f"{'gateway alone: HTTP + one KV read (404 path)':<52} {g50:8.0f} {g99:8.0f}")
bad = sum(errs(k) for k, _ in names)
sys.exit(1 if bad else 0)
PY
