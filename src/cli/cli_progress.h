/* cli_progress.h: a progress bar on stderr for large uploads (libcurl transfer callback). */
#ifndef SUKIMA_CLI_PROGRESS_H
#define SUKIMA_CLI_PROGRESS_H

#include <stddef.h>

/* Bodies at least this big get a bar (when stderr is a terminal). */
#define CLI_PROGRESS_MIN (4u << 20)

/*
 * Attach a progress bar to the curl easy handle (h) that will send (len)
 * bytes, when stderr is a terminal or $SUKIMA_PROGRESS=1 (tests), and
 * not when $SUKIMA_PROGRESS=0.  (h) is a CURL *.
 */
void cli_progress_attach(void *h, size_t len);

#endif
