#!/bin/bash
# nats_per_call.sh: what one sync call costs in NATS (docs/architecture.md, "NATS messages per sync call").
#
#   bench/nats_per_call.sh [CALLS] [CONC]     (defaults 1500, 16)
#
# Starts a private nats-server with its monitoring port, a gateway and
# WORKERS (default 2) workers x 2 slots from $SUKIMA_BUILD (default build),
# deploys the echo guest, warms the path, then makes CALLS sync calls with
# CONC keep-alive clients (bench_cloud's load generator) and prints, per
# call: messages into and out of nats-server (/varz), per connection
# (/connz), messages stored per stream and delivered per consumer (/jsz),
# and the CPU time of nats-server, the gateway and the workers (schedstat
# of all their threads; the micro-VM monitors are not counted).  Not part
# of `make bench` (no bench_ prefix): a diagnostic, run it on its own.
set -u
cd "$(dirname "$0")/.." || exit 1
B=${SUKIMA_BUILD:-build}
N=${1:-1500}
CONC=${2:-16}
WORKERS=${WORKERS:-2}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/sukima-nats-per-call.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/bin"
cp "$B/sukima" "$B/sukima-vmm" "$B/guests/echo.musl" "$T/bin/" || exit 1
export SUKIMA_VMM=$T/bin/sukima-vmm
cc -std=c11 -D_GNU_SOURCE -O2 -o "$T/bc" bench/bench_cloud.c -lpthread || exit 1
free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_log() { # file pattern
	for _ in $(seq 300); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nats_per_call: timed out waiting for '$2' in $1"
	return 1
}
NP=$(free_port)
MP=$(free_port)
GP=$(free_port)
printf 'listen: 127.0.0.1:%s\nhttp: 127.0.0.1:%s\nmax_payload: 8388608\njetstream { store_dir: %s }\n' \
	"$NP" "$MP" "$T/js" >"$T/nats.conf"
nats-server -c "$T/nats.conf" >"$T/nats.log" 2>&1 &
pids+=($!)
NPID=$!
wait_log "$T/nats.log" "Server is ready" || exit 1
"$T/bin/sukima" gateway --nats "nats://127.0.0.1:$NP" --listen "127.0.0.1:$GP" \
	--insecure >"$T/gw.log" 2>&1 &
pids+=($!)
GPID=$!
wait_log "$T/gw.log" "listening on" || exit 1
WPIDS=""
for i in $(seq "$WORKERS"); do
	"$T/bin/sukima" worker --nats "nats://127.0.0.1:$NP" --name "w$i" --slots 2 \
		--cache "$T/cache$i" >"$T/w$i.log" 2>&1 &
	pids+=($!)
	WPIDS="$WPIDS $!"
	wait_log "$T/w$i.log" "ready: pulling" || exit 1
done
export SUKIMA_GATEWAY=http://127.0.0.1:$GP
"$T/bin/sukima" deploy echo "$T/bin/echo.musl" >/dev/null || exit 1
"$T/bc" http 127.0.0.1 "$GP" /function/echo 4 300 >/dev/null
sleep 1.5 # let pull requests and membership settle
snap() { # tag
	for e in varz connz jsz; do
		$PY -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
			"http://127.0.0.1:$MP/$e?consumers=1" >"$T/$e.$1" || exit 1
	done
	for p in $NPID $GPID $WPIDS; do
		cat /proc/"$p"/task/*/schedstat | awk '{s += $1} END {printf "%d ", s}'
	done >"$T/cpu.$1"
}
snap 0
"$T/bc" http 127.0.0.1 "$GP" /function/echo "$CONC" "$N" >"$T/load.txt"
snap 1
$PY - "$T" "$N" "$(cat "$T/load.txt")" <<'PY'
import json, sys
T, N, load = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
def j(name, i):
    return json.load(open(f"{T}/{name}.{i}"))
print(f"nats_per_call: {N} sync warm echo calls, {load[3]} calls/s, {load[4]} errors")
if int(load[4]):
    sys.exit(1)
cpu = [[int(x) for x in open(f"{T}/cpu.{i}").read().split()] for i in (0, 1)]
d = [(b - a) / N / 1000 for a, b in zip(*cpu)]
print(f"CPU per call: nats-server {d[0]:.0f} us, gateway {d[1]:.0f} us, "
      f"workers {sum(d[2:]):.0f} us")
v0, v1 = j("varz", 0), j("varz", 1)
print(f"messages per call: into nats-server {(v1['in_msgs'] - v0['in_msgs']) / N:.2f}, "
      f"out of it {(v1['out_msgs'] - v0['out_msgs']) / N:.2f}")
c0 = {c["cid"]: c for c in j("connz", 0)["connections"]}
for c in sorted(j("connz", 1)["connections"], key=lambda c: c.get("name", "")):
    o = c0.get(c["cid"], {"in_msgs": 0, "out_msgs": 0})
    print(f"  {c.get('name', '?')[:40]:40} sent {(c['in_msgs'] - o['in_msgs']) / N:.2f}"
          f"  received {(c['out_msgs'] - o['out_msgs']) / N:.2f}")
def streams(z):
    return {s["name"]: s for a in z.get("account_details", [])
            for s in a.get("stream_detail", [])}
s0, s1 = streams(j("jsz", 0)), streams(j("jsz", 1))
for name in sorted(s1):
    o = s0.get(name, {"state": {"last_seq": 0}, "consumer_detail": []})
    print(f"  stream {name:18} stored "
          f"{(s1[name]['state']['last_seq'] - o['state']['last_seq']) / N:.2f}")
    oc = {c["name"]: c for c in o.get("consumer_detail") or []}
    for c in s1[name].get("consumer_detail") or []:
        prev = oc.get(c["name"], {"delivered": {"consumer_seq": 0}})
        print(f"    consumer {c['name']:14} delivered "
              f"{(c['delivered']['consumer_seq'] - prev['delivered']['consumer_seq']) / N:.2f}")
PY
