/* gw_metrics.c: GET /metrics: this gateway's invocation counters plus cluster figures read from NATS. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/sk_hist.h"
#include "common/sk_log.h"
#include "gateway/gw_obs.h"

/*
 * Invocations answered by this gateway, by function and HTTP code.  The
 * table is bounded: a flood of 413s for made-up names must not grow it
 * without end (they are counted in `dropped` instead).
 */
#define INV_BUCKETS 256
#define INV_MAX	    4096
struct inv {
	struct inv *next;
	char fn[GW_NAME_MAX + 1];
	int code;
	uint64_t n;
	struct sk_hist h;
};

static pthread_mutex_t inv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inv *inv_tab[INV_BUCKETS];
static int inv_count;
static uint64_t inv_dropped;

/*
 * Workers' figures are cumulative since each worker started.  An entry
 * that leaves sk_workers (the worker left, or just missed its refresh and
 * will be back) keeps its last figures here, still summed, so the cluster
 * totals served never go down and a worker that reappears is not counted
 * twice.  Only when the table is full does the entry seen longest ago
 * move into `gone`.
 */
#define WK_MAX 1024
struct wk_fig {
	uint64_t redeliveries, duplicates, done;
	struct sk_hist start, warm, cold;
};
struct wk_seen {
	char id[SK_ID_MAX + 1];
	struct wk_fig f;
	int64_t seen_ms;
};
static pthread_mutex_t wk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wk_seen wk_seen[WK_MAX];
static int wk_nseen;
static struct wk_fig gone;

static unsigned hash_str(const char *s, int code)
{
	unsigned h = 2166136261u ^ (unsigned)code;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

void gw_metrics_response(struct gw_req *r, int status)
{
	const char *fn = r->m.name;
	struct inv *e;
	unsigned h;
	double secs;

	if (!r->m.route ||
	    (r->m.route->id != GW_R_INVOKE && r->m.route->id != GW_R_ASYNC))
		return;
	/* An unknown name is not a function: no series for it. */
	if (status == 404 || !gw_name_valid(fn))
		return;
	secs = (double)(sk_now_us() - r->t0_us) / 1e6;
	h = hash_str(fn, status) % INV_BUCKETS;
	pthread_mutex_lock(&inv_lock);
	for (e = inv_tab[h]; e; e = e->next)
		if (e->code == status && strcmp(e->fn, fn) == 0)
			break;
	if (!e && inv_count < INV_MAX) {
		e = calloc(1, sizeof(*e));
		if (e) {
			/* gw_name_valid: at most GW_NAME_MAX bytes. */
			memcpy(e->fn, fn, strlen(fn) + 1);
			e->code = status;
			e->next = inv_tab[h];
			inv_tab[h] = e;
			inv_count++;
		}
	}
	if (e) {
		e->n++;
		sk_hist_add(&e->h, secs);
	} else {
		inv_dropped++;
	}
	pthread_mutex_unlock(&inv_lock);
}

json_t *gw_js_api(struct gw *g, const char *api, const char *req)
{
	char subj[256];
	natsMsg *m = NULL;
	json_t *j;

	snprintf(subj, sizeof(subj), "$JS.API.%s", api);
	if (natsConnection_RequestString(&m, g->n->nc, subj, req ? req : "",
					 2000) != NATS_OK)
		return NULL;
	j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0,
		       NULL);
	natsMsg_Destroy(m);
	if (j && (!json_is_object(j) || json_object_get(j, "error"))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* --- text output ---------------------------------------------------------- */

/* A label value from untrusted JSON: [a-z0-9_-], at most 32, else "other". */
static void clean_label(char *out, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s && s[i] && i + 1 < cap && i < 32; i++) {
		char c = s[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) ||
		      c == '_' || c == '-'))
			break;
		out[i] = c;
	}
	if (!s || s[i] || i == 0)
		snprintf(out, cap, "other");
	else
		out[i] = '\0';
}

static void hist_out(FILE *f, const char *name, const char *labels,
		     const struct sk_hist *h)
{
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";

	for (int i = 0; i < SK_HIST_N; i++) {
		cum += h->b[i];
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
			sk_hist_le[i], (unsigned long long)cum);
	}
	cum += h->b[SK_HIST_N];
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
		(unsigned long long)cum);
	fprintf(f, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", h->sum);
	fprintf(f, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", (unsigned long long)h->count);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist_merge(struct sk_hist *a, const struct sk_hist *b)
{
	for (int i = 0; i <= SK_HIST_N; i++)
		a->b[i] += b->b[i];
	a->count += b->count;
	a->sum += b->sum;
}

static void fig_merge(struct wk_fig *a, const struct wk_fig *b)
{
	a->redeliveries += b->redeliveries;
	a->duplicates += b->duplicates;
	a->done += b->done;
	hist_merge(&a->start, &b->start);
	hist_merge(&a->warm, &b->warm);
	hist_merge(&a->cold, &b->cold);
}

static uint64_t u64_of(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

static void hist_of(struct sk_hist *h, json_t *o)
{
	json_t *b = json_object_get(o, "b");

	memset(h, 0, sizeof(*h));
	if (!json_is_array(b) || json_array_size(b) != SK_HIST_N + 1)
		return;
	for (int i = 0; i <= SK_HIST_N; i++) {
		json_int_t v = json_integer_value(json_array_get(b, (size_t)i));
		h->b[i] = v > 0 ? (uint64_t)v : 0;
	}
	h->count = u64_of(o, "count");
	h->sum = json_number_value(json_object_get(o, "sum"));
}

/* A slot for a worker not in the table yet, or -1 (all live: skip it). */
static int wk_slot(int64_t now)
{
	int old = -1;

	if (wk_nseen < WK_MAX)
		return wk_nseen++;
	for (int k = 0; k < wk_nseen; k++)
		if (wk_seen[k].seen_ms < now &&
		    (old < 0 || wk_seen[k].seen_ms < wk_seen[old].seen_ms))
			old = k;
	if (old >= 0)
		fig_merge(&gone, &wk_seen[old].f);
	return old;
}

/*
 * Fold the listed workers' figures (sk_workers entries) into the table and
 * the table into (sum).  A worker whose counters went down restarted under
 * the same id: its old figures move to `gone`.
 */
static void workers_fold(json_t *arr, struct wk_fig *sum)
{
	int64_t now = sk_mono_ms();
	size_t i;
	json_t *w;

	pthread_mutex_lock(&wk_lock);
	json_array_foreach(arr, i, w)
	{
		const char *id = json_string_value(json_object_get(w, "id"));
		json_t *st = json_object_get(w, "stats");
		struct wk_fig f = {0};
		int k;

		if (!id || strlen(id) > SK_ID_MAX)
			continue;
		f.duplicates = u64_of(w, "duplicates");
		f.done = u64_of(w, "done");
		f.redeliveries = u64_of(st, "redeliveries");
		hist_of(&f.start, json_object_get(st, "vm_start"));
		hist_of(&f.warm, json_object_get(st, "warm"));
		hist_of(&f.cold, json_object_get(st, "cold"));
		for (k = 0; k < wk_nseen; k++)
			if (strcmp(wk_seen[k].id, id) == 0)
				break;
		if (k == wk_nseen) {
			k = wk_slot(now);
			if (k < 0)
				continue;
			snprintf(wk_seen[k].id, sizeof(wk_seen[k].id), "%s",
				 id);
		} else if (f.done < wk_seen[k].f.done ||
			   f.redeliveries < wk_seen[k].f.redeliveries ||
			   f.warm.count < wk_seen[k].f.warm.count ||
			   f.cold.count < wk_seen[k].f.cold.count) {
			fig_merge(&gone, &wk_seen[k].f);
		}
		wk_seen[k].f = f;
		wk_seen[k].seen_ms = now;
	}
	*sum = gone;
	for (int k = 0; k < wk_nseen; k++)
		fig_merge(sum, &wk_seen[k].f);
	pthread_mutex_unlock(&wk_lock);
}

/*
 * A label value from untrusted JSON, escaped as the text format wants
 * (backslash, double quote, newline) and cut at 64 bytes.
 */
static void label_value(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	/* Stop at 64 bytes, but never inside a UTF-8 sequence. */
	for (size_t i = 0; s && s[i] && o + 3 < cap &&
			   (i < 64 || ((unsigned char)s[i] & 0xC0) == 0x80);
	     i++) {
		char c = s[i];

		if (c == '\\' || c == '"' || c == '\n') {
			out[o++] = '\\';
			c = c == '\n' ? 'n' : c;
		}
		out[o++] = c;
	}
	out[o] = '\0';
}

/* One series per live worker: who lends time, and how busy it is. */
static void per_worker_out(FILE *f, json_t *arr)
{
	/* 64 bytes escaped (x2) plus a split UTF-8 sequence fit. */
	char id[160], name[160], host[160], os[160], arch[160], fl[160],
		ver[160];
	size_t i;
	json_t *w;

	head(f, "sukima_worker_info", "gauge",
	     "One per live worker (value 1), its description in labels.");
	json_array_foreach(arr, i, w)
	{
		label_value(id, sizeof(id),
			    json_string_value(json_object_get(w, "id")));
		label_value(name, sizeof(name),
			    json_string_value(json_object_get(w, "name")));
		label_value(host, sizeof(host),
			    json_string_value(json_object_get(w, "hostname")));
		label_value(os, sizeof(os),
			    json_string_value(json_object_get(w, "os")));
		label_value(arch, sizeof(arch),
			    json_string_value(json_object_get(w, "arch")));
		label_value(fl, sizeof(fl),
			    json_string_value(json_object_get(w, "flavour")));
		label_value(ver, sizeof(ver),
			    json_string_value(json_object_get(w, "version")));
		fprintf(f,
			"sukima_worker_info{worker=\"%s\",name=\"%s\",host=\"%"
			"s\","
			"os=\"%s\",arch=\"%s\",flavour=\"%s\",version=\"%s\"} "
			"1\n",
			id, name, host, os, arch, fl, ver);
	}
	head(f, "sukima_worker_slots", "gauge",
	     "Slots of each live worker, busy or free.");
	json_array_foreach(arr, i, w)
	{
		uint64_t slots = u64_of(w, "slots"), busy = u64_of(w, "busy");

		label_value(id, sizeof(id),
			    json_string_value(json_object_get(w, "id")));
		fprintf(f,
			"sukima_worker_slots{worker=\"%s\",state=\"busy\"} "
			"%llu\n",
			id, (unsigned long long)busy);
		fprintf(f,
			"sukima_worker_slots{worker=\"%s\",state=\"free\"} "
			"%llu\n",
			id,
			(unsigned long long)(slots > busy ? slots - busy : 0));
	}
	head(f, "sukima_worker_load1", "gauge",
	     "1-minute load average of each live worker's PC.");
	json_array_foreach(arr, i, w)
	{
		label_value(id, sizeof(id),
			    json_string_value(json_object_get(w, "id")));
		fprintf(f, "sukima_worker_load1{worker=\"%s\"} %.2f\n", id,
			json_number_value(json_object_get(w, "load")));
	}
}

static void cluster_out(struct gw *g, FILE *f)
{
	static const char *states[] = {"idle", "owner", "suspended", "vacating",
				       "draining"};
	json_t *arr = gw_kv_list(g, SK_B_WORKERS), *fns, *w, *ci;
	uint64_t busy = 0, slots = 0;
	struct wk_fig sum;
	char st[40], subj[128];
	size_t i;

	head(f, "sukima_workers", "gauge",
	     "Live workers (sk_workers entries) by state; cluster-wide.");
	for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
		uint64_t n = 0;
		json_array_foreach(arr, i, w)
		{
			clean_label(
				st, sizeof(st),
				json_string_value(json_object_get(w, "state")));
			n += strcmp(st, states[k]) == 0;
		}
		fprintf(f, "sukima_workers{state=\"%s\"} %llu\n", states[k],
			(unsigned long long)n);
	}
	{
		uint64_t other = 0;
		json_array_foreach(arr, i, w)
		{
			int known = 0;
			clean_label(
				st, sizeof(st),
				json_string_value(json_object_get(w, "state")));
			for (size_t k = 0; k < sizeof(states) / sizeof(*states);
			     k++)
				known |= strcmp(st, states[k]) == 0;
			other += !known;
			slots += u64_of(w, "slots");
			busy += u64_of(w, "busy");
		}
		fprintf(f, "sukima_workers{state=\"other\"} %llu\n",
			(unsigned long long)other);
	}
	head(f, "sukima_slots", "gauge",
	     "Invocation slots of live workers: busy or free; cluster-wide.");
	fprintf(f, "sukima_slots{state=\"busy\"} %llu\n",
		(unsigned long long)busy);
	fprintf(f, "sukima_slots{state=\"free\"} %llu\n",
		(unsigned long long)(slots > busy ? slots - busy : 0));

	per_worker_out(f, arr);

	memset(&sum, 0, sizeof(sum));
	workers_fold(arr, &sum); /* NULL: no entries */
	json_decref(arr);
	head(f, "sukima_redeliveries_total", "counter",
	     "Work messages delivered to a worker more than once (a lease "
	     "expired, a worker vanished); workers seen by this gateway.");
	fprintf(f, "sukima_redeliveries_total %llu\n",
		(unsigned long long)sum.redeliveries);
	head(f, "sukima_duplicate_results_total", "counter",
	     "Results dropped because another attempt committed first.");
	fprintf(f, "sukima_duplicate_results_total %llu\n",
		(unsigned long long)sum.duplicates);
	head(f, "sukima_worker_invocations_total", "counter",
	     "Invocations completed by workers (results committed).");
	fprintf(f, "sukima_worker_invocations_total %llu\n",
		(unsigned long long)sum.done);
	head(f, "sukima_vm_start_seconds", "histogram",
	     "Start of a warm micro-VM (monitor spawn to snapshot ready).");
	hist_out(f, "sukima_vm_start_seconds", "", &sum.start);
	head(f, "sukima_invocation_seconds", "histogram",
	     "Run time of one invocation on a worker; mode=warm: restored "
	     "from a snapshot, mode=cold: a fresh micro-VM (start included).");
	hist_out(f, "sukima_invocation_seconds", "mode=\"warm\"", &sum.warm);
	hist_out(f, "sukima_invocation_seconds", "mode=\"cold\"", &sum.cold);

	snprintf(subj, sizeof(subj), "CONSUMER.INFO.%s.%sx86_64",
		 SK_STREAM_WORK, SK_CONSUMER_PREFIX);
	ci = gw_js_api(g, subj, NULL);
	head(f, "sukima_queue_depth", "gauge",
	     "Invocations queued and not yet delivered to any worker "
	     "(consumer num_pending).");
	if (ci)
		fprintf(f, "sukima_queue_depth{arch=\"x86_64\"} %llu\n",
			(unsigned long long)u64_of(ci, "num_pending"));
	head(f, "sukima_queue_in_flight", "gauge",
	     "Invocations delivered and not yet acknowledged (consumer "
	     "num_ack_pending).");
	if (ci)
		fprintf(f, "sukima_queue_in_flight{arch=\"x86_64\"} %llu\n",
			(unsigned long long)u64_of(ci, "num_ack_pending"));
	json_decref(ci);

	fns = gw_kv_list(g, SK_B_FUNCTIONS);
	head(f, "gateway_service_count", "gauge",
	     "Deployed functions (replicas setting); cluster-wide.");
	json_array_foreach(fns, i, w)
	{
		const char *n = json_string_value(json_object_get(w, "name"));
		json_int_t rep =
			json_integer_value(json_object_get(w, "replicas"));
		if (n && gw_name_valid(n))
			fprintf(f,
				"gateway_service_count{function_name=\"%s\"} "
				"%lld\n",
				n, (long long)(rep > 0 ? rep : 1));
	}
	json_decref(fns);
}

static void gateway_out(struct gw *g, FILE *f)
{
	char labels[128];

	pthread_mutex_lock(&inv_lock);
	head(f, "gateway_function_invocation_total", "counter",
	     "Invocations answered by this gateway, by function and HTTP "
	     "code (202: async call queued).");
	for (int b = 0; b < INV_BUCKETS; b++)
		for (struct inv *e = inv_tab[b]; e; e = e->next)
			fprintf(f,
				"gateway_function_invocation_total{function_"
				"name=\"%s\",code=\"%d\"} %llu\n",
				e->fn, e->code, (unsigned long long)e->n);
	head(f, "gateway_functions_seconds", "histogram",
	     "Time from request to response at this gateway, by function "
	     "and HTTP code.");
	for (int b = 0; b < INV_BUCKETS; b++)
		for (struct inv *e = inv_tab[b]; e; e = e->next) {
			snprintf(labels, sizeof(labels),
				 "function_name=\"%s\",code=\"%d\"", e->fn,
				 e->code);
			hist_out(f, "gateway_functions_seconds", labels, &e->h);
		}
	head(f, "sukima_gateway_series_dropped_total", "counter",
	     "Invocations not counted by function: the series table is "
	     "full.");
	fprintf(f, "sukima_gateway_series_dropped_total %llu\n",
		(unsigned long long)inv_dropped);
	pthread_mutex_unlock(&inv_lock);

	head(f, "sukima_gateway_http_requests_total", "counter",
	     "HTTP requests received by this gateway.");
	fprintf(f, "sukima_gateway_http_requests_total %llu\n",
		(unsigned long long)atomic_load(&g->st.requests));
	head(f, "sukima_gateway_http_responses_total", "counter",
	     "HTTP responses sent by this gateway, by status class.");
	for (int c = 1; c <= 5; c++)
		fprintf(f,
			"sukima_gateway_http_responses_total{class=\"%dxx\"} "
			"%llu\n",
			c, (unsigned long long)atomic_load(&g->st.status[c]));
	head(f, "sukima_gateway_calls_total", "counter",
	     "Calls handled by this gateway: sync, async, sync calls no "
	     "worker started in time (nostart), sync calls timed out.");
	fprintf(f, "sukima_gateway_calls_total{kind=\"sync\"} %llu\n",
		(unsigned long long)atomic_load(&g->st.sync_calls));
	fprintf(f, "sukima_gateway_calls_total{kind=\"async\"} %llu\n",
		(unsigned long long)atomic_load(&g->st.async_calls));
	fprintf(f, "sukima_gateway_calls_total{kind=\"nostart\"} %llu\n",
		(unsigned long long)atomic_load(&g->st.nostart));
	fprintf(f, "sukima_gateway_calls_total{kind=\"timeout\"} %llu\n",
		(unsigned long long)atomic_load(&g->st.timeouts));
	head(f, "sukima_gateway_callbacks_total", "counter",
	     "X-Callback-Url deliveries by this gateway.");
	fprintf(f, "sukima_gateway_callbacks_total{result=\"ok\"} %llu\n",
		(unsigned long long)atomic_load(&g->st.callbacks_ok));
	fprintf(f, "sukima_gateway_callbacks_total{result=\"failed\"} %llu\n",
		(unsigned long long)atomic_load(&g->st.callbacks_failed));
	pthread_mutex_lock(&g->lock);
	int waiting = g->ncalls;
	pthread_mutex_unlock(&g->lock);
	head(f, "sukima_gateway_waiting_calls", "gauge",
	     "Sync calls waiting for their result at this gateway.");
	fprintf(f, "sukima_gateway_waiting_calls %d\n", waiting);
	head(f, "sukima_gateway_uptime_seconds", "gauge",
	     "Seconds since this gateway started.");
	fprintf(f, "sukima_gateway_uptime_seconds %lld\n",
		(long long)((sk_now_us() - g->started_us) / 1000000));
}

int gw_metrics_serve(struct gw_req *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (!f)
		return gw_respond_error(r, 500, "out of memory");
	gateway_out(r->g, f);
	cluster_out(r->g, f);
	if (fclose(f) != 0) {
		free(buf);
		return gw_respond_error(r, 500, "out of memory");
	}
	ret = gw_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8",
			 buf, len);
	free(buf);
	return ret;
}

int gw_obs_dispatch(struct gw_req *r)
{
	switch (r->m.route->id) {
	case GW_R_METRICS:
		return gw_metrics_serve(r);
	case GW_R_LOGS:
		return gw_logs_serve(r);
	case GW_R_UI:
		return gw_ui_serve(r);
	default:
		return gw_respond_error(r, 404, "no route");
	}
}
