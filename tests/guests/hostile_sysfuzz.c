/* hostile_sysfuzz.c: random system calls with hostile arguments, seeded by
 * argv[1], N of them (argv[2], default 20000). Numbers come mostly from the
 * allowlist (where the monitor's code is) and partly from anywhere;
 * arguments from a pool of wild values: zero, -1, huge lengths, kernel and
 * non-canonical addresses, the end of guest memory, the monitor's area,
 * and real buffers filled with random bytes (random iovecs, timespecs,
 * paths). Calls that would only end or freeze the guest (exit, blocking
 * waits, unmapping its own image) are steered away, so the run goes on.
 * The monitor must answer every call and survive. Random lengths still let
 * the guest overwrite its own data (as natively), so it may end by its own
 * fault or loop (a corrupted lock) into the deadline: any contained end is
 * fine. When it lives, it prints how many calls it made and exits 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "../../src/vmm/vmm_abi.h"
#include "rawsys.h"

static uint64_t rng;
static unsigned char buf[3][8192];

static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static long wild(void)
{
	static const uint64_t pool[] = {
		0,
		1,
		2,
		3,
		0x7fffffff,
		0xffffffff,
		-1ULL,
		-4096ULL,
		1ULL << 40,
		1ULL << 63,
		0x7ffffffff000ULL,
		0x800000000000ULL,
		0xffff800000000000ULL,
		0xffffffffff600000ULL,
		VMM_GA_PML4,
		VMM_GA_GDT,
		VMM_GA_STUB,
		VMM_GA_SHARED,
		VMM_GA_SYS_END - 8,
		(64ULL << 20) - 8, /* the end of a default guest */
		(64ULL << 20),
	};
	switch (next() % 6) {
	case 0:
	case 1:
		return (long)pool[next() % (sizeof(pool) / sizeof(pool[0]))];
	case 2: /* a real buffer, somewhere inside */
		return (long)(uintptr_t)&buf[next() % 3][next() % 8192];
	case 3:
		return (long)(next() % 4096);
	case 4:
		return (long)next();
	default:
		return (long)(uintptr_t)buf[next() % 3];
	}
}

/* the allowlist of docs/guest-abi.md, plus denied ones */
static const int allowed[] = {
	0,   1,	  4,   5,   8,	 9,   10,  11,	12,  13,  14,  16,  19,
	20,  24,  25,  28,  35,	 39,  41,  56,	57,  59,  62,  63,  79,
	95,  96,  97,  99,  101, 102, 104, 107, 108, 110, 131, 158, 186,
	201, 202, 204, 218, 228, 229, 230, 257, 262, 273, 302, 318, 334,
};

static int steer(long nr, long *a)
{
	switch (nr) {
	case 60:  /* exit */
	case 231: /* exit_group */
	case 15:  /* rt_sigreturn */
		return 0;
	case 11: /* munmap */
	case 10: /* mprotect */
	case 25: /* mremap */
		if ((uint64_t)a[4] >= VMM_GA_SYS_END)
			a[3] &= ~2L; /* MREMAP_FIXED: only onto the monitor */
		/* fall through */
	case 28: /* madvise */
	case 12: /* brk */
		/* only the monitor's area or wild ranges: never our image */
		if ((uint64_t)a[0] >= VMM_GA_SYS_END &&
		    (uint64_t)a[0] < (1ULL << 47))
			a[0] = (long)VMM_GA_STUB;
		if ((uint64_t)a[0] < VMM_GA_SYS_END &&
		    (uint64_t)a[1] < (1ULL << 47) &&
		    (uint64_t)a[0] + (uint64_t)a[1] > VMM_GA_SYS_END)
			a[1] = (long)(VMM_GA_SYS_END - (uint64_t)a[0]);
		return 1;
	case 35:  /* nanosleep */
	case 230: /* clock_nanosleep */
	case 202: /* futex: a WAIT could block until the deadline */
	case 0:	  /* read: stdin may be a terminal or a silent pipe */
	case 19:  /* readv */
		return 0;
	case 1:	 /* write */
	case 20: /* writev: keep stdout and stderr clean */
		if (a[0] == 1 || a[0] == 2)
			a[0] = 3;
		return 1;
	case 158: /* arch_prctl: a wild FS base would break libc after */
		return a[0] != 0x1002;
	case 9: /* mmap: fixed only over the monitor's area */
		if ((uint64_t)a[0] >= VMM_GA_SYS_END)
			a[3] &= ~(long)(0x10 |
					0x100000); /* MAP_FIXED(_NOREPLACE) */
		return 1;
	}
	return 1;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 20000, i, calls = 0;
	uint64_t sum = 0;

	rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(argc > 1 ? atol(argv[1]) : 1);
	for (i = 0; i < n; i++) {
		long nr, a[6];
		int k;

		if (i % 64 == 0) /* fresh random buffer contents */
			for (k = 0; k < 3 * 8192; k += 8) {
				uint64_t v = next();
				memcpy(&buf[k / 8192][k % 8192], &v, 8);
			}
		nr = next() % 8 ? allowed[next() % (sizeof(allowed) /
						    sizeof(allowed[0]))]
				: (long)(next() % 460);
		for (k = 0; k < 6; k++)
			a[k] = wild();
		if (!steer(nr, a))
			continue;
		sum = sum * 1099511628211ULL +
		      (uint64_t)rawsys(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		calls++;
	}
	printf("%ld calls, checksum %016llx\n", calls, (unsigned long long)sum);
	return 0;
}
