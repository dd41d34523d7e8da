/* hostile_flood.c: writes without end to stdout ("out", default) or to
 * stderr ("err"): the output limit must stop it. */
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char buf[65536];
	int fd = argc > 1 && !strcmp(argv[1], "err") ? 2 : 1;

	memset(buf, 'x', sizeof(buf));
	for (;;)
		if (write(fd, buf, sizeof(buf)) < 0)
			return 1;
}
