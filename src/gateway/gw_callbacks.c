/* gw_callbacks.c: delivers X-Callback-Url callbacks from the durable `callbacks` consumer of SUKIMA_DONE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/sk_log.h"
#include "common/sk_pull.h"
#include "gateway/gw.h"
#include "gateway/gw_replicas.h"

#define CB_BATCH	32
#define CB_EXPIRES_MS	1000 /* one pull request lives 1 s */
#define CB_MAX_ATTEMPTS 5
#define CB_BACKOFF_MS	1000

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

/* The HTTP status the sync path would have answered with. */
static int sync_status(const struct sk_result *r)
{
	switch (r->status) {
	case SK_ST_SUCCEEDED:
		return 200;
	case SK_ST_TIMED_OUT:
		return 504;
	default:
		return 502;
	}
}

/* POST the result to url.  0 on a 2xx answer, else -EIO. */
static int deliver(struct gw *g, CURL *h, const char *url,
		   const struct sk_result *r)
{
	struct curl_slist *hd = NULL;
	char line[256];
	long code = 0;
	CURLcode cc;

	snprintf(line, sizeof(line), "X-Call-Id: %s", r->id);
	hd = curl_slist_append(hd, line);
	snprintf(line, sizeof(line), "X-Function-Name: %s", r->function);
	hd = curl_slist_append(hd, line);
	snprintf(line, sizeof(line), "X-Function-Status: %d", sync_status(r));
	hd = curl_slist_append(hd, line);
	if (r->started_at_us > 0 && r->ended_at_us >= r->started_at_us) {
		snprintf(line, sizeof(line), "X-Duration-Seconds: %.6f",
			 (double)(r->ended_at_us - r->started_at_us) / 1e6);
		hd = curl_slist_append(hd, line);
	}
	hd = curl_slist_append(hd, "Content-Type: application/octet-stream");
	hd = curl_slist_append(hd, "Expect:");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	/* A failed call posts its stderr tail, as the sync path shows it. */
	if (r->status == SK_ST_SUCCEEDED) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
				 r->output ? (const char *)r->output : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)r->output_len);
	} else {
		const char *e = r->stderr_tail ? r->stderr_tail : "";
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, e);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(e));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)g->o.callback_timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)g->o.callback_timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hd);
	if (cc != CURLE_OK) {
		sk_warn("callback %s for %s: %s", url, r->id,
			curl_easy_strerror(cc));
		return -EIO;
	}
	if (code < 200 || code > 299) {
		sk_warn("callback %s for %s: HTTP %ld", url, r->id, code);
		return -EIO;
	}
	return 0;
}

/* +ACK and friends go to the message's reply subject ($JS.ACK...). */
static void js_ack(struct gw *g, natsMsg *m, const char *what, int sync)
{
	const char *reply = natsMsg_GetReply(m);
	natsMsg *resp = NULL;

	if (!reply)
		return;
	if (sync)
		natsConnection_RequestString(&resp, g->n->nc, reply, what,
					     2000);
	else
		natsConnection_PublishString(g->n->nc, reply, what);
	natsMsg_Destroy(resp);
}

/*
 * The callback URL of call (id), or NULL when there is none.  Only the
 * gateway's own key counts (sk_calls "<id>.cb", written when the call was
 * accepted; the worker role may not write "*.cb", cmd_init.c): the event
 * is published by a worker, so its "callback" is only a hint that there is
 * one ("" saves the look-up), never the address (a stolen worker
 * credential would aim the gateway at any URL it can reach).
 */
static char *callback_url(struct gw *g, const char *data, int len,
			  const char *id)
{
	json_t *j = json_loadb(data, (size_t)len, 0, NULL);
	const char *hint = json_string_value(json_object_get(j, "callback"));
	char key[SK_ID_MAX + 8], *url = NULL;
	size_t l;

	if (j && (!hint || hint[0]) && sk_valid_id(id)) {
		snprintf(key, sizeof(key), "%s.cb", id);
		if (sk_kv_get(g->n, SK_B_CALLS, key, &url, &l, NULL) != 0)
			url = NULL;
	}
	json_decref(j);
	return url;
}

/*
 * An empty completion event: a worker that took over a call whose first
 * worker died between commit and announce says the result is committed
 * (the worker role may not read it).  Read it here: 0, or -ENOENT (no
 * such result) or another -errno (try again later).
 */
static int stored_event(struct gw *g, natsMsg *m, char **val, size_t *len)
{
	const char *subj = natsMsg_GetSubject(m);
	size_t pre = strlen(SK_SUBJ_DONE_CB);

	/* sk.done.cb.<id>; an unfiltered consumer (made by an older
	 * version) also delivers sk.done.<id>. */
	if (subj && strncmp(subj, SK_SUBJ_DONE_CB, pre) != 0)
		pre = strlen(SK_SUBJ_DONE);
	if (!subj || strncmp(subj, SK_SUBJ_DONE, strlen(SK_SUBJ_DONE)) != 0 ||
	    !sk_valid_id(subj + pre))
		return -ENOENT;
	return sk_kv_get(g->n, SK_B_RESULTS, subj + pre, val, len, NULL);
}

static void handle(struct gw *g, CURL *h, natsMsg *m)
{
	const char *data = natsMsg_GetData(m);
	int len = natsMsg_GetDataLength(m);
	struct sk_result r;
	char err[128], nak[64];
	uint64_t delivered = 1;
	char *url, *stored = NULL;

	if (len <= 0) {
		size_t l = 0;
		int rc = stored_event(g, m, &stored, &l);

		if (rc) {
			sk_warn("completion event %s: empty, %s (%s)",
				natsMsg_GetSubject(m),
				rc == -ENOENT ? "no result stored"
					      : strerror(-rc),
				rc == -ENOENT ? "dropped" : "later");
			js_ack(g, m,
			       rc == -ENOENT ? "+TERM"
					     : "-NAK {\"delay\":1000000000}",
			       0);
			return;
		}
		data = stored;
		len = (int)l;
	}
	if (sk_result_parse(&r, data, (size_t)(len < 0 ? 0 : len), err,
			    sizeof(err))) {
		sk_warn("completion event %s: %s (dropped)",
			natsMsg_GetSubject(m), err);
		js_ack(g, m, "+TERM", 0);
		free(stored);
		return;
	}
	url = callback_url(g, data, len, r.id);
	/* A redundant call's event must match its votes (gw_replicas.h). */
	if (url && gw_replicas_suspect(g, data, (size_t)(len < 0 ? 0 : len),
				       err, sizeof(err))) {
		sk_warn("callback %s for %s: not delivered: %s", url, r.id,
			err);
		free(url);
		url = NULL;
	}
	if (!url) {
		js_ack(g, m, "+ACK", 0);
		sk_result_free(&r);
		free(stored);
		return;
	}
	sk_js_ack_meta(natsMsg_GetReply(m), &delivered, NULL, NULL);
	if (deliver(g, h, url, &r) == 0) {
		atomic_fetch_add(&g->st.callbacks_ok, 1);
		js_ack(g, m, "+ACK", 1);
	} else if (delivered >= CB_MAX_ATTEMPTS) {
		atomic_fetch_add(&g->st.callbacks_failed, 1);
		sk_error("callback %s for %s: giving up after %llu attempts",
			 url, r.id, (unsigned long long)delivered);
		js_ack(g, m, "+TERM", 1);
	} else {
		snprintf(nak, sizeof(nak), "-NAK {\"delay\":%lld}",
			 (long long)delivered * CB_BACKOFF_MS * 1000000LL);
		js_ack(g, m, nak, 0);
	}
	free(url);
	sk_result_free(&r);
	free(stored);
}

/*
 * cnats 3.4.1's Fetch can ignore its timeout and has a heap overflow in
 * _fetch, so we pull through sk_pull: pull requests we publish ourselves
 * on a subscription we own, every wait bounded.
 */
void *gw_callbacks_main(void *arg)
{
	struct gw *g = arg;
	struct sk_pull *p = NULL;
	CURL *h = curl_easy_init();
	int rc;

	if (!h || sk_pull_open(g->n, SK_STREAM_DONE, SK_CONSUMER_CALLBACKS,
			       &p) != 0) {
		sk_error("callbacks: cannot start the puller");
		goto out;
	}
	while (!atomic_load(&g->stop)) {
		natsMsg *m = NULL;

		if (!sk_pull_outstanding(p) &&
		    (rc = sk_pull_request(p, CB_BATCH, CB_EXPIRES_MS)) != 0 &&
		    rc != -EBUSY) {
			struct timespec ts = {0, 200000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		rc = sk_pull_next(p, 250, &m);
		if (rc == SK_PULL_MSG) {
			if (atomic_load(&g->stop))
				js_ack(g, m, "-NAK", 0);
			else
				handle(g, h, m);
			sk_msg_free(m);
		} else if (rc < 0 && rc != -ETIMEDOUT) {
			struct timespec ts = {0, 200000000L};
			nanosleep(&ts, NULL);
		}
	}
	/* Let the last request expire so nothing races the close. */
	for (int i = 0; p && sk_pull_outstanding(p) && i < 20; i++) {
		natsMsg *m = NULL;
		if (sk_pull_next(p, 100, &m) == SK_PULL_MSG) {
			js_ack(g, m, "-NAK", 0);
			natsMsg_Destroy(m);
		}
	}
out:
	sk_pull_close(p);
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}
