#!/bin/bash
# run.sh: the VMM case table on standard KVM (AMD SVM), inside QEMU.
#
#   tests/stdkvm/run.sh [--keep] [--shell | --cmd 'COMMANDS'] [CASE...]
#
# The machine: Debian's own kernel (scripts/stdkvm-kernel.sh: the package
# linux-image-amd64 depends on, booted as an uncompressed vmlinux through
# QEMU's PVH entry) in `qemu-system-x86_64 -accel tcg -cpu max -m 1024
# -nographic -no-reboot`, one vCPU (STDKVM_SMP=2 runs two cases at a time,
# but was not reliable: see SMP below), console on ttyS0. TCG emulates AMD
# SVM (not VMX), so kvm_amd works inside; TCG runs guests 4-6x slower than
# the host and a VM exit costs ~50 us. The initramfs (cpio newc, raw)
# holds busybox-static, the modules, the static monitor, kvmprobe, the
# guest binaries, the inputs and the expected results; its /init insmods
# irqbypass, ccp, kvm, kvm-amd, checks /dev/kvm, runs every case with its
# own --timeout, prints `PASS name` / `FAIL name: why` and powers off.
#
# Cases: tests/vmm/cases.txt (NAME|BINARY|ARGS|STDIN|EXPECT[|OPTS], the
# format is described in that file) plus kvmprobe (tests/stdkvm/kvmprobe.c),
# which checks that standard KVM itself works there. `native` expectations
# are computed here, on the host: same binary, same argv, env -i, cwd the
# build dir (/b in the VM); when the monitor differs from that, a native
# run inside the VM decides (TCG's CPU lacks AVX-512, ...). Cases that
# cannot run natively but differ on TCG's CPU: tests/stdkvm/tcg-expect.txt.
# tests/stdkvm/cases-warm.txt (warm path) runs after the table.
# A case without --timeout in OPTS gets
# --timeout $STDKVM_CASE_TIMEOUT (90: mmapchurn takes 10-30 s under TCG
# on a loaded box), or 3 when it expects status 124.
#
# Ends with one line `N passed, N failed`; exits non-zero on any failure,
# when the VM did not finish, or when the kernel could not be fetched.
# --keep keeps the initramfs tree; --shell boots to a shell (interactive,
# modules loaded, cases under /t) instead of running the cases; --cmd 'sh
# commands' runs those in /b instead (e.g. time /sukima-vmm guests/x.musl)
# and shows the whole console. CASE names select what goes into the VM.
# Measured on the 2-core development VM, load average 3-4: boot to /init
# 3-4 s; 195 cases in 103 s of QEMU (the three mmapchurn cases 11-12 s
# each), 121 s for the whole script from a clean build, kernel cached.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/stdkvm/vm.sh

B=${SUKIMA_BUILD:-build}
CASES=${STDKVM_CASES:-tests/vmm/cases.txt}
# Ours, same format, after the table: the warm path (--repeat) on this
# flavour, where guest memory is reset under nested paging.
EXTRA=${STDKVM_EXTRA-tests/stdkvm/cases-warm.txt}
INPUTS=tests/vmm/inputs
QUIRKS=tests/stdkvm/tcg-expect.txt
VM_TIMEOUT=${STDKVM_VM_TIMEOUT:-600} # the whole VM, hard (vm.sh)
CASE_TIMEOUT=${STDKVM_CASE_TIMEOUT:-90} # monitor --timeout of a case
SHORT_TIMEOUT=${STDKVM_SHORT_TIMEOUT:-3} # ... of a case expecting 124
NATIVE_TIMEOUT=20
LOG=$B/reports/stdkvm-console.log

keep=0
shell=0
cmd=
want=()
while [ $# -gt 0 ]; do
	a=$1
	shift
	case $a in
	--keep) keep=1 ;;
	--shell) shell=1 ;;
	--cmd)
		cmd=${1:?--cmd needs a shell command}
		shift
		;;
	-h | --help)
		sed -n '2,/^set -u/p' "$0" | sed '$d;s/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $a" >&2
		exit 2
		;;
	*) want+=("$a") ;;
	esac
done

hpass=0 # verdicts given on the host (before the VM)
hfail=0
fail() { # name why
	echo "FAIL $1: $2"
	hfail=$((hfail + 1))
}
finish() { # vm_pass vm_fail
	echo "$(($1 + hpass)) passed, $(($2 + hfail)) failed"
	[ $(($2 + hfail)) -eq 0 ]
	exit
}

# --- the kernel ------------------------------------------------------------
if ! vm_kernel; then
	fail stdkvm-kernel "cannot fetch Debian's kernel (see the line above)"
	finish 0 0
fi

# --- builds -----------------------------------------------------------------
mkdir -p "$B/stdkvm" "$B/reports" || exit 1
vmm_ok=1
VMM=${STDKVM_VMM:-$B/static/sukima-vmm} # STDKVM_VMM: test the runner itself
if [ -n "${STDKVM_VMM:-}" ]; then
	[ -x "$VMM" ] || vmm_ok=0
elif ! make -s O="$B" "$VMM" >"$B/stdkvm/make-vmm.log" 2>&1; then
	vmm_ok=0
	tail -n 5 "$B/stdkvm/make-vmm.log" | sed 's/^/stdkvm: /'
fi
if ! make -s -k O="$B" guests >"$B/stdkvm/make-guests.log" 2>&1; then
	tail -n 5 "$B/stdkvm/make-guests.log" | sed 's/^/stdkvm: /'
	echo "stdkvm: some guests did not build; their cases fail below"
fi
probe_ok=1
if ! gcc -static -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
	-o "$B/stdkvm/kvmprobe" tests/stdkvm/kvmprobe.c; then
	probe_ok=0
fi

T=$(mktemp -d "$B/stdkvm/run.XXXXXX") && T=$(realpath "$T") || exit 1
cleanup() {
	vm_stop
	[ $keep -eq 1 ] || rm -rf "$T"
}
trap cleanup EXIT
R=$T/root
vm_root "$R" && mkdir -p "$R"/{b,t/c,t/in} || exit 1

# --- cases ------------------------------------------------------------------
n=0
names=()
# Files of case NNN in the initramfs: name kind bin args stdin rc [exp]
# [sub] [osub] timeout, read by /init.
add_case() { # name kind vmbin args vmstdin rc timeout -> sets $cdir
	n=$((n + 1))
	cdir=$R/t/c/$(printf %04d $n)
	mkdir -p "$cdir"
	printf '%s' "$1" >"$cdir/name"
	printf '%s' "$2" >"$cdir/kind"
	printf '%s' "$3" >"$cdir/bin"
	printf '%s' "$4" >"$cdir/args"
	printf '%s' "$5" >"$cdir/stdin"
	printf '%s' "$6" >"$cdir/rc"
	printf '%s' "$7" >"$cdir/timeout"
	names+=("$1")
}
wanted() {
	[ ${#want[@]} -eq 0 ] && return 0
	local w
	for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}

if [ $probe_ok -eq 1 ]; then
	cp "$B/stdkvm/kvmprobe" "$R/kvmprobe"
	add_case kvmprobe direct /kvmprobe "" /dev/null 0 30
	printf '%s' "kvmprobe: ok" >"$cdir/osub"
else
	fail kvmprobe "tests/stdkvm/kvmprobe.c did not build"
fi

declare -A seen=()
found=()
# Where this machine's CPU (QEMU TCG) rightly gives another result than the
# host's, for a case that cannot be run natively to find out.
declare -A quirk=()
if [ -f "$QUIRKS" ]; then
	while IFS='|' read -r qn qe _; do
		case $qn in '' | '#'*) continue ;; esac
		quirk[$qn]=$qe
	done <"$QUIRKS"
fi
[ -f "$CASES" ] || echo "stdkvm: no $CASES yet"
for table in "$CASES" $EXTRA; do
	[ -f "$table" ] || continue
	lineno=0
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		case $line in '' | '#'*) continue ;; esac
		IFS='|' read -r name bin args stdin expect opts <<<"$line"
		wanted "$name" || continue
		found+=("$name")
		if [ -z "$name" ] || [ -z "$bin" ] || [ -z "${expect:-}" ] ||
			[[ ${opts:-} == *'|'* ]]; then
			fail "${name:-line$lineno}" "$table:$lineno: malformed line"
			continue
		fi
		if [ -n "${seen[$name]:-}" ]; then
			fail "$name" "$table:$lineno: duplicate case name"
			continue
		fi
		seen[$name]=1
		if [ -n "${quirk[$name]:-}" ]; then
			echo "stdkvm: $name: expecting ${quirk[$name]} here, not $expect (see $QUIRKS)"
			expect=${quirk[$name]}
		fi
		if [ $vmm_ok -eq 0 ]; then
			fail "$name" "$VMM did not build"
			continue
		fi
		# EXPECT: native | status:N[,N...][:stderr~SUBSTRING]
		sub=
		if [ "$expect" = native ]; then
			mode=native
		elif [[ $expect =~ ^status:([0-9]+(,[0-9]+)*)(:stderr~(.*))?$ ]]; then
			mode=status
			want_rc=${BASH_REMATCH[1]}
			sub=${BASH_REMATCH[4]}
		else
			fail "$name" "$table:$lineno: bad EXPECT '$expect'"
			continue
		fi
		# The binary: relative to the build dir (cwd /b in the VM) or
		# absolute (the same path in the VM).
		if [[ $bin == /* ]]; then
			hbin=$bin
			vbin=$bin
			dest=$R$bin
		else
			hbin=$B/$bin
			vbin=$bin
			dest=$R/b/$bin
		fi
		if [ -f "$hbin" ]; then
			if [ ! -e "$dest" ]; then
				mkdir -p "$(dirname "$dest")" && cp -L "$hbin" "$dest" ||
					{ fail "$name" "cannot copy $hbin"; continue; }
			fi
		elif [ "$mode" != status ] || [ "$want_rc" != 127 ]; then
			fail "$name" "binary $hbin not built"
			continue
		fi
		# STDIN: a file under $INPUTS (or a path from the top), or none.
		hin=/dev/null
		vin=/dev/null
		if [ -n "$stdin" ]; then
			if [ -f "$INPUTS/$stdin" ]; then
				hin=$INPUTS/$stdin
			elif [ -f "$stdin" ]; then
				hin=$stdin
			else
				fail "$name" "input $stdin not found under $INPUTS"
				continue
			fi
			vin=/t/in/$(printf %04d $((n + 1)))
			cp "$hin" "$R$vin" || { fail "$name" "cannot copy $hin"; continue; }
		fi
		if [ "$mode" = native ]; then
			read -ra argv <<<"$args"
			habs=$(realpath "$hin")
			(cd "$B" && timeout -k 2 $NATIVE_TIMEOUT env -i "$bin" "${argv[@]}" \
				<"$habs" >"$T/native.out" 2>/dev/null)
			want_rc=$?
			if [ $want_rc -eq 124 ] || [ $want_rc -eq 137 ]; then
				fail "$name" "the native run timed out"
				continue
			fi
		fi
		# OPTS (sixth field) go before BINARY; without a --timeout there
		# the case gets ours, scaled for TCG (short when 124 is expected).
		read -ra o <<<"${opts:-}"
		tmo=
		for ((i = 0; i < ${#o[@]}; i++)); do
			[ "${o[i]}" = --timeout ] && tmo=${o[i + 1]:-}
		done
		if [ -z "$tmo" ]; then
			tmo=$CASE_TIMEOUT
			[ "$want_rc" = 124 ] && tmo=$SHORT_TIMEOUT
			o+=(--timeout "$tmo")
		fi
		tmo=${tmo%%.*} # the outer kill timer wants whole seconds
		[[ $tmo =~ ^[0-9]+$ ]] || tmo=$CASE_TIMEOUT
		add_case "$name" vmm "$vbin" "$args" "$vin" "$want_rc" "$tmo"
		printf '%s' "${o[*]}" >"$cdir/opts"
		[ "$mode" = native ] && mv "$T/native.out" "$cdir/exp"
		[ -n "$sub" ] && printf '%s' "$sub" >"$cdir/sub"
	done <"$table"
done
for w in "${want[@]}"; do
	[ "$w" = kvmprobe ] && continue
	[[ " ${found[*]} " == *" $w "* ]] || fail "$w" "no such case in $CASES $EXTRA"
done
[ $vmm_ok -eq 1 ] && cp "$VMM" "$R/sukima-vmm"

# --- /init ------------------------------------------------------------------
cat >"$R/init" <<'INIT'
#!/bin/busybox sh
# init of the standard-KVM test machine, written by tests/stdkvm/run.sh.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
read -r up _ </proc/uptime
echo # the firmware's last line has no newline
echo "STDKVM: init at $up s"
ok=1
for m in $(cat /lib/modules/order); do
	if ! out=$(insmod /lib/modules/$m 2>&1); then
		echo "STDKVM: insmod $m: $out"
		ok=0
		break
	fi
done
if [ $ok = 1 ] && [ ! -c /dev/kvm ]; then
	echo "STDKVM: no /dev/kvm after loading the modules"
	ok=0
fi
if [ -f /t/cmd ]; then
	cd /b && sh /t/cmd
	echo "STDKVM: --cmd exited with status $?"
	poweroff -f
fi
if grep -q sukima.shell /proc/cmdline; then
	echo "STDKVM: shell; cases under /t/c, binaries under /b; exit powers off"
	setsid cttyhack sh
	poweroff -f
fi
list=$(echo /t/c/*)
set -f # ARGS are split on blanks, never globbed
cd /b
# One worker per vCPU, each taking every nw-th case; each keeps its own
# counts and scratch files. Case files are read with the shell's own read:
# a fork costs ~10 ms here.
nw=$(grep -c ^processor /proc/cpuinfo)
worker() { # w: 0 .. nw-1
	w=$1
	i=0
	pass=0
	fail=0
	for d in $list; do
		i=$((i + 1))
		[ $(((i - 1) % nw)) = "$w" ] || continue
		for f in name kind bin args stdin rc timeout opts sub osub; do
			eval "$f="
			[ -f $d/$f ] && IFS= read -r $f <$d/$f
		done
		if [ $ok = 0 ]; then
			echo "FAIL $name: no standard KVM in the VM (see above)"
			fail=$((fail + 1))
			continue
		fi
		read -r t0 _ </proc/uptime
		if [ "$kind" = direct ]; then
			timeout -s KILL $((timeout + 15)) $bin $args \
				<$stdin >/tmp/out.$w 2>/tmp/err.$w
		else
			timeout -s KILL $((timeout + 15)) /sukima-vmm $opts $bin $args \
				<$stdin >/tmp/out.$w 2>/tmp/err.$w
		fi
		got=$?
		read -r t1 _ </proc/uptime
		echo "TIME $name $t0 $t1"
		why=
		diff=0
		if [ -f $d/exp ]; then
			# A native case. The reference is the host's native run; when
			# the monitor differs from it, the same binary run natively in
			# this VM decides, since TCG's CPU is not the host's (no
			# AVX-512, icebp is #UD, ...): equal to that is correct here.
			if [ "$got" != "$rc" ] || ! cmp -s /tmp/out.$w $d/exp; then
				timeout -s KILL $((timeout + 15)) env -i $bin $args \
					<$stdin >/tmp/nout.$w 2>/dev/null
				nrc=$?
				if [ "$got" = "$nrc" ] && cmp -s /tmp/out.$w /tmp/nout.$w; then
					echo "STDKVM: $name: equals the native run in this VM, not the host's (other CPU)"
				elif [ "$got" != "$rc" ]; then
					why="status $got, expected $rc (native on the host; $nrc natively in this VM)"
				else
					why="stdout differs from the native run ($(wc -c </tmp/out.$w) bytes, expected $(wc -c <$d/exp))"
					diff=1
				fi
			fi
		else
			case ",$rc," in
			*",$got,"*) ;;
			*)
				why="status $got, expected $rc"
				[ "$got" = 137 ] && why="$why (killed: the monitor outlived its timeout by 15 s)"
				;;
			esac
		fi
		# The monitor's contract: one "sukima: " line when it ended the
		# function (status >= 120), none otherwise; a native case may exit
		# with >= 120 by itself (as tests/vmm/test_cases.py).
		if [ -z "$why" ] && [ "$kind" = vmm ]; then
			nl=$(grep -c '^sukima: ' /tmp/err.$w)
			if [ -f $d/exp ] && [ "$got" -ge 120 ]; then
				:
			elif [ "$got" -ge 120 ] && [ "$nl" != 1 ]; then
				why="status $got with $nl 'sukima: ' lines on stderr, expected 1"
			elif [ "$got" -lt 120 ] && [ "$nl" != 0 ]; then
				why="status $got but the monitor printed $nl 'sukima: ' lines"
			fi
		fi
		if [ -z "$why" ] && [ -n "$sub" ] && ! grep -qF -- "$sub" /tmp/err.$w; then
			why="stderr lacks '$sub'"
		fi
		if [ -z "$why" ] && [ -n "$osub" ] && ! grep -qF -- "$osub" /tmp/out.$w; then
			why="stdout lacks '$osub'"
		fi
		if [ "$kind" = direct ]; then
			IFS= read -r line </tmp/out.$w
			echo "STDKVM: $line"
		fi
		if [ -z "$why" ]; then
			echo "PASS $name"
			pass=$((pass + 1))
		else
			echo "FAIL $name: $why"
			head -c 2000 /tmp/err.$w | head -n 6 | sed 's/^/  | /'
			if [ $diff = 1 ]; then
				cmp $d/exp /tmp/out.$w 2>&1 | sed 's/^/  | /'
				diff $d/exp /tmp/out.$w | grep '^[-+][^-+]' | head -n 8 |
					cut -c1-160 | sed 's/^/  | /'
			fi
			fail=$((fail + 1))
		fi
	done
	echo "$pass $fail" >/tmp/count.$w
}
k=0
while [ $k -lt "$nw" ]; do
	worker $k &
	k=$((k + 1))
done
wait
pass=0
fail=0
for c in /tmp/count.*; do
	read -r p f <$c
	pass=$((pass + p))
	fail=$((fail + f))
done
read -r up _ </proc/uptime
echo "STDKVM: done at $up s"
echo "STDKVM-DONE $pass passed, $fail failed"
poweroff -f
INIT
chmod +x "$R/init" || exit 1
vm_cpio "$R" "$T/initrd.cpio" ||
	{
		fail stdkvm "cannot write the initramfs"
		finish 0 0
	}

# --- boot -------------------------------------------------------------------
# vCPUs = cases run at once. Keep 1: with 2 (multi-threaded TCG, two
# nested VMs at once) the guest kernel panicked once ("corrupted stack end
# detected inside scheduler" in kvm_destroy_vm) and hung once in 4 runs.
SMP=${STDKVM_SMP:-1}
vm_qemu "$SMP"
qemu=("${VM_QEMU[@]}" -initrd "$T/initrd.cpio")
append="console=ttyS0 quiet loglevel=3 panic=-1"
if [ $shell -eq 1 ]; then
	"${qemu[@]}" -append "$append sukima.shell=1"
	exit
fi
if [ -n "$cmd" ]; then
	printf '%s\n' "$cmd" >"$R/t/cmd"
	vm_cpio "$R" "$T/initrd.cpio" || exit 1
	timeout -k 5 "$VM_TIMEOUT" "${qemu[@]}" -append "$append" </dev/null 2>&1 |
		tr -d '\r' | sed -n '/^STDKVM: init at/,$p'
	exit
fi
echo "stdkvm: booting with ${#names[@]} cases ($(du -m "$T/initrd.cpio" | cut -f1) MiB initramfs)"
start=$(date +%s%N)
# The verdicts are read from this run's own log (two runs may overlap);
# the last one is copied to $LOG for people. A VM silent for longer than
# any case may take (a hung guest kernel) is stopped then, not at
# $VM_TIMEOUT.
IDLE=$((CASE_TIMEOUT + 60))
vm_line() {
	case $1 in
	'PASS '* | 'FAIL '* | '  | '*) printf '%s\n' "$1" ;;
	'STDKVM: '*) printf 'stdkvm: vm: %s\n' "${1#STDKVM: }" ;;
	esac
}
: >"$T/console.log"
vm_watch "$IDLE" "$T/console.log" -initrd "$T/initrd.cpio" -append "$append"
cp "$T/console.log" "$LOG"
ds=$((($(date +%s%N) - start) / 100000000))
echo "stdkvm: QEMU ran $((ds / 10)).$((ds % 10)) s; console log in $LOG"

# --- verdicts ---------------------------------------------------------------
vpass=0
vfail=0
for name in "${names[@]}"; do
	if grep -qxF "PASS $name" "$T/console.log"; then
		vpass=$((vpass + 1))
	elif grep -qF "FAIL $name: " "$T/console.log"; then
		vfail=$((vfail + 1))
	else
		echo "FAIL $name: no result (the VM did not finish)"
		vfail=$((vfail + 1))
	fi
done
vm_finished stdkvm STDKVM-DONE "$T/console.log" || vfail=$((vfail + 1))
finish $vpass $vfail
