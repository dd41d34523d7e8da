/* gw_replicas.c: publishing a call's work: one message, or one per replica of a redundant function. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_log.h"
#include "common/sk_model.h"
#include "common/sk_vote.h"
#include "gateway/gw_replicas.h"

int gw_publish_call(struct gw *g, const char *arch, const char *id,
		    const char *sk_call, uint32_t replicas, const void *body,
		    size_t len, int async_pub)
{
	json_t *o;
	int rc = 0;

	if (replicas <= 1)
		return async_pub ? gw_publish_work_async(g, arch, id, sk_call,
							 body, len)
				 : gw_publish_work(g, arch, id, sk_call, body,
						   len);
	if (replicas > SK_REPLICAS_MAX)
		return -EINVAL;
	o = json_loads(sk_call, 0, NULL);
	if (!o)
		return -ENOMEM;
	for (uint32_t k = 1; k <= replicas && rc == 0; k++) {
		char mid[SK_ID_MAX + 8], *txt;

		snprintf(mid, sizeof(mid), "%s.r%u", id, k);
		json_object_set_new(o, "replicas", json_integer(replicas));
		json_object_set_new(o, "replica", json_integer(k));
		txt = json_dumps(o, JSON_COMPACT);
		if (!txt) {
			rc = -ENOMEM;
			break;
		}
		rc = async_pub ? gw_publish_work_async(g, arch, mid, txt, body,
						       len)
			       : gw_publish_work(g, arch, mid, txt, body, len);
		free(txt);
	}
	json_decref(o);
	return rc;
}

int gw_replicas_check(struct gw *g, const struct sk_result *final,
		      uint32_t replicas, char *why, size_t whylen)
{
	struct sk_result v[SK_VOTES_MAX];
	size_t nv = 0;
	int w, rc;

	memset(v, 0, sizeof(v));
	rc = sk_vote_read(g->n, final->id, v, &nv);
	if (rc) {
		snprintf(why, whylen, "cannot read the replica votes: %s",
			 strerror(-rc));
		return rc;
	}
	w = sk_vote_majority(v, nv, replicas);
	if (w >= 0)
		rc = sk_vote_same(&v[w], final) ? 0 : -EPERM;
	else /* no majority: the call can only have failed or be disputed */
		rc = final->status == SK_ST_DISPUTED ||
				     final->status == SK_ST_FAILED
			     ? 0
			     : -EPERM;
	if (rc)
		snprintf(why, whylen,
			 "result not backed by a majority of the %u replica "
			 "votes (%zu stored): refused as forged",
			 replicas, nv);
	for (size_t i = 0; i < nv; i++)
		sk_result_free(&v[i]);
	return rc;
}

int gw_replicas_suspect(struct gw *g, const char *json, size_t len, char *why,
			size_t whylen)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	json_int_t n = json_integer_value(json_object_get(o, "votes"));
	const char *fn = json_string_value(json_object_get(o, "function"));
	json_int_t ver = json_integer_value(json_object_get(o, "version"));
	struct sk_result fr;
	char err[128], *spec = NULL;
	size_t sl = 0;
	int rc = 0;

	if (!o)
		return 0; /* not a result: its parser says so */
	if (n < 2 && fn && gw_fn_cache_get(g, fn, &spec, &sl) == 0) {
		struct sk_function f;

		if (sk_function_parse(&f, spec, sl, err, sizeof(err)) == 0) {
			if ((json_int_t)f.version == ver)
				n = f.replicas;
			sk_function_free(&f);
		}
		free(spec);
	}
	json_decref(o);
	if (n < 2)
		return 0;
	if (n > SK_REPLICAS_MAX)
		n = SK_REPLICAS_MAX + 1; /* no majority can back it */
	if (sk_result_parse(&fr, json, len, err, sizeof(err)) != 0)
		return 0;
	rc = gw_replicas_check(g, &fr, (uint32_t)n, why, whylen);
	if (rc)
		sk_warn("call %s: %s", fr.id, why);
	sk_result_free(&fr);
	return rc;
}
