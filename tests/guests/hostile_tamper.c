/* hostile_tamper.c: attacks the VMM's own structures inside guest memory.
 * Modes naming a structure of src/vmm/vmm_abi.h ("pml4", "pd", "gdt",
 * "idt", "tss", "stub") write hlt bytes over it directly: it is unmapped or
 * read-only, so that must page-fault (139). "viasys" asks the VMM to write
 * there for it (getrandom, clock_gettime, uname, read into each system
 * page): every one must be -EFAULT, as natively, where those pages are
 * unmapped too; then a system call must still work. "scan" knows no
 * layout: it walks guest memory outside its own image, heap and stack,
 * overwriting every page (noting those that look like page tables or code
 * holding an `out`) with hlt bytes, then makes a system call; it must end
 * contained (121 or 139), never hang. The walk skips addresses the VMM's
 * accessor refuses (probed with a one-byte getrandom into the page about
 * to be trashed anyway) and stops at the first one above the stack. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../src/vmm/vmm_abi.h"
#include "rawsys.h"

#define PAGE 4096UL

extern char __executable_start[], _end[];

static int probe(uintptr_t a) /* 1 if the VMM accepts a as guest memory */
{
	return RS(SYS_getrandom, (void *)a, 1, 0) == 1;
}

static int looks_like_table(const uint64_t *e)
{
	int i, present = 0;

	for (i = 0; i < 512; i++) {
		if (!e[i])
			continue;
		/* present, sane high bits: a PTE, PDE, PDPTE or PML4E */
		if (!(e[i] & 1) || (e[i] & 0x7ff0000000000000ull) ||
		    (e[i] & 0x000ffffffffff000ull) >= (1ull << 40))
			return 0;
		present++;
	}
	return present > 0;
}

static int has_out(const uint8_t *p)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		if (p[i] == 0xe6 || p[i] == 0xe7 || p[i] == 0xee ||
		    p[i] == 0xef)
			return 1;
	return 0;
}

static const struct {
	const char *name;
	uint64_t addr;
} sysarea[] = {
	{"pml4", VMM_GA_PML4}, {"pd", VMM_GA_PD},   {"gdt", VMM_GA_GDT},
	{"idt", VMM_GA_IDT},   {"tss", VMM_GA_TSS}, {"stub", VMM_GA_STUB},
};
#define NSYS (sizeof(sysarea) / sizeof(sysarea[0]))

static int via_syscalls(void)
{
	char in[16];
	size_t i;
	int bad = 0;

	for (i = 0; i < NSYS; i++) {
		uint64_t a = sysarea[i].addr;
		long r[4];
		int k;

		r[0] = RS(SYS_getrandom, a, 16, 0);
		r[1] = RS(SYS_clock_gettime, 1, a);
		r[2] = RS(SYS_uname, a);
		r[3] = RS(SYS_read, 0, a, 16);
		printf("%-5s %#7llx: getrandom %ld clock_gettime %ld uname %ld "
		       "read %ld\n",
		       sysarea[i].name, (unsigned long long)a, r[0], r[1], r[2],
		       r[3]);
		for (k = 0; k < 4; k++)
			bad += r[k] != -14;
	}
	/* the stub must still work, and stdin must be intact */
	printf("getpid ok: %s\n", RS(SYS_getpid) > 0 ? "yes" : "no");
	printf("read after: %ld\n", RS(SYS_read, 0, in, sizeof(in)));
	printf("%d not EFAULT\n", bad);
	return bad != 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "scan";
	size_t i;
	uintptr_t lo = (uintptr_t)__executable_start & ~(PAGE - 1);
	uintptr_t hi = ((uintptr_t)_end + PAGE - 1) & ~(PAGE - 1);
	uintptr_t sp = (uintptr_t)&mode & ~(PAGE - 1);
	uintptr_t brk = (uintptr_t)syscall(SYS_brk, 0);
	uintptr_t a;
	int hits = 0;

	if (!strcmp(mode, "viasys"))
		return via_syscalls();
	for (i = 0; i < NSYS; i++) {
		if (strcmp(mode, sysarea[i].name))
			continue;
		fprintf(stderr, "tamper: writing over %s at %#llx\n", mode,
			(unsigned long long)sysarea[i].addr);
		memset((void *)(uintptr_t)sysarea[i].addr, 0xf4, 64);
		RS(SYS_getpid);
		printf("still running after overwriting the %s\n", mode);
		return 0;
	}
	if (strcmp(mode, "scan")) {
		fprintf(stderr, "hostile_tamper: unknown mode %s\n", mode);
		return 2;
	}
	fprintf(stderr, "tamper %s: image %#lx-%#lx brk %#lx sp %#lx\n", mode,
		(unsigned long)lo, (unsigned long)hi, (unsigned long)brk,
		(unsigned long)sp);
	for (a = PAGE; a < (1ul << 32); a += PAGE) {
		int mine = (a >= lo && a < brk + PAGE) ||
			   (a + 256 * PAGE >= sp && a < sp + 64 * PAGE);
		if (mine)
			continue;
		if (!probe(a)) {
			if (a > sp)
				break;
			continue;
		}
		if (looks_like_table((const uint64_t *)a))
			fprintf(stderr, "tamper: table-like page %#lx\n",
				(unsigned long)a);
		else if (has_out((const uint8_t *)a))
			fprintf(stderr, "tamper: code-like page %#lx\n",
				(unsigned long)a);
		memset((void *)a, 0xf4, PAGE); /* hlt */
		hits++;
	}
	fprintf(stderr, "tamper: %d pages overwritten; now a syscall\n", hits);
	syscall(SYS_getpid);
	printf("still running after overwriting %d pages\n", hits);
	fflush(stdout);
	return 0;
}
