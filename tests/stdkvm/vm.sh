# vm.sh: what the QEMU test machines share (tests/stdkvm/run.sh,
# tests/guestos/run.sh): Debian's kernel, the initramfs skeleton, QEMU's
# command line and a bounded watch of its console. Sourced, not run.
#
#   vm_kernel                 fetch or check the kernel (0, or 1 + a line)
#   vm_root DIR               busybox-static, the modules, empty mount points
#   vm_cpio DIR FILE          DIR as an initramfs (cpio newc, owned by root)
#   vm_qemu SMP               sets VM_QEMU: the command line without -append
#   vm_watch IDLE LOG ARGS... runs "${VM_QEMU[@]}" ARGS under timeout(1),
#                             calls vm_line LINE for every console line (the
#                             caller defines it), appends each to LOG; stops
#                             QEMU when it prints nothing for IDLE s. Sets
#                             vm_stalled (1: stopped so) and vm_qrc.
#   vm_finished NAME MARK LOG 0 when LOG has a line starting "MARK " (the
#                             guest's last); else says why not, after
#                             vm_watch, as "FAIL NAME: ..." lines plus the
#                             console's tail, and returns 1
#   vm_stop                   kills a QEMU still running (for EXIT traps)
# VM_TIMEOUT bounds a whole run (default 600 s).
# shellcheck shell=bash disable=SC2034 # vm_stalled, vm_qrc are for callers

VM_CACHE=${SUKIMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sukima}/stdkvm
VM_TIMEOUT=${VM_TIMEOUT:-600}
vm_qpid=

vm_kernel() {
	scripts/stdkvm-kernel.sh
}

vm_root() { # dir
	mkdir -p "$1"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,lib/modules} &&
		cp /bin/busybox "$1/bin/busybox" &&
		cp "$VM_CACHE"/modules/*.ko "$VM_CACHE"/modules/order* "$1/lib/modules/"
}

vm_cpio() { # dir file
	local out
	out=$(realpath -m "$2") || return 1
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet >"$out")
}

vm_qemu() { # smp
	# shellcheck disable=SC2054 # commas inside QEMU's own options
	VM_QEMU=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 1024
		-smp "$1" -nographic -nic none -no-reboot
		-kernel "$VM_CACHE/vmlinux")
}

vm_stop() {
	# timeout(1) passes the signal on to QEMU, and is killed after 5 s.
	[ -n "$vm_qpid" ] && kill "$vm_qpid" 2>/dev/null
	vm_qpid=
}

vm_watch() { # idle log qemu-args...
	local idle=$1 log=$2 fifo line rc pid
	shift 2
	vm_idle=$idle
	fifo=$(mktemp -u "${log}.fifo.XXXXXX")
	mkfifo "$fifo" || return 1
	timeout -k 5 "$VM_TIMEOUT" "${VM_QEMU[@]}" "$@" </dev/null >"$fifo" 2>&1 &
	pid=$!
	vm_qpid=$pid
	vm_stalled=0
	while :; do
		IFS= read -r -t "$idle" line
		rc=$?
		if [ $rc -gt 128 ]; then
			vm_stalled=1
			vm_stop
			break
		fi
		[ $rc -ne 0 ] && [ -z "$line" ] && break
		line=${line//$'\r'/}
		printf '%s\n' "$line" >>"$log"
		vm_line "$line"
		[ $rc -ne 0 ] && break
	done <"$fifo"
	wait "$pid"
	vm_qrc=$?
	vm_qpid=
	rm -f "$fifo"
}

vm_finished() { # name marker log
	local name=$1 marker=$2 log=$3
	grep -q "^$marker " "$log" && return 0
	if [ "$vm_stalled" -eq 1 ]; then
		echo "FAIL $name: the VM printed nothing for $vm_idle s and was stopped"
	elif [ "$vm_qrc" -eq 124 ] || [ "$vm_qrc" -eq 137 ]; then
		echo "FAIL $name: the VM was killed after $VM_TIMEOUT s"
	else
		echo "FAIL $name: the VM stopped before its last line (QEMU status $vm_qrc)"
	fi
	grep -m 1 -E 'Kernel panic|BUG:|Oops' "$log" | sed 's/^/  guest kernel: /'
	tail -n 15 "$log" | sed 's/^/  | /'
	return 1
}
