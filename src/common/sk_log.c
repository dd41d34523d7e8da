/* sk_log.c: one-line logging to stderr shared by CLI, gateway and worker. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/sk_log.h"

static char log_tag[32] = "sukima";
static enum sk_log_level log_level = SK_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sk_log_init(const char *tag, enum sk_log_level level)
{
	const char *env = getenv("SUKIMA_LOG");

	snprintf(log_tag, sizeof(log_tag), "%s", tag ? tag : "sukima");
	log_level = level;
	if (!env)
		return;
	for (int i = 0; i <= SK_LOG_DEBUG; i++)
		if (strcasecmp(env, level_names[i]) == 0)
			log_level = (enum sk_log_level)i;
}

int sk_log_enabled(enum sk_log_level level)
{
	return level <= log_level;
}

void sk_log(enum sk_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;

	if (level > log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n,
		     ".%03ldZ %s[%d] %s: ", (long)(tv.tv_usec / 1000), log_tag,
		     (int)getpid(), level_names[level]);
	if (r > 0)
		n += (size_t)r;
	if (n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep room for '\n' */
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	/* One write so that concurrent lines never interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
