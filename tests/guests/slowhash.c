/* slowhash.c: a function whose output is checkable and whose run time is
 * known: sleeps 100-500 ms (or "MS:" leading the input), then prints the
 * SHA-256 of its whole input (churn tests and bench_churn). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sha256.h"

int main(void)
{
	static uint8_t in[1 << 20];
	size_t len = 0;
	ssize_t got;
	struct sha256 s;
	struct timespec ts;
	char hex[65];
	long ms = 0;
	size_t i = 0;

	while (len < sizeof(in) &&
	       (got = read(0, in + len, sizeof(in) - len)) > 0)
		len += (size_t)got;
	sha256_init(&s);
	sha256_update(&s, in, len);
	sha256_hex(&s, hex);
	/* "MS:..." sets the duration; otherwise the digest picks 100-500 ms. */
	while (i < len && i < 6 && in[i] >= '0' && in[i] <= '9')
		ms = ms * 10 + (in[i++] - '0');
	if (i == 0 || i >= len || in[i] != ':')
		ms = 100 + (long)(s.h[0] % 401); /* the digest picks it */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts))
		;
	printf("%s\n", hex);
	return 0;
}
