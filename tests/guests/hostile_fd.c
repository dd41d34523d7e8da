/* hostile_fd.c: reads and writes on descriptors the function does not
 * have (or has the wrong way round), and on stdout once closed: Linux
 * says EBADF, so must the VMM. */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rawsys.h"

static int failures;

static void expect(const char *what, long r, int want)
{
	int got = r < 0 ? (int)-r : 0;

	printf("%-12s -> %ld\n", what, r);
	if (got != want) {
		printf("  MISMATCH: want -%d\n", want);
		failures++;
	}
}

int main(void)
{
	char buf[16] = "xxxxxxxxxxxxxxx";

	expect("write 3", RS(SYS_write, 3, buf, 4), EBADF);
	expect("write -1", RS(SYS_write, -1, buf, 4), EBADF);
	expect("write 1<<20", RS(SYS_write, 1 << 20, buf, 4), EBADF);
	expect("write 0", RS(SYS_write, 0, buf, 4), EBADF);
	expect("read 3", RS(SYS_read, 3, buf, 4), EBADF);
	expect("read -1", RS(SYS_read, -1, buf, 4), EBADF);
	expect("read 1", RS(SYS_read, 1, buf, 4), EBADF);
	expect("fstat 9", RS(SYS_fstat, 9, buf), EBADF);
	printf("%d mismatches\n", failures);
	fflush(stdout);
	/* A closed stdout stays closed: the status tells (stdout is gone). */
	if (RS(SYS_close, 1) != 0)
		return 3;
	if (RS(SYS_write, 1, buf, 4) != -EBADF)
		return 4;
	return failures != 0;
}
