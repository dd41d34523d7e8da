/* hello.c: example function: greets the caller, showing the HTTP request it got
 * through the classic-watchdog environment (Http_Method, Http_Path, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

int main(void)
{
	char name[256];
	ssize_t n = read(0, name, sizeof(name) - 1);

	if (n < 0)
		return 1;
	name[n] = '\0';
	/* The request body is the name; trailing newlines are not part of it. */
	while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == '\r'))
		name[--n] = '\0';
	printf("Hello, %s!\n", n > 0 ? name : "world");
	printf("method=%s path=%s query=%s\n", env_or("Http_Method", "-"),
	       env_or("Http_Path", "/"), env_or("Http_Query", ""));
	return 0;
}
