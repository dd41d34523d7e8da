/* gw_nats.c: the gateway's NATS side: replies of sync calls, deadlines, worker liveness, KV reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sk_log.h"
#include "common/sk_objstore.h"
#include "gateway/gw.h"

static unsigned call_hash(const char *id)
{
	unsigned h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % GW_CALL_BUCKETS;
}

void gw_call_add(struct gw *g, struct gw_call *c)
{
	unsigned h = call_hash(c->id);

	c->next = g->calls[h];
	g->calls[h] = c;
	g->ncalls++;
}

struct gw_call *gw_call_take(struct gw *g, const char *id)
{
	struct gw_call **pp = &g->calls[call_hash(id)];

	for (; *pp; pp = &(*pp)->next) {
		struct gw_call *c = *pp;
		if (strcmp(c->id, id) == 0) {
			*pp = c->next;
			c->next = NULL;
			g->ncalls--;
			return c;
		}
	}
	return NULL;
}

static struct gw_call *call_find(struct gw *g, const char *id)
{
	for (struct gw_call *c = g->calls[call_hash(id)]; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

/* Finish a taken call: the resume is the last touch, then MHD owns it. */
static void call_finish(struct gw_call *c, enum gw_call_state st)
{
	c->state = st;
	gw_http_resume(c->conn);
}

/*
 * The PubAck of a sync call's work message (msg id: <call id>, or
 * <call id>.r<k> for a replica).  A refusal (a JSON "error", or a status
 * answer such as 503, no responders) answers the waiting caller now; a
 * stored message needs nothing, its reply comes from a worker.
 */
static void pub_ack(struct gw *g, natsMsg *m, const char *msg_id)
{
	char call_id[SK_ID_MAX + 1], why[160] = "";
	const char *st = NULL;
	struct gw_call *c;

	if (natsMsg_GetDataLength(m) == 0) {
		if (natsMsgHeader_Get(m, "Status", &st) != NATS_OK || !st)
			return;
		snprintf(why, sizeof(why), "status %s", st);
	} else {
		json_t *o =
			json_loadb(natsMsg_GetData(m),
				   (size_t)natsMsg_GetDataLength(m), 0, NULL);
		json_t *e = json_object_get(o, "error");
		const char *d =
			json_string_value(json_object_get(e, "description"));

		if (e)
			snprintf(why, sizeof(why), "%s", d ? d : "refused");
		json_decref(o);
		if (!e)
			return;
	}
	snprintf(call_id, sizeof(call_id), "%.*s", (int)strcspn(msg_id, "."),
		 msg_id);
	pthread_mutex_lock(&g->lock);
	c = gw_call_take(g, call_id);
	if (c)
		call_finish(c, GW_CALL_ABORTED);
	pthread_mutex_unlock(&g->lock);
	sk_warn("publish of call %s failed: %s", call_id, why);
}

/* The answer of sync call (id), if it still waits here: 1 taken, else 0. */
static int take_result(struct gw *g, const char *id, natsMsg *msg)
{
	int len = natsMsg_GetDataLength(msg);
	struct gw_call *c;

	pthread_mutex_lock(&g->lock);
	c = len >= 0 ? gw_call_take(g, id) : NULL;
	if (c) {
		c->result = malloc((size_t)len + 1);
		if (c->result) {
			memcpy(c->result, natsMsg_GetData(msg), (size_t)len);
			c->result[len] = '\0';
			c->result_len = (size_t)len;
			call_finish(c, GW_CALL_DONE);
		} else {
			call_finish(c, GW_CALL_ABORTED);
		}
	}
	pthread_mutex_unlock(&g->lock);
	if (c)
		atomic_fetch_add(&g->st.replies, 1);
	return c != NULL;
}

/*
 * sk.reply.<gateway>.<id>: a worker's reply to a sync call (from a worker
 * that found the result committed already, or when sk_results does not
 * republish).  With republishing these are not read at all: the result
 * came on sk.result.<id> when it was committed (a call that missed it
 * reads sk_results before answering 504), and any worker that pulled the
 * call could forge a reply here (docs/security.md).
 * sk.reply.<gateway>.<msg id>.ack: the PubAck of a work
 * message.  One subscription and one delivery thread for both: an
 * asynchronous JetStream publish would add a thread of its own and wake
 * cnats' garbage collector for every call.
 */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		     void *closure)
{
	struct gw *g = closure;
	const char *subj = natsMsg_GetSubject(msg), *id;
	size_t pre = strlen(SK_SUBJ_REPLY) + strlen(g->id) + 1;

	(void)nc;
	(void)sub;
	if (subj && strlen(subj) > pre) {
		id = subj + pre;
		if (strchr(id, '.'))
			pub_ack(g, msg, id);
		else if (!g->n->results_republished && !take_result(g, id, msg))
			atomic_fetch_add(&g->st.late_replies, 1);
	}
	sk_msg_free(msg); /* no GC thread wake-up (sk_nats.h) */
}

/*
 * sk.result.<id>: every final result committed to sk_results, republished
 * by the server (sk_nats.c, results_republish).  Every gateway gets every
 * result; one not waited for here (async, another gateway's, too late)
 * is dropped after a lookup by its subject, before anything is parsed.
 */
static void on_result(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		      void *closure)
{
	const char *subj = natsMsg_GetSubject(msg);
	size_t pre = strlen(SK_SUBJ_RESULT);

	(void)nc;
	(void)sub;
	if (subj && strlen(subj) > pre)
		take_result(closure, subj + pre, msg);
	sk_msg_free(msg);
}

json_t *gw_kv_get_json(struct gw *g, enum sk_bucket b, const char *key,
		       uint64_t *rev)
{
	char *val = NULL;
	size_t len = 0;
	json_t *j;

	if (sk_kv_get(g->n, b, key, &val, &len, rev) != 0)
		return NULL;
	j = json_loadb(val, len, 0, NULL);
	free(val);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *gw_kv_list(struct gw *g, enum sk_bucket b)
{
	char **keys = NULL;
	size_t n = 0;
	json_t *a;

	if (sk_kv_keys(g->n, b, &keys, &n) != 0)
		return NULL;
	if (n > 1)
		qsort(keys, n, sizeof(*keys), cmp_str);
	a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *v = gw_kv_get_json(g, b, keys[i], NULL);
		if (v)
			json_array_append_new(a, v); /* skip vanished keys */
	}
	sk_kv_keys_free(keys, n);
	return a;
}

int gw_publish_work(struct gw *g, const char *arch, const char *id,
		    const char *sk_call, const void *body, size_t len)
{
	char subj[64];
	int rc;

	snprintf(subj, sizeof(subj), "%s%s", SK_SUBJ_WORK, arch);
	rc = sk_js_publish(g->n, subj, body, len, id, SK_HDR_CALL, sk_call, 3,
			   NULL);
	if (rc)
		sk_warn("publish %s for %s failed: %s", subj, id,
			strerror(-rc));
	return rc;
}

int gw_publish_work_async(struct gw *g, const char *arch, const char *id,
			  const char *sk_call, const void *body, size_t len)
{
	char subj[64], reply[128];
	natsMsg *m = NULL;
	natsStatus s;

	snprintf(subj, sizeof(subj), "%s%s", SK_SUBJ_WORK, arch);
	/* The PubAck comes to on_reply (a subject with a dot after the id). */
	snprintf(reply, sizeof(reply), "%s%s.%s.ack", SK_SUBJ_REPLY, g->id, id);
	s = natsMsg_Create(&m, subj, reply, body, (int)len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, SK_HDR_CALL, sk_call);
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(g->n->nc, m);
	sk_msg_free(m);
	if (s != NATS_OK) {
		sk_warn("publish %s for %s failed: %s", subj, id,
			natsStatus_GetText(s));
		return -EIO;
	}
	return 0;
}

static unsigned fn_hash(const char *name)
{
	return call_hash(name) % GW_FN_BUCKETS;
}

int gw_fn_cache_get(struct gw *g, const char *name, char **json, size_t *len)
{
	int64_t now = sk_mono_ms();
	int rc = -ENOENT;

	pthread_mutex_lock(&g->fn_lock);
	for (struct gw_fn *f = g->fns[fn_hash(name)]; f; f = f->next) {
		if (strcmp(f->name, name) != 0)
			continue;
		if (now - f->at_ms < GW_FN_TTL_MS) {
			*json = malloc(f->len + 1);
			if (*json) {
				memcpy(*json, f->json, f->len + 1);
				*len = f->len;
				rc = 0;
			}
		}
		break;
	}
	pthread_mutex_unlock(&g->fn_lock);
	return rc;
}

static void fn_free_all(struct gw *g)
{
	for (int b = 0; b < GW_FN_BUCKETS; b++)
		while (g->fns[b]) {
			struct gw_fn *f = g->fns[b];
			g->fns[b] = f->next;
			free(f->json);
			free(f);
		}
	g->nfns = 0;
}

void gw_fn_cache_drop(struct gw *g, const char *name)
{
	pthread_mutex_lock(&g->fn_lock);
	for (struct gw_fn **pp = &g->fns[fn_hash(name)]; *pp;
	     pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0) {
			struct gw_fn *f = *pp;
			*pp = f->next;
			free(f->json);
			free(f);
			g->nfns--;
			break;
		}
	}
	pthread_mutex_unlock(&g->fn_lock);
}

void gw_fn_cache_put(struct gw *g, const char *name, const char *json,
		     size_t len)
{
	struct gw_fn *f;
	char *copy;

	if (strlen(name) > SK_NAME_MAX)
		return;
	gw_fn_cache_drop(g, name);
	f = calloc(1, sizeof(*f));
	copy = malloc(len + 1);
	if (!f || !copy) {
		free(f);
		free(copy);
		return;
	}
	memcpy(copy, json, len);
	copy[len] = '\0';
	memcpy(f->name, name, strlen(name) + 1);
	f->json = copy;
	f->len = len;
	f->at_ms = sk_mono_ms();
	pthread_mutex_lock(&g->fn_lock);
	if (g->nfns >= GW_FN_MAX)
		fn_free_all(g); /* crude, but bounded */
	f->next = g->fns[fn_hash(name)];
	g->fns[fn_hash(name)] = f;
	g->nfns++;
	pthread_mutex_unlock(&g->fn_lock);
}

int gw_callback_save(struct gw *g, const char *id, const char *url)
{
	char key[SK_ID_LEN + 8];

	snprintf(key, sizeof(key), "%s.cb", id);
	return sk_kv_put(g->n, SK_B_CALLS, key, url, strlen(url), NULL);
}

/* Count workers that can take x86_64 work now. */
static void refresh_workers(struct gw *g)
{
	char **keys = NULL;
	size_t n = 0;
	int live = 0;

	if (sk_kv_keys(g->n, SK_B_WORKERS, &keys, &n) != 0)
		return; /* keep the last count while NATS is away */
	for (size_t i = 0; i < n; i++) {
		char *val = NULL;
		size_t len;
		struct sk_worker w;

		if (sk_kv_get(g->n, SK_B_WORKERS, keys[i], &val, &len, NULL))
			continue;
		if (sk_worker_parse(&w, val, len, NULL, 0) == 0 &&
		    strcmp(w.arch, "x86_64") == 0 &&
		    strcmp(w.state, "draining") != 0 &&
		    strcmp(w.state, "vacating") != 0)
			live++;
		free(val);
	}
	sk_kv_keys_free(keys, n);
	pthread_mutex_lock(&g->lock);
	g->live_workers = live;
	g->workers_at_ms = sk_mono_ms();
	pthread_mutex_unlock(&g->lock);
}

int gw_live_workers(struct gw *g)
{
	int live;
	int64_t at;

	pthread_mutex_lock(&g->lock);
	live = g->live_workers;
	at = g->workers_at_ms;
	pthread_mutex_unlock(&g->lock);
	/*
	 * A worker that joined a moment ago must not cost a 503: a zero is
	 * always checked again before it is believed, even when the last
	 * count is fresh, since that count may have been taken just before
	 * the worker's entry appeared (a caller that saw the worker in
	 * /system/nodes would then get "no live worker").  The check costs
	 * one KV listing, only on the path that is about to fail.
	 */
	(void)at;
	if (live == 0) {
		refresh_workers(g);
		pthread_mutex_lock(&g->lock);
		live = g->live_workers;
		pthread_mutex_unlock(&g->lock);
	}
	return live;
}

char *gw_callrec_json(const struct sk_callrec *cr)
{
	char *txt = sk_callrec_json(cr), *out;
	json_t *j;

	/*
	 * sk_callrec_parse() refuses an empty "worker" that sk_callrec_json()
	 * writes, and a worker replaces a record it cannot parse, which
	 * would undo a cancel: leave the key out until it has a value.
	 */
	if (!txt || cr->worker[0])
		return txt;
	j = json_loads(txt, 0, NULL);
	if (!j)
		return txt;
	json_object_del(j, "worker");
	out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!out)
		return txt;
	free(txt);
	return out;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * A sync call nobody started within start_wait: cancel it the way the
 * data model says (create-only, or expected-revision update of a queued
 * record), so either we cancel it or a worker started it, never both.
 */
static void check_start(struct gw *g, const char *id, const char *function)
{
	struct sk_callrec cr;
	char *txt, *val = NULL;
	size_t len;
	int rc, started = 0;
	struct gw_call *c;

	memset(&cr, 0, sizeof(cr));
	copy_str(cr.id, sizeof(cr.id), id);
	copy_str(cr.function, sizeof(cr.function), function);
	cr.status = SK_ST_CANCELLED;
	cr.reason = strdup("no worker started it within the gateway's wait");
	cr.ended_at_us = sk_now_us();
	txt = gw_callrec_json(&cr);
	sk_callrec_free(&cr);
	if (!txt)
		return;
	rc = sk_kv_create(g->n, SK_B_CALLS, id, txt, strlen(txt), NULL);
	free(txt);
	if (rc == -EEXIST &&
	    sk_kv_get(g->n, SK_B_CALLS, id, &val, &len, NULL) == 0) {
		if (sk_callrec_parse(&cr, val, len, NULL, 0) == 0 &&
		    cr.status != SK_ST_CANCELLED)
			started = 1;
		sk_callrec_free(&cr);
		free(val);
	} else if (rc != 0) {
		return; /* NATS trouble: look again on the next tick */
	}
	pthread_mutex_lock(&g->lock);
	if (started) {
		c = call_find(g, id);
		if (c)
			c->start_deadline_ms = 0;
	} else {
		c = gw_call_take(g, id);
		if (c) {
			atomic_fetch_add(&g->st.nostart, 1);
			call_finish(c, GW_CALL_NOSTART);
		}
	}
	pthread_mutex_unlock(&g->lock);
}

#define GW_TICK_MS 20
#define GW_CHECKS  64

void *gw_timer_main(void *arg)
{
	struct gw *g = arg;
	int64_t last_workers = 0;

	while (!atomic_load(&g->stop)) {
		struct timespec ts = {0, GW_TICK_MS * 1000000L};
		char ids[GW_CHECKS][SK_ID_LEN + 1];
		char fns[GW_CHECKS][SK_NAME_MAX + 1];
		int nchk = 0;
		int64_t now = sk_mono_ms();

		pthread_mutex_lock(&g->lock);
		for (int b = 0; g->ncalls && b < GW_CALL_BUCKETS; b++) {
			struct gw_call **pp = &g->calls[b];
			while (*pp) {
				struct gw_call *c = *pp;
				if (now >= c->deadline_ms) {
					*pp = c->next;
					g->ncalls--;
					atomic_fetch_add(&g->st.timeouts, 1);
					call_finish(c, GW_CALL_TIMEOUT);
					continue;
				}
				if (c->start_deadline_ms &&
				    now >= c->start_deadline_ms &&
				    nchk < GW_CHECKS) {
					memcpy(ids[nchk], c->id,
					       sizeof(ids[0]));
					memcpy(fns[nchk], c->function,
					       sizeof(fns[0]));
					/* Look again in 250 ms if still open. */
					c->start_deadline_ms = now + 250;
					nchk++;
				}
				pp = &c->next;
			}
		}
		pthread_mutex_unlock(&g->lock);
		for (int i = 0; i < nchk; i++)
			check_start(g, ids[i], fns[i]);
		if (now - last_workers >= 1000) {
			refresh_workers(g);
			last_workers = now;
		}
		nanosleep(&ts, NULL);
	}
	/* Shutting down: answer every waiting caller now. */
	pthread_mutex_lock(&g->lock);
	for (int b = 0; b < GW_CALL_BUCKETS; b++)
		while (g->calls[b]) {
			struct gw_call *c = g->calls[b];
			g->calls[b] = c->next;
			g->ncalls--;
			call_finish(c, GW_CALL_ABORTED);
		}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static struct gw *stop_gw;
static bool stop_requested(void)
{
	return stop_gw && atomic_load(&stop_gw->stop);
}

int gw_nats_open(struct gw *g)
{
	struct sk_nats_opts o = {
		.urls = g->o.nats_url,
		.name = "sukima-gateway",
		.connect_wait_ms = -1,
		.stop = stop_requested,
		.sec = sk_sec_any(&g->o.sec) ? &g->o.sec : NULL,
	};
	char subj[128];
	natsStatus s;
	int rc;

	stop_gw = g;
	rc = sk_nats_connect(&g->n, &o);
	if (rc)
		return rc;
	rc = sk_nats_setup(g->n, NULL);
	if (rc) {
		sk_error("cannot create the streams and buckets: %s",
			 strerror(-rc));
		return rc;
	}
	snprintf(subj, sizeof(subj), "%s%s.>", SK_SUBJ_REPLY, g->id);
	s = natsConnection_Subscribe(&g->reply_sub, g->n->nc, subj, on_reply,
				     g);
	if (s == NATS_OK)
		/* Replies can be large and bursty; never drop one. */
		s = natsSubscription_SetPendingLimits(g->reply_sub, -1, -1);
	if (s == NATS_OK) {
		snprintf(subj, sizeof(subj), "%s*", SK_SUBJ_RESULT);
		s = natsConnection_Subscribe(&g->result_sub, g->n->nc, subj,
					     on_result, g);
	}
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(g->result_sub, -1, -1);
	if (s != NATS_OK) {
		sk_error("cannot subscribe to %s: %s", subj,
			 natsStatus_GetText(s));
		return -EIO;
	}
	if (!g->n->results_republished)
		sk_info("sk_results predates result republishing: sync "
			"answers come from the workers (one round trip more)");
	refresh_workers(g);
	return 0;
}

void gw_nats_close(struct gw *g)
{
	/*
	 * cnats 3.4.1 can crash when a message arrives for a subscription
	 * being destroyed: close the connection first (no more deliveries),
	 * then free the subscription.
	 */
	if (g->reply_sub)
		natsSubscription_Unsubscribe(g->reply_sub);
	if (g->result_sub)
		natsSubscription_Unsubscribe(g->result_sub);
	if (g->n && g->n->nc)
		natsConnection_Close(g->n->nc);
	natsSubscription_Destroy(g->reply_sub);
	natsSubscription_Destroy(g->result_sub);
	g->reply_sub = NULL;
	g->result_sub = NULL;
	pthread_mutex_lock(&g->fn_lock);
	fn_free_all(g);
	pthread_mutex_unlock(&g->fn_lock);
	sk_nats_close(g->n);
	g->n = NULL;
}

int gw_artifact_exists(struct gw *g, const char *digest, uint64_t *size)
{
	struct sk_obj_info info;
	int rc = sk_obj_info(g->n, SK_OBJ_ARTIFACTS, digest, &info);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return -EIO;
	if (size)
		*size = info.size;
	return 1;
}

int gw_artifact_put(struct gw *g, const char *digest, const void *buf,
		    size_t len)
{
	int rc = sk_obj_put_buf(g->n, SK_OBJ_ARTIFACTS, digest, buf, len, NULL);

	if (rc)
		sk_warn("storing artifact %s: %s", digest, strerror(-rc));
	return rc;
}
