#!/bin/bash
# run.sh: the worker's owner protection against a real kernel's cgroups and input devices, inside QEMU.
#
#   tests/guestos/run.sh [--keep]
#
# What the development machines cannot show (cgroup v1 for cpu and memory,
# no input devices; docs/worker-policy.md), on the standard-KVM test
# machine of tests/stdkvm (its vm.sh: Debian's kernel in QEMU TCG, an
# initramfs of busybox-static), here with a QMP socket, a virtio keyboard
# and a virtio mouse beside the pc machine's PS/2 (i8042) keyboard. The
# initramfs holds the real `sukima` (dynamically linked: with the shared
# libraries ldd names), the static monitor, Debian's nats-server and the
# napwork guest. Its /init runs nats-server and a gateway on 127.0.0.1,
# then workers, and checks:
#   cgroup-v1       cpu and memory on cgroup v1 beside an empty v2 mount
#                   (this host's layout): one "cgroup v2 not used" line
#   cgroup-v2-*     on a real cgroup2 mount with +cpu +memory at the root:
#                   the worker's sukima-monitors-<pid> exists, cpu.idle 1,
#                   memory.max = --mem + 32 MiB per slot and per warm
#                   monitor, cpu.max = --cpu-max % of all CPUs, a running
#                   monitor's pid is in its cgroup.procs (and its
#                   /proc/PID/cgroup), the call succeeds, and the cgroup is
#                   gone when the worker has left
#   cgroup-v2-stale the cgroup of a SIGKILLed worker is removed by the
#                   next worker
#   cgroup-v2-nonroot  the worker (root) in a child cgroup not delegated
#                   to it (a session scope, a harness's cgroup): the
#                   fallback line, nothing created or changed, the worker
#                   still in it (the kernel would refuse controllers there
#                   anyway: no-internal-process rule)
#   cgroup-v2-delegated-*  the worker started in sukima.service prepared as
#                   systemd does for Delegate=yes (+cpu +memory at the
#                   root, user.delegate and trusted.delegate "1"): it moves
#                   into sukima.service/sukima-worker, enables cpu and
#                   memory there, its sukima-monitors-<pid> gets cpu.idle,
#                   memory.max and cpu.max as above, a running monitor is
#                   in it, the call succeeds; a killed worker's
#                   monitors' cgroup there is removed; on exit the
#                   monitors' cgroup goes, the worker's leaf stays
#   cgroup-v2-delegated-shared  a delegated cgroup holding another
#                   process too: the fallback line, nothing changed
#   slice-owner-share  systemd's layout (user.slice beside sukima.slice
#                   with the delegated unit): with the worker saturated by
#                   CPU-bound calls and a busy loop in user.slice, the
#                   owner's slice gets >= 97 % of what both use, with
#                   sukima.slice as systemd/sukima.slice sets it; the
#                   shares with it set as system.slice (weight 100) and
#                   as the other candidate are printed, with the worker's
#                   own run-queue waits
#   slice-calls-done  a call still ran when the owner stopped, and every
#                   call then succeeded (attempts and the gateway's
#                   redelivery count printed); also printed: the same
#                   with the micro-VMs stopped (as the desktop policy
#                   pauses them), the worker alone in its slice
#   input-i8042     --policy desktop without evdev loaded (no
#                   /dev/input/event*): the worker watches i8042 interrupt
#                   counts; PS/2 key presses sent by this script through
#                   QMP make it go idle -> owner, not before, and it goes
#                   back to idle once input stops (--input-idle 2 --away 2)
#   input-evdev     the same with evdev and virtio-input loaded while the
#                   worker runs (its 10 s rescan must pick them up):
#                   relative moves of the virtio mouse (no i8042
#                   interrupt, checked), read from /dev/input/event*
#   no-sanitizer-report  no ASan/UBSan report in any log (scripts/test.sh
#                   --asan runs this with the sanitized build)
# Timing: the guest prints `GUESTOS-INJECT KIND NAME` when its worker is
# idle; this script sends the input 2 s after reading it (qmp_input.py);
# the guest requires no owner transition during the first second and one
# within 30 s. Prints PASS/FAIL lines, ends with `N passed, N failed`;
# exits non-zero on any failure or when the VM did not finish. QEMU is
# stopped by PID on every exit path. --keep keeps the initramfs tree.
# Measured on the 2-core development VM (load 0.6-7.6): 80-90 s for
# `scripts/test.sh build guestos` with the build up to date (the slice
# case ~25 s of it).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/stdkvm/vm.sh

B=${SUKIMA_BUILD:-build}
VM_TIMEOUT=${GUESTOS_VM_TIMEOUT:-300}
IDLE=90 # no console line for this long: the guest hangs
LOG=$B/reports/guestos-console.log
INJECT_DELAY=2 # s between the guest's request and the input

keep=0
case ${1:-} in
--keep) keep=1 ;;
'') ;;
-h | --help)
	sed -n '2,/^set -u/p' "$0" | sed '$d;s/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "run.sh: unknown option $1" >&2
	exit 2
	;;
esac

hfail=0
finish() { # vm_pass vm_fail
	echo "$1 passed, $(($2 + hfail)) failed"
	[ $(($2 + hfail)) -eq 0 ]
	exit
}
die() { # why
	echo "FAIL guestos: $1"
	hfail=$((hfail + 1))
	finish 0 0
}

vm_kernel || die "cannot fetch Debian's kernel (see the line above)"
mkdir -p "$B/guestos" "$B/reports" || exit 1
make -s O="$B" "$B/sukima" "$B/sukima-vmm" "$B/guests/napwork.musl" \
	"$B/guests/sha256gen.musl" \
	>"$B/guestos/make.log" 2>&1 ||
	die "build failed: $(tail -n 3 "$B/guestos/make.log" | tr '\n' ' ')"
NATS_SERVER=$(command -v nats-server) || die "no nats-server (scripts/deps.sh)"
# The slice the worker unit ships in: CPUWeight= a number or idle.
SLICE_WEIGHT=$(sed -n 's/^CPUWeight=//p' systemd/sukima.slice)
case $SLICE_WEIGHT in
idle | [1-9] | [1-9][0-9] | [1-9][0-9][0-9] | [1-9][0-9][0-9][0-9] | 10000) ;;
*) die "systemd/sukima.slice: CPUWeight= '$SLICE_WEIGHT', expected 1-10000 or idle" ;;
esac

T=$(mktemp -d "$B/guestos/run.XXXXXX") && T=$(realpath "$T") || exit 1
cleanup() {
	vm_stop
	[ $keep -eq 1 ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
R=$T/root
vm_root "$R" && mkdir -p "$R"/{usr/local/bin,t} || exit 1

# A dynamically linked program with the libraries it needs, at their paths.
copy_prog() { # program dest-in-root
	local lib
	cp "$1" "$R$2" || return 1
	for lib in $(ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p;s/^\s*\(\/[^ ]*\) (.*/\1/p'); do
		[ -e "$R$lib" ] && continue
		mkdir -p "$R$(dirname "$lib")" && cp -L "$lib" "$R$lib" || return 1
	done
}
copy_prog "$B/sukima" /usr/local/bin/sukima || die "cannot copy $B/sukima"
copy_prog "$NATS_SERVER" /usr/local/bin/nats-server || die "cannot copy nats-server"
SETFATTR=$(command -v setfattr) && copy_prog "$SETFATTR" /usr/bin/setfattr ||
	die "no setfattr (package attr: scripts/deps.sh)"
copy_prog "$B/sukima-vmm" /usr/local/bin/sukima-vmm &&
	cp "$B/guests/napwork.musl" "$R/t/napwork" &&
	cp "$B/guests/sha256gen.musl" "$R/t/sha256gen" || die "cannot copy the monitor or napwork"

cat >"$R/init" <<'INIT'
#!/bin/busybox sh
# init of the owner-protection test machine, written by tests/guestos/run.sh.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp
export SUKIMA_GATEWAY=http://127.0.0.1:8080
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
echo
say() { echo "GUESTOS: $*"; }
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
no() { # name why [log]
	echo "FAIL $1: $2"
	fail=$((fail + 1))
	[ -n "${3:-}" ] && tail -n 8 "$3" | sed 's/^/  | /'
}
end() {
	read -r up _ </proc/uptime
	say "done at $up s"
	echo "GUESTOS-DONE $pass passed, $fail failed"
	poweroff -f
}
now() { read -r up _ </proc/uptime; echo "$up"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# until_ok SECONDS CMD...: CMD succeeds within SECONDS (polled every 0.1 s).
until_ok() {
	n=$(($1 * 10))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ $n -le 0 ] && return 1
		sleep 0.1
	done
}
has() { grep -q -- "$2" "$1"; }
count() { grep -c -- "$2" "$1"; }
more_than() { [ "$(count "$1" "$2")" -gt "$3" ]; }
i8042() { awk '/i8042/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) n += $i } END { print n + 0 }' /proc/interrupts; }

for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m || { say "insmod $m failed"; end; }
done
read -r up _ </proc/uptime
say "init at $up s, $(nproc) CPU(s), kernel $(uname -r)"

nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/js >/tmp/nats.log 2>&1 &
until_ok 30 has /tmp/nats.log 'Server is ready' || { no nats "did not start" /tmp/nats.log; end; }
sukima gateway --nats nats://127.0.0.1:4222 --listen 127.0.0.1:8080 --insecure \
	>/tmp/gw.log 2>&1 &
gwpid=$!
stop_gateway() {
	kill -TERM $gwpid
	n=100
	while kill -0 $gwpid 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	wait $gwpid 2>/dev/null || say "gateway exited with status $?"
}
until_ok 30 wget -q -O /dev/null http://127.0.0.1:8080/healthz ||
	{ no gateway "no /healthz" /tmp/gw.log; end; }
sukima deploy nap /t/napwork --arg 3000 --arg 1 >/tmp/deploy.log 2>&1 ||
	{ no deploy "sukima deploy failed" /tmp/deploy.log; end; }
say "nats-server, gateway up, napwork deployed at $(now) s"

wpid=
CGIN= # a cgroup to start the worker in, or none (ours: the root)
start_worker() { # name log args...
	wn=$1
	wl=$2
	shift 2
	sh -c 'if [ -n "$0" ]; then echo $$ >"$0/cgroup.procs" || exit 1; fi; exec "$@"' \
		"$CGIN" sukima worker --nats nats://127.0.0.1:4222 --name "$wn" \
		--cache "/tmp/cache-$wn" "$@" >"$wl" 2>&1 &
	wpid=$!
	until_ok 60 has "$wl" 'ready: pulling'
}
stop_worker() { # log
	kill -TERM "$wpid"
	n=300
	while kill -0 "$wpid" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -0 "$wpid" 2>/dev/null && { kill -KILL "$wpid"; no "$1" "worker did not leave within 30 s"; }
	wait "$wpid" 2>/dev/null
}

# --- cgroup v1 for cpu and memory, an empty v2 mount --------------------
C=/sys/fs/cgroup
mount -t tmpfs cgroup $C && mkdir $C/cpu $C/memory $C/unified &&
	mount -t cgroup -o cpu cgroup $C/cpu &&
	mount -t cgroup -o memory cgroup $C/memory &&
	mount -t cgroup2 cgroup2 $C/unified || { no cgroup-v1 "cannot mount"; end; }
if start_worker v1 /tmp/w-v1.log --slots 1 --mem 64M; then
	n=$(count /tmp/w-v1.log 'cgroup v2 not used (')
	if [ "$n" = 1 ] && has /tmp/w-v1.log 'does not delegate the cpu and memory'; then
		ok cgroup-v1
		say "$(grep 'cgroup v2 not used' /tmp/w-v1.log)"
	else
		no cgroup-v1 "$n 'cgroup v2 not used' lines" /tmp/w-v1.log
	fi
	[ -z "$(ls -d $C/unified/sukima-* 2>/dev/null)" ] ||
		no cgroup-v1-untouched "a cgroup appeared under the v2 mount"
	stop_worker cgroup-v1
else
	no cgroup-v1 "worker not ready" /tmp/w-v1.log
fi
umount $C/cpu $C/memory $C/unified $C

# --- cgroup v2, the i8042 interrupt count --------------------------------
mount -t cgroup2 cgroup2 $C || { no cgroup-v2 "cannot mount cgroup2"; end; }
# The v1 hierarchies let go of their controllers once unmounted.
until_ok 10 sh -c "echo '+cpu +memory' >$C/cgroup.subtree_control" 2>/dev/null ||
	{ no cgroup-v2 "cannot enable cpu and memory: $(cat $C/cgroup.subtree_control)"; end; }
SLOTS=2
WARM=1
MEM=256
CPUMAX=50
POL="--policy desktop --input-idle 2 --away 2 --suspend-after 300 --load-max 100 --policy-tick 0.1"

# input_test NAME LOG KIND: the worker (log LOG) is idle; the host sends
# KIND input INJECT_DELAY s after our request; owner after it, not before;
# idle again once it stops.
input_test() {
	name=$1
	l=$2
	until_ok 30 has "$l" '-> idle' || { no "$name" "never idle after its start" "$l"; return; }
	n0=$(count "$l" '-> owner')
	i0=$(i8042)
	t0=$(now)
	echo "GUESTOS-INJECT $3 $name"
	sleep 1
	if more_than "$l" '-> owner' "$n0"; then
		no "$name" "owner before any input" "$l"
		return
	fi
	if ! until_ok 30 more_than "$l" '-> owner' "$n0"; then
		no "$name" "no owner transition within 30 s of the input" "$l"
		return
	fi
	tow=$(since "$t0")
	i1=$(i8042)
	n1=$(count "$l" '-> idle')
	line=$(grep -- '-> owner' "$l" | tail -n 1)
	if ! echo "$line" | grep -q 'input [0-9.]* s ago'; then
		no "$name" "owner, but not for input: $line" "$l"
		return
	fi
	t1=$(now)
	if ! until_ok 30 more_than "$l" '-> idle' "$n1"; then
		no "$name" "not idle again within 30 s" "$l"
		return
	fi
	say "$name: owner $tow s after the request (input at ~INJECT s), idle $(since "$t1") s later; i8042 interrupts +$((i1 - i0))"
	say "$name: $line"
	case $3 in
	key) [ $((i1 - i0)) -gt 0 ] || { no "$name" "no i8042 interrupt counted"; return; } ;;
	mouse) [ $((i1 - i0)) -eq 0 ] || { no "$name" "i8042 interrupts moved: not the evdev path alone"; return; } ;;
	esac
	ok "$name"
}

if start_worker a /tmp/w-a.log --slots $SLOTS --warm $WARM --mem ${MEM}M \
	--cpu-max $CPUMAX $POL; then
	cg=$C/sukima-monitors-$wpid
	if [ -d "$cg" ] && has /tmp/w-a.log "cgroup v2: monitors in $cg"; then
		ok cgroup-v2-created
	else
		no cgroup-v2-created "no $cg" /tmp/w-a.log
	fi
	v=$(cat $cg/cpu.idle 2>/dev/null)
	[ "$v" = 1 ] && ok cgroup-v2-cpu-idle || no cgroup-v2-cpu-idle "cpu.idle '$v'"
	want=$(((MEM + 32 * (SLOTS + WARM)) * 1048576))
	v=$(cat $cg/memory.max 2>/dev/null)
	[ "$v" = "$want" ] && ok cgroup-v2-memory-max ||
		no cgroup-v2-memory-max "memory.max '$v', expected $want (--mem + 32 MiB x (slots + warm))"
	want="$((CPUMAX * 1000 * $(nproc))) 100000"
	v=$(cat $cg/cpu.max 2>/dev/null)
	[ "$v" = "$want" ] && ok cgroup-v2-cpu-max || no cgroup-v2-cpu-max "cpu.max '$v', expected '$want'"
	say "$cg: cpu.idle $(cat $cg/cpu.idle) cpu.weight $(cat $cg/cpu.weight) memory.max $(cat $cg/memory.max) cpu.max $(cat $cg/cpu.max)"
	has /tmp/w-a.log 'watching 0 input device(s) and i8042 interrupts' ||
		no input-i8042-watch "not watching i8042 interrupts alone" /tmp/w-a.log

	input_test input-i8042 /tmp/w-a.log key

	# A call: its monitor must run in the cgroup.
	id=$(echo hi | sukima invoke nap --async 2>/tmp/invoke.log)
	mon=
	until_ok 60 sh -c "grep -lx sukima-vmm /proc/[0-9]*/comm >/tmp/mons 2>/dev/null" &&
		mon=$(head -n 1 /tmp/mons | cut -d/ -f3)
	if [ -z "$mon" ]; then
		no cgroup-v2-procs "no monitor seen running (call '$id')" /tmp/w-a.log
	else
		all=1
		for p in $(cut -d/ -f3 /tmp/mons); do
			grep -qx "$p" $cg/cgroup.procs || all=0
		done
		v=$(cat /proc/$mon/cgroup 2>/dev/null)
		if [ $all = 1 ] && [ "$v" = "0::/sukima-monitors-$wpid" ]; then
			ok cgroup-v2-procs
			say "monitor(s) $(cut -d/ -f3 /tmp/mons | tr '\n' ' ')in $cg/cgroup.procs; /proc/$mon/cgroup $v"
		else
			no cgroup-v2-procs "monitors $(cut -d/ -f3 /tmp/mons | tr '\n' ' '), cgroup.procs: $(tr '\n' ' ' <$cg/cgroup.procs), /proc/$mon/cgroup: $v"
		fi
	fi
	if until_ok 90 sh -c "sukima status '$id' 2>/dev/null | grep -q succeeded"; then
		ok cgroup-v2-call
	else
		no cgroup-v2-call "call '$id' did not succeed: $(sukima status "$id" 2>&1 | head -c 300)" /tmp/w-a.log
	fi
	stop_worker cgroup-v2-removed
	[ ! -d "$cg" ] && ok cgroup-v2-removed || no cgroup-v2-removed "$cg still there" /tmp/w-a.log
else
	no cgroup-v2 "worker not ready" /tmp/w-a.log
fi

# A worker killed outright leaves its cgroup behind; the next one removes it.
if start_worker k /tmp/w-k.log --slots 1 --mem 64M; then
	kcg=$C/sukima-monitors-$wpid
	kill -KILL "$wpid"
	wait "$wpid" 2>/dev/null
	if [ ! -d "$kcg" ]; then
		no cgroup-v2-stale "$kcg was never there" /tmp/w-k.log
	elif start_worker k2 /tmp/w-k2.log --slots 1 --mem 64M; then
		if [ ! -d "$kcg" ] && has /tmp/w-k2.log "removed $kcg (its worker is gone)"; then
			ok cgroup-v2-stale
		else
			no cgroup-v2-stale "$kcg left behind" /tmp/w-k2.log
		fi
		stop_worker cgroup-v2-stale
	else
		no cgroup-v2-stale "second worker not ready" /tmp/w-k2.log
	fi
else
	no cgroup-v2-stale "worker not ready" /tmp/w-k.log
fi

# --- cgroup v2, the worker in a cgroup of its own, not delegated to it ----
# (a root shell's session scope, a test harness's cgroup): root may write
# it, but nobody said it is the worker's, so the worker leaves it alone.
mkdir $C/svc
CGIN=$C/svc
if start_worker s /tmp/w-s.log --slots 1 --mem 64M; then
	n=$(count /tmp/w-s.log 'cgroup v2 not used (')
	v=$(cat /proc/$wpid/cgroup)
	if [ "$n" = 1 ] && has /tmp/w-s.log 'is not delegated to it' &&
		[ "$v" = 0::/svc ] && [ -z "$(ls -d $C/svc/sukima-* 2>/dev/null)" ] &&
		[ -z "$(cat $C/svc/cgroup.subtree_control)" ]; then
		ok cgroup-v2-nonroot
	else
		no cgroup-v2-nonroot "$n 'cgroup v2 not used' lines, /proc/$wpid/cgroup '$v', subtree_control '$(cat $C/svc/cgroup.subtree_control)'" /tmp/w-s.log
	fi
	# Why a cgroup must be emptied first: the kernel's no-internal-process
	# rule (docs/worker-policy.md).
	if err=$(sh -c "echo +memory >$C/svc/cgroup.subtree_control" 2>&1); then
		say "the kernel let $C/svc hand memory down with the worker inside"
	else
		say "enabling memory in $C/svc/cgroup.subtree_control with the worker inside: ${err##*: }"
	fi
	stop_worker cgroup-v2-nonroot
else
	no cgroup-v2-nonroot "worker not ready" /tmp/w-s.log
fi
CGIN=
rmdir $C/svc

# --- cgroup v2, a cgroup delegated to the worker (systemd's Delegate=yes) --
# As systemd 252 leaves a unit's cgroup: a child of a cgroup handing cpu
# and memory down, user.delegate (and trusted.delegate) "1", the worker
# its only process. Here also the cgroup of a killed worker (its pid gone)
# from a run whose subtree was not removed.
D=$C/sukima.service
sh -c 'exit 0' &
dead=$!
wait $dead
mkdir $D && setfattr -n user.delegate -v 1 $D && setfattr -n trusted.delegate -v 1 $D &&
	mkdir $D/sukima-monitors-$dead || no cgroup-v2-delegated "cannot prepare $D"
CGIN=$D
if start_worker d /tmp/w-d.log --slots $SLOTS --warm $WARM --mem ${MEM}M --cpu-max $CPUMAX; then
	dcg=$D/sukima-monitors-$wpid
	v=$(cat /proc/$wpid/cgroup)
	sc=$(cat $D/cgroup.subtree_control)
	if [ "$v" = 0::/sukima.service/sukima-worker ] && [ -z "$(cat $D/cgroup.procs)" ] &&
		[ "$sc" = "cpu memory" ] && [ -d "$dcg" ] &&
		has /tmp/w-d.log "cgroup v2: monitors in $dcg (.*); the worker in $D/sukima-worker"; then
		ok cgroup-v2-delegated-moved
		say "$(grep 'cgroup v2: monitors in' /tmp/w-d.log | sed 's/.* info: //')"
	else
		no cgroup-v2-delegated-moved "/proc/$wpid/cgroup '$v', $D/cgroup.procs '$(cat $D/cgroup.procs | tr '\n' ' ')', subtree_control '$sc'" /tmp/w-d.log
	fi
	want="1 $(((MEM + 32 * (SLOTS + WARM)) * 1048576)) $((CPUMAX * 1000 * $(nproc))) 100000"
	v="$(cat $dcg/cpu.idle) $(cat $dcg/memory.max) $(cat $dcg/cpu.max)"
	[ "$v" = "$want" ] && ok cgroup-v2-delegated-limits ||
		no cgroup-v2-delegated-limits "cpu.idle memory.max cpu.max '$v', expected '$want'"
	if [ ! -d $D/sukima-monitors-$dead ] &&
		has /tmp/w-d.log "removed $D/sukima-monitors-$dead (its worker is gone)"; then
		ok cgroup-v2-delegated-stale
	else
		no cgroup-v2-delegated-stale "$D/sukima-monitors-$dead left behind" /tmp/w-d.log
	fi
	id=$(echo hi | sukima invoke nap --async 2>/tmp/invoke-d.log)
	mon=
	until_ok 60 sh -c "grep -lx sukima-vmm /proc/[0-9]*/comm >/tmp/mons 2>/dev/null" &&
		mon=$(head -n 1 /tmp/mons | cut -d/ -f3)
	v=$(cat /proc/$mon/cgroup 2>/dev/null)
	if [ -n "$mon" ] && grep -qx "$mon" $dcg/cgroup.procs &&
		[ "$v" = "0::/sukima.service/sukima-monitors-$wpid" ]; then
		ok cgroup-v2-delegated-procs
	else
		no cgroup-v2-delegated-procs "monitor '$mon' (call '$id'), /proc/$mon/cgroup '$v', cgroup.procs: $(tr '\n' ' ' <$dcg/cgroup.procs)" /tmp/w-d.log
	fi
	until_ok 90 sh -c "sukima status '$id' 2>/dev/null | grep -q succeeded" &&
		ok cgroup-v2-delegated-call ||
		no cgroup-v2-delegated-call "call '$id' did not succeed: $(sukima status "$id" 2>&1 | head -c 300)" /tmp/w-d.log
	stop_worker cgroup-v2-delegated-removed
	# Gone: the monitors' cgroup; kept: the worker's leaf (it was in it).
	[ ! -d "$dcg" ] && [ -d $D/sukima-worker ] && ok cgroup-v2-delegated-removed ||
		no cgroup-v2-delegated-removed "$dcg still there, or $D/sukima-worker gone" /tmp/w-d.log
else
	no cgroup-v2-delegated "worker not ready" /tmp/w-d.log
fi
CGIN=
rmdir $D/sukima-* $D 2>/dev/null

# A delegated cgroup the worker shares with another process: left alone.
mkdir $D && setfattr -n user.delegate -v 1 $D || no cgroup-v2-delegated-shared "cannot prepare $D"
sh -c "echo \$\$ >$D/cgroup.procs && exec sleep 120" &
other=$!
CGIN=$D
if start_worker e /tmp/w-e.log --slots 1 --mem 64M; then
	if has /tmp/w-e.log 'cgroup v2 not used (other processes are in its delegated cgroup)' &&
		[ "$(cat /proc/$wpid/cgroup)" = 0::/sukima.service ] &&
		[ -z "$(ls -d $D/sukima-* 2>/dev/null)" ] && [ -z "$(cat $D/cgroup.subtree_control)" ]; then
		ok cgroup-v2-delegated-shared
	else
		no cgroup-v2-delegated-shared "the worker changed a cgroup it shares: $(ls $D | grep sukima)" /tmp/w-e.log
	fi
	stop_worker cgroup-v2-delegated-shared
else
	no cgroup-v2-delegated-shared "worker not ready" /tmp/w-e.log
fi
CGIN=
kill -KILL $other
wait $other 2>/dev/null
rmdir $D

# --- cgroup v2, systemd's top-level slices: the owner against the worker --
# As systemd lays them out: the owner's user.slice (cpu.weight 100) beside
# sukima.slice holding the delegated sukima-worker.service. The worker is
# saturated with CPU-bound calls (--policy always: nothing pauses them),
# the owner runs a busy loop in user.slice, and the slices' cpu.stat
# usage_usec is read over SLICE_S seconds with sukima.slice set as
# system.slice is (weight 100), as the other candidate (cpu.idle 1 or
# cpu.weight 1), then as systemd/sukima.slice ships it (CPUWeight=,
# written in below by the host). Also the run-queue wait of the worker's
# own threads (its lease renewals, heartbeats, acks): mean per wake-up
# (schedstat) and longest (schedstats on), with the micro-VMs running and
# then stopped. Once the owner stops, every call must succeed.
SHIPPED=@SLICE_WEIGHT@
U=$C/user.slice
S=$C/sukima.slice
W=$S/sukima-worker.service
SLICE_S=3
NBURN=3
usage() { sed -n 's/^usage_usec //p' "$1/cpu.stat"; }
# The gateway's count of work messages delivered more than once (summed
# over the workers it has seen).
redeliveries() { wget -q -O - http://127.0.0.1:8080/metrics | awk '$1 == "sukima_redeliveries_total" { n = $2 } END { print n + 0 }'; }
# wait_ns PID: the run-queue wait (ns) and run count of PID's threads.
wait_ns() { cat /proc/$1/task/*/schedstat 2>/dev/null | awk '{ w += $2; n += $3 } END { printf "%.0f %.0f\n", w, n }'; }
# wait_max PID: the longest run-queue wait (ms) of PID's threads since
# wait_reset (schedstats on).
wait_reset() { for t in /proc/$1/task/*/sched; do echo 0 >"$t"; done 2>/dev/null; }
wait_max() { cat /proc/$1/task/*/sched 2>/dev/null | awk '/wait_max/ { if ($3 > m) m = $3 } END { printf "%.0f", m }'; }
# slice_phase NAME WEIGHT IDLE: sukima.slice set so, settled 0.5 s, measured.
# (The kernel refuses cpu.weight while cpu.idle is 1.)
slice_phase() {
	echo 0 >$S/cpu.idle && echo "$2" >$S/cpu.weight && echo "$3" >$S/cpu.idle ||
		{ no slice-$1 "cannot set cpu.weight $2 cpu.idle $3"; return; }
	sleep 0.5
	t0=$(now) u0=$(usage $U) s0=$(usage $S) k0=$(usage $W/sukima-worker)
	set -- "$@" $(wait_ns $wpid)
	wait_reset $wpid
	sleep $SLICE_S
	set -- "$@" $(wait_ns $wpid)
	wmax=$(wait_max $wpid)
	du=$(($(usage $U) - u0)) ds=$(($(usage $S) - s0)) dk=$(($(usage $W/sukima-worker) - k0))
	el=$(since "$t0")
	share=$(awk -v u=$du -v s=$ds 'BEGIN { printf "%.1f", 100 * u / (u + s) }')
	wake=$(awk -v w0=$4 -v n0=$5 -v w1=$6 -v n1=$7 'BEGIN { n = n1 - n0; w = 0; if (n > 0) w = (w1 - w0) / n / 1e6; printf "%.2f ms over %d", w, n }')
	say "slice $1 (cpu.weight $2, cpu.idle $3) over $el s: user.slice $((du / 1000)) ms, sukima.slice $((ds / 1000)) ms (the worker itself $((dk / 1000)) ms): owner's share $share %; worker's threads wait $wake wake-ups, at most $wmax ms"
	if [ "$1" = shipped ]; then share_shipped=$share; fi
}
sh -c 'exit 0' &
dead=$!
wait $dead
mkdir $U $S && echo '+cpu +memory' >$S/cgroup.subtree_control && mkdir $W &&
	setfattr -n user.delegate -v 1 $W || no slice "cannot prepare $S"
CGIN=$W
if start_worker sl /tmp/w-sl.log --slots 1 --mem 64M --policy always; then
	CGIN=
	sukima deploy burn /t/sha256gen --arg 64 --timeout 300s >/tmp/deploy-burn.log 2>&1 ||
		no slice "sukima deploy failed" /tmp/deploy-burn.log
	red0=$(redeliveries)
	: >/tmp/burn-ids
	for i in $(seq $NBURN); do
		echo | sukima invoke burn --async >>/tmp/burn-ids 2>/tmp/invoke-burn.log
	done
	until_ok 60 sh -c "grep -qx sukima-vmm /proc/[0-9]*/comm 2>/dev/null" ||
		no slice "no monitor running" /tmp/w-sl.log
	echo 1 >/proc/sys/kernel/sched_schedstats
	sh -c "echo \$\$ >$U/cgroup.procs && exec sh -c 'while :; do :; done'" &
	hog=$!
	slice_phase system 100 0
	if [ "$SHIPPED" = idle ]; then
		alt="weight1 1 0" ship="100 1"
	else
		alt="idle 100 1" ship="$SHIPPED 0"
	fi
	# shellcheck disable=SC2086 # name weight idle
	slice_phase $alt
	# shellcheck disable=SC2086
	slice_phase shipped $ship
	# As --policy desktop leaves them once it sees the owner's load: the
	# micro-VMs paused (stopped here), the worker alone in the slice.
	grep -lx sukima-vmm /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3 >/tmp/mons
	busy=0
	[ -s /tmp/mons ] && busy=1
	kill -STOP $(cat /tmp/mons) 2>/dev/null
	# shellcheck disable=SC2086
	set -- $alt
	slice_phase "$1-paused" "$2" "$3"
	# shellcheck disable=SC2086
	slice_phase shipped-paused $ship
	kill -CONT $(cat /tmp/mons) 2>/dev/null
	t0=$(now)
	kill -KILL $hog
	wait $hog 2>/dev/null
	awk -v s="${share_shipped:-0}" 'BEGIN { exit !(s >= 97) }' && ok slice-owner-share ||
		no slice-owner-share "the owner's share with sukima.slice as shipped (CPUWeight=$SHIPPED): ${share_shipped:-none} %, expected >= 97 %"
	bad=
	for id in $(cat /tmp/burn-ids); do
		until_ok 90 sh -c "sukima status '$id' 2>/dev/null | grep -q succeeded" || bad="$bad $id"
	done
	if [ $busy = 0 ]; then
		no slice-calls-done "no call was still running when the owner stopped (the worker was not saturated throughout)"
	elif [ -z "$bad" ] && [ "$(wc -l </tmp/burn-ids)" = $NBURN ]; then
		ok slice-calls-done
		sleep 1.5 # the worker's counters reach the gateway with its membership
		say "slice: $NBURN calls succeeded $(since "$t0") s after the owner stopped; attempts $(for id in $(cat /tmp/burn-ids); do sukima status "$id" | sed -n 's/^attempts: *//p'; done | tr '\n' ' ')redelivered (a lapsed lease's call comes back once it ends) $(($(redeliveries) - ${red0:-0}))"
	else
		no slice-calls-done "not succeeded:$bad ($(wc -l </tmp/burn-ids) calls)" /tmp/w-sl.log
		for id in $bad; do sukima status "$id" 2>&1 | sed 's/^/  | /'; done
	fi
	stop_worker slice-calls-done
else
	no slice "worker not ready" /tmp/w-sl.log
fi
CGIN=
rmdir $W/sukima-* $W $S $U 2>/dev/null

# --- evdev: /dev/input/event*, plugged in while the worker runs ----------
if start_worker b /tmp/w-b.log --slots 1 --mem 64M $POL; then
	for m in $(cat /lib/modules/order.input); do
		insmod /lib/modules/$m || no input-evdev "insmod $m failed"
	done
	for d in /sys/class/input/event*; do
		say "$(basename $d): $(cat $d/device/name)"
	done
	# Rescanned every 10 s.
	if until_ok 30 has /tmp/w-b.log 'policy: watching [1-9][0-9]* input device(s) now'; then
		say "$(grep 'input device(s)' /tmp/w-b.log | sed 's/.* info: //' | tr '\n' ';')"
		input_test input-evdev /tmp/w-b.log mouse
	else
		no input-evdev "the new input devices were not picked up" /tmp/w-b.log
	fi
	stop_worker input-evdev
else
	no input-evdev "worker not ready" /tmp/w-b.log
fi
stop_gateway
# A sanitized build (scripts/test.sh --asan) reports into the logs.
if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' /tmp/*.log >/tmp/san 2>/dev/null; then
	for f in $(cat /tmp/san); do
		no sanitizer "report in $f" "$f"
	done
else
	ok no-sanitizer-report
fi
end
INIT
chmod +x "$R/init" || exit 1
sed -i "s/~INJECT s/~$INJECT_DELAY s/;s/@SLICE_WEIGHT@/$SLICE_WEIGHT/" "$R/init"
vm_cpio "$R" "$T/initrd.cpio" || die "cannot write the initramfs"

# --- boot -------------------------------------------------------------------
vm_line() {
	case $1 in
	'PASS '* | 'FAIL '* | '  | '*) printf '%s\n' "$1" ;;
	'GUESTOS: '*) printf 'guestos: vm: %s\n' "${1#GUESTOS: }" ;;
	'GUESTOS-INJECT '*)
		local kind tag
		read -r _ kind tag <<<"$1"
		sleep "$INJECT_DELAY"
		if /usr/bin/python3 tests/guestos/qmp_input.py "$T/qmp.sock" "$kind" \
			</dev/null; then
			echo "guestos: sent $kind input for $tag"
		else
			echo "guestos: could not send $kind input for $tag"
		fi
		;;
	esac
}
vm_qemu 1
echo "guestos: booting ($(du -m "$T/initrd.cpio" | cut -f1) MiB initramfs)"
start=$(date +%s%N)
: >"$T/console.log"
vm_watch "$IDLE" "$T/console.log" -initrd "$T/initrd.cpio" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1" \
	-qmp "unix:$T/qmp.sock,server=on,wait=off" \
	-device virtio-keyboard-pci -device virtio-mouse-pci
cp "$T/console.log" "$LOG"
ds=$((($(date +%s%N) - start) / 100000000))
echo "guestos: QEMU ran $((ds / 10)).$((ds % 10)) s; console log in $LOG"

# --- verdicts ---------------------------------------------------------------
vpass=$(grep -c '^PASS ' "$T/console.log")
vfail=$(grep -c '^FAIL ' "$T/console.log")
vm_finished guestos GUESTOS-DONE "$T/console.log" || vfail=$((vfail + 1))
finish "$vpass" "$vfail"
