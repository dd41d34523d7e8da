/* sha256.c: guest that prints the SHA-256 of stdin as sha256sum does. */
#include <stdio.h>
#include <unistd.h>

#include "sha256.h"

int main(void)
{
	static unsigned char buf[32768];
	struct sha256 s;
	char hex[65];
	ssize_t n;

	sha256_init(&s);
	while ((n = read(0, buf, sizeof(buf))) > 0)
		sha256_update(&s, buf, (size_t)n);
	if (n < 0)
		return 1;
	sha256_hex(&s, hex);
	printf("%s  -\n", hex);
	return 0;
}
