/* echo.c: guest that copies stdin to stdout with raw read/write. */
#include <errno.h>
#include <unistd.h>

int main(void)
{
	static char buf[65536];
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) != 0) {
		ssize_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		while (off < n) {
			ssize_t w = write(1, buf + off, (size_t)(n - off));
			if (w <= 0)
				return 1;
			off += w;
		}
	}
	return 0;
}
