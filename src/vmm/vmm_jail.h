/* vmm_jail.h: the monitor's jail (idle priority, namespaces, empty root, rlimits, seccomp). */
#ifndef SUKIMA_VMM_JAIL_H
#define SUKIMA_VMM_JAIL_H

#include <stddef.h>
#include <stdint.h>

/* Scheduling class of the monitor and its vCPU threads. */
enum vmm_jail_prio {
	VMM_JAIL_PRIO_IDLE =
		0,	      /* SCHED_IDLE + nice 19: the owner always wins */
	VMM_JAIL_PRIO_NORMAL, /* untouched (benchmarks: --priority normal) */
};

/* Flags of struct vmm_jail_cfg. */
#define VMM_JAIL_F_THREADS 0x1u /* pthread_create() stays possible */

/* Steps that took effect (bits of vmm_jail_applied()). */
#define VMM_JAIL_DID_PRIO    0x001u /* SCHED_IDLE and nice 19 */
#define VMM_JAIL_DID_NNP     0x002u /* PR_SET_NO_NEW_PRIVS */
#define VMM_JAIL_DID_USERNS  0x004u /* a user namespace (not root) */
#define VMM_JAIL_DID_NS	     0x008u /* mount, network, IPC, UTS namespaces */
#define VMM_JAIL_DID_ROOT    0x010u /* root is an empty read-only tmpfs */
#define VMM_JAIL_DID_CAPS    0x020u /* every capability dropped */
#define VMM_JAIL_DID_FDS     0x040u /* every other descriptor closed */
#define VMM_JAIL_DID_RLIMITS 0x080u /* NOFILE, FSIZE, CORE, NPROC, AS */
#define VMM_JAIL_DID_SECCOMP 0x100u /* the seccomp filter */

/*
 * What the jailed monitor may still do.  Every descriptor not named in one
 * of the lists is closed; a descriptor may appear in several lists.
 */
struct vmm_jail_cfg {
	enum vmm_jail_prio prio;
	unsigned flags;	    /* VMM_JAIL_F_* */
	const int *kvm_fds; /* VM and vCPU descriptors: run-path ioctls */
	size_t n_kvm_fds;
	const int *in_fds; /* read/readv allowed (stdin, a socket) */
	size_t n_in_fds;
	const int *out_fds; /* write/writev allowed (stdout, stderr) */
	size_t n_out_fds;
	const int *keep_fds; /* kept open, nothing but close() allowed */
	size_t n_keep_fds;
	uint64_t as_limit; /* RLIMIT_AS in bytes; 0 leaves it alone */
	const char *netns; /* an empty network namespace to join (a file
				 such as /run/netns/NAME), or NULL: a new one */
	int ns_pid;	   /* a template process whose mount, network, IPC
			      and UTS namespaces to join, or 0 (below) */
};

/*
 * Jail the calling process (cfg), in this order: idle priority unless
 * cfg->prio says otherwise; no_new_privs; new mount, network, IPC and UTS
 * namespaces (with a user namespace first when not root); pivot into an
 * empty read-only tmpfs; drop every capability; close every descriptor not listed in (cfg); lower
 * the rlimits; load the seccomp filter, whose default action kills the
 * process (SIGSYS).  Namespaces and the empty root are skipped when the
 * kernel refuses them (no privilege, user namespaces disabled); priority
 * failures are ignored too.  docs/security.md ("The monitor's jail") has
 * the filter.
 *
 * With cfg->ns_pid (root only), the namespaces and the empty root are not
 * made but joined: setns() into the mount, network, IPC and UTS
 * namespaces of that process, whose root must be an empty read-only tmpfs
 * (checked; otherwise it is ignored).  The worker keeps one such template
 * for all its monitors: ~0.2 ms less per cold start, no namespace
 * teardown per monitor.  Sharing them gives monitors no channel: the
 * filter forbids every IPC, network, hostname and file call.
 *
 * Must be called once, after the VM, its vCPUs and guest memory exist and
 * before the first KVM_RUN, while the process has a single thread (threads
 * created later inherit the priority and the filter; VMM_JAIL_F_THREADS
 * lets them be created).  The descriptors not listed are closed behind the
 * caller's back: forget them.
 *
 * Returns 0, or -errno when a step that cannot be skipped failed
 * (no_new_privs, capabilities, rlimits, the filter): the caller must not run the guest.
 */
int vmm_jail_enter(const struct vmm_jail_cfg *cfg);

/*
 * Find descriptors whose /proc/self/fd link starts with (prefix), e.g.
 * "anon_inode:kvm-vcpu" or "anon_inode:kvm-vm", so the caller needs no
 * backend internals.  Descriptors are probed upwards from 0 and the scan
 * stops after 32 closed ones in a row (the monitor's are allocated lowest
 * first).  Fills up to (max) into (fds); returns how many.  Before the
 * jail only (it reads /proc links; it opens nothing).
 */
int vmm_jail_find_fds(const char *prefix, int *fds, size_t max);

/*
 * The monitor's one call (main.c): when (jail) is 0 only the priority is
 * applied (--no-jail); otherwise vmm_jail_enter() with the vCPU descriptors
 * (ioctls) and VM descriptors (kept) found by vmm_jail_find_fds(), (in_fd)
 * readable, (out_fds) writable (negative entries ignored), RLIMIT_AS at
 * what is mapped now (guest memory in all its views) + 3 x (max_output),
 * the most the warm path buffers, + VMM_JAIL_AS_OVERHEAD, and the network
 * namespace named by $SUKIMA_JAIL_NETNS, or all the namespaces of the
 * template process $SUKIMA_JAIL_NSPID, when set (both kept by the worker).
 * Same preconditions and returns as vmm_jail_enter().
 */
int vmm_jail_monitor(int jail, enum vmm_jail_prio prio, int in_fd,
		     const int *out_fds, size_t n_out_fds, uint64_t mem_bytes,
		     uint64_t max_output);

/* Address space a monitor may map after its jail beyond its output
 * buffers (allocations, a request of --serve up to 64 MiB). */
#define VMM_JAIL_AS_OVERHEAD (256ull << 20)

/* VMM_JAIL_DID_* bits of the steps the last vmm_jail_enter() applied. */
unsigned vmm_jail_applied(void);

/*
 * Write a one-line, space-separated list of the applied steps (mask) into
 * (buf, len), e.g. "prio nnp ns root caps fds rlimits seccomp".  Returns (buf).
 */
const char *vmm_jail_describe(unsigned mask, char *buf, size_t len);

#endif
