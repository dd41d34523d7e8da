/* exitcode.c: guest that exits with argv[1] (through exit, or _exit with
 * argv[2] = "raw"): the monitor's status must be the function's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int code = argc > 1 ? atoi(argv[1]) : 0;

	printf("exiting with %d\n", code);
	if (argc > 2 && !strcmp(argv[2], "raw")) {
		fflush(stdout);
		_exit(code);
	}
	exit(code);
}
