/* sha256gen.c: CPU-bound guest: SHA-256 of N MiB (argv[1], default 64)
 * generated in the guest, so no I/O is measured. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sha256.h"

int main(int argc, char **argv)
{
	static uint64_t chunk[8192]; /* 64 KiB */
	long mib = argc > 1 ? atol(argv[1]) : 64;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct sha256 s;
	char hex[65];
	long i;
	size_t j;

	if (mib < 0 || mib > 1 << 20) {
		fprintf(stderr, "sha256gen: bad size\n");
		return 2;
	}
	sha256_init(&s);
	for (i = 0; i < mib * 16; i++) {
		for (j = 0; j < sizeof(chunk) / sizeof(chunk[0]); j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			chunk[j] = x;
		}
		sha256_update(&s, chunk, sizeof(chunk));
	}
	sha256_hex(&s, hex);
	printf("%s  %ld MiB\n", hex, mib);
	return 0;
}
