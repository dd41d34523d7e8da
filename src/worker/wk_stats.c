/* wk_stats.c: counters and latency histograms of one worker, since it started. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_hist.h"
#include "worker/wk_stats.h"

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t redeliveries;
static struct sk_hist h_start, h_warm, h_cold;

void wk_stats_redelivery(void)
{
	pthread_mutex_lock(&stats_lock);
	redeliveries++;
	pthread_mutex_unlock(&stats_lock);
}

void wk_stats_vm_start(int64_t us)
{
	pthread_mutex_lock(&stats_lock);
	sk_hist_add(&h_start, (double)us / 1e6);
	pthread_mutex_unlock(&stats_lock);
}

void wk_stats_run(int warm, int64_t us)
{
	pthread_mutex_lock(&stats_lock);
	sk_hist_add(warm ? &h_warm : &h_cold, (double)us / 1e6);
	pthread_mutex_unlock(&stats_lock);
}

static json_t *hist_json(const struct sk_hist *h)
{
	json_t *b = json_array();

	for (int i = 0; b && i <= SK_HIST_N; i++)
		json_array_append_new(b, json_integer((json_int_t)h->b[i]));
	return json_pack("{s:o, s:I, s:f}", "b", b, "count",
			 (json_int_t)h->count, "sum", h->sum);
}

char *wk_stats_decorate(char *json)
{
	json_t *doc, *st;
	char *out;

	if (!json)
		return NULL;
	doc = json_loads(json, 0, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return json;
	}
	pthread_mutex_lock(&stats_lock);
	st = json_pack("{s:I, s:o, s:o, s:o}", "redeliveries",
		       (json_int_t)redeliveries, "vm_start",
		       hist_json(&h_start), "warm", hist_json(&h_warm), "cold",
		       hist_json(&h_cold));
	pthread_mutex_unlock(&stats_lock);
	if (st)
		json_object_set_new(doc, "stats", st);
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!out)
		return json;
	free(json);
	return out;
}
