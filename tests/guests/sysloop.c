/* sysloop.c: guest that makes N (argv[1]) getpid system calls, for the
 * per-syscall cost benchmark; raw syscall() so libc cannot cache. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0, i;
	long sum = 0;

	for (i = 0; i < n; i++)
		sum += syscall(SYS_getpid);
	return sum == 0 && n > 0; /* a pid is never 0 */
}
