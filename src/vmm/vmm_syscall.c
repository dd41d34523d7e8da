/* vmm_syscall.c: the allowlist emulation of Linux system calls for the guest. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vmm/vmm_stub.h"
#include "vmm/vmm_syscall.h"
#include "vmm/vmm_warm.h"

/* Guest-side layouts (x86-64 Linux), independent of the monitor's libc. */
struct g_timespec {
	int64_t sec, nsec;
};
struct g_iovec {
	uint64_t base, len;
};
struct g_stat {
	uint64_t dev, ino, nlink;
	uint32_t mode, uid, gid, pad0;
	uint64_t rdev;
	int64_t size, blksize, blocks;
	struct g_timespec atime, mtime, ctime;
	int64_t unused[3];
};
_Static_assert(sizeof(struct g_stat) == 144, "x86-64 struct stat");
struct g_utsname {
	char f[6][65];
};
struct g_sysinfo {
	int64_t uptime;
	uint64_t loads[3], totalram, freeram, sharedram, bufferram, totalswap,
		freeswap;
	uint16_t procs, pad;
	uint32_t pad2;
	uint64_t totalhigh, freehigh;
	uint32_t mem_unit;
	char f[4];
};
_Static_assert(sizeof(struct g_sysinfo) == 112, "x86-64 struct sysinfo");

#define IOV_MAX_G 1024
#define SIGSET_G  8

static const char *const names[] = {
	[0] = "read",
	[1] = "write",
	[2] = "open",
	[3] = "close",
	[4] = "stat",
	[5] = "fstat",
	[6] = "lstat",
	[7] = "poll",
	[8] = "lseek",
	[9] = "mmap",
	[10] = "mprotect",
	[11] = "munmap",
	[12] = "brk",
	[13] = "rt_sigaction",
	[14] = "rt_sigprocmask",
	[15] = "rt_sigreturn",
	[16] = "ioctl",
	[17] = "pread64",
	[18] = "pwrite64",
	[19] = "readv",
	[20] = "writev",
	[21] = "access",
	[22] = "pipe",
	[23] = "select",
	[24] = "sched_yield",
	[25] = "mremap",
	[28] = "madvise",
	[32] = "dup",
	[33] = "dup2",
	[35] = "nanosleep",
	[39] = "getpid",
	[41] = "socket",
	[42] = "connect",
	[53] = "socketpair",
	[56] = "clone",
	[57] = "fork",
	[58] = "vfork",
	[59] = "execve",
	[60] = "exit",
	[61] = "wait4",
	[62] = "kill",
	[63] = "uname",
	[72] = "fcntl",
	[79] = "getcwd",
	[85] = "creat",
	[89] = "readlink",
	[95] = "umask",
	[96] = "gettimeofday",
	[97] = "getrlimit",
	[99] = "sysinfo",
	[101] = "ptrace",
	[102] = "getuid",
	[104] = "getgid",
	[107] = "geteuid",
	[108] = "getegid",
	[110] = "getppid",
	[131] = "sigaltstack",
	[157] = "prctl",
	[158] = "arch_prctl",
	[186] = "gettid",
	[200] = "tkill",
	[201] = "time",
	[202] = "futex",
	[204] = "sched_getaffinity",
	[218] = "set_tid_address",
	[228] = "clock_gettime",
	[229] = "clock_getres",
	[230] = "clock_nanosleep",
	[231] = "exit_group",
	[234] = "tgkill",
	[257] = "openat",
	[262] = "newfstatat",
	[267] = "readlinkat",
	[269] = "faccessat",
	[273] = "set_robust_list",
	[302] = "prlimit64",
	[318] = "getrandom",
	[322] = "execveat",
	[332] = "statx",
	[334] = "rseq",
	[435] = "clone3",
	[437] = "openat2",
	[439] = "faccessat2",
};

const char *vmm_syscall_name(uint64_t nr)
{
	if (nr < sizeof(names) / sizeof(names[0]))
		return names[nr];
	return NULL;
}

static void *gptr(struct vmm *vm, uint64_t ga, uint64_t len, int access)
{
	return vmm_mem_ptr(&vm->mem, vmm_gaddr(ga), len, access);
}

/* Copies out to the guest; -EFAULT on a bad pointer. */
static int64_t put(struct vmm *vm, uint64_t ga, const void *src, size_t len)
{
	void *p = gptr(vm, ga, len, VMM_MEM_WRITE);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

static int64_t get(struct vmm *vm, uint64_t ga, void *dst, size_t len)
{
	const void *p = gptr(vm, ga, len, VMM_MEM_READ);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

static int fd_open(const struct vmm *vm, uint64_t fd)
{
	return fd <= 2 && !(vm->closed_fds & (1u << fd));
}

/* Warm invocation: stdin is vm->req; with the fast path, the guest may
 * have consumed part of the input window already. */
static int64_t req_readv(struct vmm *vm, const struct iovec *iov, int n)
{
	uint64_t pos = vm->req_pos, total = 0;

	if (vm->fast)
		pos += vmm__win_used(vm);
	for (int i = 0; i < n && pos < vm->req_len; i++) {
		uint64_t k = vm->req_len - pos;

		if (k > iov[i].iov_len)
			k = iov[i].iov_len;
		memcpy(iov[i].iov_base, vm->req + pos, k);
		pos += k;
		total += k;
		if (k < iov[i].iov_len)
			break;
	}
	if (vm->fast)
		vmm__win_fill(vm, pos);
	else
		vm->req_pos = pos;
	return (int64_t)total;
}

/* read/readv of fd 0: one host readv of the translated iovecs. */
static int64_t do_readv(struct vmm *vm, uint64_t fd, const struct iovec *iov,
			int n)
{
	ssize_t r;

	if (fd != 0 || !fd_open(vm, fd))
		return -EBADF;
	if (vm->req)
		return req_readv(vm, iov, n);
	do {
		if (vm->timed_out)
			return -EINTR;
		r = readv(vm->cfg.in_fd, iov, n);
	} while (r < 0 && errno == EINTR && !vm->timed_out);
	return r < 0 ? -errno : r;
}

static int buf_append(struct vmm_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *q;

		while (cap - b->len < n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Writes all n bytes unless the deadline passes (a reader that does not
 * read must not hold the monitor: the timer interrupts the write). */
static int64_t write_all(struct vmm *vm, int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);

		if (w < 0 && errno == EINTR && !vm->timed_out)
			continue;
		if (w < 0)
			return done ? (int64_t)done : -errno;
		done += (size_t)w;
	}
	return (int64_t)done;
}

/*
 * write/writev of fds 1 and 2, counted against --max-output.  A write that
 * crosses the limit is cut at the limit and ends the function.
 */
static int64_t do_writev(struct vmm *vm, uint64_t fd, const struct iovec *iov,
			 int n, int *over)
{
	int hfd = fd == 1 ? vm->cfg.out_fd : vm->cfg.err_fd;
	int64_t total = 0;

	if ((fd != 1 && fd != 2) || !fd_open(vm, fd))
		return -EBADF;
	for (int i = 0; i < n; i++) {
		uint64_t room = vm->cfg.max_output - vm->out_bytes;
		size_t len = iov[i].iov_len;
		int64_t w;

		if (len > room) {
			len = (size_t)room;
			*over = 1;
		}
		if (vm->cfg.capture)
			w = buf_append(fd == 1 ? &vm->out : &vm->err_out,
				       iov[i].iov_base, len)
				    ?: (int64_t)len;
		else
			w = write_all(vm, hfd, iov[i].iov_base, len);
		if (w < 0)
			return total ? total : w;
		vm->out_bytes += (uint64_t)w;
		total += w;
		if (vm->timed_out)
			break;
		if (w > 0 && fd == 2)
			vm->err_midline =
				((const char *)iov[i].iov_base)[w - 1] != '\n';
		if (*over)
			break;
	}
	return total;
}

/* Translates n guest iovecs at ga; -EFAULT / -EINVAL like Linux. */
static int64_t get_iov(struct vmm *vm, uint64_t ga, uint64_t n,
		       struct iovec *iov, int access)
{
	const struct g_iovec *g;
	uint64_t sum = 0;

	if (n > IOV_MAX_G)
		return -EINVAL;
	g = gptr(vm, ga, n * sizeof(*g), VMM_MEM_READ);
	if (!g)
		return -EFAULT;
	for (uint64_t i = 0; i < n; i++) {
		struct g_iovec v;

		memcpy(&v, &g[i], sizeof(v));
		if (v.len > INT64_MAX || (sum += v.len) > INT64_MAX)
			return -EINVAL;
		iov[i].iov_base = gptr(vm, v.base, v.len, access);
		iov[i].iov_len = v.len;
		if (!iov[i].iov_base)
			return -EFAULT;
	}
	return 0;
}

static int valid_clock(uint64_t c)
{
	return c <= 7;
}

static int host_clock(uint64_t c)
{
	/* The CPU-time clocks read the vCPU thread's, which runs the guest. */
	if (c == CLOCK_PROCESS_CPUTIME_ID || c == CLOCK_THREAD_CPUTIME_ID)
		return CLOCK_THREAD_CPUTIME_ID;
	return (int)c;
}

static int64_t do_sleep(struct vmm *vm, int clk, int flags,
			const struct g_timespec *req, uint64_t rem_ga)
{
	struct timespec ts = {(time_t)req->sec, (long)req->nsec};
	int r;

	if (req->sec < 0 || req->nsec < 0 || req->nsec >= 1000000000)
		return -EINVAL;
	/* Interrupted by the deadline timer, which then ends the function. */
	do {
		r = clock_nanosleep(clk, flags, &ts, flags ? NULL : &ts);
	} while (r == EINTR && !vm->timed_out);
	(void)rem_ga;
	return r ? -r : 0;
}

static int64_t fake_stat(struct vmm *vm, uint64_t fd, uint64_t ga)
{
	struct g_stat st;

	if (!fd_open(vm, fd))
		return -EBADF;
	memset(&st, 0, sizeof(st));
	st.dev = 0x0c;
	st.ino = fd + 1;
	st.nlink = 1;
	st.mode = 0010600; /* S_IFIFO | 0600: a pipe, as under a worker */
	st.uid = st.gid = VMM_GUEST_UID;
	st.blksize = 4096;
	return put(vm, ga, &st, sizeof(st));
}

static int64_t rlimit_of(struct vmm *vm, uint64_t res, uint64_t out)
{
	uint64_t lim[2] = {UINT64_MAX, UINT64_MAX};

	if (res >= 16)
		return -EINVAL;
	switch (res) {
	case 2: /* DATA */
	case 9: /* AS */
		lim[0] = lim[1] = vm->mem.size;
		break;
	case 3: /* STACK */
		lim[0] = lim[1] = vm->mem.size - vm->mem.stack_lo;
		break;
	case 4: /* CORE */
		lim[0] = lim[1] = 0;
		break;
	case 7: /* NOFILE */
		lim[0] = lim[1] = 3;
		break;
	case 6: /* NPROC */
		lim[0] = lim[1] = 1;
		break;
	}
	return out ? put(vm, out, lim, sizeof(lim)) : 0;
}

static int64_t sys_uname(struct vmm *vm, uint64_t ga)
{
	struct g_utsname u;

	memset(&u, 0, sizeof(u));
	strcpy(u.f[0], VMM_UNAME_SYSNAME);
	strcpy(u.f[1], VMM_UNAME_NODENAME);
	strcpy(u.f[2], VMM_UNAME_RELEASE);
	strcpy(u.f[3], VMM_UNAME_VERSION);
	strcpy(u.f[4], VMM_UNAME_MACHINE);
	strcpy(u.f[5], "(none)");
	return put(vm, ga, &u, sizeof(u));
}

static int64_t sys_sysinfo(struct vmm *vm, uint64_t ga)
{
	struct g_sysinfo si;

	memset(&si, 0, sizeof(si));
	si.totalram = vm->mem.size;
	si.freeram = vm->mem.guard - vm->mem.brk_cur;
	si.procs = 1;
	si.mem_unit = 1;
	return put(vm, ga, &si, sizeof(si));
}

static int64_t sys_futex(struct vmm *vm, const uint64_t *a)
{
	uint32_t v;
	int op = (int)(a[1] & 0x7f);

	switch (op) {
	case 1:	 /* WAKE */
	case 10: /* WAKE_BITSET */
		return 0;
	case 0: /* WAIT */
	case 9: /* WAIT_BITSET */
		if (get(vm, a[0], &v, sizeof(v)))
			return -EFAULT;
		if (v != (uint32_t)a[2])
			return -EAGAIN;
		/* One thread: nobody could ever wake it. */
		return -ETIMEDOUT;
	}
	return -ENOSYS;
}

static int64_t sys_fcntl(struct vmm *vm, uint64_t fd, uint64_t cmd)
{
	if (!fd_open(vm, fd))
		return -EBADF;
	switch (cmd) {
	case F_GETFD:
	case F_SETFD:
	case F_SETFL:
		return 0;
	case F_GETFL:
		return fd == 0 ? O_RDONLY : O_WRONLY;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return -EMFILE;
	}
	return -EINVAL;
}

static int64_t sys_arch_prctl(struct vmm *vm, uint64_t code, uint64_t addr)
{
	switch (code) {
	case 0x1002: /* ARCH_SET_FS */
		if (addr >= 0x800000000000ULL)
			return -EPERM;
		if (vm->ops->set_fs_base(vm, addr))
			return -EIO;
		vm->fs_base = addr;
		return 0;
	case 0x1003: /* ARCH_GET_FS */
		return put(vm, addr, &vm->fs_base, sizeof(vm->fs_base));
	}
	return -EINVAL;
}

/* Everything else: -EACCES for what would reach files, processes or the
 * network, -ENOSYS otherwise. */
static int64_t denied(uint64_t nr)
{
	switch (nr) {
	case 2:	  /* open */
	case 4:	  /* stat */
	case 6:	  /* lstat */
	case 21:  /* access */
	case 41:  /* socket */
	case 53:  /* socketpair */
	case 56:  /* clone */
	case 57:  /* fork */
	case 58:  /* vfork */
	case 59:  /* execve */
	case 62:  /* kill */
	case 85:  /* creat */
	case 89:  /* readlink */
	case 101: /* ptrace */
	case 200: /* tkill */
	case 234: /* tgkill */
	case 257: /* openat */
	case 267: /* readlinkat */
	case 269: /* faccessat */
	case 322: /* execveat */
	case 332: /* statx */
	case 435: /* clone3 */
	case 437: /* openat2 */
	case 439: /* faccessat2 */
		return -EACCES;
	}
	return -ENOSYS;
}

static void stop(struct vmm_result *res, enum vmm_reason why, int status)
{
	memset(res, 0, sizeof(*res));
	res->reason = why;
	res->status = status;
}

static int64_t emulate(struct vmm *vm, uint64_t nr, const uint64_t *a,
		       struct vmm_result *res, int *done)
{
	struct iovec iov[IOV_MAX_G];
	struct g_timespec gts;
	struct timespec ts;
	int64_t r;
	int over = 0;

	switch (nr) {
	case 0: /* read */
		if (a[0] != 0)
			return -EBADF;
		iov[0].iov_base = gptr(vm, a[1], a[2], VMM_MEM_WRITE);
		iov[0].iov_len = a[2];
		if (!iov[0].iov_base)
			return -EFAULT;
		r = do_readv(vm, a[0], iov, 1);
		goto after_read;
	case 19: /* readv */
		if (a[0] != 0)
			return -EBADF;
		r = get_iov(vm, a[1], a[2], iov, VMM_MEM_WRITE);
		if (r)
			return r;
		r = do_readv(vm, a[0], iov, (int)a[2]);
	after_read:
		if (r == -EINTR && vm->timed_out) {
			stop(res, VMM_TIMEOUT, VMM_STATUS_TIMEOUT);
			*done = 1;
		}
		return r;
	case 1: /* write */
		if (!(a[0] == 1 || a[0] == 2) || !fd_open(vm, a[0]))
			return -EBADF;
		iov[0].iov_base = gptr(vm, a[1], a[2], VMM_MEM_READ);
		iov[0].iov_len = a[2];
		if (!iov[0].iov_base)
			return -EFAULT;
		r = do_writev(vm, a[0], iov, 1, &over);
		goto after_write;
	case 20: /* writev */
		if (!(a[0] == 1 || a[0] == 2) || !fd_open(vm, a[0]))
			return -EBADF;
		r = get_iov(vm, a[1], a[2], iov, VMM_MEM_READ);
		if (r)
			return r;
		r = do_writev(vm, a[0], iov, (int)a[2], &over);
	after_write:
		if (vm->timed_out) {
			stop(res, VMM_TIMEOUT, VMM_STATUS_TIMEOUT);
			*done = 1;
		} else if (over) {
			stop(res, VMM_OUTPUT, VMM_STATUS_LIMIT_OUTPUT);
			snprintf(res->msg, sizeof(res->msg),
				 "output limit of %" PRIu64 " bytes exceeded",
				 vm->cfg.max_output);
			*done = 1;
		}
		return r;
	case 3: /* close */
		if (!fd_open(vm, a[0]))
			return -EBADF;
		vm->closed_fds |= 1u << a[0];
		return 0;
	case 5: /* fstat */
		return fake_stat(vm, a[0], a[1]);
	case 262: { /* newfstatat */
		const char *path = gptr(vm, a[1], 1, VMM_MEM_READ);

		if (!path)
			return -EFAULT;
		if (*path != '\0' || !(a[3] & 0x1000 /* AT_EMPTY_PATH */))
			return -EACCES;
		return fake_stat(vm, a[0], a[2]);
	}
	case 8:	 /* lseek */
	case 17: /* pread64 */
	case 18: /* pwrite64 */
		return fd_open(vm, a[0]) ? -ESPIPE : -EBADF;
	case 16: /* ioctl */
		return fd_open(vm, a[0]) ? -ENOTTY : -EBADF;
	case 72: /* fcntl */
		return sys_fcntl(vm, a[0], a[1]);
	case 9: /* mmap */
		return vmm_mem_mmap(&vm->mem, a[0], a[1], (int)a[2], (int)a[3],
				    (int)a[4], a[5]);
	case 10: /* mprotect */
		return vmm_mem_mprotect(&vm->mem, a[0], a[1], (int)a[2]);
	case 11: /* munmap */
		return vmm_mem_munmap(&vm->mem, a[0], a[1]);
	case 12: /* brk */
		return (int64_t)vmm_mem_brk(&vm->mem, a[0]);
	case 25: /* mremap */
		return vmm_mem_mremap(&vm->mem, a[0], a[1], a[2], (int)a[3],
				      a[4]);
	case 28: /* madvise */
		return vmm_mem_madvise(&vm->mem, a[0], a[1], (int)a[2]);
	case 13: /* rt_sigaction */
		if (a[3] != SIGSET_G || a[0] == 0 || a[0] > 64)
			return -EINVAL;
		if (a[1] && (a[0] == 9 || a[0] == 19))
			return -EINVAL;
		if (a[1] && !gptr(vm, a[1], 32, VMM_MEM_READ))
			return -EFAULT;
		if (a[2]) {
			uint64_t z[4] = {0};

			return put(vm, a[2], z, sizeof(z));
		}
		return 0;
	case 14: /* rt_sigprocmask */
		if (a[3] != SIGSET_G || a[0] > 2)
			return -EINVAL;
		if (a[2] && put(vm, a[2], &vm->sigmask, 8))
			return -EFAULT;
		if (a[1]) {
			uint64_t set;

			if (get(vm, a[1], &set, 8))
				return -EFAULT;
			if (a[0] == 0)
				vm->sigmask |= set;
			else if (a[0] == 1)
				vm->sigmask &= ~set;
			else
				vm->sigmask = set;
		}
		return 0;
	case 131: { /* sigaltstack */
		uint64_t ss[3] = {0, 2 /* SS_DISABLE */, 0};

		if (a[0] && !gptr(vm, a[0], sizeof(ss), VMM_MEM_READ))
			return -EFAULT;
		if (a[1])
			return put(vm, a[1], ss, sizeof(ss));
		return 0;
	}
	case 24: /* sched_yield */
		return 0;
	case 35: /* nanosleep */
		if (get(vm, a[0], &gts, sizeof(gts)))
			return -EFAULT;
		r = do_sleep(vm, CLOCK_MONOTONIC, 0, &gts, a[1]);
		goto after_sleep;
	case 230: /* clock_nanosleep */
		if (a[0] != CLOCK_REALTIME && a[0] != CLOCK_MONOTONIC &&
		    a[0] != CLOCK_BOOTTIME)
			return -EINVAL;
		if (get(vm, a[2], &gts, sizeof(gts)))
			return -EFAULT;
		r = do_sleep(vm, (int)a[0], (int)(a[1] & TIMER_ABSTIME), &gts,
			     a[3]);
	after_sleep:
		if (vm->timed_out) {
			stop(res, VMM_TIMEOUT, VMM_STATUS_TIMEOUT);
			*done = 1;
		}
		return r;
	case 228: /* clock_gettime */
		if (!valid_clock(a[0]))
			return -EINVAL;
		clock_gettime(host_clock(a[0]), &ts);
		gts.sec = ts.tv_sec;
		gts.nsec = ts.tv_nsec;
		return put(vm, a[1], &gts, sizeof(gts));
	case 229: /* clock_getres */
		if (!valid_clock(a[0]))
			return -EINVAL;
		gts.sec = 0;
		gts.nsec = 1;
		return a[1] ? put(vm, a[1], &gts, sizeof(gts)) : 0;
	case 96: /* gettimeofday */
		clock_gettime(CLOCK_REALTIME, &ts);
		if (a[0]) {
			int64_t tv[2] = {ts.tv_sec, ts.tv_nsec / 1000};

			if (put(vm, a[0], tv, sizeof(tv)))
				return -EFAULT;
		}
		if (a[1]) {
			int32_t tz[2] = {0, 0};

			return put(vm, a[1], tz, sizeof(tz));
		}
		return 0;
	case 201: /* time */
		clock_gettime(CLOCK_REALTIME, &ts);
		if (a[0] && put(vm, a[0], &ts.tv_sec, 8))
			return -EFAULT;
		return ts.tv_sec;
	case 318: { /* getrandom */
		uint8_t *p = gptr(vm, a[0], a[1], VMM_MEM_WRITE);
		size_t got = 0;

		if (!p)
			return -EFAULT;
		while (got < a[1]) {
			ssize_t g = getrandom(p + got, a[1] - got, 0);

			if (g < 0 && errno == EINTR)
				continue;
			if (g < 0)
				return -errno;
			got += (size_t)g;
		}
		return (int64_t)got;
	}
	case 39:  /* getpid */
	case 186: /* gettid */
		return VMM_GUEST_PID;
	case 110: /* getppid */
		return 0;
	case 102: /* getuid */
	case 104: /* getgid */
	case 107: /* geteuid */
	case 108: /* getegid */
		return VMM_GUEST_UID;
	case 63: /* uname */
		return sys_uname(vm, a[0]);
	case 99: /* sysinfo */
		return sys_sysinfo(vm, a[0]);
	case 79: /* getcwd */
		if (a[1] < 2)
			return -ERANGE;
		return put(vm, a[0], "/", 2) ? -EFAULT : 2;
	case 95: /* umask */
		return 022;
	case 97: /* getrlimit */
		return a[1] ? rlimit_of(vm, a[0], a[1]) : -EFAULT;
	case 302: /* prlimit64 */
		if (a[0] != 0 && a[0] != VMM_GUEST_PID)
			return -ESRCH;
		if (a[2])
			return -EPERM;
		return rlimit_of(vm, a[1], a[3]);
	case 204: { /* sched_getaffinity */
		uint64_t one = 1;

		if (a[1] < 8 || (a[1] & 7))
			return -EINVAL;
		return put(vm, a[2], &one, 8) ? -EFAULT : 8;
	}
	case 158: /* arch_prctl */
		return sys_arch_prctl(vm, a[0], a[1]);
	case 218: /* set_tid_address */
		return VMM_GUEST_PID;
	case 273: /* set_robust_list */
		return a[1] == 24 ? 0 : -EINVAL;
	case 202: /* futex */
		return sys_futex(vm, a);
	case 60:  /* exit */
	case 231: /* exit_group */
		stop(res, VMM_EXITED, (int)(a[0] & 0xff));
		*done = 1;
		return 0;
	}
	return denied(nr);
}

static void trace(struct vmm *vm, uint64_t nr, const uint64_t *a, int64_t r)
{
	const char *n = vmm_syscall_name(nr);
	char buf[256];
	int len;

	if (n)
		len = snprintf(buf, sizeof(buf), "%s(", n);
	else
		len = snprintf(buf, sizeof(buf), "syscall_%" PRIu64 "(", nr);
	len += snprintf(buf + len, sizeof(buf) - (size_t)len,
			"0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64
			", 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 ") = ",
			a[0], a[1], a[2], a[3], a[4], a[5]);
	if (r < 0 && r >= -4095)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"-1 %s (%s)\n", strerrorname_np((int)-r) ?: "?",
				strerror((int)-r));
	else if (r > 0xffff)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"0x%" PRIx64 "\n", (uint64_t)r);
	else
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"%" PRId64 "\n", r);
	if (len > (int)sizeof(buf) - 1)
		len = (int)sizeof(buf) - 1;
	write_all(vm, vm->cfg.trace_fd, (const uint8_t *)buf, (size_t)len);
}

int vmm_syscall_flush(struct vmm *vm, struct vmm_result *res)
{
	struct vmm_abi_shared *sh =
		vmm_mem_sys(&vm->mem, VMM_GA_SHARED, sizeof(*sh));
	uint64_t n = sh->out_len;
	struct iovec iov;
	int over = 0;

	if (n == 0)
		return 0;
	sh->out_len = 0;
	vmm_mem_note_write(&vm->mem, VMM_GA_SHARED, sizeof(*sh));
	if (n > VMM_OUT_CAP) /* the guest's to corrupt: clamp */
		n = VMM_OUT_CAP;
	iov.iov_base = vmm_mem_sys(&vm->mem, VMM_GA_OUT, n);
	iov.iov_len = n;
	do_writev(vm, 1, &iov, 1, &over);
	if (over && (res->reason == VMM_EXITED || res->reason == VMM_OUTPUT)) {
		stop(res, VMM_OUTPUT, VMM_STATUS_LIMIT_OUTPUT);
		snprintf(res->msg, sizeof(res->msg),
			 "output limit of %" PRIu64 " bytes exceeded",
			 vm->cfg.max_output);
	}
	return over;
}

int vmm_syscall(struct vmm *vm, struct vmm_exit *ex, struct vmm_result *res)
{
	int done = 0;
	int64_t r;

	/* What the stub buffered comes before anything this call writes. */
	if (vm->fast && vmm_syscall_flush(vm, res)) {
		stop(res, VMM_OUTPUT, VMM_STATUS_LIMIT_OUTPUT);
		snprintf(res->msg, sizeof(res->msg),
			 "output limit of %" PRIu64 " bytes exceeded",
			 vm->cfg.max_output);
		return 1;
	}
	r = emulate(vm, ex->nr, ex->arg, res, &done);

	ex->ret = (uint64_t)r;
	if (vm->cfg.trace)
		trace(vm, ex->nr, ex->arg, r);
	return done;
}
