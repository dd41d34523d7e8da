/* gw.h: the HTTP gateway (sukima gateway): state shared by its modules. */
#ifndef SUKIMA_GW_H
#define SUKIMA_GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <nats/nats.h>

#include "common/sk_model.h"
#include "common/sk_nats.h"
#include "common/sk_util.h"
#include "gateway/gw_parse.h"

struct MHD_Connection;
struct MHD_Daemon;

/* `sukima gateway` entry point (argv[0] = "gateway"). */
int cmd_gateway(int argc, char **argv);

struct gw_opts {
	const char *nats_url;
	char listen_addr[64];
	unsigned port;
	uint64_t max_body;     /* invocation request bodies */
	uint64_t max_artifact; /* POST /system/artifacts */
	uint64_t
		max_inflight; /* request bytes buffered at once, all requests */
	int64_t start_wait_ms; /* a sync call not started by then: 503 */
	int64_t margin_ms;     /* added to a function's timeout */
	int threads;	       /* libmicrohttpd thread pool */
	int callbacks;	       /* run the callbacks puller */
	int64_t callback_timeout_ms;
	/* issue 8 (gw_auth.c): NATS login, HTTPS, bearer tokens */
	struct sk_sec sec;
	const char *tls_cert, *tls_key; /* PEM files: serve HTTPS */
	int insecure;			/* no bearer tokens checked */
};

/* A sync call waiting for its reply on sk.reply.<gateway>.<id>. */
enum gw_call_state {
	GW_CALL_WAITING = 0,
	GW_CALL_DONE,	 /* result holds the reply body */
	GW_CALL_NOSTART, /* cancelled: no worker started it in time */
	GW_CALL_TIMEOUT, /* no reply by deadline */
	GW_CALL_ABORTED, /* gateway shutting down or publish failed */
};

struct gw_call {
	struct gw_call *next;
	char id[SK_ID_LEN + 1];
	char function[SK_NAME_MAX + 1];
	struct MHD_Connection *conn;
	int64_t start_deadline_ms; /* 0 once a worker is known to run it */
	int64_t deadline_ms;
	enum gw_call_state state;
	char *result; /* malloc'd reply body (result JSON) */
	size_t result_len;
	uint32_t replicas; /* > 1: the result must match its votes */
};

#define GW_CALL_BUCKETS 1024

/* Function specs read recently (sk_functions), kept GW_FN_TTL_MS. */
#define GW_FN_BUCKETS 256
#define GW_FN_MAX     1024
#define GW_FN_TTL_MS  1000
struct gw_fn {
	struct gw_fn *next;
	char name[SK_NAME_MAX + 1];
	char *json;
	size_t len;
	int64_t at_ms;
};

/* Counters, to be exposed by /metrics (issue 9). */
struct gw_stats {
	atomic_ullong requests;
	atomic_ullong sync_calls;
	atomic_ullong async_calls;
	atomic_ullong replies;
	atomic_ullong late_replies; /* reply for a call no longer waiting */
	atomic_ullong timeouts;
	atomic_ullong nostart;
	atomic_ullong callbacks_ok;
	atomic_ullong callbacks_failed;
	atomic_ullong status[6]; /* 1xx..5xx by first digit */
};

struct gw {
	struct gw_opts o;
	char id[SK_ID_LEN + 1];
	struct sk_nats *n;
	/* sk.reply.<id>.>: sync replies and their work messages' PubAcks */
	natsSubscription *reply_sub;
	/* sk.result.*: committed results, republished by the server */
	natsSubscription *result_sub;
	struct MHD_Daemon *mhd;
	char *tls_cert_pem, *tls_key_pem; /* HTTPS (gw_auth.c) */

	pthread_mutex_t lock; /* calls[], ncalls, live_workers */
	struct gw_call *calls[GW_CALL_BUCKETS];
	int ncalls;
	int live_workers; /* x86_64 entries in sk_workers, refreshed ~1/s */
	int64_t workers_at_ms;

	pthread_mutex_t fn_lock; /* fns[], nfns */
	struct gw_fn *fns[GW_FN_BUCKETS];
	int nfns;

	atomic_ullong inflight; /* bytes of request bodies buffered now */
	atomic_int stop;
	pthread_t timer_thr, cb_thr;
	int timer_started, cb_started;
	int64_t started_us;
	struct gw_stats st;
};

/* One HTTP request, from its first byte to its completion callback. */
struct gw_req {
	struct gw *g;
	struct MHD_Connection *conn;
	char *raw_uri; /* as sent, with the query string */
	char *path;    /* decoded path, no query */
	const char *query;
	unsigned method;
	char method_str[16];
	int started;
	int match_rc;
	unsigned allowed;
	struct gw_match m;
	uint64_t limit;
	char *body;
	size_t len, cap;
	int too_big;
	int busy; /* over the gateway-wide buffer budget */
	uint64_t discarded;
	int64_t t0_us;
	struct gw_call *call; /* set while suspended for a sync reply */
	int nhdrs;
	char *hdrs[8][2]; /* response headers */
};

/* --- gw_http.c: libmicrohttpd glue -------------------------------------- */

int gw_http_start(struct gw *g);
void gw_http_stop(struct gw *g);

/* Add a response header to (r), copied.  Silently drops beyond 8. */
void gw_resp_header(struct gw_req *r, const char *name, const char *value);
/* Queue a response (body copied).  Returns an MHD result code. */
int gw_respond(struct gw_req *r, int status, const char *ctype,
	       const void *body, size_t len);
/* Queue a JSON response and decref (j). */
int gw_respond_json(struct gw_req *r, int status, json_t *j);
/* Queue {"error": msg} with status. */
int gw_respond_error(struct gw_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Value of a request header (case-insensitive) or NULL. */
const char *gw_req_header(struct gw_req *r, const char *name);
/* Suspend (r) until gw_http_resume(r->conn); r->call must be registered. */
void gw_http_suspend(struct gw_req *r);

/* --- gw_api.c: the routes ------------------------------------------------ */

/* The request is complete (body read): answer it or suspend it. */
int gw_api_dispatch(struct gw_req *r);
/* A suspended sync call was resumed: answer from r->call. */
int gw_api_finish_call(struct gw_req *r);

/* --- gw_nats.c: NATS side ------------------------------------------------ */

/* Connect, ensure streams/buckets, subscribe to replies.  0 or -errno. */
int gw_nats_open(struct gw *g);
void gw_nats_close(struct gw *g);

/* Parsed KV value (*rev may be NULL), or NULL (absent or not JSON). */
json_t *gw_kv_get_json(struct gw *g, enum sk_bucket b, const char *key,
		       uint64_t *rev);

/* All values of a bucket as a JSON array (sorted by key).  NULL on error. */
json_t *gw_kv_list(struct gw *g, enum sk_bucket b);

/*
 * Publish a work message on sk.work.<arch> with Nats-Msg-Id = (id);
 * (sk_call) is the Sk-Call header.  0 or -errno.
 */
int gw_publish_work(struct gw *g, const char *arch, const char *id,
		    const char *sk_call, const void *body, size_t len);

/* sk_callrec_json() without an empty "worker" key (malloc'd or NULL). */
char *gw_callrec_json(const struct sk_callrec *cr);

/*
 * Publish a sync call's work message without waiting for JetStream's ack:
 * the ack comes to the reply subscription (sk.reply.<gateway>.<msg
 * id>.ack), where a refusal fails the waiting call (503).  0 or -errno
 * (nothing was sent).
 */
int gw_publish_work_async(struct gw *g, const char *arch, const char *id,
			  const char *sk_call, const void *body, size_t len);

/*
 * The function cache: a copy of a spec read less than GW_FN_TTL_MS ago
 * (0 with *json malloc'd, or -ENOENT).  Deploys and deletes through this
 * gateway update it at once; another gateway's changes show within the TTL.
 */
int gw_fn_cache_get(struct gw *g, const char *name, char **json, size_t *len);
void gw_fn_cache_put(struct gw *g, const char *name, const char *json,
		     size_t len);
void gw_fn_cache_drop(struct gw *g, const char *name);

/* Remember the X-Callback-Url of an async call (sk_calls "<id>.cb"). */
int gw_callback_save(struct gw *g, const char *id, const char *url);

/* Store an artifact (buf, len) under its digest (hex).  0 or -EIO. */
int gw_artifact_put(struct gw *g, const char *digest, const void *buf,
		    size_t len);
/* 1 if present (*size set, may be NULL), 0 if absent, -EIO. */
int gw_artifact_exists(struct gw *g, const char *digest, uint64_t *size);

/* Pending sync calls (under g->lock). */
void gw_call_add(struct gw *g, struct gw_call *c);
struct gw_call *gw_call_take(struct gw *g, const char *id);

/* Timer thread: deadlines of sync calls, liveness of workers. */
void *gw_timer_main(void *arg);
/* Callbacks puller (durable `callbacks` on SUKIMA_DONE). */
void *gw_callbacks_main(void *arg);

/* Number of live workers able to run arch x86_64 (cached). */
int gw_live_workers(struct gw *g);

/* Resume a suspended connection (from any thread). */
void gw_http_resume(struct MHD_Connection *conn);

#endif
