/* sk_nats.h: the NATS layer: connection, streams, consumers, KV buckets. */
#ifndef SUKIMA_SK_NATS_H
#define SUKIMA_SK_NATS_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sk_tls.h"

/* Names from docs/architecture.md ("Cloud data model"). */
#define SK_STREAM_WORK	      "SUKIMA_WORK"
#define SK_STREAM_DONE	      "SUKIMA_DONE"
#define SK_SUBJ_WORK	      "sk.work."    /* + arch */
#define SK_SUBJ_DONE	      "sk.done."    /* + invocation id */
#define SK_SUBJ_DONE_CB	      "sk.done.cb." /* + id: calls with a callback */
#define SK_SUBJ_REPLY	      "sk.reply." /* + gateway id + "." + invocation id */
#define SK_SUBJ_RESULT	      "sk.result." /* + id: a committed result, republished */
#define SK_SUBJ_CTL	      "sk.ctl."	 /* + worker id + ".drain" (request) */
#define SK_CONSUMER_PREFIX    "workers-" /* + arch */
#define SK_CONSUMER_CALLBACKS "callbacks"
#define SK_OBJ_ARTIFACTS      "sk_artifacts"
/* Work messages carry the invocation spec in this header (sk_call JSON). */
#define SK_HDR_CALL "Sk-Call"

enum sk_bucket {
	SK_B_FUNCTIONS = 0, /* sk_functions: name -> function JSON */
	SK_B_RESULTS,	    /* sk_results: id -> result JSON (create-only) */
	SK_B_CALLS,	    /* sk_calls: id -> invocation record JSON */
	SK_B_WORKERS,	    /* sk_workers: worker id -> worker JSON */
	SK_B__COUNT,
};

/* Bucket name of (b), e.g. "sk_results". */
const char *sk_bucket_name(enum sk_bucket b);

/* Knobs of the data model; sk_cloud_cfg_default() fills the defaults. */
struct sk_cloud_cfg {
	int64_t lease_ms;	  /* AckWait of workers-<arch> (3000) */
	int max_attempts;	  /* attempts before giving up (5) */
	int64_t results_ttl_ms;	  /* sk_results and sk_calls TTL (24 h) */
	int64_t workers_ttl_ms;	  /* sk_workers TTL = membership bound (3000) */
	int64_t done_max_age_ms;  /* SUKIMA_DONE max age (1 h) */
	int64_t dedup_window_ms;  /* SUKIMA_WORK duplicate window (2 min) */
	const char *const *archs; /* NULL-terminated; NULL = {"x86_64"} */
};
void sk_cloud_cfg_default(struct sk_cloud_cfg *cfg);

/*
 * One connection to NATS with its JetStream context and KV handles.
 * All members are usable from any thread (cnats locks internally).
 */
struct sk_nats {
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv[SK_B__COUNT]; /* valid after sk_nats_setup() */
	struct sk_cloud_cfg cfg;
	char *urls;
	/* Prefix of every reply subject of this connection: "_INBOX", or
	 * "_INBOX_<user>" for a login, which sukima init's permissions let
	 * only that login subscribe to (no snooping on others' replies). */
	char inbox[80];
	/* sk_nats_setup found sk_results republishing every committed
	 * final result to SK_SUBJ_RESULT (buckets made by this version). */
	int results_republished;
	volatile int closing; /* set by sk_nats_close: quiet disconnect */
	/* The closed callback is the last one cnats runs for a connection:
	 * sk_nats_close waits for it before freeing what callbacks see. */
	pthread_mutex_t cb_lock;
	pthread_cond_t cb_cond;
	int closed;
};

struct sk_nats_opts {
	const char *urls; /* "nats://127.0.0.1:4222[,nats://...]" */
	const char *name; /* connection name shown by the server */
	/*
	 * >0: give up the first connection after this many ms; 0: one try;
	 * <0: retry forever (logging one line per failure, backing off up
	 * to 2 s).  Once connected, reconnection is always forever.
	 */
	int64_t connect_wait_ms;
	/* When set and returning true, the initial retry loop stops (-EINTR). */
	bool (*stop)(void);
	/*
	 * TLS and login (sk_tls.h); NULL: the credentials file named by
	 * $SUKIMA_NATS_CREDS if set, else none.
	 */
	const struct sk_sec *sec;
};

/*
 * Connect (o): SendAsap on, reconnect forever with backoff (100 ms
 * doubling to 2 s, jittered), a 1 MiB+ reconnect buffer.  Returns 0 and
 * (*out), -ENOTCONN when no server answered within o->connect_wait_ms,
 * -EINVAL for bad URLs, -EINTR when o->stop() asked to stop.
 */
int sk_nats_connect(struct sk_nats **out, const struct sk_nats_opts *o);

/*
 * Create, if absent, everything in the data model (streams SUKIMA_WORK,
 * SUKIMA_DONE, OBJ_sk_artifacts, consumers workers-<arch> and callbacks,
 * the four KV buckets) and open the KV handles.  Idempotent and safe to
 * race with other processes doing the same.  (cfg) may be NULL for the
 * defaults.  Existing objects are kept as they are (a differing config is
 * logged once, not changed).  Returns 0 or -errno (-ENOTCONN, -EIO).
 */
int sk_nats_setup(struct sk_nats *n, const struct sk_cloud_cfg *cfg);

/* Flush, close and free (n) (NULL is fine). */
void sk_nats_close(struct sk_nats *n);

/* Map a cnats status to -errno (NATS_OK -> 0, NOT_FOUND -> -ENOENT...). */
int sk_nats_errno(natsStatus s);

/* True while the connection is up (not reconnecting, not closed). */
bool sk_nats_connected(struct sk_nats *n);

/* --- KV helpers: values are raw bytes; keys [-/_=.a-zA-Z0-9]+ ----------- */

/*
 * Latest value of (key): (*val) is malloc'd and NUL-terminated (for JSON),
 * (*len) excludes the NUL, (*rev) the revision (each may be NULL).
 * Returns 0, -ENOENT (absent or deleted), -EINVAL (bad key), -ENOTCONN,
 * -ETIMEDOUT.
 */
int sk_kv_get(struct sk_nats *n, enum sk_bucket b, const char *key, char **val,
	      size_t *len, uint64_t *rev);
/* Unconditional put.  Returns 0 or -errno; (*rev) may be NULL. */
int sk_kv_put(struct sk_nats *n, enum sk_bucket b, const char *key,
	      const void *val, size_t len, uint64_t *rev);
/*
 * Create-only put: succeeds only when (key) has no live value (absent,
 * deleted or expired).  Returns 0, -EEXIST when a value exists (someone
 * else won), or another -errno.
 */
int sk_kv_create(struct sk_nats *n, enum sk_bucket b, const char *key,
		 const void *val, size_t len, uint64_t *rev);

/*
 * natsMsg_Destroy, but the memory is freed on this thread.  cnats hands
 * every message to its garbage-collector thread and wakes that thread
 * for each one: about 8 thread switches per call in the worker, 4 in the
 * gateway.  See sk_nats.c for how, and when it falls back to the GC.
 */
void sk_msg_free(natsMsg *m);

/*
 * A reply inbox the caller owns: a synchronous subscription on
 * "<prefix>.*" that one thread reads.  A request answered there wakes
 * that thread straight from the connection's reader thread, where
 * natsConnection_Request first hops through the delivery thread of
 * cnats' shared response subscription: one thread switch less per round
 * trip.  Replies to other tokens of the inbox (late ones) are skipped.
 */
struct sk_inbox {
	natsSubscription *sub;
	const char *prefix; /* the subscription is on <prefix>.* */
	uint64_t seq;	    /* token of the next request: <prefix>.R<seq> */
};

/*
 * Publish (data) on (subj) with a reply token of (ib), optionally with the
 * header Nats-Expected-Last-Subject-Sequence (expect_last, may be NULL),
 * and wait up to (timeout_ms) for the answer, (*reply), which the caller
 * frees with sk_msg_free.  Returns 0, -ETIMEDOUT, -EHOSTUNREACH (no
 * responders), -EIO (another status answer), -EMSGSIZE or -errno.
 */
int sk_inbox_request(struct sk_nats *n, struct sk_inbox *ib, const char *subj,
		     const char *expect_last, const void *data, size_t len,
		     int64_t timeout_ms, natsMsg **reply);
/* sk_kv_create with its round trip through (ib); same results. */
int sk_kv_create_in(struct sk_nats *n, struct sk_inbox *ib, enum sk_bucket b,
		    const char *key, const void *val, size_t len,
		    uint64_t *rev);
/*
 * Compare-and-set put: succeeds only if the key's latest revision is
 * (last).  Returns 0, -ESTALE when the revision moved (re-read and
 * retry), or another -errno.
 */
int sk_kv_update(struct sk_nats *n, enum sk_bucket b, const char *key,
		 const void *val, size_t len, uint64_t last, uint64_t *rev);
/*
 * Whether (key) has a message (a value or a tombstone) without reading it:
 * stream info filtered on its subject, so a worker that may not read
 * sk_results can still see that a result was committed.  0, -ENOENT, or
 * another -errno.
 */
int sk_kv_exists(struct sk_nats *n, enum sk_bucket b, const char *key);
/* Delete (a tombstone; history purged).  Absent keys are fine (0). */
int sk_kv_delete(struct sk_nats *n, enum sk_bucket b, const char *key);
/*
 * Keys that have a live value, as a malloc'd array of malloc'd strings
 * (free with sk_kv_keys_free).  Reads the stream's subject list, so it
 * costs one request plus one get per key; fine for hundreds of keys.
 */
int sk_kv_keys(struct sk_nats *n, enum sk_bucket b, char ***keys,
	       size_t *count);
void sk_kv_keys_free(char **keys, size_t count);

/* --- messages --------------------------------------------------------------- */

/*
 * Publish (data,len) to a JetStream stream subject and wait for the ack.
 * (msg_id) (may be NULL) sets Nats-Msg-Id for de-duplication; (hdr_key,
 * hdr_val) one optional header.  Retries a timed-out publish with the same
 * id up to (tries) times, so an outage does not duplicate it.  Returns 0,
 * -ETIMEDOUT, -ENOTCONN, or -EIO.  (*dup) (may be NULL) is set when the
 * server reported a duplicate.
 */
int sk_js_publish(struct sk_nats *n, const char *subj, const void *data,
		  size_t len, const char *msg_id, const char *hdr_key,
		  const char *hdr_val, int tries, bool *dup);

/*
 * Parse a JetStream ack subject ($JS.ACK.<stream>.<consumer>.<delivered>.
 * <sseq>.<cseq>.<ts>.<pending>, with or without domain/hash tokens).
 * Fills whatever pointers are non-NULL; returns 0 or -EINVAL.
 */
int sk_js_ack_meta(const char *reply, uint64_t *delivered, uint64_t *sseq,
		   int64_t *ts_ns);

#endif
