/* hostile_loop.c: never ends on its own: "spin" (default) burns the CPU
 * without exits, "sys" loops on system calls, "sleep" asks for 1000 s. */
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "spin";
	volatile unsigned long n = 0;

	if (!strcmp(mode, "sleep")) {
		struct timespec ts = {1000, 0};
		for (;;)
			nanosleep(&ts, &ts);
	}
	if (!strcmp(mode, "sys"))
		for (;;)
			syscall(SYS_getpid);
	for (;;)
		n++;
}
