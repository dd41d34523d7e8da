/* bigout.c: guest that writes N MiB (argv[1], default 8) of a pattern in
 * one write() call per attempt, so the monitor sees writes far larger than
 * a pipe holds and must report partial writes honestly. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 8;
	size_t n, off = 0, i;
	char *buf;

	if (mib < 1 || mib > 32)
		return 2;
	n = (size_t)mib << 20;
	buf = malloc(n);
	if (!buf)
		return 3;
	for (i = 0; i < n; i++)
		buf[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	while (off < n) {
		ssize_t w = write(1, buf + off, n - off);

		if (w <= 0)
			return 4;
		off += (size_t)w;
	}
	return 0;
}
