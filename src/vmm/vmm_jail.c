/* vmm_jail.c: the monitor's jail (idle priority, namespaces, empty root, rlimits, seccomp). */
#include "vmm/vmm_jail.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <termios.h>

#ifdef VMM_JAIL_TEST_HOOK
#include <signal.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define VMM_JAIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMM_JAIL_ASAN 1
#endif
#endif

static unsigned jail_applied;

/*
 * The KVM requests the run path issues after the jail, on vCPU descriptors
 * only (strace -f of every case in tests/vmm/cases.txt; docs/security.md):
 * KVM_RUN, the segment registers for a fault's CR2, the FS base MSR for
 * arch_prctl.  Registers travel through kvm_run's sync area, not ioctls.
 * Creating VMs, vCPUs or memory slots, and every /dev/kvm system request,
 * happen before the jail and are refused after it.
 */
static const unsigned long jail_kvm_reqs[] = {
	KVM_RUN,
	KVM_GET_SREGS,
	KVM_SET_MSRS,
	/* the warm path (vmm_warm.c): the vCPU's vector and XCR state is
	 * saved at the snapshot and put back before every invocation */
	KVM_GET_XSAVE,
	KVM_SET_XSAVE,
	KVM_GET_XCRS,
	KVM_SET_XCRS,
};

/* madvise(): what guest-memory reset and glibc's free() use; never
 * HWPOISON, SOFT_OFFLINE or the like, which a root monitor could use
 * against host pages. */
static const int jail_madvise_ok[] = {
	MADV_DONTNEED,
#ifdef VMM_JAIL_ASAN
	MADV_NOHUGEPAGE, MADV_HUGEPAGE, MADV_DONTDUMP, MADV_FREE,
#endif
};

/*
 * Memory (libc's allocator may need any of these, depending on sizes),
 * the deadline timer and its signal, the emulated clocks, sleeps and
 * randomness, descriptor teardown, exit; pausing (vmm_pause_init) reads
 * the timer's time left and waits in rt_sigsuspend.  None of them names a
 * host object.
 */
static const int jail_plain_syscalls[] = {
	SCMP_SYS(brk),		 SCMP_SYS(munmap),
	SCMP_SYS(mremap),	 SCMP_SYS(close),
	SCMP_SYS(rt_sigaction),	 SCMP_SYS(rt_sigreturn),
	SCMP_SYS(timer_create),	 SCMP_SYS(timer_settime),
	SCMP_SYS(timer_delete),	 SCMP_SYS(gettid),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(getrandom),	 SCMP_SYS(exit_group),
	SCMP_SYS(timer_gettime), SCMP_SYS(rt_sigsuspend),
};

/* Thread creation and what threads do to start, wait and end. */
static const int jail_thread_syscalls[] = {
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(futex),	   SCMP_SYS(exit), SCMP_SYS(sched_yield),
};

#ifdef VMM_JAIL_ASAN
/*
 * Sanitizer builds: the runtime's exit path and its error reports need a
 * few more calls.  Its stack bookkeeping gets them; its file lookups
 * (/proc/self/maps, the symbolizer) fail soft instead of killing the
 * report halfway.  Leak checking needs ptrace and a clone that the filter
 * kills: a jailed monitor skips it (run with --no-jail to check leaks).
 */
static const int jail_asan_allow[] = {
	SCMP_SYS(sigaltstack),	     SCMP_SYS(getpid), SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(futex),
};
static const int jail_asan_eacces[] = {
	SCMP_SYS(open),	      SCMP_SYS(openat),	   SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(stat),	   SCMP_SYS(newfstatat),
	SCMP_SYS(access),     SCMP_SYS(faccessat), SCMP_SYS(pipe),
	SCMP_SYS(pipe2),
};

int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return jail_applied & VMM_JAIL_DID_SECCOMP ? 1 : 0;
}
#endif

unsigned vmm_jail_applied(void)
{
	return jail_applied;
}

const char *vmm_jail_describe(unsigned mask, char *buf, size_t len)
{
	static const char *const names[] = {
		"prio", "nnp", "userns",  "ns",	     "root",
		"caps", "fds", "rlimits", "seccomp",
	};
	size_t i, off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n;

		if (!(mask & (1u << i)))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? " " : "",
			     names[i]);
		if (n < 0 || (size_t)n >= len - off) {
			buf[off] = '\0'; /* whole words only */
			break;
		}
		off += (size_t)n;
	}
	return buf;
}

/*
 * SCHED_IDLE and nice 19 on the calling thread; Linux keeps both per
 * thread and threads created later inherit them.  Lowering one's own
 * priority needs no privilege; should a kernel or container still refuse,
 * the jail goes on (the cgroup set by the worker is the second line).
 */
static int jail_prio(void)
{
	struct sched_param sp = {.sched_priority = 0};
	int ok = 1;

	if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0)
		ok = 0;
	if (setpriority(PRIO_PROCESS, 0, 19) < 0)
		ok = 0;
	return ok;
}

/*
 * Mount, network, IPC and UTS namespaces.  Root enters them directly; an
 * unprivileged monitor (or root without CAP_SYS_ADMIN, in a container)
 * creates a user namespace in the same call, which the kernel creates
 * first.  No PID namespace: unshare(CLONE_NEWPID) moves only children, and
 * the filter forbids the monitor to create any; forking once to enter one
 * would cost a process per micro-VM and buy nothing the filter does not
 * already give (kill, ptrace and /proc are unreachable).
 * Returns the VMM_JAIL_DID_* bits obtained, 0 when the kernel refused.
 */
static unsigned jail_namespaces(const char *netns)
{
	const int ns = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	unsigned did = 0;
	int fd = -1;

	/* A new network namespace costs ~0.5 ms to create and more to
	 * destroy (in a kernel worker, at normal priority): joining one
	 * empty namespace that the worker keeps costs ~10 us. */
	if (netns && geteuid() == 0)
		fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (geteuid() == 0 && unshare(ns | (fd < 0 ? CLONE_NEWNET : 0)) == 0)
		did = VMM_JAIL_DID_NS;
	else if (unshare(CLONE_NEWUSER | ns | CLONE_NEWNET) == 0)
		did = VMM_JAIL_DID_NS | VMM_JAIL_DID_USERNS;
	if (fd >= 0 && did == VMM_JAIL_DID_NS && setns(fd, CLONE_NEWNET) < 0) {
		/* Not a network namespace: make one.  Should even that
		 * fail, mount, IPC and UTS are private and the filter
		 * forbids every socket call anyway. */
		(void)unshare(CLONE_NEWNET);
	}
	if (fd >= 0)
		close(fd);
	return did;
}

/*
 * Join the template process (pid): its root must be an empty read-only
 * tmpfs (one inode at most), or it is no template and is ignored.  The
 * pidfd pins the process checked: if it dies and its pid is reused, setns
 * fails.  Joining a mount namespace also moves root and cwd to its root.
 */
static unsigned jail_join(int pid)
{
	char path[48];
	struct statfs sf;
	unsigned did = 0;
	int pfd;

	if (pid <= 0 || geteuid() != 0)
		return 0;
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/root/", pid);
	if (statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
	    (sf.f_flags & ST_RDONLY) && sf.f_files <= 1 &&
	    setns(pfd, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
			       CLONE_NEWUTS) == 0)
		did = VMM_JAIL_DID_NS | VMM_JAIL_DID_ROOT;
	close(pfd);
	return did;
}

/*
 * Make an empty, read-only tmpfs the root and the working directory, so no
 * host path resolves any more.  The tmpfs is mounted over some directory
 * that exists (any will do: it is our private mount namespace), then
 * pivot_root(".", ".") stacks the old root on it and the detach drops the
 * old root.  An initramfs root cannot be pivoted (EINVAL): there chroot
 * into the tmpfs, which the filter makes final (no chroot, mount, openat).
 */
static int jail_root(void)
{
	static const char *const mnt[] = {"/tmp", "/mnt", "/proc",
					  "/dev", "/run", "/var"};
	const unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	size_t i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	for (i = 0; i < sizeof(mnt) / sizeof(mnt[0]); i++) {
		if (mount("sukima-jail", mnt[i], "tmpfs", fl,
			  "size=4k,nr_inodes=1,mode=0555") == 0)
			break;
	}
	if (i == sizeof(mnt) / sizeof(mnt[0]))
		return -ENOENT;
	if (chdir(mnt[i]) < 0)
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return -errno;
	} else if (errno != EINVAL || chroot(".") < 0) {
		return -errno;
	}
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | fl, NULL) < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	return 0;
}

/*
 * Drop every capability (a root monitor keeps its uid, not its powers).
 * Needs no privilege; the raw call avoids a libcap dependency.
 */
static int jail_caps(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static size_t add_fds(int *set, size_t n, size_t max, const int *fds,
		      size_t nfds)
{
	size_t i;

	for (i = 0; i < nfds && n < max; i++) {
		if (fds[i] >= 0)
			set[n++] = fds[i];
	}
	return n;
}

/* Close every descriptor the caller did not name; the highest kept in *top. */
static int jail_close_fds(const struct vmm_jail_cfg *cfg, int *top)
{
	enum { MAXKEEP = 256 };
	int keep[MAXKEEP];
	size_t n = 0, i;
	unsigned lo = 0;

	n = add_fds(keep, n, MAXKEEP, cfg->kvm_fds, cfg->n_kvm_fds);
	n = add_fds(keep, n, MAXKEEP, cfg->in_fds, cfg->n_in_fds);
	n = add_fds(keep, n, MAXKEEP, cfg->out_fds, cfg->n_out_fds);
	n = add_fds(keep, n, MAXKEEP, cfg->keep_fds, cfg->n_keep_fds);
	if (n == MAXKEEP)
		return -E2BIG;
	qsort(keep, n, sizeof(keep[0]), cmp_int);
	*top = n ? keep[n - 1] : -1;
	for (i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] : ~0u;

		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0) {
			/* Before Linux 5.9: close one by one, up to NOFILE. */
			struct rlimit rl;
			unsigned fd;

			if (errno != ENOSYS || getrlimit(RLIMIT_NOFILE, &rl))
				return -errno;
			for (fd = lo; fd < hi && fd < rl.rlim_cur; fd++)
				close((int)fd);
		}
		if (i < n)
			lo = (unsigned)keep[i] + 1;
	}
	return 0;
}

static int set_limit(int res, rlim_t v)
{
	struct rlimit rl = {.rlim_cur = v, .rlim_max = v};

	return setrlimit(res, &rl) < 0 ? -errno : 0;
}

/* True when some output descriptor is a regular file (RLIMIT_FSIZE bites). */
static int out_to_file(const struct vmm_jail_cfg *cfg)
{
	struct stat st;
	size_t i;

	for (i = 0; i < cfg->n_out_fds; i++) {
		if (fstat(cfg->out_fds[i], &st) == 0 && S_ISREG(st.st_mode))
			return 1;
	}
	return 0;
}

/*
 * NOFILE to what is open (no new descriptor can appear), CORE 0 (guest
 * memory never lands on disk), FSIZE 0 unless our output is a regular
 * file, NPROC 0 unless threads are wanted (not enforced for root; the
 * filter is), AS to cfg->as_limit (not under ASan, whose shadow
 * reservations would trip it).
 */
static int jail_rlimits(const struct vmm_jail_cfg *cfg, int top)
{
	int rc;

	if ((rc = set_limit(RLIMIT_NOFILE, (rlim_t)(top + 1))) ||
	    (rc = set_limit(RLIMIT_CORE, 0)))
		return rc;
	if (!out_to_file(cfg) && (rc = set_limit(RLIMIT_FSIZE, 0)))
		return rc;
	if (!(cfg->flags & VMM_JAIL_F_THREADS) &&
	    (rc = set_limit(RLIMIT_NPROC, 0)))
		return rc;
#ifndef VMM_JAIL_ASAN
	if (cfg->as_limit && (rc = set_limit(RLIMIT_AS, (rlim_t)cfg->as_limit)))
		return rc;
#endif
	return 0;
}

/* Allow (sys) when its first argument, a descriptor, is one of (fds). */
static int allow_on_fds(scmp_filter_ctx ctx, int sys, const int *fds, size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		/* The kernel reads descriptors as unsigned int: compare
		 * the low 32 bits only, as it does. */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys, 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					      (scmp_datum_t)fds[i]));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int jail_filter_rules(scmp_filter_ctx ctx,
			     const struct vmm_jail_cfg *cfg)
{
	size_t i, j;
	int rc;

	for (i = 0; i < cfg->n_kvm_fds; i++) {
		for (j = 0;
		     j < sizeof(jail_kvm_reqs) / sizeof(jail_kvm_reqs[0]);
		     j++) {
			rc = seccomp_rule_add(
				ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
				SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					(scmp_datum_t)cfg->kvm_fds[i]),
				SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					(scmp_datum_t)jail_kvm_reqs[j]));
			if (rc < 0)
				return rc;
		}
	}
	/* The emulation reads with readv (even for read) and writes with
	 * write (even for writev): nothing else is needed. */
	if ((rc = allow_on_fds(ctx, SCMP_SYS(readv), cfg->in_fds,
			       cfg->n_in_fds)) ||
	    (rc = allow_on_fds(ctx, SCMP_SYS(write), cfg->out_fds,
			       cfg->n_out_fds)))
		return rc;

	/* Anonymous memory, never executable on the host side: guest code
	 * runs through KVM's page tables, not through host PROT_EXEC. */
	rc = seccomp_rule_add(
		ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 2,
		SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
		SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS));
	if (rc < 0)
		return rc;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc < 0)
		return rc;
	for (i = 0; i < sizeof(jail_madvise_ok) / sizeof(jail_madvise_ok[0]);
	     i++) {
		rc = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(madvise), 1,
			SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)jail_madvise_ok[i]));
		if (rc < 0)
			return rc;
	}
	for (i = 0;
	     i < sizeof(jail_plain_syscalls) / sizeof(jail_plain_syscalls[0]);
	     i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
				      jail_plain_syscalls[i], 0);
		if (rc < 0)
			return rc;
	}

#ifdef VMM_JAIL_ASAN
	for (i = 0; i < sizeof(jail_asan_allow) / sizeof(jail_asan_allow[0]);
	     i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, jail_asan_allow[i],
				      0);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < sizeof(jail_asan_eacces) / sizeof(jail_asan_eacces[0]);
	     i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
				      jail_asan_eacces[i], 0);
		if (rc < 0)
			return rc;
	}
	/* The report's isatty(2) for colours. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 1,
			      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TCGETS));
	if (rc < 0)
		return rc;
#endif
	if (cfg->flags & VMM_JAIL_F_THREADS) {
		/* clone only with CLONE_THREAD: a thread, never a process;
		 * clone3 hides its flags behind a pointer, so make libc
		 * fall back to clone. */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
					      CLONE_THREAD));
		if (rc < 0)
			return rc;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				      SCMP_SYS(clone3), 0);
		if (rc < 0)
			return rc;
		for (i = 0; i < sizeof(jail_thread_syscalls) /
					sizeof(jail_thread_syscalls[0]);
		     i++) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
					      jail_thread_syscalls[i], 0);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/*
 * Build and load the filter.  The default action kills the whole process
 * (SIGSYS), so a compromised monitor cannot catch it; TSYNC puts every
 * thread under it.  The KVM_RUN rule is the hot one: give it priority.
 */
static int jail_seccomp(const struct vmm_jail_cfg *cfg)
{
	scmp_filter_ctx ctx;
	int rc;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -ENOMEM;
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0 ||
	    (rc = seccomp_syscall_priority(ctx, SCMP_SYS(ioctl), 255)) < 0 ||
	    (rc = jail_filter_rules(ctx, cfg)) < 0)
		goto out;
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return rc < 0 ? rc : 0;
}

/*
 * One scan for two kinds: descriptors whose link starts with prefix[k] go
 * to fds[k] (at most max[k]; n[k] found).  A link is read at most once,
 * and only for anonymous inodes when every prefix is one: readlink in
 * /proc/self/fd costs a path lookup each (~10 us here), fstat does not.
 */
static void find_fds2(const char *const prefix[2], int *const fds[2],
		      const size_t max[2], size_t n[2])
{
	int fd, misses = 0, anon_only = 1;

	n[0] = n[1] = 0;
	for (int k = 0; k < 2; k++)
		if (!prefix[k] || strncmp(prefix[k], "anon_inode:", 11) != 0)
			anon_only = 0;
	for (fd = 0;
	     fd < 4096 && misses < 32 && (n[0] < max[0] || n[1] < max[1]);
	     fd++) {
		char path[40], target[64];
		struct stat st;
		ssize_t len;

		if (fstat(fd, &st) < 0) {
			misses++;
			continue;
		}
		misses = 0;
		/* Only anonymous inodes (no file type bits) are KVM objects. */
		if ((st.st_mode & S_IFMT) != 0 && anon_only)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		for (int k = 0; k < 2; k++) {
			if (prefix[k] && n[k] < max[k] &&
			    strncmp(target, prefix[k], strlen(prefix[k])) ==
				    0) {
				fds[k][n[k]++] = fd;
				break;
			}
		}
	}
}

int vmm_jail_find_fds(const char *prefix, int *fds, size_t max)
{
	const char *const p[2] = {prefix, NULL};
	int *const f[2] = {fds, NULL};
	const size_t m[2] = {max, 0};
	size_t n[2];

	find_fds2(p, f, m, n);
	return (int)n[0];
}

/*
 * Bytes mapped now, from /proc/self/statm (before the root goes away), or
 * (guess) when it cannot be read.
 */
static uint64_t jail_mapped(uint64_t guess)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return guess;
	if (fscanf(f, "%llu", &pages) != 1)
		pages = 0;
	fclose(f);
	return pages ? (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE)
		     : guess;
}

int vmm_jail_monitor(int jail, enum vmm_jail_prio prio, int in_fd,
		     const int *out_fds, size_t n_out_fds, uint64_t mem_bytes,
		     uint64_t max_output)
{
	struct vmm_jail_cfg cfg = {
		.prio = prio,
		.in_fds = &in_fd,
		.n_in_fds = 1,
		.out_fds = out_fds,
		.n_out_fds = n_out_fds,
		/* The warm path maps guest memory three times (its views
		 * of one memfd) before the jail; its output buffers grow
		 * after it. */
		.as_limit = jail_mapped(4 * mem_bytes) + 3 * max_output +
			    VMM_JAIL_AS_OVERHEAD,
		.netns = getenv("SUKIMA_JAIL_NETNS"),
	};
	const char *tpl = getenv("SUKIMA_JAIL_NSPID");
	int vcpu[16], vm[4];
	const char *const kinds[2] = {"anon_inode:kvm-vcpu",
				      "anon_inode:kvm-vm"};
	int *const found[2] = {vcpu, vm};
	const size_t max[2] = {sizeof(vcpu) / sizeof(vcpu[0]),
			       sizeof(vm) / sizeof(vm[0])};
	size_t n[2];

	if (!jail) {
		jail_applied = 0;
		if (prio == VMM_JAIL_PRIO_IDLE && jail_prio())
			jail_applied = VMM_JAIL_DID_PRIO;
		return 0;
	}
	find_fds2(kinds, found, max, n); /* both kinds, one scan */
	cfg.ns_pid = tpl ? atoi(tpl) : 0;
	cfg.kvm_fds = vcpu;
	cfg.n_kvm_fds = n[0];
	cfg.keep_fds = vm;
	cfg.n_keep_fds = n[1];
	return vmm_jail_enter(&cfg);
}

#ifdef VMM_JAIL_TEST_HOOK
/*
 * Test builds only (build/test-jail/sukima-vmm, tests/vmm/test_jail.py):
 * $SUKIMA_JAIL_TEST names one forbidden act to attempt right after the
 * jail.  Refused with an error: one line and status 3.  Allowed: one line
 * and status 99.  Refused by the filter: the kernel kills us (SIGSYS).
 */
static void jail_test_say(const char *what, int refused, int err)
{
	char line[160];
	int n;

	n = snprintf(line, sizeof(line), "sukima-vmm: jail test: %s %s (%s)\n",
		     what, refused ? "refused" : "SUCCEEDED", strerror(err));
	if (n > 0)
		(void)!write(2, line, (size_t)n);
	_exit(refused ? 3 : 99);
}

static void jail_test_hook(const struct vmm_jail_cfg *cfg)
{
	const char *what = getenv("SUKIMA_JAIL_TEST");

	if (!what || !*what)
		return;
	if (strcmp(what, "open") == 0) {
		int fd = open("/etc/passwd", O_RDONLY);

		jail_test_say(what, fd < 0, fd < 0 ? errno : 0);
	} else if (strcmp(what, "socket") == 0) {
		/* Creating one may pass (no filter); reaching the host's
		 * loopback must not (empty network namespace). */
		struct sockaddr_in sa = {.sin_family = AF_INET};
		const char *port = getenv("SUKIMA_JAIL_TEST_PORT");
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			jail_test_say(what, 1, errno);
		sa.sin_port = htons((uint16_t)atoi(port ? port : "9"));
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			jail_test_say("connect", 1, errno);
		jail_test_say("connect", 0, 0);
	} else if (strcmp(what, "exec") == 0) {
		char *const argv[] = {"/bin/true", NULL};

		execve(argv[0], argv, NULL);
		jail_test_say(what, 1, errno);
	} else if (strcmp(what, "fork") == 0) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		jail_test_say(what, pid < 0, pid < 0 ? errno : 0);
	} else if (strcmp(what, "mmap-exec") == 0) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		jail_test_say(what, p == MAP_FAILED,
			      p == MAP_FAILED ? errno : 0);
	} else if (strcmp(what, "kvm-set-regs") == 0) {
		/* A KVM request outside the run path, on our own vCPU. */
		int rc = ioctl(cfg->n_kvm_fds ? cfg->kvm_fds[0] : -1,
			       KVM_SET_REGS, NULL);

		jail_test_say(what, rc < 0, rc < 0 ? errno : 0);
	}
}
#endif

int vmm_jail_enter(const struct vmm_jail_cfg *cfg)
{
	unsigned did = 0, ns;
	int top, rc;

	jail_applied = 0;
	if (cfg->prio == VMM_JAIL_PRIO_IDLE && jail_prio())
		did |= VMM_JAIL_DID_PRIO;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	did |= VMM_JAIL_DID_NNP;

	/* Namespaces and the empty root only where the kernel allows. */
	ns = jail_join(cfg->ns_pid);
	if (!ns) {
		ns = jail_namespaces(cfg->netns);
		if (ns && jail_root() == 0)
			ns |= VMM_JAIL_DID_ROOT;
	}
	did |= ns;
	if ((rc = jail_caps()) < 0)
		return rc;
	did |= VMM_JAIL_DID_CAPS;

	if ((rc = jail_close_fds(cfg, &top)) < 0)
		return rc;
	did |= VMM_JAIL_DID_FDS;
	if ((rc = jail_rlimits(cfg, top)) < 0)
		return rc;
	did |= VMM_JAIL_DID_RLIMITS;
	jail_applied = did;

#ifdef VMM_JAIL_TEST_HOOK
	if (!getenv("SUKIMA_JAIL_TEST_NOFILTER")) {
#endif
		if ((rc = jail_seccomp(cfg)) < 0)
			return rc;
		did |= VMM_JAIL_DID_SECCOMP;
		jail_applied = did;
#ifdef VMM_JAIL_TEST_HOOK
	}
	jail_test_hook(cfg);
#endif
	return 0;
}
