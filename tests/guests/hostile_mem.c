/* hostile_mem.c: memory-management calls aimed at the monitor's area and
 * at absurd sizes: fixed mappings, remaps, munmap and madvise over the page
 * tables and the stub, huge lengths, wild breaks. None may take the
 * monitor's pages or crash it; system calls must keep working after each.
 * Exits 0 when every answer was safe. Not compared with Linux, whose
 * answers differ by design (there the low pages are free to map). */
#define _GNU_SOURCE /* MREMAP_* */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "../../src/vmm/vmm_abi.h"
#include "rawsys.h"

#define RW   (PROT_READ | PROT_WRITE)
#define RWX  (PROT_READ | PROT_WRITE | PROT_EXEC)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static int failures;

static void must_fail(const char *what, long r)
{
	printf("%-32s -> %ld\n", what, r);
	if (r >= 0 || r < -4095) {
		printf("  UNSAFE: want an error\n");
		failures++;
	}
}

static void still_alive(const char *after)
{
	if (RS(SYS_getpid) <= 0) {
		printf("  getpid broken after %s\n", after);
		failures++;
	}
}

int main(void)
{
	static const unsigned long sys[] = {VMM_GA_PML4, VMM_GA_PD, VMM_GA_GDT,
					    VMM_GA_IDT, VMM_GA_STUB};
	char *p = mmap(NULL, 1 << 20, RW, ANON, -1, 0);
	long brk0 = RS(SYS_brk, 0), r;
	size_t i;

	if (p == MAP_FAILED)
		return 2;
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "mmap FIXED %#lx", sys[i]);
		must_fail(what, RS(SYS_mmap, sys[i], 4096, RWX,
				   ANON | MAP_FIXED, -1, 0));
		snprintf(what, sizeof(what), "mremap FIXED onto %#lx", sys[i]);
		must_fail(what, RS(SYS_mremap, p, 4096, 4096,
				   MREMAP_MAYMOVE | MREMAP_FIXED, sys[i]));
		snprintf(what, sizeof(what), "mremap from %#lx", sys[i]);
		must_fail(what,
			  RS(SYS_mremap, sys[i], 4096, 8192, MREMAP_MAYMOVE));
		still_alive(what);
	}
	/* Linux answers 0 to some of these; what matters is that nothing of
	 * the monitor's changes, so only print and check syscalls still work */
	r = RS(SYS_mprotect, VMM_GA_STUB, 4096, RWX);
	printf("%-32s -> %ld\n", "mprotect stub RWX", r);
	still_alive("mprotect stub");
	r = RS(SYS_munmap, 0x1000, VMM_GA_SYS_END - 0x1000);
	printf("%-32s -> %ld\n", "munmap monitor area", r);
	still_alive("munmap monitor area");
	r = RS(SYS_madvise, 0x1000, VMM_GA_SYS_END - 0x1000, MADV_DONTNEED);
	printf("%-32s -> %ld\n", "madvise DONTNEED monitor area", r);
	still_alive("madvise monitor area");
	r = RS(SYS_mmap, 0, VMM_GA_SYS_END, RW, ANON, -1, 0);
	printf("%-32s -> %s\n", "mmap 2 MiB after that",
	       r > 0 && (unsigned long)r >= VMM_GA_SYS_END ? "elsewhere"
	       : r < 0					   ? "refused"
		       : "IN THE MONITOR AREA");
	if (r > 0 && (unsigned long)r < VMM_GA_SYS_END)
		failures++;

	must_fail("mmap SIZE_MAX", RS(SYS_mmap, 0, -1L, RW, ANON, -1, 0));
	must_fail("mmap 1<<46", RS(SYS_mmap, 0, 1L << 46, RW, ANON, -1, 0));
	must_fail("mmap kernel FIXED", RS(SYS_mmap, 0xffff800000000000UL, 4096,
					  RW, ANON | MAP_FIXED, -1, 0));
	must_fail("mremap to 1<<46",
		  RS(SYS_mremap, p, 4096, 1L << 46, MREMAP_MAYMOVE));
	must_fail("mprotect wraps", RS(SYS_mprotect, p, -4096L, RW));
	must_fail("readv iovcnt 1<<30", RS(SYS_readv, 0, p, 1 << 30));
	must_fail("getrandom 1<<40", RS(SYS_getrandom, p, 1L << 40, 0));
	must_fail("write SIZE_MAX", RS(SYS_write, 1, p, -1L));

	r = RS(SYS_brk, -1L);
	printf("%-32s -> %s\n", "brk ~0", r == brk0 ? "unmoved" : "MOVED");
	failures += r != brk0;
	r = RS(SYS_brk, 0x1000);
	printf("%-32s -> %s\n", "brk into monitor area",
	       r == brk0 ? "unmoved" : "MOVED");
	failures += r != brk0;
	r = RS(SYS_brk, brk0 + 4096);
	printf("%-32s -> %s\n", "brk +4096 still works",
	       r == brk0 + 4096 ? "yes" : "NO");
	failures += r != brk0 + 4096;

	memset(p, 0x5a, 1 << 20);
	r = RS(SYS_madvise, p, 1 << 20, MADV_DONTNEED);
	printf("%-32s -> %ld, reads %d\n", "madvise DONTNEED own", r, p[4096]);
	if (r == 0 && p[4096] != 0)
		failures++;
	still_alive("everything");
	printf("%d unsafe\n", failures);
	return failures != 0;
}
