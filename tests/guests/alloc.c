/* alloc.c: guest that allocates and frees large blocks (malloc through brk
 * and mmap, realloc, calloc, raw mmap/mremap/mprotect/munmap, raw brk),
 * checks every byte, and prints a checksum. Peak use stays under 32 MiB. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t sum;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != (unsigned char)(i * 31 + seed))
			return -1;
		sum = sum * 1099511628211ull + p[i];
	}
	return 0;
}

static int fail(const char *what)
{
	printf("FAIL %s\n", what);
	return 1;
}

int main(void)
{
	static const size_t sizes[] = {
		16,	1000,	 4096,	  100000,	   131072,
		200000, 1 << 20, 3 << 20, (5 << 20) + 123, 8 << 20,
	};
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	unsigned char *blk[NS], *p, *q;
	size_t i;
	int round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < NS; i++) {
			blk[i] = malloc(sizes[i]);
			if (!blk[i])
				return fail("malloc");
			fill(blk[i], sizes[i], (unsigned)(i + round));
		}
		for (i = 0; i < NS; i++)
			if (check(blk[i], sizes[i], (unsigned)(i + round)))
				return fail("malloc contents");
		for (i = 0; i < NS; i += 2)
			free(blk[i]);
		for (i = 1; i < NS; i += 2) {
			p = realloc(blk[i], sizes[i] * 2);
			if (!p)
				return fail("realloc");
			if (check(p, sizes[i], (unsigned)(i + round)))
				return fail("realloc contents");
			free(p);
		}
	}

	p = calloc(4 << 20, 1);
	if (!p)
		return fail("calloc");
	for (i = 0; i < (4u << 20); i++)
		if (p[i])
			return fail("calloc zero");
	free(p);

	p = mmap(NULL, 6 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail("mmap");
	for (i = 0; i < (6u << 20); i += 4096)
		if (p[i])
			return fail("mmap zero");
	fill(p, 6 << 20, 7);
	q = mremap(p, 6 << 20, 10 << 20, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return fail("mremap");
	if (check(q, 6 << 20, 7))
		return fail("mremap contents");
	if (mprotect(q, 4096, PROT_READ))
		return fail("mprotect");
	if (mprotect(q, 4096, PROT_READ | PROT_WRITE))
		return fail("mprotect back");
	if (munmap(q, 10 << 20))
		return fail("munmap");

	/* Fresh anonymous memory after munmap must be zero again. */
	p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail("mmap again");
	for (i = 0; i < (2u << 20); i++)
		if (p[i])
			return fail("mmap again zero");
	munmap(p, 2 << 20);

	/* Raw brk: musl's sbrk() refuses to move the break. */
	p = (unsigned char *)syscall(SYS_brk, 0);
	q = (unsigned char *)syscall(SYS_brk, p + (1 << 20));
	if (q != p + (1 << 20))
		return fail("brk grow");
	fill(p, 1 << 20, 9);
	if (check(p, 1 << 20, 9))
		return fail("brk contents");
	if ((unsigned char *)syscall(SYS_brk, p) != p)
		return fail("brk shrink");

	printf("alloc ok %016llx\n", (unsigned long long)sum);
	return 0;
}
