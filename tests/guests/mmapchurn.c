/* mmapchurn.c: guest that churns anonymous mappings: thousands of mmaps of
 * varied sizes, partial munmaps that split them, mremap grow/shrink/move,
 * mprotect of pieces. Fresh memory must read as zero, kept memory must
 * keep its bytes, and the address space must not leak (the same churn
 * runs twice and must still fit). Prints a checksum. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define SLOTS 12 /* live set <= 15 MiB: fits a 64 MiB guest */
#define PAGE  4096UL

struct slot {
	unsigned char *p;
	size_t len;
	unsigned char tag;
};

static uint64_t rng = 0x853c49e6748fea9bULL, sum;

static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static int zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 512)
		if (p[i])
			return 0;
	return 1;
}

static int kept(const struct slot *s)
{
	size_t i;

	for (i = 0; i < s->len; i += 512)
		if (s->p[i] != s->tag)
			return 0;
	return 1;
}

static void fill(struct slot *s)
{
	size_t i;

	for (i = 0; i < s->len; i += 512)
		s->p[i] = s->tag;
}

static int churn(int rounds)
{
	struct slot sl[SLOTS] = {{0}};
	int r, k;

	for (r = 0; r < rounds; r++) {
		struct slot *s = &sl[next() % SLOTS];
		unsigned op = (unsigned)(next() % 4);

		if (s->p && !kept(s)) {
			printf("FAIL round %d: contents lost\n", r);
			return -1;
		}
		if (!s->p) {
			s->len = (1 + next() % 256) * PAGE; /* up to 1 MiB */
			s->p = mmap(NULL, s->len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (s->p == MAP_FAILED) {
				printf("FAIL round %d: mmap %zu\n", r, s->len);
				return -1;
			}
			if (!zero(s->p, s->len)) {
				printf("FAIL round %d: fresh map not zero\n",
				       r);
				return -1;
			}
			s->tag = (unsigned char)(1 + next() % 255);
			fill(s);
		} else if (op == 0) { /* unmap all */
			munmap(s->p, s->len);
			s->p = NULL;
		} else if (op == 1 && s->len > PAGE) { /* unmap the tail */
			size_t keep = (1 + next() % (s->len / PAGE - 1)) * PAGE;
			if (munmap(s->p + keep, s->len - keep)) {
				printf("FAIL round %d: munmap tail\n", r);
				return -1;
			}
			s->len = keep;
		} else if (op == 2 &&
			   s->len <= (1UL << 20)) { /* grow, may move */
			size_t nlen = s->len + (1 + next() % 64) * PAGE;
			unsigned char *q =
				mremap(s->p, s->len, nlen, MREMAP_MAYMOVE);
			if (q == MAP_FAILED) {
				printf("FAIL round %d: mremap\n", r);
				return -1;
			}
			if (!zero(q + s->len, nlen - s->len)) {
				printf("FAIL round %d: grown part not zero\n",
				       r);
				return -1;
			}
			s->p = q;
			s->len = nlen;
			fill(s);
		} else { /* read-only, then back */
			if (mprotect(s->p, PAGE, PROT_READ) ||
			    mprotect(s->p, PAGE, PROT_READ | PROT_WRITE)) {
				printf("FAIL round %d: mprotect\n", r);
				return -1;
			}
		}
		sum = sum * 31 + (s->p ? s->len : 0);
	}
	for (k = 0; k < SLOTS; k++)
		if (sl[k].p)
			munmap(sl[k].p, sl[k].len);
	return 0;
}

int main(void)
{
	if (churn(800) || churn(800))
		return 1;
	printf("churn ok %016llx\n", (unsigned long long)sum);
	return 0;
}
