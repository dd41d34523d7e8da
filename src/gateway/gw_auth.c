/* gw_auth.c: the gateway's bearer tokens (scopes, expiry, revocation, rate limits) and its HTTPS files. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "common/sk_log.h"
#include "common/sk_token.h"
#include "gateway/gw.h"
#include "gateway/gw_auth.h"

/*
 * Rate limits are token buckets kept per gateway in a small open hash
 * table: a token's rate is what one gateway grants it, and several
 * gateways multiply it (documented in docs/api.md).
 */
#define RL_SLOTS 1024

struct rl {
	char id[SK_TOKEN_ID_LEN + 1];
	double level; /* tokens available */
	int64_t at_ms;
};

static struct {
	int enabled;
	kvStore *kv;
	pthread_mutex_t lock;
	struct rl rl[RL_SLOTS];
} A = {.lock = PTHREAD_MUTEX_INITIALIZER};

int gw_auth_open(struct gw *g)
{
	kvConfig kc;
	natsStatus s;

	A.enabled = !g->o.insecure;
	if (!A.enabled) {
		sk_warn("--insecure: no bearer tokens checked: anyone who "
			"reaches this port may deploy and invoke");
		return 0;
	}
	if (js_KeyValue(&A.kv, g->n->js, SK_TOKEN_BUCKET) == NATS_OK)
		return 0;
	kvConfig_Init(&kc);
	kc.Bucket = SK_TOKEN_BUCKET;
	kc.History = 1;
	kc.StorageType = js_FileStorage;
	s = js_CreateKeyValue(&A.kv, g->n->js, &kc);
	if (s != NATS_OK &&
	    js_KeyValue(&A.kv, g->n->js, SK_TOKEN_BUCKET) != NATS_OK) {
		sk_error("cannot open the %s bucket: %s", SK_TOKEN_BUCKET,
			 natsStatus_GetText(s));
		return sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
	}
	return 0;
}

void gw_auth_close(void)
{
	kvStore_Destroy(A.kv);
	A.kv = NULL;
}

char *gw_auth_read_pem(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET)) {
		fclose(f);
		errno = EINVAL;
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		errno = EIO;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Read the record of token (id): 0, -ENOENT (absent or revoked), -errno. */
static int token_load(const char *id, struct sk_token *t)
{
	kvEntry *e = NULL;
	natsStatus s;
	int rc;

	if (!A.kv)
		return -ENOTCONN;
	s = kvStore_Get(&e, A.kv, id);
	if (s == NATS_NOT_FOUND)
		return -ENOENT;
	if (s != NATS_OK)
		return sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
	rc = sk_token_parse(t, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
	kvEntry_Destroy(e);
	return rc;
}

/* Take one request from (t)'s bucket; 0, or -EAGAIN when it is empty. */
static int rate_take(const struct sk_token *t)
{
	unsigned h = 2166136261u;
	int64_t now = sk_mono_ms();
	double burst = t->rate < 1 ? 1 : t->rate;
	struct rl *slot = NULL;
	int rc = 0;

	for (const char *p = t->id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	pthread_mutex_lock(&A.lock);
	for (unsigned i = 0; i < 8; i++) {
		struct rl *s = &A.rl[(h + i) % RL_SLOTS];

		if (!strcmp(s->id, t->id)) {
			slot = s;
			break;
		}
		/* Reuse an empty slot, or one idle long enough to be full. */
		if (!slot && (!s->id[0] || now - s->at_ms > 60000))
			slot = s;
	}
	if (!slot)
		slot = &A.rl[h % RL_SLOTS]; /* evict: that token starts full */
	if (strcmp(slot->id, t->id)) {
		memcpy(slot->id, t->id, sizeof(slot->id));
		slot->level = burst;
		slot->at_ms = now;
	}
	slot->level += (double)(now - slot->at_ms) * t->rate / 1000.0;
	if (slot->level > burst)
		slot->level = burst;
	slot->at_ms = now;
	if (slot->level >= 1)
		slot->level -= 1;
	else
		rc = -EAGAIN;
	pthread_mutex_unlock(&A.lock);
	return rc;
}

static int deny(struct gw_req *r, int status, const char *msg)
{
	if (status == 401)
		gw_resp_header(r, "WWW-Authenticate",
			       "Bearer realm=\"sukima\"");
	if (status == 429)
		gw_resp_header(r, "Retry-After", "1");
	return gw_respond_error(r, status, "%s", msg);
}

int gw_auth_check(struct gw_req *r, int *ret)
{
	static const unsigned need_of[] = {
		[GW_SCOPE_NONE] = 0,
		[GW_SCOPE_INVOKE] = SK_SCOPE_INVOKE,
		[GW_SCOPE_DEPLOY] = SK_SCOPE_DEPLOY,
		[GW_SCOPE_ADMIN] = SK_SCOPE_ADMIN,
	};
	const char *h, *tok;
	char id[SK_TOKEN_ID_LEN + 1], scope[32], msg[96];
	struct sk_token t;
	unsigned need;
	int rc;

	if (!A.enabled || !r->m.route || r->m.route->scope == GW_SCOPE_NONE)
		return 0;
	need = need_of[r->m.route->scope];
	h = gw_req_header(r, "Authorization");
	if (!h) {
		*ret = deny(r, 401,
			    "authentication required: send Authorization: "
			    "Bearer <token> (sukima token create)");
		return 1;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		*ret = deny(r, 401, "bad Authorization header: want Bearer");
		return 1;
	}
	for (tok = h + 7; *tok == ' '; tok++)
		;
	if (sk_token_id(tok, id)) {
		*ret = deny(r, 401, "bad token");
		return 1;
	}
	rc = token_load(id, &t);
	if (rc == -ENOENT || rc == -EINVAL) {
		*ret = deny(r, 401, "unknown or revoked token");
		return 1;
	}
	if (rc) {
		*ret = gw_respond_error(r, 503, "cannot read tokens from NATS");
		return 1;
	}
	rc = sk_token_verify(&t, tok, sk_now_us());
	if (rc) {
		*ret = deny(r, 401,
			    rc == -EKEYEXPIRED ? "token expired" : "bad token");
		return 1;
	}
	if (!sk_scope_allows(t.scopes, need)) {
		sk_scope_str(need, scope, sizeof(scope));
		snprintf(msg, sizeof(msg), "token lacks the scope '%s'", scope);
		*ret = deny(r, 403, msg);
		return 1;
	}
	if (t.rate > 0 && rate_take(&t)) {
		*ret = deny(r, 429, "rate limit of this token exceeded");
		return 1;
	}
	return 0;
}

/* --- /system/tokens ------------------------------------------------------ */

static json_t *public_json(const struct sk_token *t)
{
	char *s = sk_token_json(t);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;

	free(s);
	if (j)
		json_object_del(j, "hash"); /* never shown, even hashed */
	return j;
}

static int h_create(struct gw_req *r)
{
	json_t *body = json_loadb(r->body, r->len, 0, NULL), *v, *out;
	char tok[SK_TOKEN_LEN + 1];
	struct sk_token t;
	size_t i;
	char *txt;
	uint64_t rev = 0;
	natsStatus s;

	memset(&t, 0, sizeof(t));
	if (!body || !json_is_object(body)) {
		json_decref(body);
		return gw_respond_error(r, 400, "body must be a JSON object");
	}
	v = json_object_get(body, "scopes");
	if (!json_is_array(v) || json_array_size(v) == 0)
		goto bad;
	json_array_foreach(v, i, out)
	{
		unsigned bit = json_is_string(out)
				       ? sk_scope_parse(json_string_value(out))
				       : 0;
		if (!bit)
			goto bad;
		t.scopes |= bit;
	}
	v = json_object_get(body, "ttl_s");
	if (v && (!json_is_number(v) || json_number_value(v) <= 0 ||
		  json_number_value(v) > 100.0 * 365 * 86400))
		goto bad;
	t.created_us = sk_now_us();
	if (v)
		t.expires_us =
			t.created_us + (int64_t)(json_number_value(v) * 1e6);
	v = json_object_get(body, "rate");
	if (v && (!json_is_number(v) || json_number_value(v) < 0 ||
		  json_number_value(v) > 1e6))
		goto bad;
	t.rate = v ? json_number_value(v) : 0;
	v = json_object_get(body, "name");
	if (v && (!json_is_string(v) || json_string_length(v) > 63))
		goto bad;
	snprintf(t.name, sizeof(t.name), "%s", v ? json_string_value(v) : "");
	json_decref(body);
	if (sk_token_new(tok, t.id))
		return gw_respond_error(r, 500, "no randomness");
	sk_token_hash(tok, t.hash);
	txt = sk_token_json(&t);
	if (!txt)
		return gw_respond_error(r, 500, "out of memory");
	s = kvStore_CreateString(&rev, A.kv, t.id, txt);
	free(txt);
	if (s != NATS_OK)
		return gw_respond_error(r, 503, "cannot store the token: %s",
					natsStatus_GetText(s));
	out = public_json(&t);
	if (!out)
		return gw_respond_error(r, 500, "out of memory");
	/* The only time the token itself is shown. */
	json_object_set_new(out, "token", json_string(tok));
	explicit_bzero(tok, sizeof(tok));
	return gw_respond_json(r, 201, out);
bad:
	json_decref(body);
	return gw_respond_error(
		r, 400,
		"want {\"scopes\":[\"invoke\"|\"deploy\"|\"admin\",...], "
		"\"ttl_s\":N, \"rate\":N, \"name\":\"...\"} (ttl_s, rate, name "
		"optional)");
}

/* Token ids from the stream's subject list (no watcher: see architecture.md). */
static int h_list(struct gw_req *r)
{
	const char *filter = "$KV." SK_TOKEN_BUCKET ".>";
	size_t prefix = strlen(filter) - 1;
	jsStreamInfo *si = NULL;
	json_t *a = json_array();
	jsOptions jo;
	natsStatus s;

	if (!a)
		return gw_respond_error(r, 500, "out of memory");
	jsOptions_Init(&jo);
	jo.Stream.Info.SubjectsFilter = filter;
	s = js_GetStreamInfo(&si, r->g->n->js, "KV_" SK_TOKEN_BUCKET, &jo,
			     NULL);
	if (s != NATS_OK) {
		json_decref(a);
		return gw_respond_error(r, 503, "cannot list tokens: %s",
					natsStatus_GetText(s));
	}
	for (int i = 0; si->State.Subjects && i < si->State.Subjects->Count;
	     i++) {
		const char *subj = si->State.Subjects->List[i].Subject;
		struct sk_token t;

		if (subj && strlen(subj) > prefix &&
		    token_load(subj + prefix, &t) == 0)
			json_array_append_new(a, public_json(&t));
	}
	jsStreamInfo_Destroy(si);
	return gw_respond_json(r, 200, a);
}

static int h_revoke(struct gw_req *r)
{
	struct sk_token t;
	int rc = token_load(r->m.name, &t);
	natsStatus s;

	if (rc == -ENOENT || rc == -EINVAL)
		return gw_respond_error(r, 404, "no token %s", r->m.name);
	if (rc)
		return gw_respond_error(r, 503, "cannot read tokens");
	/* Purge: the record and its history go; the id is refused at once. */
	s = kvStore_Purge(A.kv, r->m.name, NULL);
	if (s != NATS_OK)
		return gw_respond_error(r, 503, "cannot revoke: %s",
					natsStatus_GetText(s));
	sk_info("token %s (%s) revoked", t.id, t.name);
	return gw_respond(r, 204, NULL, NULL, 0);
}

int gw_auth_h_tokens(struct gw_req *r)
{
	if (!A.kv)
		return gw_respond_error(r, 404,
					"tokens are off (--insecure gateway)");
	if (r->m.route->id == GW_R_TOKEN)
		return h_revoke(r);
	if (r->method == GW_POST)
		return h_create(r);
	return h_list(r);
}
