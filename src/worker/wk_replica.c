/* wk_replica.c: redundant execution: distinct workers per call, the majority vote, disputed calls. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_log.h"
#include "common/sk_util.h"
#include "common/sk_vote.h"
#include "worker/wk_replica.h"

#define CLAIMS	 1024	   /* calls remembered by wk_replica_claim */
#define OUTS_MAX (4 << 20) /* output bytes kept in a disputed result */

static struct claim {
	char id[SK_ID_MAX + 1];
	uint32_t replica;
	/* Deliveries of each replica handed back: wk_replica_bounce. */
	uint32_t bounced[SK_REPLICAS_MAX + 1];
} claims[CLAIMS];
static size_t claim_next;
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;

int wk_replica_key(char *out, size_t cap, const char *id, const char *worker)
{
	if (snprintf(out, cap, "%s.%s", id, worker) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

int wk_replica_claim(const char *id, uint32_t replica)
{
	int rc = 0;

	pthread_mutex_lock(&claim_lock);
	for (size_t i = 0; i < CLAIMS; i++) {
		if (strcmp(claims[i].id, id) != 0)
			continue;
		/* The same replica again (a redelivery to us) is fine. */
		rc = claims[i].replica == replica ? 0 : -EALREADY;
		goto out;
	}
	memset(&claims[claim_next], 0, sizeof(claims[0]));
	snprintf(claims[claim_next].id, sizeof(claims[0].id), "%s", id);
	claims[claim_next].replica = replica;
	claim_next = (claim_next + 1) % CLAIMS;
out:
	pthread_mutex_unlock(&claim_lock);
	return rc;
}

uint32_t wk_replica_bounce(const char *id, uint32_t replica)
{
	uint32_t n = 0;

	if (replica > SK_REPLICAS_MAX)
		return 0;
	pthread_mutex_lock(&claim_lock);
	for (size_t i = 0; i < CLAIMS; i++) {
		if (strcmp(claims[i].id, id) == 0) {
			n = ++claims[i].bounced[replica];
			break;
		}
	}
	pthread_mutex_unlock(&claim_lock);
	return n;
}

int wk_replica_same(const struct sk_result *a, const struct sk_result *b)
{
	return sk_vote_same(a, b);
}

/* One entry of the final result's "replicas" list. */
static json_t *vote_json(const struct sk_result *v, int agrees, int with_out)
{
	unsigned char h[32];
	char hex[65];
	json_t *o;

	crypto_hash_sha256(h, v->output ? v->output : (const unsigned char *)"",
			   v->output_len);
	sk_hex(hex, h, sizeof(h));
	o = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s}", "worker", v->worker,
		      "status", sk_status_name(v->status), "exit_code",
		      v->exit_code, "reason", v->reason ? v->reason : "",
		      "output_len", (json_int_t)v->output_len, "output_sha256",
		      hex);
	if (o && agrees >= 0)
		json_object_set_new(o, "agrees", json_boolean(agrees));
	if (o && with_out) {
		char *b = malloc(sk_b64_len(v->output_len) + 1);

		if (b) {
			sk_b64_encode(b, v->output, v->output_len, 0);
			json_object_set_new(o, "output_b64", json_string(b));
			free(b);
		}
	}
	return o;
}

/* (base) as JSON plus "replicas":[...] and "votes". */
static char *final_json(const struct sk_result *base, const struct sk_result *v,
			size_t nv, const struct sk_result *winner, uint32_t n)
{
	json_t *o, *a;
	size_t outs = 0;
	char *s = sk_result_json(base);

	if (!s)
		return NULL;
	o = json_loads(s, 0, NULL);
	free(s);
	a = json_array();
	if (!o || !a) {
		json_decref(o);
		json_decref(a);
		return NULL;
	}
	for (size_t i = 0; i < nv; i++)
		outs += v[i].output_len;
	for (size_t i = 0; i < nv; i++)
		json_array_append_new(
			a,
			vote_json(&v[i],
				  winner ? wk_replica_same(&v[i], winner) : -1,
				  !winner && outs <= OUTS_MAX));
	json_object_set_new(o, "replicas", a);
	json_object_set_new(o, "votes", json_integer(n));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Deep copy of the fields a final result takes from the winning vote. */
static int copy_result(struct sk_result *d, const struct sk_result *s)
{
	*d = *s;
	d->reason = strdup(s->reason ? s->reason : "");
	d->stderr_tail = strdup(s->stderr_tail ? s->stderr_tail : "");
	d->output = malloc(s->output_len ? s->output_len : 1);
	if (!d->reason || !d->stderr_tail || !d->output) {
		sk_result_free(d);
		return -ENOMEM;
	}
	if (s->output_len)
		memcpy(d->output, s->output, s->output_len);
	return 0;
}

int wk_replica_vote(struct sk_nats *n, const struct sk_call *c,
		    const struct sk_result *r, int force,
		    struct sk_result *final, char **json)
{
	struct sk_result v[SK_VOTES_MAX];
	const struct sk_result *winner = NULL;
	uint32_t need = c->replicas / 2 + 1;
	char key[2 * SK_ID_MAX + 2], why[SK_REASON_MAX];
	size_t nv = 0;
	int rc;

	memset(final, 0, sizeof(*final));
	*json = NULL;
	if (r) {
		char *mine = sk_result_json(r);

		if (!mine)
			return -ENOMEM;
		rc = wk_replica_key(key, sizeof(key), c->id, r->worker);
		if (rc == 0)
			rc = sk_kv_create(n, SK_B_RESULTS, key, mine,
					  strlen(mine), NULL);
		free(mine);
		if (rc && rc != -EEXIST)
			return rc;
	}
	memset(v, 0, sizeof(v));
	rc = sk_vote_read(n, c->id, v, &nv);
	if (rc)
		return rc;
	rc = sk_vote_majority(v, nv, c->replicas);
	winner = rc >= 0 ? &v[rc] : NULL;
	rc = 1;
	if (winner) {
		rc = copy_result(final, winner);
		if (rc == 0) {
			snprintf(final->worker, sizeof(final->worker), "%s",
				 winner->worker);
			*json = final_json(final, v, nv, winner, c->replicas);
		}
	} else if (nv >= c->replicas || force) {
		/* No majority and no more votes coming: say so. */
		memset(final, 0, sizeof(*final));
		snprintf(final->id, sizeof(final->id), "%s", c->id);
		snprintf(final->function, sizeof(final->function), "%s",
			 c->function);
		final->version = c->version;
		final->queued_at_us = c->queued_at_us;
		final->exit_code = -1;
		final->attempt = 1;
		if (r)
			snprintf(final->worker, sizeof(final->worker), "%s",
				 r->worker);
		else if (nv)
			snprintf(final->worker, sizeof(final->worker), "%s",
				 v[0].worker);
		final->started_at_us = nv ? v[0].started_at_us : sk_now_us();
		final->ended_at_us = sk_now_us();
		if (nv >= c->replicas) {
			final->status = SK_ST_DISPUTED;
			snprintf(why, sizeof(why),
				 "replicas disagree: no %u of %zu workers "
				 "produced the same output and exit status",
				 need, nv);
		} else {
			final->status = SK_ST_FAILED;
			snprintf(why, sizeof(why),
				 "only %zu of %u replicas ran on distinct "
				 "workers and they do not make a majority",
				 nv, c->replicas);
		}
		final->reason = strdup(why);
		final->stderr_tail = strdup("");
		rc = final->reason && final->stderr_tail ? 0 : -ENOMEM;
		if (rc == 0)
			*json = final_json(final, v, nv, NULL, c->replicas);
	}
	for (size_t i = 0; i < nv; i++)
		sk_result_free(&v[i]);
	if (rc)
		return rc;
	if (!*json) {
		sk_result_free(final);
		return -ENOMEM;
	}
	rc = sk_kv_create(n, SK_B_RESULTS, c->id, *json, strlen(*json), NULL);
	if (rc == 0) {
		sk_info("call %s: %s by vote of %zu replica(s)", c->id,
			sk_status_name(final->status), nv);
		return 0;
	}
	free(*json);
	*json = NULL;
	sk_result_free(final);
	return rc == -EEXIST ? 1 : rc;
}
