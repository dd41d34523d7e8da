/* wk_stats.h: a worker's figures for /metrics, published inside its sk_workers entry. */
#ifndef SUKIMA_WK_STATS_H
#define SUKIMA_WK_STATS_H

#include <stdint.h>

/* A work message delivered more than once reached this worker. */
void wk_stats_redelivery(void);
/* A warm (--serve) micro-VM took (us) to start and snapshot. */
void wk_stats_vm_start(int64_t us);
/* An invocation ran (warm: on a snapshot restore; else cold) for (us). */
void wk_stats_run(int warm, int64_t us);

/*
 * Add "stats" to a worker JSON document (sk_worker_json output):
 * {"redeliveries":N,"vm_start":H,"warm":H,"cold":H} where H =
 * {"b":[counts per bucket of sk_hist_le, +Inf last],"count":N,"sum":S}.
 * Consumes (json); returns the new document, or (json) unchanged when it
 * cannot be parsed (NULL stays NULL).  Thread-safe.
 */
char *wk_stats_decorate(char *json);

#endif
