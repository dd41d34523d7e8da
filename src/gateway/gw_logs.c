/* gw_logs.c: GET /system/logs: invocation records (activations) read back from the results stream KV_sk_results. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/sk_log.h"
#include "gateway/gw_obs.h"

#define LOGS_LIMIT_DEF	 50
#define LOGS_LIMIT_MAX	 500
#define LOGS_SCAN_MAX	 2000	  /* stream messages read per request */
#define LOGS_LINES_MAX	 50	  /* stderr lines kept per record */
#define LOGS_SINCE_SLACK 10000000 /* us: completion order vs end times */
/*
 * Every final result is committed once to sk_results, in completion
 * order: the bucket's stream is the activation log.  Its other messages
 * (replica votes, $KV.sk_results.<id>.<worker>) are skipped.
 */
#define LOGS_STREAM "KV_sk_results"
#define LOGS_PREFIX "$KV.sk_results."

/* "90s", "10m", "2h", "1d", "500ms", or plain seconds -> us.  -1 if bad. */
static int64_t parse_dur_us(const char *s)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v > 1e7)
		return -1;
	if (!*end || strcmp(end, "s") == 0)
		return (int64_t)(v * 1e6);
	if (strcmp(end, "ms") == 0)
		return (int64_t)(v * 1e3);
	if (strcmp(end, "m") == 0)
		return (int64_t)(v * 60e6);
	if (strcmp(end, "h") == 0)
		return (int64_t)(v * 3600e6);
	if (strcmp(end, "d") == 0)
		return (int64_t)(v * 86400e6);
	return -1;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/*
 * The final result at (seq): 1 with (*ev) set, 0 if there is none
 * (expired, a vote, not JSON), -1 if NATS did not answer.
 */
static int read_event(struct gw *g, uint64_t seq, json_t **ev)
{
	char req[64];
	natsMsg *m = NULL;
	json_t *j, *msg;
	const char *b64, *key;
	char *data;
	long n;

	*ev = NULL;
	snprintf(req, sizeof(req), "{\"seq\":%llu}", (unsigned long long)seq);
	if (natsConnection_RequestString(&m, g->n->nc,
					 "$JS.API.STREAM.MSG.GET." LOGS_STREAM,
					 req, 2000) != NATS_OK)
		return -1;
	j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0,
		       NULL);
	natsMsg_Destroy(m);
	msg = json_object_get(j, "message");
	key = json_string_value(json_object_get(msg, "subject"));
	b64 = json_string_value(json_object_get(msg, "data"));
	if (!b64 || !key || strncmp(key, LOGS_PREFIX, strlen(LOGS_PREFIX)) ||
	    strchr(key + strlen(LOGS_PREFIX), '.')) {
		json_decref(j);
		return 0;
	}
	n = (long)strlen(b64);
	data = malloc((size_t)n / 4 * 3 + 4);
	n = data ? sk_b64_decode(data, (size_t)n / 4 * 3 + 4, b64, (size_t)n, 0)
		 : -ENOMEM;
	json_decref(j);
	if (n < 0) {
		free(data);
		return 0;
	}
	*ev = json_loadb(data, (size_t)n, 0, NULL);
	free(data);
	if (!json_is_object(*ev)) {
		json_decref(*ev);
		*ev = NULL;
		return 0;
	}
	return 1;
}

/*
 * stderr tail -> at most LOGS_LINES_MAX lines.  The worker keeps only the
 * last SK_STDERR_MAX bytes, so a tail that long was (most likely) cut:
 * the first line then says so, as does one over LOGS_LINES_MAX lines.
 */
static json_t *stderr_lines(const char *s, int *truncated)
{
	json_t *a = json_array();
	size_t len = s ? strlen(s) : 0, nl = 0;
	const char *p = s, *e;

	*truncated = len >= SK_STDERR_MAX;
	if (!len)
		return a;
	if (s[len - 1] == '\n')
		len--;
	for (size_t i = 0; i < len; i++)
		nl += s[i] == '\n';
	/* Skip the oldest lines beyond the bound. */
	while (nl + 1 > LOGS_LINES_MAX) {
		p = strchr(p, '\n') + 1;
		nl--;
		*truncated = 1;
	}
	if (*truncated)
		json_array_append_new(
			a, json_string("[... earlier stderr truncated]"));
	while (p < s + len) {
		e = memchr(p, '\n', (size_t)(s + len - p));
		if (!e)
			e = s + len;
		json_array_append_new(a, json_stringn(p, (size_t)(e - p)));
		p = e + 1;
	}
	return a;
}

/* An activation record from a completion event (result JSON). */
static json_t *record(json_t *ev, uint64_t seq)
{
	json_int_t s = json_integer_value(json_object_get(ev, "started_at_us"));
	json_int_t e = json_integer_value(json_object_get(ev, "ended_at_us"));
	const char *err = json_string_value(json_object_get(ev, "stderr"));
	json_t *o = json_object(), *v;
	int trunc = 0;
	static const char *copy[] = {
		"id",	       "function",     "version",
		"worker",      "status",       "exit_code",
		"reason",      "queued_at_us", "started_at_us",
		"ended_at_us",
	};

	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		if ((v = json_object_get(ev, copy[i])))
			json_object_set(o, copy[i], v);
	json_object_set_new(o, "attempts",
			    json_integer(json_integer_value(
				    json_object_get(ev, "attempt"))));
	if (s > 0 && e >= s)
		json_object_set_new(o, "duration_seconds",
				    json_real((double)(e - s) / 1e6));
	json_object_set_new(o, "stderr", stderr_lines(err, &trunc));
	json_object_set_new(o, "stderr_truncated", json_boolean(trunc));
	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	return o;
}

static int matches(json_t *ev, const char *fn)
{
	const char *f = json_string_value(json_object_get(ev, "function"));

	return !fn || (f && strcmp(f, fn) == 0);
}

int gw_logs_serve(struct gw_req *r)
{
	struct gw *g = r->g;
	const char *fn = MHD_lookup_connection_value(
		r->conn, MHD_GET_ARGUMENT_KIND, "function");
	const char *since_s = MHD_lookup_connection_value(
		r->conn, MHD_GET_ARGUMENT_KIND, "since");
	const char *limit_s = MHD_lookup_connection_value(
		r->conn, MHD_GET_ARGUMENT_KIND, "limit");
	const char *after_s = MHD_lookup_connection_value(
		r->conn, MHD_GET_ARGUMENT_KIND, "after");
	uint64_t limit = LOGS_LIMIT_DEF, after = 0, first, last, seq;
	int64_t since_us = 0;
	json_t *si, *st, *out;
	int scanned = 0, have_after = after_s != NULL;

	if (fn && !*fn)
		fn = NULL;
	if (fn && !gw_name_valid(fn))
		return gw_respond_error(r, 400, "bad function name");
	if (limit_s && (parse_u64(limit_s, &limit) || limit == 0 ||
			limit > LOGS_LIMIT_MAX))
		return gw_respond_error(r, 400, "limit must be 1..%d",
					LOGS_LIMIT_MAX);
	if (after_s && parse_u64(after_s, &after))
		return gw_respond_error(r, 400,
					"after must be a cursor (a number)");
	if (since_s) {
		int64_t d = parse_dur_us(since_s);
		if (d < 0)
			return gw_respond_error(r, 400,
						"since must be a duration "
						"(30s, 10m, 2h, 1d)");
		since_us = sk_now_us() - d;
	}
	si = gw_js_api(g, "STREAM.INFO." LOGS_STREAM, NULL);
	st = json_object_get(si, "state");
	if (!st) {
		json_decref(si);
		return gw_respond_error(r, 503, "cannot read %s", LOGS_STREAM);
	}
	first = (uint64_t)json_integer_value(json_object_get(st, "first_seq"));
	last = (uint64_t)json_integer_value(json_object_get(st, "last_seq"));
	json_decref(si);
	out = json_array();
	if (last == 0 || (have_after && after >= last)) {
		/*
		 * Nothing new.  A cursor beyond the end means the stream was
		 * recreated (sequences restart): the follower resumes at its
		 * end instead of waiting for the old numbers forever.
		 */
		seq = last;
		goto done;
	}
	if (have_after) {
		/* Forward from the cursor: what completed since. */
		for (seq = after + 1 > first ? after + 1 : first;
		     seq <= last && scanned < LOGS_SCAN_MAX &&
		     json_array_size(out) < limit;
		     seq++, scanned++) {
			json_t *ev;
			int rc = read_event(g, seq, &ev);
			if (rc < 0)
				break;
			if (rc && matches(ev, fn) &&
			    json_integer_value(json_object_get(
				    ev, "ended_at_us")) >= since_us)
				json_array_append_new(out, record(ev, seq));
			json_decref(ev);
		}
		seq--; /* the last one read */
		goto done;
	}
	/* Backward from the newest, then returned oldest first. */
	for (uint64_t s = last;
	     s >= first && s > 0 && scanned < LOGS_SCAN_MAX &&
	     json_array_size(out) < limit;
	     s--, scanned++) {
		json_t *ev;
		int rc = read_event(g, s, &ev);
		json_int_t end;

		if (rc < 0)
			break;
		if (!rc)
			continue;
		end = json_integer_value(json_object_get(ev, "ended_at_us"));
		if (since_us && end < since_us - LOGS_SINCE_SLACK) {
			json_decref(ev);
			break;
		}
		if (matches(ev, fn) && end >= since_us)
			json_array_insert_new(out, 0, record(ev, s));
		json_decref(ev);
	}
	seq = last;
done:
	return gw_respond_json(r, 200,
			       json_pack("{s:o, s:I, s:i}", "invocations", out,
					 "cursor", (json_int_t)seq, "scanned",
					 scanned));
}
