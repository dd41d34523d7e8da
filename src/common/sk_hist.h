/* sk_hist.h: the latency histogram shared by workers (which fill it) and gateways (which serve it as Prometheus). */
#ifndef SUKIMA_SK_HIST_H
#define SUKIMA_SK_HIST_H

#include <stdint.h>

/*
 * Upper bounds in seconds.  Fixed and identical everywhere, so a gateway
 * can add the histograms of many workers bucket by bucket; 0.5 ms .. 10 s
 * covers a warm run (sub-millisecond) up to a long cold one.
 */
#define SK_HIST_N 14
static const double sk_hist_le[SK_HIST_N] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1,	0.25,  0.5,    1,     2.5,  5,	   10,
};

/* Per-bucket counts (not cumulative); b[SK_HIST_N] counts the rest (+Inf). */
struct sk_hist {
	uint64_t b[SK_HIST_N + 1];
	uint64_t count;
	double sum; /* seconds */
};

static inline void sk_hist_add(struct sk_hist *h, double secs)
{
	int i = 0;

	if (secs < 0)
		secs = 0;
	while (i < SK_HIST_N && secs > sk_hist_le[i])
		i++;
	h->b[i]++;
	h->count++;
	h->sum += secs;
}

#endif
