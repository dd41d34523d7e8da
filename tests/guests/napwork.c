/* napwork.c: reads its request, naps argv[1] ms, then hashes argv[2] MiB
 * generated in the guest: a function that is surely still running when a
 * test pauses it, and whose answer shows it ran to the end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sha256.h"

int main(int argc, char **argv)
{
	static uint64_t chunk[8192]; /* 64 KiB */
	long ms = argc > 1 ? atol(argv[1]) : 1000;
	long mib = argc > 2 ? atol(argv[2]) : 8;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	size_t in = 0;
	ssize_t n;
	char buf[4096], hex[65];
	struct sha256 s;

	while ((n = read(0, buf, sizeof(buf))) > 0)
		in += (size_t)n;
	if (ms < 0 || mib < 0 || mib > 4096)
		return 2;
	while (nanosleep(&ts, &ts) != 0)
		;
	sha256_init(&s);
	for (long i = 0; i < mib * 16; i++) {
		for (size_t j = 0; j < sizeof(chunk) / sizeof(chunk[0]); j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			chunk[j] = x;
		}
		sha256_update(&s, chunk, sizeof(chunk));
	}
	sha256_hex(&s, hex);
	printf("%s  %ld MiB after %ld ms, %zu bytes in\n", hex, mib, ms, in);
	return 0;
}
