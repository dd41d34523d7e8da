/* hostile_bomb.c: memory bomb. Takes memory until the allocator says no
 * ("malloc" 1 MiB blocks, "mmap" 1 MiB maps, "brk" 1 MiB steps, "huge"
 * absurd single requests), touching every page, then checks it got ENOMEM
 * (or the break stopped moving), frees it all, allocates again and exits 0.
 * Never run natively: it would eat the host. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB    (1UL << 20)
#define MAXBLK 65536 /* bounds the loop: 64 GiB */

static void *blk[MAXBLK];

static void touch(char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 4096)
		p[i] = (char)i;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "malloc";
	size_t n = 0, i;
	int err = 0;

	if (!strcmp(mode, "malloc")) {
		while (n < MAXBLK && (blk[n] = malloc(MIB)) != NULL)
			touch(blk[n++], MIB);
		err = errno;
		for (i = 0; i < n; i++)
			free(blk[i]);
	} else if (!strcmp(mode, "mmap")) {
		for (; n < MAXBLK; n++) {
			blk[n] = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (blk[n] == MAP_FAILED)
				break;
			touch(blk[n], MIB);
		}
		err = errno;
		for (i = 0; i < n; i++)
			munmap(blk[i], MIB);
	} else if (!strcmp(mode, "brk")) {
		char *start = (char *)syscall(SYS_brk, 0), *cur = start;
		for (; n < MAXBLK; n++) {
			char *want = cur + MIB;
			if ((char *)syscall(SYS_brk, want) != want)
				break;
			touch(cur, MIB);
			cur = want;
		}
		err = ENOMEM; /* brk reports failure by not moving */
		syscall(SYS_brk, start);
	} else if (!strcmp(mode, "huge")) {
		void *p = malloc((size_t)1 << 40);
		void *m = mmap(NULL, (size_t)1 << 46, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		err = (p == NULL && m == MAP_FAILED) ? ENOMEM : 0;
		free(p);
		if (m != MAP_FAILED)
			munmap(m, (size_t)1 << 46);
		n = 1;
	} else {
		fprintf(stderr, "usage: hostile_bomb malloc|mmap|brk|huge\n");
		return 2;
	}
	fprintf(stderr, "%s: %zu MiB before failure, errno %d\n", mode, n, err);
	if (err != ENOMEM || n == 0)
		return 1;
	/* The guest must still work after being refused: what it freed can
	 * be had again (1 MiB: as much as the first block, whatever --mem). */
	blk[0] = malloc(MIB);
	if (!blk[0])
		return 3;
	touch(blk[0], MIB);
	free(blk[0]);
	printf("contained\n");
	return 0;
}
