/* wk_main.c: `sukima worker`: membership, runners that pull and run invocations. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/sk_log.h"
#include "common/sk_model.h"
#include "common/sk_nats.h"
#include "common/sk_pull.h"
#include "common/sk_sign.h"
#include "common/sk_util.h"
#include "worker/wk_cache.h"
#include "worker/wk_cgroup.h"
#include "worker/wk_exec.h"
#include "worker/wk_host.h"
#include "worker/wk_pause.h"
#include "worker/wk_policy.h"
#include "worker/wk_replica.h"
#include "worker/wk_stats.h"

#define PULL_EXPIRES_MS 1000 /* how long one pull request waits */
#define MEMBERSHIP_MS	1000 /* membership refresh period */
#define ACK_SUBJ_MAX	256
#define WARM_IDLE_MS	60000 /* an idle warm micro-VM ends after this */

/*
 * A runner is a thread that takes a call from its delivery to its final
 * ack.  There are two per slot (--slots: micro-VMs running at once), so
 * that one runner's NATS tail (the result commit, the reply, the final
 * AckSync: two round trips) overlaps the next call's run in the slot it
 * freed, instead of leaving the slot idle for those round trips.
 */
struct runner {
	pthread_t thread;
	char ack[ACK_SUBJ_MAX]; /* reply subject of the running job, or "" */
	/* Stream acks of this runner's early record writes: <inbox>.<call id>.
	 * Lives until the connection is closed (cnats 3.4.1 must never see
	 * a message for a subscription being destroyed). */
	natsSubscription *kv_sub;
	char kv_inbox[112]; /* <n->inbox>.<random id> */
	/* The same subscription as this runner's reply inbox for the result
	 * commit and the final AckSync (sk_inbox: one thread switch less
	 * per round trip than natsConnection_Request). */
	struct sk_inbox ib;
};

struct wk {
	struct sk_nats *n;
	struct sk_pull *pull;
	struct sk_worker self; /* membership entry (guarded by lock) */
	char monitor[PATH_MAX];
	int64_t lease_ms;
	int64_t grace_ms;
	int max_attempts;
	struct sk_cloud_cfg cfg; /* what sk_nats_setup made, to redo it */
	struct sk_trust *trust;	 /* --trusted-keys: signed code only */
#ifdef WK_TEST_LIE
	int test_lie; /* --test-lie: forge every output (tests only) */
#endif

	pthread_mutex_t lock;
	pthread_cond_t cond; /* the lead is free, or quitting */
	pthread_cond_t room; /* the leader's: a slot freed, or the policy */
	int go;		     /* set up: the runners may pull */
	int leading;	     /* a runner leads: it alone pulls */
	int parked;	     /* the leader is in its call's tail (parker) */
	int parker;	     /* which runner parked the lead */
	int idle;	     /* runners waiting for the lead */
	int busy;	     /* slots taken: delivered, not yet run */
	int active;	     /* runners holding a call (busy + tails) */
	int quit;	     /* runner threads exit */
	int64_t retry_at;    /* the leader's: no pull request before */
	int64_t resetup_at;  /* the leader's: no sk_nats_setup before */
	struct runner *runners;
	int nrunners;
	int nslots;
	volatile sig_atomic_t abort_runs; /* drain deadline passed, vacating */
	volatile sig_atomic_t no_pull;	  /* the owner policy: not Idle */
};

static volatile sig_atomic_t stop_signals;
static volatile sig_atomic_t drain_asked; /* a drain request over NATS */

static void on_signal(int sig)
{
	(void)sig;
	stop_signals++;
}

static bool stop_requested(void)
{
	return stop_signals > 0 || drain_asked;
}

/*
 * sk.ctl.<id>.drain (from `sukima worker --drain ID` or the gateway's
 * POST /system/nodes/{id}/drain): leave exactly as on SIGTERM.  The reply
 * tells the requester that this worker heard it.
 */
static void on_drain_request(natsConnection *nc, natsSubscription *sub,
			     natsMsg *m, void *closure)
{
	const char *reply = natsMsg_GetReply(m), *id = closure;
	char buf[96];

	(void)sub;
	if (reply) {
		snprintf(buf, sizeof(buf),
			 "{\"id\":\"%s\",\"state\":\"draining\"}", id);
		natsConnection_PublishString(nc, reply, buf);
	}
	if (!drain_asked)
		sk_info("drain requested over NATS: leaving");
	drain_asked = 1;
	natsMsg_Destroy(m);
}

/* `sukima worker --drain ID`: ask worker ID to leave; 0 when it answered. */
static int request_drain(const char *url, const struct sk_sec *sec,
			 const char *id, int64_t connect_ms)
{
	struct sk_nats_opts no = {0};
	struct sk_nats *n = NULL;
	natsMsg *reply = NULL;
	char subj[96];
	natsStatus s;
	int rc;

	no.urls = url;
	no.name = "sukima worker --drain";
	no.connect_wait_ms = connect_ms < 0 ? 5000 : connect_ms;
	no.sec = sec;
	rc = sk_nats_connect(&n, &no);
	if (rc) {
		fprintf(stderr,
			"sukima worker: cannot connect to NATS at %s: "
			"%s\n",
			url,
			rc == -ENOTCONN ? "no server answered" : strerror(-rc));
		return 1;
	}
	snprintf(subj, sizeof(subj), SK_SUBJ_CTL "%s.drain", id);
	s = natsConnection_RequestString(&reply, n->nc, subj, "", 3000);
	if (s == NATS_OK)
		printf("%.*s\n", natsMsg_GetDataLength(reply),
		       natsMsg_GetData(reply));
	else
		fprintf(stderr,
			"sukima worker: no worker %s answered the "
			"drain request (%s)\n",
			id, natsStatus_GetText(s));
	natsMsg_Destroy(reply);
	sk_nats_close(n);
	return s == NATS_OK ? 0 : 1;
}

/* --- invocation record (sk_calls) ------------------------------------------ */

enum start_verdict { START_RUN, START_CANCELLED, START_DONE };

/* Just the "status" of a record the full parser refused. */
static int peek_status(const char *json, size_t len, enum sk_status *st)
{
	json_t *o = json_loadb(json, len, 0, NULL), *s;
	int rc = -EINVAL;

	s = o ? json_object_get(o, "status") : NULL;
	if (s && json_is_string(s))
		rc = sk_status_parse(json_string_value(s), st);
	json_decref(o);
	return rc;
}

/*
 * Move the invocation record to running (create it if absent), racing the
 * gateway's cancel through create-only / expected-revision writes.
 */
/* The record as this worker last wrote it, to finish it without a read. */
struct started {
	struct sk_callrec rec;
	uint64_t rev;
	int valid;
};

static int mark_running(struct wk *w, const struct sk_call *c,
			uint64_t delivered, enum start_verdict *v,
			struct started *mine)
{
	/*
	 * The gateway writes no record for a sync call (unless it cancels
	 * it): on a first delivery try the create straight away, one round
	 * trip instead of two; a conflict falls back to read-then-write.
	 */
	int assume_absent = c->reply && c->reply[0] && delivered == 1;
	char err[160];

	*v = START_RUN;
	for (int tries = 0; tries < 10; tries++) {
		struct sk_callrec rec;
		uint64_t rev = 0;
		char *val = NULL, *json;
		size_t len = 0;
		int rc = tries == 0 && assume_absent
				 ? -ENOENT
				 : sk_kv_get(w->n, SK_B_CALLS, c->id, &val,
					     &len, &rev);

		if (rc && rc != -ENOENT)
			return rc;
		if (rc == 0 &&
		    sk_callrec_parse(&rec, val, len, err, sizeof(err)) == 0) {
			if (rec.status == SK_ST_CANCELLED) {
				*v = START_CANCELLED;
			} else if (sk_status_final(rec.status)) {
				*v = START_DONE;
			}
			if (*v != START_RUN) {
				sk_callrec_free(&rec);
				free(val);
				return 0;
			}
		} else {
			enum sk_status st;

			/* Never undo a cancel we cannot fully parse. */
			if (rc == 0 && peek_status(val, len, &st) == 0 &&
			    (st == SK_ST_CANCELLED || sk_status_final(st))) {
				*v = st == SK_ST_CANCELLED ? START_CANCELLED
							   : START_DONE;
				free(val);
				return 0;
			}
			if (rc == 0)
				sk_warn("call %s: unreadable record replaced: "
					"%s",
					c->id, err);
			memset(&rec, 0, sizeof(rec));
			snprintf(rec.id, sizeof(rec.id), "%s", c->id);
			snprintf(rec.function, sizeof(rec.function), "%s",
				 c->function);
			rec.version = c->version;
			rec.queued_at_us = c->queued_at_us;
			rec.async = !c->reply || !c->reply[0];
			rec.callback = strdup(c->callback ? c->callback : "");
		}
		free(val);
		rec.status = SK_ST_RUNNING;
		rec.attempts = rec.attempts + 1 > delivered
				       ? rec.attempts + 1
				       : (uint32_t)delivered;
		pthread_mutex_lock(&w->lock);
		snprintf(rec.worker, sizeof(rec.worker), "%s", w->self.id);
		pthread_mutex_unlock(&w->lock);
		sk_strv_push(&rec.workers, rec.worker);
		rec.started_at_us = sk_now_us();
		json = sk_callrec_json(&rec);
		if (!json) {
			sk_callrec_free(&rec);
			return -ENOMEM;
		}
		if (rc == -ENOENT)
			rc = sk_kv_create(w->n, SK_B_CALLS, c->id, json,
					  strlen(json), &rev);
		else
			rc = sk_kv_update(w->n, SK_B_CALLS, c->id, json,
					  strlen(json), rev, &rev);
		free(json);
		if (rc == 0) {
			mine->rec = rec; /* ownership moves */
			mine->rev = rev;
			mine->valid = 1;
			return 0;
		}
		sk_callrec_free(&rec);
		if (rc == -EEXIST || rc == -ESTALE)
			continue; /* someone wrote first: read again */
		return rc;
	}
	return -EAGAIN;
}

/* Apply the end (or a dropped duplicate) to (rec). */
static void apply_final(struct sk_callrec *rec, const struct sk_result *r,
			int duplicate)
{
	if (duplicate) {
		rec->duplicates++;
		return;
	}
	rec->status = r->status;
	snprintf(rec->worker, sizeof(rec->worker), "%s", r->worker);
	free(rec->reason);
	rec->reason = strdup(r->reason ? r->reason : "");
	rec->started_at_us = r->started_at_us;
	rec->ended_at_us = r->ended_at_us;
}

/* NATS away (restarting, reconnecting): worth another try soon. */
static int nats_away(int rc)
{
	return rc == -ENOTCONN || rc == -ETIMEDOUT || rc == -EHOSTUNREACH;
}

/* One try of mark_final: 0 (recorded, or lost to others' writes) or -errno. */
static int mark_final_once(struct wk *w, const struct sk_result *r,
			   int duplicate, struct started *mine)
{
	char err[160];

	/* Usually nobody wrote since our start: no read needed. */
	if (mine && mine->valid) {
		char *json;
		int rc;

		apply_final(&mine->rec, r, duplicate);
		json = sk_callrec_json(&mine->rec);
		rc = json ? sk_kv_update(w->n, SK_B_CALLS, r->id, json,
					 strlen(json), mine->rev, NULL)
			  : -ENOMEM;
		free(json);
		if (rc == 0 || nats_away(rc))
			return rc;
	}
	for (int tries = 0; tries < 10; tries++) {
		struct sk_callrec rec;
		uint64_t rev = 0;
		char *val = NULL, *json;
		size_t len = 0;
		int rc = sk_kv_get(w->n, SK_B_CALLS, r->id, &val, &len, &rev);

		if (rc && rc != -ENOENT)
			return rc;
		if (rc != 0 ||
		    sk_callrec_parse(&rec, val, len, err, sizeof(err)) != 0) {
			memset(&rec, 0, sizeof(rec));
			snprintf(rec.id, sizeof(rec.id), "%s", r->id);
			snprintf(rec.function, sizeof(rec.function), "%s",
				 r->function);
			rec.version = r->version;
			rec.queued_at_us = r->queued_at_us;
			rec.attempts = r->attempt;
			sk_strv_push(&rec.workers, r->worker);
		}
		free(val);
		apply_final(&rec, r, duplicate);
		json = sk_callrec_json(&rec);
		sk_callrec_free(&rec);
		if (!json)
			return -ENOMEM;
		if (rc == -ENOENT)
			rc = sk_kv_create(w->n, SK_B_CALLS, r->id, json,
					  strlen(json), NULL);
		else
			rc = sk_kv_update(w->n, SK_B_CALLS, r->id, json,
					  strlen(json), rev, NULL);
		free(json);
		if (rc != -EEXIST && rc != -ESTALE)
			return rc;
	}
	return 0; /* others keep writing it: theirs stands */
}

/*
 * Record the end (or a dropped duplicate) in sk_calls.  sk_results is
 * the authority, so this is best effort, but it outlasts a NATS restart:
 * up to 5 s of retries, as the result commit does.
 */
static void mark_final(struct wk *w, const struct sk_result *r, int duplicate,
		       struct started *mine)
{
	int rc = mark_final_once(w, r, duplicate, mine);

	for (int tries = 0; tries < 20 && nats_away(rc); tries++) {
		usleep(250 * 1000);
		rc = mark_final_once(w, r, duplicate, NULL);
	}
	if (rc)
		sk_warn("call %s: end not recorded in sk_calls (%s); "
			"sk_results has it",
			r->id, strerror(-rc));
}

/* --- results ------------------------------------------------------------------ */

static int has_callback(const struct sk_call *c)
{
	return c->callback && c->callback[0];
}

/* A sync call nobody else waits for (no callback). */
static int is_sync_only(const struct sk_call *c)
{
	return c->reply && c->reply[0] && !has_callback(c);
}

/* The completion event: the result JSON plus "callback". */
static char *done_event(const char *result_json, const char *callback)
{
	json_t *o = json_loads(result_json, 0, NULL);
	char *s;

	if (!o)
		return NULL;
	json_object_set_new(o, "callback",
			    json_string(callback ? callback : ""));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/*
 * Commit (r) create-only; the winner publishes the sync reply and the
 * completion event and records the end.  Returns 0 (committed), 1 (a
 * result already existed: ours dropped), or -errno (not committed).
 */
static void announce(struct wk *w, const struct sk_call *c, const char *json,
		     const struct sk_result *r, struct started *mine);

static int commit_result(struct wk *w, struct sk_inbox *ib,
			 const struct sk_call *c, struct sk_result *r,
			 struct started *mine)
{
	char *json;
	int rc = -EIO;

	json = sk_result_json(r);
	if (!json)
		return -ENOMEM;
	for (int tries = 0; tries < 20; tries++) {
		rc = sk_kv_create_in(w->n, ib, SK_B_RESULTS, r->id, json,
				     strlen(json), NULL);
		if (rc == 0 || rc == -EEXIST || rc == -EMSGSIZE ||
		    rc == -EINVAL)
			break;
		usleep(250 * 1000); /* NATS away: the lease keeper holds on */
	}
	if (rc == -EMSGSIZE) {
		/* The output does not fit a NATS message: say so honestly. */
		sk_warn("call %s: result of %zu output bytes exceeds the NATS "
			"max_payload",
			r->id, r->output_len);
		free(json);
		free(r->output);
		r->output = NULL;
		r->output_len = 0;
		r->status = SK_ST_FAILED;
		free(r->reason);
		r->reason = strdup("output too large for the NATS server's "
				   "max_payload");
		return commit_result(w, ib, c, r, mine);
	}
	if (rc == -EEXIST) {
		free(json);
		mark_final(w, r, 1, mine);
		return 1;
	}
	if (rc) {
		free(json);
		return rc;
	}
#ifdef WK_TEST_HOOKS
	/* A PC that dies between commit and announce (lost-announce tests). */
	if (getenv("SUKIMA_TEST_DIE_COMMITTED_FN") &&
	    !strcmp(getenv("SUKIMA_TEST_DIE_COMMITTED_FN"), c->function)) {
		sk_warn("call %s: test hook: this worker dies after the commit",
			c->id);
		raise(SIGKILL);
	}
#endif
	/* First result wins: only the winner answers the caller. */
	announce(w, c, json, r, mine);
	free(json);
	return 0;
}

/*
 * The committed final result (json, r) goes out: the sync reply, the
 * completion event, the record's end.
 */
static void announce(struct wk *w, const struct sk_call *c, const char *json,
		     const struct sk_result *r, struct started *mine)
{
	char subj[128], *ev;

	/* The server republished the commit to the gateway already
	 * (sk_nats.c, results_republish), unless the bucket predates that. */
	if (c->reply && c->reply[0] && !w->n->results_republished)
		natsConnection_PublishString(w->n->nc, c->reply, json);
	/*
	 * Only a callback needs an event: the activation log reads the
	 * results themselves (gw_logs.c).  The callback depends on it, so
	 * wait for the stream's ack.
	 */
	ev = has_callback(c) ? done_event(json, c->callback) : NULL;
	if (ev) {
		snprintf(subj, sizeof(subj), "%s%s", SK_SUBJ_DONE_CB, r->id);
		if (sk_js_publish(w->n, subj, ev, strlen(ev), r->id, NULL, NULL,
				  3, NULL))
			sk_warn("call %s: completion event not published",
				r->id);
		free(ev);
	}
	/*
	 * A sync call's caller has its answer and sk_results is the
	 * authority for GET /system/invocations: its record stays at
	 * running (attempts, workers) and saves a stream write per call.
	 */
	if (!is_sync_only(c))
		mark_final(w, r, 0, mine);
}

/*
 * A redundant call (wk_replica.h): store our vote and, if it decides the
 * call, announce the final result.  (r) NULL: no vote of ours, only end
 * the count (force).  Returns 0 or -errno (vote not stored).
 */
static int commit_vote(struct wk *w, const struct sk_call *c,
		       const struct sk_result *r, int force,
		       struct started *mine)
{
	struct sk_result fin;
	char *json = NULL;
	int rc = wk_replica_vote(w->n, c, r, force, &fin, &json);

	if (rc == 1)
		return 0; /* our vote is in; someone else decides */
	if (rc)
		return rc;
	announce(w, c, json, &fin, mine);
	free(json);
	sk_result_free(&fin);
	return 0;
}

/*
 * Before running replica (c->replica) of a redundant call: 0 = run it
 * here; 1 = dealt with (already decided: acked; served another replica
 * of it here: handed back with a delay so a distinct worker takes it, or
 * on its last delivery the count ended without it).
 */
static int replica_gate(struct wk *w, const struct sk_call *c, const char *ack,
			uint64_t delivered)
{
	char key[2 * SK_ID_MAX + 2], self[SK_ID_MAX + 1];
	uint64_t seen;

	if (sk_kv_exists(w->n, SK_B_RESULTS, c->id) == 0) {
		sk_js_ack(w->n, ack, SK_ACK_ACK, true);
		return 1;
	}
	pthread_mutex_lock(&w->lock);
	snprintf(self, sizeof(self), "%s", w->self.id);
	pthread_mutex_unlock(&w->lock);
	if (wk_replica_claim(c->id, c->replica) == 0 &&
	    (wk_replica_key(key, sizeof(key), c->id, self) != 0 ||
	     sk_kv_exists(w->n, SK_B_RESULTS, key) != 0))
		return 0;
	/* The ack subject may say 1 for a later delivery (wk_replica.h). */
	seen = wk_replica_bounce(c->id, c->replica);
	if (seen > delivered) {
		sk_info("call %s: replica %u: delivery %llu here, the ack "
			"subject says %llu",
			c->id, c->replica, (unsigned long long)seen,
			(unsigned long long)delivered);
		delivered = seen;
	}
	if (delivered <= (uint64_t)w->max_attempts) {
		/*
		 * -NAK with a delay: let another worker pull it first.  The
		 * delay doubles from 250 ms up to 4 s, so busy workers get
		 * ~9 s (default attempt limit) before the count ends.  From
		 * 1 s on it is half a pull request longer: this slot sends
		 * its next pull request (PULL_EXPIRES_MS) with the -NAK, and
		 * a delay that ends as one of them expires is what
		 * nats-server 2.9 gets wrong (wk_replica_bounce).
		 */
		char nak[64];
		uint64_t ms = delivered >= 5 ? 4000 : 250ULL << (delivered - 1);

		if (ms >= PULL_EXPIRES_MS)
			ms += PULL_EXPIRES_MS / 2;
		snprintf(nak, sizeof(nak), "-NAK {\"delay\":%llu}",
			 (unsigned long long)ms * 1000000ULL);
		natsConnection_PublishString(w->n->nc, ack, nak);
		return 1;
	}
	sk_warn("call %s: no distinct worker took replica %u of %u", c->id,
		c->replica, c->replicas);
	if (commit_vote(w, c, NULL, 1, NULL) == 0)
		sk_js_ack(w->n, ack, SK_ACK_ACK, true);
	else
		sk_js_ack(w->n, ack, SK_ACK_NAK, false);
	return 1;
}

/*
 * A committed result whose worker may have died before it announced it.
 * The sync caller had it republished at the commit.  The worker role may
 * not read it (others' results), so say only that it exists: an empty
 * completion event for a callback, de-duplicated by the call id against
 * the event the first worker may have published (the gateway reads the
 * result itself, gw_callbacks.c), and, in a bucket that predates
 * republishing, an empty sync reply (gw_api.c reads it).  The record is
 * left to sk_results, which GET /system/invocations reads first.
 */
static void reannounce(struct wk *w, const struct sk_call *c)
{
	char subj[128];

	if (c->reply && c->reply[0] && !w->n->results_republished)
		natsConnection_Publish(w->n->nc, c->reply, "", 0);
	if (!has_callback(c))
		return;
	snprintf(subj, sizeof(subj), "%s%s", SK_SUBJ_DONE_CB, c->id);
	if (sk_js_publish(w->n, subj, "", 0, c->id, NULL, NULL, 3, NULL))
		sk_warn("call %s: re-announcement not published", c->id);
}

static void result_init(struct wk *w, struct sk_result *r,
			const struct sk_call *c, uint64_t delivered)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", c->id);
	snprintf(r->function, sizeof(r->function), "%s", c->function);
	r->version = c->version;
	pthread_mutex_lock(&w->lock);
	snprintf(r->worker, sizeof(r->worker), "%s", w->self.id);
	pthread_mutex_unlock(&w->lock);
	r->attempt = (uint32_t)delivered;
	r->exit_code = -1;
	r->queued_at_us = c->queued_at_us;
	r->started_at_us = sk_now_us();
}

/* --- the early start of a sync call ---------------------------------------- */

/*
 * A sync call on its first delivery most likely has no record yet: publish
 * the create-only "running" record without waiting, run the function, and
 * look at the stream's answer only before committing the result.  Whether
 * the result may be committed is still decided by that write (a cancel
 * that came first wins), so nothing changes but one round trip less before
 * the caller gets the answer.  Returns 0 when the write is in flight.
 */
static int start_early(struct wk *w, int runner, const struct sk_call *c,
		       struct started *mine)
{
	struct runner *rn = &w->runners[runner];
	char subj[300], reply[192], *json;
	natsMsg *m = NULL;
	natsStatus s;

	memset(&mine->rec, 0, sizeof(mine->rec));
	snprintf(mine->rec.id, sizeof(mine->rec.id), "%s", c->id);
	snprintf(mine->rec.function, sizeof(mine->rec.function), "%s",
		 c->function);
	mine->rec.version = c->version;
	mine->rec.queued_at_us = c->queued_at_us;
	mine->rec.status = SK_ST_RUNNING;
	mine->rec.attempts = 1;
	pthread_mutex_lock(&w->lock);
	snprintf(mine->rec.worker, sizeof(mine->rec.worker), "%s", w->self.id);
	pthread_mutex_unlock(&w->lock);
	sk_strv_push(&mine->rec.workers, mine->rec.worker);
	mine->rec.callback = strdup(c->callback ? c->callback : "");
	mine->rec.started_at_us = sk_now_us();
	json = sk_callrec_json(&mine->rec);
	if (!json) {
		sk_callrec_free(&mine->rec);
		return -ENOMEM;
	}
	snprintf(subj, sizeof(subj), "$KV.%s.%s", sk_bucket_name(SK_B_CALLS),
		 c->id);
	snprintf(reply, sizeof(reply), "%s.%s", rn->kv_inbox, c->id);
	s = natsMsg_Create(&m, subj, reply, json, (int)strlen(json));
	free(json);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence",
				      "0");
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(w->n->nc, m);
	sk_msg_free(m);
	if (s != NATS_OK) {
		sk_callrec_free(&mine->rec);
		return sk_nats_errno(s);
	}
	return 0;
}

/* The stream's answer to start_early: 0 (ours), -EEXIST, -errno. */
static int finish_early(struct wk *w, int runner, const struct sk_call *c,
			struct started *mine)
{
	struct runner *rn = &w->runners[runner];
	int64_t deadline = sk_mono_ms() + 5000;
	size_t tail = strlen(c->id);

	for (;;) {
		int64_t left = deadline - sk_mono_ms();
		const char *subj;
		natsMsg *m = NULL;
		json_t *o, *e, *q;
		size_t sl_len;
		int rc;

		if (left <= 0 ||
		    natsSubscription_NextMsg(&m, rn->kv_sub, left) != NATS_OK)
			break;
		subj = natsMsg_GetSubject(m);
		sl_len = subj ? strlen(subj) : 0;
		/* A late answer meant for an earlier call of this runner. */
		if (sl_len <= tail ||
		    strcmp(subj + sl_len - tail, c->id) != 0 ||
		    subj[sl_len - tail - 1] != '.') {
			sk_msg_free(m);
			continue;
		}
		o = json_loadb(natsMsg_GetData(m),
			       (size_t)natsMsg_GetDataLength(m), 0, NULL);
		sk_msg_free(m);
		e = o ? json_object_get(o, "error") : NULL;
		q = o ? json_object_get(o, "seq") : NULL;
		if (e) {
			json_t *code = json_object_get(e, "err_code");
			rc = code && json_integer_value(code) ==
						     JSStreamWrongLastSequenceErr
				     ? -EEXIST
				     : -EIO;
		} else if (q && json_is_integer(q)) {
			mine->rev = (uint64_t)json_integer_value(q);
			mine->valid = 1;
			rc = 0;
		} else {
			rc = -EIO;
		}
		json_decref(o);
		if (rc)
			sk_callrec_free(&mine->rec);
		return rc;
	}
	sk_callrec_free(&mine->rec);
	return -ETIMEDOUT;
}

/* --- one invocation ---------------------------------------------------------- */

static void set_active(struct wk *w, int runner, const char *ack)
{
	pthread_mutex_lock(&w->lock);
	snprintf(w->runners[runner].ack, ACK_SUBJ_MAX, "%s", ack ? ack : "");
	pthread_mutex_unlock(&w->lock);
}

static void slot_free(struct wk *w, int runner, int *held);
static void pull_ahead(struct wk *w, int runner);

/*
 * Run the invocation in (m) on (runner), which holds a slot for it; the
 * slot is given back as soon as the micro-VM is done.  On the way the
 * runner may park the lead (slot_free, pull_ahead): runner_main resumes
 * it unless an idle runner took it over meanwhile.
 */
static void handle(struct wk *w, int runner, natsMsg *m)
{
	const char *ack = natsMsg_GetReply(m), *hdr = NULL;
	struct wk_exec_req xr = {0};
	struct started mine = {0};
	int early = 0, held = 1;
	struct wk_exec_res xs;
	enum start_verdict verdict;
	struct sk_result r;
	struct sk_call c;
	uint64_t delivered = 1;
	char err[256], elf[PATH_MAX], reason[SK_REASON_MAX];
	int rc;

	if (!ack || sk_js_ack_meta(ack, &delivered, NULL, NULL)) {
		sk_error("work message on %s without a JetStream reply: "
			 "dropped",
			 natsMsg_GetSubject(m));
		slot_free(w, runner, &held);
		return;
	}
	if (natsMsgHeader_Get(m, SK_HDR_CALL, &hdr) != NATS_OK || !hdr) {
		sk_error("work message without an " SK_HDR_CALL
			 " header: terminated");
		sk_js_ack(w->n, ack, SK_ACK_TERM, false);
		slot_free(w, runner, &held);
		return;
	}
	if (sk_call_parse(&c, hdr, strlen(hdr), err, sizeof(err))) {
		sk_error("work message with a bad " SK_HDR_CALL
			 " header (%s): terminated",
			 err);
		sk_js_ack(w->n, ack, SK_ACK_TERM, false);
		slot_free(w, runner, &held);
		return;
	}
	set_active(w, runner, ack);
	result_init(w, &r, &c, delivered);
	if (delivered > 1)
		wk_stats_redelivery();
	if (c.replicas > 1 && replica_gate(w, &c, ack, delivered))
		goto out;

	if (delivered > (uint64_t)w->max_attempts) {
		/* Every earlier attempt vanished with its worker: stop. */
		r.status = SK_ST_FAILED;
		snprintf(reason, sizeof(reason),
			 "gave up after %d attempts: the workers running it "
			 "were lost each time",
			 w->max_attempts);
		r.reason = strdup(reason);
		r.ended_at_us = sk_now_us();
		sk_warn("call %s (%s): %s", c.id, c.function, reason);
		goto commit;
	}
	if (delivered > 1 && sk_kv_exists(w->n, SK_B_RESULTS, c.id) == 0) {
		/* Committed by an earlier attempt whose ack was lost. */
		reannounce(w, &c);
		sk_js_ack(w->n, ack, SK_ACK_ACK, true);
		goto out;
	}
	early = c.reply && c.reply[0] && delivered == 1 &&
		start_early(w, runner, &c, &mine) == 0;
	rc = early ? 0 : mark_running(w, &c, delivered, &verdict, &mine);
	if (rc) {
		sk_warn("call %s: cannot record its start (%s): handed back",
			c.id, strerror(-rc));
		sk_js_ack(w->n, ack, SK_ACK_NAK, false);
		goto out;
	}
	if (!early && verdict != START_RUN) {
		sk_info("call %s: %s, skipped", c.id,
			verdict == START_CANCELLED ? "cancelled"
						   : "already finished");
		sk_js_ack(w->n, ack, SK_ACK_ACK, true);
		goto out;
	}
	/* Before any byte of the artifact: unsigned code is not fetched. */
	if (w->trust && sk_trust_check(w->trust, c.function, c.digest, c.sig,
				       c.signer, reason, sizeof(reason))) {
		sk_warn("call %s (%s): %s", c.id, c.function, reason);
		r.status = SK_ST_FAILED;
		r.reason = strdup(reason);
		r.ended_at_us = sk_now_us();
		goto commit;
	}
	rc = wk_cache_get(w->n, c.digest, elf, sizeof(elf));
	if (rc == -ENOENT || rc == -EBADMSG || rc == -EINVAL) {
		r.status = SK_ST_FAILED;
		snprintf(reason, sizeof(reason), "artifact %.16s... %s",
			 c.digest,
			 rc == -ENOENT ? "not found in the object store"
				       : "does not match its digest: refused");
		/* A tampered object store is a security event: say so. */
		sk_warn("call %s (%s): %s", c.id, c.function, reason);
		r.reason = strdup(reason);
		r.ended_at_us = sk_now_us();
		goto commit;
	}
	if (rc) {
		sk_warn("call %s: cannot fetch artifact %s (%s): handed back",
			c.id, c.digest, strerror(-rc));
		sk_js_ack(w->n, ack, SK_ACK_NAK, false);
		goto out;
	}

	if (c.argv0[0]) {
		char named[PATH_MAX];

		rc = wk_cache_named(elf, c.digest, c.argv0, named,
				    sizeof(named));
		if (rc) {
			sk_warn("call %s: cannot name the artifact %s (%s): "
				"handed back",
				c.id, c.argv0, strerror(-rc));
			sk_js_ack(w->n, ack, SK_ACK_NAK, false);
			goto out;
		}
		memcpy(elf, named, sizeof(elf));
	}
	xr.monitor = w->monitor;
	xr.elf = elf;
	xr.call = &c;
	xr.input = natsMsg_GetData(m);
	xr.input_len = (size_t)natsMsg_GetDataLength(m);
	xr.abort = &w->abort_runs;
#ifdef WK_TEST_HOOKS
	/* A PC that dies whenever it runs this function (poison tests). */
	if (getenv("SUKIMA_TEST_DIE_FN") &&
	    !strcmp(getenv("SUKIMA_TEST_DIE_FN"), c.function)) {
		sk_warn("call %s: test hook: this worker dies now", c.id);
		raise(SIGKILL);
	}
#endif
	wk_exec_run(&xr, &xs);
	/* The rest is NATS round trips: the slot can run the next call. */
	slot_free(w, runner, &held);
	if (xs.end == WK_END_ABORTED) {
		sk_info("call %s: stopped by %s: handed back", c.id,
			w->no_pull && !stop_requested()
				? "the owner policy (vacating)"
				: "the drain deadline");
		wk_exec_res_free(&xs);
		sk_js_ack(w->n, ack, SK_ACK_NAK, false);
		goto out;
	}
	r.status = wk_exec_status(&xs, reason, sizeof(reason));
	if (xs.end == WK_END_HOST)
		sk_error("call %s: %s", c.id, xs.reason);
	r.exit_code = xs.end == WK_END_EXITED ? xs.status : -1;
	r.reason = strdup(reason);
	r.output = xs.out;
	r.output_len = xs.out_len;
	xs.out = NULL;
#ifdef WK_TEST_LIE
	if (w->test_lie) {
		/* A faulty or malicious PC: another answer, same status. */
		static const char forged[] = "forged by a --test-lie worker\n";

		free(r.output);
		r.output = (unsigned char *)strdup(forged);
		r.output_len = r.output ? sizeof(forged) - 1 : 0;
	}
#endif
	/* Keep the stderr tail without the monitor's own reason line. */
	r.stderr_tail = xs.err;
	xs.err = NULL;
	if (r.stderr_tail && strlen(r.stderr_tail) > SK_STDERR_MAX)
		memmove(r.stderr_tail,
			r.stderr_tail + strlen(r.stderr_tail) - SK_STDERR_MAX,
			SK_STDERR_MAX + 1);
	r.started_at_us = xs.started_us;
	r.ended_at_us = xs.ended_us;
	wk_exec_res_free(&xs);
	sk_debug("call %s (%s): %s in %lld us", c.id, c.function,
		 sk_status_name(r.status),
		 (long long)(r.ended_at_us - r.started_at_us));
commit:
	if (held)
		slot_free(w, runner, &held);
	if (early) {
		/* Our running record must have been the first write. */
		early = 0;
		rc = finish_early(w, runner, &c, &mine);
		if (rc)
			rc = mark_running(w, &c, delivered, &verdict, &mine);
		else
			verdict = START_RUN;
		if (rc) {
			sk_warn("call %s: cannot record its start (%s): "
				"handed back",
				c.id, strerror(-rc));
			sk_js_ack(w->n, ack, SK_ACK_NAK, false);
			goto out;
		}
		if (verdict != START_RUN) {
			sk_info("call %s: %s meanwhile, result dropped", c.id,
				verdict == START_CANCELLED ? "cancelled"
							   : "finished");
			sk_js_ack(w->n, ack, SK_ACK_ACK, true);
			goto out;
		}
	}
	rc = c.replicas > 1
		     ? commit_vote(w, &c, &r, 0, &mine)
		     : commit_result(w, &w->runners[runner].ib, &c, &r, &mine);
	if (rc < 0) {
		sk_warn("call %s: result not committed (%s): handed back", c.id,
			strerror(-rc));
		sk_js_ack(w->n, ack, SK_ACK_NAK, false);
		goto out;
	}
	pthread_mutex_lock(&w->lock);
	if (rc == 1)
		w->self.duplicates++;
	else
		w->self.done++;
	pthread_mutex_unlock(&w->lock);
	if (rc == 1)
		sk_info("call %s: another attempt committed first: ours "
			"dropped (duplicate)",
			c.id);
	/* Ask for the next call now: it travels with the ack. */
	pull_ahead(w, runner);
	/* The final ack waits for the server: the work is really gone. */
	if (sk_js_ack_in(w->n, &w->runners[runner].ib, ack, SK_ACK_ACK))
		sk_warn("call %s: final ack not confirmed", c.id);
out:
	if (held)
		slot_free(w, runner, &held);
	set_active(w, runner, NULL);
	if (mine.valid || early)
		sk_callrec_free(&mine.rec);
	sk_result_free(&r);
	sk_call_free(&c);
}

/* --- threads ------------------------------------------------------------------ */

struct runner_arg {
	struct wk *w;
	int index;
};

static void hand_back(struct wk *w, natsMsg *m);
static natsMsg *lead(struct wk *w);

/*
 * The runners take turns at pulling (leader and followers): one idle
 * runner at a time leads, issues the pull requests for the free slots and
 * reads the pull inbox (sk_pull is single-threaded; cnats 3.4.1 wants one
 * reader per subscription).  A delivery wakes the leader straight from
 * the connection's reader thread; the leader takes a slot, runs the call
 * itself and passes the lead to an idle runner, if there is one.  A
 * runner whose micro-VM is done gives its slot back and, when nobody
 * leads, pulls for it at once (slot_free).  So under load a call costs one
 * pull request and no thread hand-over, where a separate fetch loop cost
 * a wake-up message through NATS to itself and a hand-over per call.
 *
 * A runner that pulled on its way (slot_free, pull_ahead) and finds no
 * idle runner to hand the lead to parks it: it resumes leading after its
 * call's tail, unless a runner that became idle meanwhile took the
 * parked lead over, so a delivery never waits for a tail while a runner
 * idles.  Only an active leader touches sk_pull.
 */
static void *runner_main(void *arg)
{
	struct runner_arg *ra = arg;
	struct wk *w = ra->w;
	int index = ra->index, leads = 0;

	free(ra);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		natsMsg *m;

		if (!leads) {
			/* Nobody leads once the worker leaves: drain() reads. */
			w->idle++;
			while (!w->quit &&
			       (!w->go || (w->leading && !w->parked) ||
				stop_requested()))
				pthread_cond_wait(&w->cond, &w->lock);
			w->idle--;
			if (w->quit)
				break;
			w->leading = 1;
			w->parked = 0; /* taken over, if it was parked */
		}
		pthread_mutex_unlock(&w->lock);
		m = lead(w);
		pthread_mutex_lock(&w->lock);
		w->leading = 0;
		leads = 0;
		if (!m) {
			/* Leaving: whoever waits for the lead to end may go. */
			pthread_cond_broadcast(&w->cond);
			continue;
		}
		w->busy++;
		w->active++;
		/* An idle runner takes the lead (nothing to do if none waits). */
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);

		handle(w, index, m);
		sk_msg_free(m);

		pthread_mutex_lock(&w->lock);
		w->active--;
		/* Our parked lead, unless it was taken over. */
		leads = w->leading && w->parked && w->parker == index;
		if (leads)
			w->parked = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void publish_membership(struct wk *w)
{
	char *json;

	pthread_mutex_lock(&w->lock);
	w->self.busy = (uint32_t)w->busy;
	w->self.load = wk_host_load();
	w->self.seen_us = sk_now_us();
	json = sk_worker_json(&w->self);
	pthread_mutex_unlock(&w->lock);
	json = wk_stats_decorate(json);
	if (!json)
		return;
	if (sk_kv_put(w->n, SK_B_WORKERS, w->self.id, json, strlen(json), NULL))
		sk_debug("membership refresh failed");
	free(json);
}

struct keeper {
	struct wk *w;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int quit;
	int started;
	char (*acks)[ACK_SUBJ_MAX]; /* nrunners: copied under w->lock */
};

/*
 * Membership every second and lease renewal (+WPI for every call a runner
 * holds) every lease/3, from one thread, so a slow NATS never stalls a
 * runner.
 */
static void *keeper_main(void *arg)
{
	struct keeper *k = arg;
	struct wk *w = k->w;
	int64_t wpi_every = w->lease_ms / 3 > 50 ? w->lease_ms / 3 : 50;
	int64_t next_member = 0, next_wpi = sk_mono_ms() + wpi_every;
	char(*acks)[ACK_SUBJ_MAX] = k->acks;

	pthread_mutex_lock(&k->lock);
	while (!k->quit) {
		int64_t now = sk_mono_ms(), until;
		struct timespec ts;

		pthread_mutex_unlock(&k->lock);
		if (now >= next_wpi) {
			int na = 0;

			pthread_mutex_lock(&w->lock);
			for (int i = 0; i < w->nrunners; i++)
				if (w->runners[i].ack[0])
					memcpy(acks[na++], w->runners[i].ack,
					       ACK_SUBJ_MAX);
			pthread_mutex_unlock(&w->lock);
			for (int i = 0; i < na; i++)
				sk_js_ack(w->n, acks[i], SK_ACK_WPI, false);
			next_wpi = now + wpi_every;
		}
		if (now >= next_member) {
			publish_membership(w);
			wk_exec_housekeeping(WARM_IDLE_MS);
			next_member = now + MEMBERSHIP_MS;
		}
		until = next_wpi < next_member ? next_wpi : next_member;
		until -= sk_mono_ms();
		sk_abstime(&ts, until > 1 ? until : 1);
		pthread_mutex_lock(&k->lock);
		if (!k->quit)
			pthread_cond_timedwait(&k->cond, &k->lock, &ts);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

static void keeper_stop(struct keeper *k)
{
	if (!k->started)
		return;
	pthread_mutex_lock(&k->lock);
	k->quit = 1;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	k->started = 0;
}

/* --- pulling and drain ------------------------------------------------------ */

static void hand_back(struct wk *w, natsMsg *m)
{
	const char *ack = natsMsg_GetReply(m);

	if (ack)
		sk_js_ack(w->n, ack, SK_ACK_NAK, false);
	natsMsg_Destroy(m);
}

/* A counter of (w) guarded by w->lock (busy, active), read once. */
static int count_now(struct wk *w, const int *counter)
{
	int n;

	pthread_mutex_lock(&w->lock);
	n = *counter;
	pthread_mutex_unlock(&w->lock);
	return n;
}

/*
 * The leader's pull request, for as many messages as there are free
 * slots, unless one is still out.  Every message it brings has a slot, so
 * a batch never brings more work than the worker can run at once.
 */
static void pull_more(struct wk *w)
{
	int room = w->nslots - count_now(w, &w->busy);

	if (room > 0 && !w->no_pull && sk_pull_outstanding(w->pull) == 0 &&
	    sk_mono_ms() >= w->retry_at) {
		int rc = sk_pull_request(w->pull, room, PULL_EXPIRES_MS);

		if (rc && rc != -EBUSY)
			w->retry_at = sk_mono_ms() + 200;
	}
}

/*
 * The leader has no request out (every slot is taken, the owner is
 * active, or a retry is due): sleep until slot_free or the owner policy
 * signals (room), or (ms) pass.
 */
static void wait_room(struct wk *w, int64_t ms)
{
	struct timespec ts;

	sk_abstime(&ts, ms);
	pthread_mutex_lock(&w->lock);
	if (w->busy >= w->nslots || w->no_pull || sk_mono_ms() < w->retry_at)
		pthread_cond_timedwait(&w->room, &w->lock, &ts);
	pthread_mutex_unlock(&w->lock);
}

/*
 * The leader's loop (runner_main): one pull request at a time, for the
 * free slots.  Returns the next message for the leader to run, or NULL
 * when the worker leaves.
 */
static natsMsg *lead(struct wk *w)
{
	while (!stop_requested()) {
		natsMsg *m = NULL;
		int ev;

		pull_more(w);
		if (sk_pull_outstanding(w->pull) == 0) {
			wait_room(w, 100);
			continue;
		}
		ev = sk_pull_next(w->pull, 100, &m);
		if (ev == SK_PULL_MSG) {
			if (!w->no_pull)
				return m;
			hand_back(w, m); /* the owner came back */
		} else if (ev == SK_PULL_DONE && sk_pull_last_status(w->pull) &&
			   sk_pull_last_status(w->pull) != 408) {
			int st = sk_pull_last_status(w->pull);

			/* Refused (409), or nobody answers (503, or silence:
			 * the stream or consumer is gone): no tight loop, and
			 * set the data model up again now and then. */
			w->retry_at = sk_mono_ms() + 100;
			if ((st == 503 ||
			     (st < 0 && sk_nats_connected(w->n))) &&
			    sk_mono_ms() >= w->resetup_at) {
				sk_warn("pull: no consumer answers: setting up "
					"the streams again");
				sk_nats_setup(w->n, &w->cfg);
				w->resetup_at = sk_mono_ms() + 2000;
			}
		} else if (ev < 0) {
			usleep(100 * 1000); /* closed or reconnecting */
		}
	}
	return NULL;
}

/*
 * Take the lead for a runner with a call in its tail, if nobody leads or
 * the lead is parked (by this runner or another), and may pull.  Under
 * w->lock; 1 when taken (active: this runner may use sk_pull).
 */
static int lead_take(struct wk *w)
{
	if ((w->leading && !w->parked) || !w->go || w->no_pull ||
	    stop_requested())
		return 0;
	w->leading = 1;
	w->parked = 0;
	return 1;
}

/*
 * A runner in its call's tail that took the lead (lead_take): pull, then
 * pass the lead to an idle runner, or park it for after the tail.
 */
static void pull_and_park(struct wk *w, int runner)
{
	pull_more(w);
	pthread_mutex_lock(&w->lock);
	if (w->idle > 0) {
		w->leading = 0;
		pthread_cond_signal(&w->cond);
	} else {
		w->parked = 1;
		w->parker = runner;
	}
	pthread_mutex_unlock(&w->lock);
}

/*
 * The call in (runner) no longer needs its slot (its micro-VM is done, or
 * it never ran): give the slot back and have it filled now, while this
 * runner finishes the call's NATS tail.  An active leader is woken for
 * it; otherwise this runner takes the lead, asks for the next call itself
 * and passes the lead on or parks it.
 */
static void slot_free(struct wk *w, int runner, int *held)
{
	int take;

	*held = 0;
	pthread_mutex_lock(&w->lock);
	w->busy--;
	if (w->leading && !w->parked)
		pthread_cond_signal(&w->room);
	take = lead_take(w);
	pthread_mutex_unlock(&w->lock);
	if (take)
		pull_and_park(w, runner);
}

/*
 * A runner about to send its final ack takes the lead if nobody leads
 * actively and a slot is free, and asks for the next call now: the
 * request travels with the ack, and the next message arrives while the
 * ack is confirmed, instead of one round trip later.
 */
static void pull_ahead(struct wk *w, int runner)
{
	int take;

	pthread_mutex_lock(&w->lock);
	take = w->busy < w->nslots && lead_take(w);
	pthread_mutex_unlock(&w->lock);
	if (take)
		pull_and_park(w, runner);
}

/*
 * Let the runners pull until the worker is asked to leave; then wait for
 * the leader to stop (it notices within a pull wait, 100 ms, and
 * broadcasts when it lets go).
 */
static void pull_until_leave(struct wk *w)
{
	pthread_mutex_lock(&w->lock);
	w->go = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	while (!stop_requested())
		usleep(50 * 1000);
	pthread_mutex_lock(&w->lock);
	while (w->leading) {
		struct timespec ts;

		/* Bounded: a leader in its call's tail lets go after it. */
		sk_abstime(&ts, 100);
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
}

static void drain(struct wk *w)
{
	int64_t deadline = sk_mono_ms() + w->grace_ms;
	int64_t pull_end = sk_mono_ms() + PULL_EXPIRES_MS + 1500;
	int handed = 0;

	pthread_mutex_lock(&w->lock);
	snprintf(w->self.state, sizeof(w->self.state), "draining");
	pthread_mutex_unlock(&w->lock);
	publish_membership(w);
	if (wk_pause_paused())
		w->abort_runs = 1; /* suspended for the owner: hand back now */
	sk_info("draining: %d running, grace %lld ms", count_now(w, &w->active),
		(long long)w->grace_ms);
	/*
	 * The outstanding pull request may still deliver: hand those back at
	 * once, until it has surely ended; meanwhile running jobs finish.
	 */
	for (;;) {
		natsMsg *m = NULL;
		int ev;

		if (stop_signals > 1 || sk_mono_ms() >= deadline)
			w->abort_runs = 1; /* grace over: hand back the rest */
		/* Done when the last pull request ended and nothing runs. */
		if (sk_pull_outstanding(w->pull) == 0 &&
		    count_now(w, &w->active) == 0)
			break;
		if (sk_mono_ms() >= pull_end + w->grace_ms + 5000)
			break; /* bounded no matter what */
		ev = sk_pull_next(w->pull, 50, &m);
		if (ev == SK_PULL_MSG) {
			hand_back(w, m);
			handed++;
		}
	}
	if (handed)
		sk_info("handed back %d invocations delivered while leaving",
			handed);
}

/* The owner policy changed state (wk_policy.h; its thread). */
static void on_policy(void *ctx, enum wk_pstate st, const char *why)
{
	struct wk *w = ctx;

	(void)why;
	w->no_pull = st != WK_P_IDLE;
	if (st == WK_P_VACATING)
		w->abort_runs = 1; /* end the runs, hand the work back */
	else if (st == WK_P_IDLE && !stop_requested())
		w->abort_runs = 0;
	pthread_mutex_lock(&w->lock);
	if (!stop_requested())
		snprintf(w->self.state, sizeof(w->self.state), "%s",
			 wk_pstate_name(st));
	pthread_mutex_unlock(&w->lock);
	publish_membership(w);
	pthread_mutex_lock(&w->lock);
	pthread_cond_signal(&w->room); /* a leader without a request out */
	pthread_mutex_unlock(&w->lock);
	sk_pull_wake(w->pull); /* one waiting for its request's messages */
}

/* --- main ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sukima worker --nats URL [--slots N] [--mem SIZE] "
		"[--name NAME]\n"
		"                     [--cache DIR] [--lease SECONDS] "
		"[--grace SECONDS]\n"
		"                     [--max-attempts N] [--connect-timeout "
		"SECONDS] [--monitor PATH]\n"
		"Joins the cloud through NATS (dials out), pulls invocations "
		"for this CPU\narchitecture, runs each in a micro-VM "
		"(sukima-vmm) and publishes the results.\n"
		"  --nats URL           NATS server(s), comma separated "
		"(or $SUKIMA_NATS)\n"
		"  --slots N            invocations run at once (default: "
		"CPUs)\n"
		"  --mem SIZE           memory lent to functions (default: "
		"half the RAM)\n"
		"  --name NAME          shown by `sukima nodes` (default: "
		"hostname)\n"
		"  --cache DIR          artifact cache (default: "
		"$XDG_CACHE_HOME/sukima/artifacts)\n"
		"  --lease SECONDS      AckWait (and the membership TTL, >= "
		"2 s) when this worker\n"
		"                       creates them: the loss detection "
		"bound (default 3)\n"
		"  --grace SECONDS      on SIGTERM, time running invocations "
		"get (default 10)\n"
		"  --connect-timeout S  give up if NATS is unreachable this "
		"long (default: never)\n"
		"  --warm N             idle warm micro-VMs kept (default: 2 "
		"per slot; 0 = always cold)\n"
		"  --warm-mem SIZE      guest memory the idle warm micro-VMs "
		"may hold together\n"
		"                       (default: --mem)\n"
		"  --trusted-keys F|D   run only code signed by these Ed25519 "
		"keys (a .pub file,\n"
		"                       a file of key lines, or a directory "
		"of *.pub)\n"
		"  --drain ID           ask the running worker ID to leave "
		"(as on SIGTERM), then exit\n" WK_POLICY_USAGE SK_SEC_USAGE
		"  (a worker credential of `sukima init` also fixes the worker "
		"id)\n");
}

static int find_monitor(char *out, size_t cap)
{
	const char *env = getenv("SUKIMA_VMM");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -ENOENT;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if (snprintf(out, cap, "%s/sukima-vmm", self) >= (int)cap)
		return -ENAMETOOLONG;
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static int valid_worker_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '-' ||
		      s[n] == '_' || s[n] == '.'))
			return 0;
	return n >= 1 && n <= SK_NAME_MAX;
}

static int parse_secs(const char *s, int64_t *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0) || v > 86400)
		return -EINVAL;
	*ms = (int64_t)(v * 1000);
	return 0;
}

int cmd_worker(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"nats", required_argument, NULL, 'n'},
		{"slots", required_argument, NULL, 's'},
		{"mem", required_argument, NULL, 'm'},
		{"name", required_argument, NULL, 'N'},
		{"cache", required_argument, NULL, 'c'},
		{"lease", required_argument, NULL, 'l'},
		{"grace", required_argument, NULL, 'g'},
		{"max-attempts", required_argument, NULL, 'a'},
		{"connect-timeout", required_argument, NULL, 't'},
		{"monitor", required_argument, NULL, 'M'},
		{"warm", required_argument, NULL, 'W'},
		{"warm-mem", required_argument, NULL, 'w'},
		{"trusted-keys", required_argument, NULL, 'K'},
		{"drain", required_argument, NULL, 'D'},
#ifdef WK_TEST_LIE
		{"test-lie", no_argument, NULL, 'L'},
#endif
		SK_SEC_LONGOPTS,
		WK_POLICY_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *url = getenv("SUKIMA_NATS"), *name = NULL, *cache = NULL;
	const char *drain_id = NULL;
	struct sk_nats_opts no = {0};
	struct sk_cloud_cfg cfg;
	struct keeper k = {0};
	struct sigaction sa;
	jsConsumerInfo *ci = NULL;
	char durable[64], cache_buf[PATH_MAX], conn_name[160], ctl[96];
	natsSubscription *ctl_sub = NULL;
	int64_t lease_ms = 3000, grace_ms = 10000, connect_ms = -1;
	uint64_t mem = 0, warm_mem = 0;
	long slots = wk_host_cpus(), attempts = 5, warm = -1;
	struct wk w;
	struct sk_sec sec;
	struct sk_trust trust;	   /* --trusted-keys */
	struct wk_policy_cfg pcfg; /* --policy... */
	char serr[600];
	int c, rc, started = 0;

	sk_log_init("worker", SK_LOG_INFO);
	memset(&w, 0, sizeof(w));
	memset(&sec, 0, sizeof(sec));
	wk_policy_cfg_default(&pcfg);
	while ((c = getopt_long(argc, argv, "n:s:m:N:c:l:g:a:t:M:W:h", longopts,
				NULL)) != -1) {
		char *end;

		switch (c) {
		case 'n':
			url = optarg;
			break;
		case 's':
			slots = strtol(optarg, &end, 10);
			if (*end || slots < 1 || slots > 256) {
				fprintf(stderr, "sukima worker: --slots must "
						"be 1..256\n");
				return 2;
			}
			break;
		case 'm':
			if (sk_parse_size(optarg, &mem) || mem < (1 << 20)) {
				fprintf(stderr,
					"sukima worker: bad --mem "
					"'%s' (e.g. 2G, 512M)\n",
					optarg);
				return 2;
			}
			break;
		case 'N':
			if (!valid_worker_name(optarg)) {
				fprintf(stderr,
					"sukima worker: --name must be 1-63 "
					"of [A-Za-z0-9._-]\n");
				return 2;
			}
			name = optarg;
			break;
		case 'c':
			cache = optarg;
			break;
		case 'D':
			if (!valid_worker_name(optarg)) {
				fprintf(stderr, "sukima worker: --drain takes "
						"a worker id (sukima nodes)\n");
				return 2;
			}
			drain_id = optarg;
			break;
		case 'l':
			if (parse_secs(optarg, &lease_ms) || lease_ms < 100) {
				fprintf(stderr,
					"sukima worker: bad --lease "
					"'%s' (seconds, >= 0.1)\n",
					optarg);
				return 2;
			}
			break;
		case 'g':
			if (parse_secs(optarg, &grace_ms)) {
				fprintf(stderr,
					"sukima worker: bad --grace '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'a':
			attempts = strtol(optarg, &end, 10);
			if (*end || attempts < 1 || attempts > 100) {
				fprintf(stderr, "sukima worker: "
						"--max-attempts must be "
						"1..100\n");
				return 2;
			}
			break;
		case 't':
			if (parse_secs(optarg, &connect_ms)) {
				fprintf(stderr,
					"sukima worker: bad "
					"--connect-timeout '%s'\n",
					optarg);
				return 2;
			}
			if (connect_ms == 0)
				connect_ms = 1;
			break;
		case 'M':
			setenv("SUKIMA_VMM", optarg, 1);
			break;
		case 'W':
			warm = strtol(optarg, &end, 10);
			if (*end || warm < 0 || warm > 4096) {
				fprintf(stderr, "sukima worker: --warm must be "
						"0..4096\n");
				return 2;
			}
			break;
		case 'w':
			if (sk_parse_size(optarg, &warm_mem) ||
			    warm_mem < (1 << 20)) {
				fprintf(stderr,
					"sukima worker: bad --warm-mem "
					"'%s' (e.g. 1G, 512M)\n",
					optarg);
				return 2;
			}
			break;
		case 'K':
			if (sk_trust_load(&trust, optarg, serr, sizeof(serr))) {
				fprintf(stderr,
					"sukima worker: --trusted-keys: %s\n",
					serr);
				return 2;
			}
			w.trust = &trust;
			sk_info("signed code only: %zu trusted key(s)",
				trust.n);
			break;
#ifdef WK_TEST_LIE
		case 'L':
			w.test_lie = 1;
			sk_warn("--test-lie: every output of this worker is "
				"forged (a test build)");
			break;
#endif
		case 'h':
			usage(stdout);
			return 0;
		default:
			/* --policy... (wk_policy.h), --creds... (sk_tls.h) */
			rc = wk_policy_getopt(&pcfg, c, optarg, serr,
					      sizeof(serr));
			if (rc == 0)
				rc = sk_sec_getopt(&sec, c, optarg, serr,
						   sizeof(serr));
			if (rc > 0)
				break;
			if (rc < 0)
				fprintf(stderr, "sukima worker: %s\n", serr);
			else
				usage(stderr);
			return 2;
		}
	}
	if (!sk_sec_any(&sec) && getenv("SUKIMA_NATS_CREDS") &&
	    sk_sec_load_creds(&sec, getenv("SUKIMA_NATS_CREDS"), serr,
			      sizeof(serr))) {
		fprintf(stderr, "sukima worker: %s\n", serr);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "sukima worker: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!url || !*url) {
		fprintf(stderr, "sukima worker: --nats URL is required (or "
				"set SUKIMA_NATS)\n");
		return 2;
	}
	if (drain_id)
		return request_drain(url, &sec, drain_id, connect_ms);
	if (find_monitor(w.monitor, sizeof(w.monitor))) {
		fprintf(stderr,
			"sukima worker: the monitor sukima-vmm was not found "
			"beside this binary nor at $SUKIMA_VMM\n");
		return 1;
	}
	if (!cache) {
		const char *xdg = getenv("XDG_CACHE_HOME"),
			   *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(cache_buf, sizeof(cache_buf),
				 "%s/sukima/artifacts", xdg);
		else
			snprintf(cache_buf, sizeof(cache_buf),
				 "%s/.cache/sukima/artifacts",
				 home && *home ? home : "/tmp");
		cache = cache_buf;
	}
	rc = wk_cache_init(cache);
	if (rc) {
		fprintf(stderr, "sukima worker: cannot create cache %s: %s\n",
			cache, strerror(-rc));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Identity and membership entry. */
	sk_new_id(w.self.id);
	/* A worker login may write only $KV.sk_workers.<its id>. */
	if (sec.id[0])
		snprintf(w.self.id, sizeof(w.self.id), "%s", sec.id);
	wk_host_facts(w.self.hostname, sizeof(w.self.hostname), w.self.os,
		      sizeof(w.self.os), w.self.arch, sizeof(w.self.arch),
		      w.self.flavour, sizeof(w.self.flavour));
	snprintf(w.self.name, sizeof(w.self.name), "%.63s",
		 name ? name : w.self.hostname);
	w.self.slots = (uint32_t)slots;
	w.self.mem_mib = mem ? mem >> 20 : wk_host_mem_mib() / 2;
	snprintf(w.self.state, sizeof(w.self.state), "idle");
	snprintf(w.self.version, sizeof(w.self.version), "%s", SK_VERSION);
	w.nslots = (int)slots;
	w.nrunners = 2 * w.nslots; /* see struct runner */
	w.grace_ms = grace_ms;
	/* Warm micro-VMs kept idle: two per slot unless told, holding at most
	 * the memory lent to functions unless told. */
	if (warm < 0)
		warm = 2 * slots;
	wk_exec_init((int)warm,
		     warm_mem ? warm_mem : (uint64_t)w.self.mem_mib << 20);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	pthread_cond_init(&w.room, NULL);

	snprintf(conn_name, sizeof(conn_name), "sukima-worker %s %s",
		 w.self.name, w.self.id);
	no.urls = url;
	no.name = conn_name;
	no.connect_wait_ms = connect_ms;
	no.stop = stop_requested;
	no.sec = &sec;
	rc = sk_nats_connect(&w.n, &no);
	if (rc == -EINTR)
		return 0;
	if (rc) {
		fprintf(stderr,
			"sukima worker: cannot connect to NATS at %s: "
			"%s\n",
			url,
			rc == -ENOTCONN ? "no server answered" : strerror(-rc));
		return 1;
	}
	sk_cloud_cfg_default(&cfg);
	cfg.lease_ms = lease_ms;
	/* One detection bound: a lost worker's entry expires with its lease
	 * (at least 2 s, as it is refreshed every second). */
	cfg.workers_ttl_ms = lease_ms > 2000 ? lease_ms : 2000;
	cfg.max_attempts = (int)attempts;
	{
		static const char *archs[2];
		archs[0] = w.self.arch;
		cfg.archs = archs;
	}
	/* JetStream may still be starting: retry setup for a while. */
	for (int tries = 0;; tries++) {
		rc = sk_nats_setup(w.n, &cfg);
		if (rc == 0 || stop_requested() || tries >= 50)
			break;
		usleep(200 * 1000);
	}
	w.cfg = cfg;
	if (rc) {
		fprintf(stderr,
			"sukima worker: cannot set up the NATS "
			"streams and buckets: %s\n",
			strerror(-rc));
		sk_nats_close(w.n);
		return 1;
	}
	/* The lease and attempt limit are the consumer's, whoever made it. */
	snprintf(durable, sizeof(durable), SK_CONSUMER_PREFIX "%s",
		 w.self.arch);
	w.lease_ms = lease_ms;
	w.max_attempts = (int)attempts;
	if (js_GetConsumerInfo(&ci, w.n->js, SK_STREAM_WORK, durable, NULL,
			       NULL) == NATS_OK) {
		if (ci->Config && ci->Config->AckWait > 0)
			w.lease_ms = ci->Config->AckWait / 1000000;
		if (ci->Config && ci->Config->MaxDeliver > 1)
			w.max_attempts = (int)ci->Config->MaxDeliver - 1;
		jsConsumerInfo_Destroy(ci);
	}
	rc = sk_pull_open(w.n, SK_STREAM_WORK, durable, &w.pull);
	if (rc) {
		fprintf(stderr, "sukima worker: cannot subscribe: %s\n",
			strerror(-rc));
		sk_nats_close(w.n);
		return 1;
	}
	w.runners = calloc((size_t)w.nrunners, sizeof(*w.runners));
	if (!w.runners) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < w.nrunners; i++) {
		char id[SK_ID_LEN + 1], subj[128];

		sk_new_id(id);
		snprintf(w.runners[i].kv_inbox, sizeof(w.runners[i].kv_inbox),
			 "%s.%s", w.n->inbox, id);
		snprintf(subj, sizeof(subj), "%s.*", w.runners[i].kv_inbox);
		if (natsConnection_SubscribeSync(&w.runners[i].kv_sub, w.n->nc,
						 subj) != NATS_OK) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (int i = 0; i < w.nrunners; i++) {
		struct runner_arg *a = malloc(sizeof(*a));

		w.runners[i].ib.sub = w.runners[i].kv_sub;
		w.runners[i].ib.prefix = w.runners[i].kv_inbox;
		if (a) {
			a->w = &w;
			a->index = i;
		}
		if (!a || pthread_create(&w.runners[i].thread, NULL,
					 runner_main, a)) {
			free(a);
			rc = -EAGAIN;
			goto out;
		}
		started++;
	}
	snprintf(ctl, sizeof(ctl), SK_SUBJ_CTL "%s.drain", w.self.id);
	if (natsConnection_Subscribe(&ctl_sub, w.n->nc, ctl, on_drain_request,
				     w.self.id) != NATS_OK)
		sk_warn("cannot subscribe to %s: drain requests over NATS "
			"will not reach this worker",
			ctl);
	k.w = &w;
	pthread_mutex_init(&k.lock, NULL);
	pthread_cond_init(&k.cond, NULL);
	k.acks = calloc((size_t)w.nrunners, sizeof(*k.acks));
	if (!k.acks) {
		rc = -ENOMEM;
		goto out;
	}
	publish_membership(&w);
	if (pthread_create(&k.thread, NULL, keeper_main, &k)) {
		rc = -EAGAIN;
		goto out;
	}
	k.started = 1;
	/* Owner protection: the monitors' cgroup (or one line why not),
	 * then the activity policy (docs/worker-policy.md).  The cap: the
	 * memory lent + 32 MiB per slot and per warm monitor (--warm). */
	wk_cgroup_open(((uint64_t)w.self.mem_mib << 20) +
			       (uint64_t)(w.nslots + warm) * (32 << 20),
		       pcfg.cpu_max_pct);
	if (pcfg.desktop && wk_policy_start(&pcfg, on_policy, &w)) {
		rc = -EAGAIN;
		goto out;
	}
	sk_info("worker %s (%s) ready: pulling " SK_SUBJ_WORK "%s with %d "
		"slots, lease %lld ms, %s, monitor %s",
		w.self.id, w.self.name, w.self.arch, w.nslots,
		(long long)w.lease_ms, w.self.flavour, w.monitor);

	pull_until_leave(&w);
	drain(&w);
	wk_policy_stop();
	rc = 0;
out:
	keeper_stop(&k);
	free(k.acks);
	pthread_mutex_lock(&w.lock);
	w.quit = 1;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
	for (int i = 0; i < started; i++)
		pthread_join(w.runners[i].thread, NULL);
	/* Leaving: the membership entry goes now, not at its TTL. */
	sk_kv_delete(w.n, SK_B_WORKERS, w.self.id);
	sk_pull_close(w.pull);
	/* Unsubscribe, close, and only then destroy the slots' inboxes. */
	for (int i = 0; w.runners && i < w.nrunners; i++)
		if (w.runners[i].kv_sub)
			natsSubscription_Unsubscribe(w.runners[i].kv_sub);
	if (ctl_sub)
		natsSubscription_Unsubscribe(ctl_sub);
	sk_nats_close(w.n);
	natsSubscription_Destroy(ctl_sub);
	for (int i = 0; w.runners && i < w.nrunners; i++)
		natsSubscription_Destroy(w.runners[i].kv_sub);
	free(w.runners);
	wk_policy_stop();
	wk_exec_shutdown();
	wk_cgroup_close();
	{
		uint64_t nw, nc, ns;
		wk_exec_stats(&nw, &nc, &ns);
		sk_info("worker %s left (%llu done, %llu duplicates dropped; "
			"%llu warm runs on %llu micro-VMs, %llu cold runs)",
			w.self.id, (unsigned long long)w.self.done,
			(unsigned long long)w.self.duplicates,
			(unsigned long long)nw, (unsigned long long)ns,
			(unsigned long long)nc);
	}
	return rc ? 1 : 0;
}
