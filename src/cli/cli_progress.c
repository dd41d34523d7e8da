/* cli_progress.c: a progress bar on stderr for large uploads, redrawn when the percentage changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli_progress.h"

#define BAR_WIDTH 30

struct progress {
	int last; /* percentage drawn last, -1 before the first */
	int done;
};

static int on_progress(void *u, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct progress *p = u;
	char bar[BAR_WIDTH + 1];
	int pct, fill;

	if (ultotal <= 0 || p->done)
		return 0;
	pct = (int)(ulnow * 100 / ultotal);
	if (pct == p->last)
		return 0;
	p->last = pct;
	fill = pct * BAR_WIDTH / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
	bar[BAR_WIDTH] = '\0';
	fprintf(stderr, "\rupload [%s] %3d%% %6.1f / %.1f MiB", bar, pct,
		(double)ulnow / 1048576, (double)ultotal / 1048576);
	if (ulnow >= ultotal) {
		fputc('\n', stderr);
		p->done = 1;
	}
	fflush(stderr);
	return 0;
}

void cli_progress_attach(void *h, size_t len)
{
	static struct progress p; /* one transfer at a time in the CLI */
	const char *e = getenv("SUKIMA_PROGRESS");
	int on = e && *e ? strcmp(e, "0") != 0 : isatty(2);

	if (len < CLI_PROGRESS_MIN || !on)
		return;
	p.last = -1;
	p.done = 0;
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &p);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}
