/* sk_nats.c: the NATS layer: connection, streams, consumers, KV buckets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/sk_log.h"
#include "common/sk_nats.h"
#include "common/sk_objstore.h"
#include "common/sk_util.h"

#define NS_PER_MS 1000000LL
#define URLS_MAX  16

/* "maximum messages per subject exceeded" (no name in cnats 3.4.1). */
#define JS_ERR_MAX_PER_SUBJECT 10077

static const char *const bucket_names[SK_B__COUNT] = {
	[SK_B_FUNCTIONS] = "sk_functions",
	[SK_B_RESULTS] = "sk_results",
	[SK_B_CALLS] = "sk_calls",
	[SK_B_WORKERS] = "sk_workers",
};

const char *sk_bucket_name(enum sk_bucket b)
{
	return (unsigned)b < SK_B__COUNT ? bucket_names[b] : "?";
}

void sk_cloud_cfg_default(struct sk_cloud_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lease_ms = 3000;
	cfg->max_attempts = 5;
	cfg->results_ttl_ms = 24LL * 3600 * 1000;
	cfg->workers_ttl_ms = 3000;
	cfg->done_max_age_ms = 3600LL * 1000;
	cfg->dedup_window_ms = 120LL * 1000;
	cfg->archs = NULL;
}

int sk_nats_errno(natsStatus s)
{
	switch (s) {
	case NATS_OK:
		return 0;
	case NATS_NOT_FOUND:
		return -ENOENT;
	case NATS_TIMEOUT:
		return -ETIMEDOUT;
	case NATS_NO_MEMORY:
		return -ENOMEM;
	case NATS_INVALID_ARG:
	case NATS_INVALID_SUBJECT:
	case NATS_ADDRESS_MISSING:
		return -EINVAL;
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_NO_SERVER:
	case NATS_STALE_CONNECTION:
		return -ENOTCONN;
	case NATS_MAX_PAYLOAD:
		return -EMSGSIZE;
	case NATS_NO_RESPONDERS:
		return -EHOSTUNREACH;
	case NATS_NOT_PERMITTED:
		return -EPERM;
	default:
		return -EIO;
	}
}

bool sk_nats_connected(struct sk_nats *n)
{
	return n && n->nc &&
	       natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* Backoff between reconnect attempts: 100 ms doubling to 2 s, +-25 %. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
	int64_t d = 100;
	(void)nc;
	(void)closure;

	for (int i = 1; i < attempts && d < 2000; i++)
		d *= 2;
	if (d > 2000)
		d = 2000;
	return d * 3 / 4 + (int64_t)(rand() % (int)(d / 2 + 1));
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct sk_nats *n = closure;

	(void)nc;
	if (!n->closing)
		sk_warn("nats: disconnected, reconnecting");
}

static void on_closed(natsConnection *nc, void *closure)
{
	struct sk_nats *n = closure;

	(void)nc;
	pthread_mutex_lock(&n->cb_lock);
	n->closed = 1;
	pthread_cond_broadcast(&n->cb_cond);
	pthread_mutex_unlock(&n->cb_lock);
	/* From here on, nothing may touch n: sk_nats_close frees it. */
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	char url[256] = "";
	(void)closure;

	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	sk_info("nats: reconnected to %s", url);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub,
			   natsStatus err, void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	sk_warn("nats: asynchronous error: %s", natsStatus_GetText(err));
}

/* Split "a,b , c" into at most URLS_MAX trimmed pieces inside (buf). */
static int split_urls(char *buf, const char **urls)
{
	int n = 0;

	for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		if (n == URLS_MAX)
			return -EINVAL;
		urls[n++] = t;
	}
	return n > 0 ? n : -EINVAL;
}

/* A login's name as one subject token (the inbox prefix), or 0. */
static int inbox_user_ok(const char *u)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	size_t n = strlen(u);

	return n >= 1 && n <= 64 && strspn(u, ok) == n;
}

/* TLS and login from (o->sec), else from $SUKIMA_NATS_CREDS. */
static int apply_sec(struct sk_nats *n, const struct sk_nats_opts *o,
		     natsOptions *opts)
{
	const char *env = getenv("SUKIMA_NATS_CREDS");
	struct sk_sec sec;
	char err[600];
	int rc;

	snprintf(n->inbox, sizeof(n->inbox), "_INBOX");
	memset(&sec, 0, sizeof(sec));
	if (o->sec)
		sec = *o->sec;
	else if (env && *env &&
		 (rc = sk_sec_load_creds(&sec, env, err, sizeof(err))))
		goto fail;
	if ((rc = sk_sec_apply(&sec, opts, err, sizeof(err))))
		goto fail;
	if (!sec.user[0])
		return 0;
	/* Replies (JetStream API answers, acks, pull deliveries) then come
	 * under a prefix no other login may subscribe to (cmd_init.c). */
	if (!inbox_user_ok(sec.user)) {
		sk_warn("nats: user %s cannot name an inbox prefix: replies "
			"use _INBOX",
			sec.user);
		return 0;
	}
	snprintf(n->inbox, sizeof(n->inbox), "_INBOX_%.64s", sec.user);
	if (natsOptions_SetCustomInboxPrefix(opts, n->inbox) != NATS_OK) {
		sk_error("nats: cannot set the inbox prefix %s", n->inbox);
		return -EINVAL;
	}
	return 0;
fail:
	sk_error("nats: %s", err);
	return rc;
}

int sk_nats_connect(struct sk_nats **out, const struct sk_nats_opts *o)
{
	const char *urls[URLS_MAX];
	natsOptions *opts = NULL;
	struct sk_nats *n;
	natsStatus s;
	jsOptions jo;
	char *buf = NULL;
	int64_t deadline, delay = 100;
	int count, rc = 0, tries = 0;

	if (!o || !o->urls || !*o->urls)
		return -EINVAL;
	/*
	 * No spinning on contended cnats mutexes (the default spins 2000
	 * times): on a 2-core PC lent to the cloud, spinning steals the CPU
	 * from the very thread holding the lock (17 % of a busy worker's
	 * time in natsMutex_Lock).  Only the first nats_Open counts.
	 */
	nats_Open(0);
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	sk_cloud_cfg_default(&n->cfg);
	pthread_mutex_init(&n->cb_lock, NULL);
	pthread_cond_init(&n->cb_cond, NULL);
	n->urls = strdup(o->urls);
	buf = strdup(o->urls);
	if (!n->urls || !buf) {
		rc = -ENOMEM;
		goto fail;
	}
	count = split_urls(buf, urls);
	if (count < 0) {
		rc = count;
		goto fail;
	}
	if (natsOptions_Create(&opts) != NATS_OK) {
		rc = -ENOMEM;
		goto fail;
	}
	s = natsOptions_SetServers(opts, urls, count);
	if (s != NATS_OK) {
		rc = -EINVAL;
		goto fail;
	}
	/* Without SendAsap replies and acks wait ~1 ms for the flusher. */
	natsOptions_SetSendAsap(opts, true);
	natsOptions_SetName(opts, o->name ? o->name : "sukima");
	natsOptions_SetAllowReconnect(opts, true);
	natsOptions_SetMaxReconnect(opts, -1);
	natsOptions_SetCustomReconnectDelay(opts, reconnect_delay, NULL);
	natsOptions_SetReconnectBufSize(opts, 16 * 1024 * 1024);
	natsOptions_SetTimeout(opts, 2000);
	natsOptions_SetPingInterval(opts, 2000);
	natsOptions_SetMaxPingsOut(opts, 2);
	natsOptions_SetDisconnectedCB(opts, on_disconnected, n);
	natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
	natsOptions_SetClosedCB(opts, on_closed, n);
	natsOptions_SetErrorHandler(opts, on_async_error, NULL);
	if ((rc = apply_sec(n, o, opts)))
		goto fail;

	deadline = sk_mono_ms() +
		   (o->connect_wait_ms > 0 ? o->connect_wait_ms : 0);
	for (;;) {
		s = natsConnection_Connect(&n->nc, opts);
		if (s == NATS_OK)
			break;
		if (s != NATS_NO_SERVER && s != NATS_TIMEOUT &&
		    s != NATS_CONNECTION_CLOSED && s != NATS_IO_ERROR &&
		    s != NATS_STALE_CONNECTION) {
			rc = sk_nats_errno(s);
			goto fail;
		}
		tries++;
		if (o->connect_wait_ms == 0 ||
		    (o->connect_wait_ms > 0 && sk_mono_ms() >= deadline)) {
			rc = -ENOTCONN;
			goto fail;
		}
		if (tries == 1 || tries % 10 == 0)
			sk_warn("nats: cannot reach %s (%s), retrying", o->urls,
				natsStatus_GetText(s));
		for (int64_t slept = 0; slept < delay; slept += 50) {
			if (o->stop && o->stop()) {
				rc = -EINTR;
				goto fail;
			}
			usleep(50 * 1000);
		}
		if (delay < 2000)
			delay *= 2;
	}
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	if (natsConnection_JetStream(&n->js, n->nc, &jo) != NATS_OK) {
		rc = -ENOMEM;
		goto fail;
	}
	natsOptions_Destroy(opts);
	free(buf);
	*out = n;
	return 0;
fail:
	natsOptions_Destroy(opts);
	free(buf);
	sk_nats_close(n);
	return rc;
}

void sk_nats_close(struct sk_nats *n)
{
	int closed = 1;

	if (!n)
		return;
	for (int i = 0; i < SK_B__COUNT; i++)
		kvStore_Destroy(n->kv[i]);
	jsCtx_Destroy(n->js);
	n->closing = 1;
	if (n->nc) {
		struct timespec ts;

		natsConnection_FlushTimeout(n->nc, 1000);
		natsConnection_Close(n->nc);
		/*
		 * cnats runs the disconnected and closed callbacks on its own
		 * thread after Close returns; both get (n).  Wait for the
		 * closed one, the last, before freeing (n).
		 */
		sk_abstime(&ts, 5000);
		pthread_mutex_lock(&n->cb_lock);
		while (!n->closed &&
		       pthread_cond_timedwait(&n->cb_cond, &n->cb_lock, &ts) ==
			       0)
			;
		closed = n->closed;
		pthread_mutex_unlock(&n->cb_lock);
		natsConnection_Destroy(n->nc);
	}
	free(n->urls);
	if (!closed) {
		/* A callback may still come: leak (n) rather than race it. */
		sk_warn("nats: the connection did not report closing in 5 s");
		return;
	}
	pthread_mutex_destroy(&n->cb_lock);
	pthread_cond_destroy(&n->cb_cond);
	free(n);
}

/* --- setup ------------------------------------------------------------------ */

/*
 * Look before creating: a worker's NATS user may read stream info but not
 * create streams (docs/security.md), and a refused create costs a 5 s
 * timeout, not an error.
 */
static int stream_exists(struct sk_nats *n, const char *name)
{
	jsStreamInfo *si = NULL;

	if (js_GetStreamInfo(&si, n->js, name, NULL, NULL) != NATS_OK)
		return 0;
	jsStreamInfo_Destroy(si);
	return 1;
}

static int add_stream(struct sk_nats *n, jsStreamConfig *sc)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus s;

	if (stream_exists(n, sc->Name))
		return 0;
	s = js_AddStream(&si, n->js, sc, NULL, &ec);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (ec == JSStreamNameExistErr) {
		/* Someone created it with another config: keep theirs. */
		sk_debug("nats: stream %s exists with another config, kept",
			 sc->Name);
		return 0;
	}
	sk_error("nats: cannot create stream %s: %s (%d)", sc->Name,
		 nats_GetLastError(NULL), (int)ec);
	return s == NATS_OK ? 0 : (sk_nats_errno(s) ? sk_nats_errno(s) : -EIO);
}

static int add_consumer(struct sk_nats *n, const char *stream,
			jsConsumerConfig *cc)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode ec = 0;
	natsStatus s;

	/*
	 * nats-server 2.9 turns a create of an existing durable with another
	 * AckWait or MaxDeliver into an update: look first, so the first
	 * creator's lease and attempt limit stay in force.
	 */
	if (js_GetConsumerInfo(&ci, n->js, stream, cc->Durable, NULL, NULL) ==
	    NATS_OK) {
		jsConsumerInfo_Destroy(ci);
		return 0;
	}
	ci = NULL;
	s = js_AddConsumer(&ci, n->js, stream, cc, NULL, &ec);
	if (s == NATS_OK) {
		jsConsumerInfo_Destroy(ci);
		return 0;
	}
	if (ec == JSConsumerNameExistErr || ec == JSConsumerCreateErr) {
		/* Exists with another config (an older lease, say): keep. */
		if (js_GetConsumerInfo(&ci, n->js, stream, cc->Durable, NULL,
				       NULL) == NATS_OK) {
			jsConsumerInfo_Destroy(ci);
			sk_debug("nats: consumer %s exists, kept", cc->Durable);
			return 0;
		}
	}
	sk_error("nats: cannot create consumer %s on %s: %s (%d)", cc->Durable,
		 stream, nats_GetLastError(NULL), (int)ec);
	return sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
}

/*
 * Keep the first handle of a bucket: setup may run again (a worker whose
 * pull finds no consumer) while other threads use n->kv[b].
 */
static int keep_bucket(struct sk_nats *n, enum sk_bucket b, kvStore *kv)
{
	if (n->kv[b])
		kvStore_Destroy(kv);
	else
		n->kv[b] = kv;
	return 0;
}

/*
 * The server republishes each final result it stores in sk_results (key
 * = call id, one token; replica votes have two) to sk.result.<call id>:
 * the gateway waiting for a sync call gets the committed result straight
 * from the store, one message after the worker's write, instead of a
 * reply the worker sends once the write's PubAck is back.  A refused
 * create-only write (a second result) is not stored, so it is not
 * republished: first result wins, for the caller too.  nats-server 2.9
 * takes RePublish only when a stream is created.
 */
static jsRePublish results_republish = {
	.Source = "$KV.sk_results.*",
	.Destination = SK_SUBJ_RESULT "{{wildcard(1)}}",
};

static int add_bucket(struct sk_nats *n, enum sk_bucket b, int64_t ttl_ms)
{
	kvStore *kv = NULL;
	kvConfig kc;
	natsStatus s;

	/* Open first: a worker may not create buckets (see stream_exists). */
	if (js_KeyValue(&kv, n->js, bucket_names[b]) == NATS_OK)
		return keep_bucket(n, b, kv);
	kvConfig_Init(&kc);
	kc.Bucket = bucket_names[b];
	kc.History = 1;
	kc.TTL = ttl_ms * NS_PER_MS;
	kc.StorageType = js_FileStorage;
	kc.Replicas = 1;
	if (b == SK_B_RESULTS)
		kc.RePublish = &results_republish;
	s = js_CreateKeyValue(&kv, n->js, &kc);
	if (s == NATS_OK)
		return keep_bucket(n, b, kv);
	/* Exists with another config, or lost a creation race: open it. */
	s = js_KeyValue(&kv, n->js, bucket_names[b]);
	if (s == NATS_OK)
		return keep_bucket(n, b, kv);
	sk_error("nats: cannot create or open bucket %s: %s", bucket_names[b],
		 nats_GetLastError(NULL));
	return sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
}

/*
 * sk_results is create-only in the server, not only by convention: with
 * one message per key and "discard new per subject", a plain put over a
 * committed result is refused (10077), so a worker that may write results
 * cannot overwrite another's (docs/security.md).  Creates keep their
 * 10071 answer (-EEXIST).  kvConfig cannot say it, so the stream is
 * updated once; a role without the right (a worker) gives up after 1 s.
 * Also notes whether the stream republishes results (a bucket made
 * before results_republish existed does not, and cannot be changed).
 */
static void results_config(struct sk_nats *n)
{
	char stream[64];
	jsStreamInfo *si = NULL, *up = NULL;
	jsStreamConfig sc;
	jsOptions jo;

	snprintf(stream, sizeof(stream), "KV_%s", bucket_names[SK_B_RESULTS]);
	if (js_GetStreamInfo(&si, n->js, stream, NULL, NULL) != NATS_OK)
		return;
	n->results_republished = si->Config->RePublish &&
				 si->Config->RePublish->Source &&
				 si->Config->RePublish->Destination &&
				 !strcmp(si->Config->RePublish->Source,
					 results_republish.Source) &&
				 !strcmp(si->Config->RePublish->Destination,
					 results_republish.Destination) &&
				 !si->Config->RePublish->HeadersOnly;
	if (!si->Config->DiscardNewPerSubject) {
		sc = *si->Config;
		sc.Discard = js_DiscardNew;
		sc.DiscardNewPerSubject = true;
		sc.MaxMsgsPerSubject = 1;
		jsOptions_Init(&jo);
		jo.Wait = 1000;
		if (js_UpdateStream(&up, n->js, &sc, &jo, NULL) == NATS_OK)
			jsStreamInfo_Destroy(up);
		else
			sk_debug("nats: %s left as it was (no right to update)",
				 stream);
	}
	jsStreamInfo_Destroy(si);
}

int sk_nats_setup(struct sk_nats *n, const struct sk_cloud_cfg *cfg)
{
	static const char *const default_archs[] = {"x86_64", NULL};
	const char *work_subj[] = {SK_SUBJ_WORK ">"};
	const char *done_subj[] = {SK_SUBJ_DONE ">"};
	jsStreamConfig sc;
	jsConsumerConfig cc;
	char filter[64], durable[64];
	int rc;

	if (cfg)
		n->cfg = *cfg;
	if (!n->cfg.archs)
		n->cfg.archs = default_archs;

	jsStreamConfig_Init(&sc);
	sc.Name = SK_STREAM_WORK;
	sc.Subjects = work_subj;
	sc.SubjectsLen = 1;
	sc.Retention = js_WorkQueuePolicy;
	sc.Storage = js_FileStorage;
	sc.Duplicates = n->cfg.dedup_window_ms * NS_PER_MS;
	sc.MaxAge = n->cfg.results_ttl_ms * NS_PER_MS;
	if ((rc = add_stream(n, &sc)))
		return rc;

	jsStreamConfig_Init(&sc);
	sc.Name = SK_STREAM_DONE;
	sc.Subjects = done_subj;
	sc.SubjectsLen = 1;
	sc.Retention = js_LimitsPolicy;
	sc.Storage = js_FileStorage;
	sc.MaxAge = n->cfg.done_max_age_ms * NS_PER_MS;
	if ((rc = add_stream(n, &sc)))
		return rc;

	/* ADR-20 layout, so `nats object` tools can read our artifacts. */
	if (!stream_exists(n, "OBJ_" SK_OBJ_ARTIFACTS) &&
	    (rc = sk_obj_bucket_create(n, SK_OBJ_ARTIFACTS)))
		return rc;

	for (const char *const *a = n->cfg.archs; *a; a++) {
		snprintf(filter, sizeof(filter), SK_SUBJ_WORK "%s", *a);
		snprintf(durable, sizeof(durable), SK_CONSUMER_PREFIX "%s", *a);
		jsConsumerConfig_Init(&cc);
		cc.Durable = durable;
		cc.AckPolicy = js_AckExplicit;
		cc.AckWait = n->cfg.lease_ms * NS_PER_MS;
		/*
		 * One delivery more than the attempt limit: the worker that
		 * receives delivery max_attempts+1 does not run it but ends
		 * it as failed ("gave up after N attempts"), so poison work
		 * gets an outcome instead of silently stopping.
		 */
		cc.MaxDeliver = n->cfg.max_attempts + 1;
		cc.FilterSubject = filter;
		cc.DeliverPolicy = js_DeliverAll;
		cc.MaxAckPending = 20000;
		cc.MaxWaiting = 512;
		if ((rc = add_consumer(n, SK_STREAM_WORK, &cc)))
			return rc;
	}

	/*
	 * Only events of calls with a callback URL: a sync call's event is
	 * stored for the activation log but never delivered to and acked by
	 * a gateway (two messages and a consumer update less per call).  A
	 * consumer made before this filter existed is kept and still gets
	 * every event, which the puller handles as before.
	 */
	jsConsumerConfig_Init(&cc);
	cc.Durable = SK_CONSUMER_CALLBACKS;
	cc.FilterSubject = SK_SUBJ_DONE_CB "*";
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = 30000 * NS_PER_MS;
	cc.MaxDeliver = 10;
	cc.DeliverPolicy = js_DeliverNew;
	cc.MaxAckPending = 10000;
	if ((rc = add_consumer(n, SK_STREAM_DONE, &cc)))
		return rc;

	if ((rc = add_bucket(n, SK_B_FUNCTIONS, 0)) ||
	    (rc = add_bucket(n, SK_B_RESULTS, n->cfg.results_ttl_ms)) ||
	    (rc = add_bucket(n, SK_B_CALLS, n->cfg.results_ttl_ms)) ||
	    (rc = add_bucket(n, SK_B_WORKERS, n->cfg.workers_ttl_ms)))
		return rc;
	results_config(n);
	return 0;
}

/* --- KV ---------------------------------------------------------------------- */

static int valid_key(const char *k)
{
	size_t n = 0;

	if (!k)
		return 0;
	for (; k[n]; n++)
		if (!((k[n] >= 'a' && k[n] <= 'z') ||
		      (k[n] >= 'A' && k[n] <= 'Z') ||
		      (k[n] >= '0' && k[n] <= '9') || k[n] == '-' ||
		      k[n] == '_' || k[n] == '/' || k[n] == '=' || k[n] == '.'))
			return 0;
	return n > 0 && n <= 255 && k[0] != '.' && k[n - 1] != '.';
}

static int kv_ready(struct sk_nats *n, enum sk_bucket b, const char *key)
{
	if (!n || (unsigned)b >= SK_B__COUNT || !n->kv[b])
		return -ENOTCONN;
	return valid_key(key) ? 0 : -EINVAL;
}

int sk_kv_get(struct sk_nats *n, enum sk_bucket b, const char *key, char **val,
	      size_t *len, uint64_t *rev)
{
	kvEntry *e = NULL;
	natsStatus s;
	int rc = kv_ready(n, b, key);

	if (rc)
		return rc;
	s = kvStore_Get(&e, n->kv[b], key);
	if (s != NATS_OK)
		return sk_nats_errno(s);
	if (val) {
		int l = kvEntry_ValueLen(e);
		char *copy = malloc((size_t)(l > 0 ? l : 0) + 1);

		if (!copy) {
			kvEntry_Destroy(e);
			return -ENOMEM;
		}
		if (l > 0)
			memcpy(copy, kvEntry_Value(e), (size_t)l);
		copy[l > 0 ? l : 0] = '\0';
		*val = copy;
	}
	if (len)
		*len = (size_t)kvEntry_ValueLen(e);
	if (rev)
		*rev = kvEntry_Revision(e);
	kvEntry_Destroy(e);
	return 0;
}

/*
 * Our own KV write: a JetStream publish on $KV.<bucket>.<key> with the
 * expectation headers, so the server's error code tells "someone else
 * wrote first" apart from other failures (kvStore_Create hides it).
 * (mode) 0: put; 1: create (no live value); 2: update at (last).
 */
static int kv_write(struct sk_nats *n, enum sk_bucket b, const char *key,
		    const void *val, size_t len, int mode, uint64_t last,
		    uint64_t *rev)
{
	char subj[300];
	jsPubOptions po;
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	natsMsg *m = NULL;
	natsStatus s;
	int rc = kv_ready(n, b, key);

	if (rc)
		return rc;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	snprintf(subj, sizeof(subj), "$KV.%s.%s", bucket_names[b], key);
	s = natsMsg_Create(&m, subj, NULL, val, (int)len);
	if (s != NATS_OK)
		return sk_nats_errno(s);
	jsPubOptions_Init(&po);
	if (mode == 1)
		po.ExpectNoMessage = true;
	else if (mode == 2)
		po.ExpectLastSubjectSeq = last;
	s = js_PublishMsg(&pa, n->js, m, &po, &ec);
	natsMsg_Destroy(m);
	if (s == NATS_OK) {
		if (rev)
			*rev = pa->Sequence;
		jsPubAck_Destroy(pa);
		return 0;
	}
	if (ec == JSStreamWrongLastSequenceErr)
		return mode == 1 ? -EEXIST : -ESTALE;
	/* sk_results refuses a second message per key (see setup). */
	if (ec == JS_ERR_MAX_PER_SUBJECT && b == SK_B_RESULTS)
		return mode == 2 ? -ESTALE : -EEXIST;
	if (ec == JSStreamMessageExceedsMaximumErr || s == NATS_MAX_PAYLOAD)
		return -EMSGSIZE;
	rc = sk_nats_errno(s);
	return rc ? rc : -EIO;
}

int sk_kv_put(struct sk_nats *n, enum sk_bucket b, const char *key,
	      const void *val, size_t len, uint64_t *rev)
{
	return kv_write(n, b, key, val, len, 0, 0, rev);
}

/* Revision of the key's last message if it is a delete/purge marker. */
static uint64_t kv_tombstone(struct sk_nats *n, enum sk_bucket b,
			     const char *key)
{
	char stream[64], subj[300];
	const char *op = NULL;
	natsMsg *m = NULL;
	uint64_t seq = 0;

	snprintf(stream, sizeof(stream), "KV_%s", bucket_names[b]);
	snprintf(subj, sizeof(subj), "$KV.%s.%s", bucket_names[b], key);
	if (js_GetLastMsg(&m, n->js, stream, subj, NULL, NULL) != NATS_OK)
		return 0;
	if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op &&
	    (strcmp(op, "DEL") == 0 || strcmp(op, "PURGE") == 0))
		seq = natsMsg_GetSequence(m);
	natsMsg_Destroy(m);
	return seq;
}

int sk_kv_create(struct sk_nats *n, enum sk_bucket b, const char *key,
		 const void *val, size_t len, uint64_t *rev)
{
	int rc = kv_write(n, b, key, val, len, 1, 0, rev);
	uint64_t tomb;

	/*
	 * Results are never deleted, and a worker may not read sk_results
	 * (docs/security.md): no tombstone lookup there.
	 */
	if (rc != -EEXIST || b == SK_B_RESULTS)
		return rc;
	/* A deleted key has no live value: create over its tombstone. */
	tomb = kv_tombstone(n, b, key);
	if (!tomb)
		return -EEXIST;
	rc = kv_write(n, b, key, val, len, 2, tomb, rev);
	return rc == -ESTALE ? -EEXIST : rc;
}

/*
 * The first member of every cnats 3.x message is its garbage-collector
 * item {next, freeCb} (cnats gc.h: "included as the first field of any
 * object that needs to be garbage collected"); natsMsg_Destroy frees a
 * message on the spot when freeCb is NULL, else queues it for the GC
 * thread and signals that thread.  Clearing freeCb of a message we own
 * (received from a subscription of ours or made by natsMsg_Create) frees
 * it here without a thread switch.  Any other major version of the
 * library keeps the plain natsMsg_Destroy.
 */
struct cnats_gc_item {
	void *next;
	void (*free_cb)(void *object);
};

void sk_msg_free(natsMsg *m)
{
	if (!m)
		return;
	if ((nats_GetVersionNumber() >> 16) == 3)
		((struct cnats_gc_item *)(void *)m)->free_cb = NULL;
	natsMsg_Destroy(m);
}

int sk_inbox_request(struct sk_nats *n, struct sk_inbox *ib, const char *subj,
		     const char *expect_last, const void *data, size_t len,
		     int64_t timeout_ms, natsMsg **reply)
{
	int64_t deadline = sk_mono_ms() + timeout_ms;
	char reply_subj[128];
	natsMsg *m = NULL;
	natsStatus s;

	*reply = NULL;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	snprintf(reply_subj, sizeof(reply_subj), "%s.R%llu", ib->prefix,
		 (unsigned long long)++ib->seq);
	s = natsMsg_Create(&m, subj, reply_subj, data, (int)len);
	if (s == NATS_OK && expect_last)
		s = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence",
				      expect_last);
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(n->nc, m);
	sk_msg_free(m);
	if (s != NATS_OK)
		return sk_nats_errno(s);
	for (;;) {
		int64_t left = deadline - sk_mono_ms();
		const char *st = NULL, *got;

		if (left <= 0)
			return -ETIMEDOUT;
		m = NULL;
		s = natsSubscription_NextMsg(&m, ib->sub, left);
		if (s == NATS_TIMEOUT)
			return -ETIMEDOUT;
		if (s == NATS_SLOW_CONSUMER)
			continue; /* ours may be among the dropped: time out */
		if (s != NATS_OK)
			return sk_nats_errno(s);
		got = natsMsg_GetSubject(m);
		if (!got || strcmp(got, reply_subj) != 0) {
			sk_msg_free(m); /* a late answer to another one */
			continue;
		}
		/* A status answer has no body and a Status header. */
		if (natsMsg_GetDataLength(m) == 0 &&
		    natsMsgHeader_Get(m, "Status", &st) == NATS_OK && st) {
			int rc = strcmp(st, "503") == 0 ? -EHOSTUNREACH : -EIO;

			sk_msg_free(m);
			return rc;
		}
		*reply = m;
		return 0;
	}
}

/* The error code of a JetStream API answer, 0 if none; (*seq) its "seq". */
static int pub_ack_parse(natsMsg *m, uint64_t *seq)
{
	json_t *o = json_loadb(natsMsg_GetData(m),
			       (size_t)natsMsg_GetDataLength(m), 0, NULL);
	json_t *e = o ? json_object_get(o, "error") : NULL;
	json_t *q = o ? json_object_get(o, "seq") : NULL;
	int code = -1;

	if (e) {
		json_t *c = json_object_get(e, "err_code");

		code = c && json_is_integer(c) ? (int)json_integer_value(c)
					       : -1;
	} else if (q && json_is_integer(q)) {
		*seq = (uint64_t)json_integer_value(q);
		code = 0;
	}
	json_decref(o);
	return code;
}

int sk_kv_create_in(struct sk_nats *n, struct sk_inbox *ib, enum sk_bucket b,
		    const char *key, const void *val, size_t len, uint64_t *rev)
{
	char subj[300];
	natsMsg *m = NULL;
	uint64_t seq = 0;
	int rc = kv_ready(n, b, key), ec;

	if (rc)
		return rc;
	snprintf(subj, sizeof(subj), "$KV.%s.%s", bucket_names[b], key);
	/* js_PublishMsg's default wait for a PubAck is 5 s: the same. */
	rc = sk_inbox_request(n, ib, subj, "0", val, len, 5000, &m);
	if (rc)
		return rc;
	ec = pub_ack_parse(m, &seq);
	sk_msg_free(m);
	if (ec == 0) {
		if (rev)
			*rev = seq;
		return 0;
	}
	if (ec == JSStreamMessageExceedsMaximumErr)
		return -EMSGSIZE;
	if (ec == JS_ERR_MAX_PER_SUBJECT && b == SK_B_RESULTS)
		return -EEXIST;
	if (ec != JSStreamWrongLastSequenceErr)
		return -EIO;
	/* Results are never deleted: no tombstone to create over. */
	if (b == SK_B_RESULTS)
		return -EEXIST;
	return sk_kv_create(n, b, key, val, len, rev);
}

int sk_kv_update(struct sk_nats *n, enum sk_bucket b, const char *key,
		 const void *val, size_t len, uint64_t last, uint64_t *rev)
{
	if (last == 0)
		return sk_kv_create(n, b, key, val, len, rev);
	return kv_write(n, b, key, val, len, 2, last, rev);
}

int sk_kv_delete(struct sk_nats *n, enum sk_bucket b, const char *key)
{
	natsStatus s;
	int rc = kv_ready(n, b, key);

	if (rc)
		return rc;
	s = kvStore_Delete(n->kv[b], key);
	return s == NATS_NOT_FOUND ? 0 : sk_nats_errno(s);
}

int sk_kv_exists(struct sk_nats *n, enum sk_bucket b, const char *key)
{
	char stream[64], subj[300];
	jsStreamInfo *si = NULL;
	jsOptions jo;
	natsStatus s;
	int rc = kv_ready(n, b, key);

	if (rc)
		return rc;
	snprintf(stream, sizeof(stream), "KV_%s", bucket_names[b]);
	snprintf(subj, sizeof(subj), "$KV.%s.%s", bucket_names[b], key);
	jsOptions_Init(&jo);
	jo.Stream.Info.SubjectsFilter = subj;
	s = js_GetStreamInfo(&si, n->js, stream, &jo, NULL);
	if (s != NATS_OK)
		return sk_nats_errno(s);
	rc = si->State.Subjects && si->State.Subjects->Count > 0 ? 0 : -ENOENT;
	jsStreamInfo_Destroy(si);
	return rc;
}

void sk_kv_keys_free(char **keys, size_t count)
{
	for (size_t i = 0; keys && i < count; i++)
		free(keys[i]);
	free(keys);
}

int sk_kv_keys(struct sk_nats *n, enum sk_bucket b, char ***keys, size_t *count)
{
	char stream[64], filter[64];
	jsStreamInfo *si = NULL;
	jsOptions jo;
	natsStatus s;
	size_t prefix, got = 0;
	char **out = NULL;
	int rc = 0;

	*keys = NULL;
	*count = 0;
	if (!n || (unsigned)b >= SK_B__COUNT || !n->kv[b])
		return -ENOTCONN;
	snprintf(stream, sizeof(stream), "KV_%s", bucket_names[b]);
	snprintf(filter, sizeof(filter), "$KV.%s.>", bucket_names[b]);
	prefix = strlen(filter) - 1;
	jsOptions_Init(&jo);
	jo.Stream.Info.SubjectsFilter = filter;
	s = js_GetStreamInfo(&si, n->js, stream, &jo, NULL);
	if (s != NATS_OK)
		return sk_nats_errno(s);
	if (si->State.Subjects && si->State.Subjects->Count > 0) {
		int total = si->State.Subjects->Count;

		out = calloc((size_t)total, sizeof(*out));
		if (!out) {
			rc = -ENOMEM;
			goto done;
		}
		for (int i = 0; i < total; i++) {
			const char *subj = si->State.Subjects->List[i].Subject;
			const char *key;

			if (!subj || strlen(subj) <= prefix)
				continue;
			key = subj + prefix;
			/* Skip deleted keys (their tombstone is a subject). */
			if (sk_kv_get(n, b, key, NULL, NULL, NULL) != 0)
				continue;
			out[got] = strdup(key);
			if (!out[got]) {
				rc = -ENOMEM;
				goto done;
			}
			got++;
		}
	}
done:
	jsStreamInfo_Destroy(si);
	if (rc) {
		sk_kv_keys_free(out, got);
		return rc;
	}
	*keys = out;
	*count = got;
	return 0;
}

/* --- messages ---------------------------------------------------------------- */

int sk_js_publish(struct sk_nats *n, const char *subj, const void *data,
		  size_t len, const char *msg_id, const char *hdr_key,
		  const char *hdr_val, int tries, bool *dup)
{
	jsPubOptions po;
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	natsStatus s = NATS_ERR;

	if (len > INT32_MAX)
		return -EMSGSIZE;
	if (tries < 1)
		tries = 1;
	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	for (int i = 0; i < tries; i++) {
		natsMsg *m = NULL;

		s = natsMsg_Create(&m, subj, NULL, data, (int)len);
		if (s != NATS_OK)
			return sk_nats_errno(s);
		if (hdr_key && hdr_val)
			s = natsMsgHeader_Set(m, hdr_key, hdr_val);
		if (s == NATS_OK)
			s = js_PublishMsg(&pa, n->js, m, &po, &ec);
		natsMsg_Destroy(m);
		if (s == NATS_OK) {
			if (dup)
				*dup = pa->Duplicate;
			jsPubAck_Destroy(pa);
			return 0;
		}
		/*
		 * A timed-out publish may have been stored: retrying with the
		 * same Nats-Msg-Id lets the server drop the copy.
		 */
		if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS &&
		    s != NATS_CONNECTION_DISCONNECTED)
			break;
		if (!msg_id)
			break;
		usleep(100 * 1000);
	}
	if (ec == JSStreamMessageExceedsMaximumErr || s == NATS_MAX_PAYLOAD)
		return -EMSGSIZE;
	return sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
}

int sk_js_ack_meta(const char *reply, uint64_t *delivered, uint64_t *sseq,
		   int64_t *ts_ns)
{
	const char *tok[16];
	char buf[512];
	int n = 0, base;

	if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0 ||
	    strlen(reply) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, reply);
	for (char *save = NULL, *t = strtok_r(buf, ".", &save); t;
	     t = strtok_r(NULL, ".", &save)) {
		if (n == 16)
			return -EINVAL;
		tok[n++] = t;
	}
	/* v1: 9 tokens; v2 adds <domain>.<account hash> (+ a random token). */
	if (n == 9)
		base = 4;
	else if (n == 11 || n == 12)
		base = 6;
	else
		return -EINVAL;
	for (int i = base; i < base + 5; i++)
		for (const char *p = tok[i]; *p; p++)
			if (*p < '0' || *p > '9')
				return -EINVAL;
	if (delivered)
		*delivered = strtoull(tok[base], NULL, 10);
	if (sseq)
		*sseq = strtoull(tok[base + 1], NULL, 10);
	if (ts_ns)
		*ts_ns = strtoll(tok[base + 3], NULL, 10);
	return 0;
}
