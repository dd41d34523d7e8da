/* hostile_ptr.c: wild, kernel-range and non-canonical pointers in the
 * arguments of every pointer-taking allowlisted call. Linux answers EFAULT
 * (ENOTTY for the ioctl) and so must the VMM; the guest then goes on and
 * copies stdin to stdout, which shows no stdin byte was eaten by a failed
 * read. Exit 0 when every answer was as Linux gives it. Needs stdin data. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "rawsys.h"

#define FUTEX_WAIT 0 /* <linux/futex.h> is not in musl-gcc's path */
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

static const uintptr_t bad[] = {
	0x0,		    /* NULL */
	0x10,		    /* first page */
	0xdead0000,	    /* far beyond a 64 MiB guest */
	0x7ffffffff000,	    /* last user page, never mapped */
	0x800000000000,	    /* first non-canonical address */
	0xffff800000000000, /* kernel half */
	0xffffffffffffff00, /* wraps past the top with the length */
};

static int failures;

static void expect(const char *what, uintptr_t p, long r, int want)
{
	int got = r < 0 ? (int)-r : 0;

	printf("%-16s %#18lx -> %ld\n", what, (unsigned long)p, r);
	if (got != want) {
		printf("  MISMATCH: want -%d\n", want);
		failures++;
	}
}

/* For calls where NULL means "not given" only the non-NULL cases count. */
static void expect_opt(const char *what, uintptr_t p, long r, int want)
{
	if (p)
		expect(what, p, r, want);
}

int main(void)
{
	static char buf[4096];
	struct iovec iov;
	size_t i;
	ssize_t n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uintptr_t p = bad[i];
		void *v = (void *)p;

		expect("write", p, RS(SYS_write, 1, v, 16), EFAULT);
		expect("read", p, RS(SYS_read, 0, v, 16), EFAULT);
		expect("writev iov", p, RS(SYS_writev, 1, v, 1), EFAULT);
		expect("readv iov", p, RS(SYS_readv, 0, v, 1), EFAULT);
		iov.iov_base = v;
		iov.iov_len = 16;
		expect("writev base", p, RS(SYS_writev, 1, &iov, 1), EFAULT);
		expect("readv base", p, RS(SYS_readv, 0, &iov, 1), EFAULT);
		expect("clock_gettime", p,
		       RS(SYS_clock_gettime, CLOCK_MONOTONIC, v), EFAULT);
		expect_opt("gettimeofday", p, RS(SYS_gettimeofday, v, 0),
			   EFAULT);
		expect_opt("time", p, RS(SYS_time, v), EFAULT);
		expect("uname", p, RS(SYS_uname, v), EFAULT);
		expect("fstat", p, RS(SYS_fstat, 1, v), EFAULT);
		expect("newfstatat path", p, RS(SYS_newfstatat, 1, v, buf, 0),
		       EFAULT);
		expect("newfstatat buf", p,
		       RS(SYS_newfstatat, 1, "", v, AT_EMPTY_PATH), EFAULT);
		expect("getrandom", p, RS(SYS_getrandom, v, 16, 0), EFAULT);
		expect("nanosleep", p, RS(SYS_nanosleep, v, 0), EFAULT);
		expect("clock_nanosleep", p,
		       RS(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, v, 0),
		       EFAULT);
		expect_opt("rt_sigaction", p,
			   RS(SYS_rt_sigaction, SIGUSR1, v, 0, 8), EFAULT);
		expect_opt("rt_sigprocmask", p,
			   RS(SYS_rt_sigprocmask, SIG_BLOCK, v, 0, 8), EFAULT);
		expect_opt("sigaltstack", p, RS(SYS_sigaltstack, v, 0), EFAULT);
		expect("arch_prctl", p, RS(SYS_arch_prctl, 0x1003, v),
		       EFAULT); /* ARCH_GET_FS */
		expect("getrlimit", p, RS(SYS_getrlimit, 3, v), EFAULT);
		expect_opt("prlimit64", p, RS(SYS_prlimit64, 0, 3, 0, v),
			   EFAULT);
		expect("futex", p, RS(SYS_futex, v, FUTEX_WAIT, 0, 0), EFAULT);
		expect("ioctl TIOCGWINSZ", p, RS(SYS_ioctl, 1, TIOCGWINSZ, v),
		       ENOTTY);
	}
	printf("%d mismatches\n", failures);
	fflush(stdout);
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) != n)
			return 2;
	return failures != 0;
}
