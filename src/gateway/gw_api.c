/* gw_api.c: the gateway's routes: functions, artifacts, invocations, nodes, health. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "common/sk_log.h"
#include "common/sk_sign.h"
#include "gateway/gw.h"
#include "gateway/gw_auth.h"
#include "gateway/gw_obs.h"
#include "gateway/gw_replicas.h"

#ifndef SUKIMA_VERSION
#define SUKIMA_VERSION "0.1.0"
#endif

#define GW_HDR_ENV_MAX 64 /* request headers copied into the environment */
#define GW_SPEC_MAX    (32 * 1024) /* function JSON, copied into Sk-Call */

static void rfc3339_now(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- /healthz, /system/info, /system/nodes -------------------------------- */

static int h_healthz(struct gw_req *r)
{
	if (!sk_nats_connected(r->g->n))
		return gw_respond_error(r, 503, "not connected to NATS");
	return gw_respond(r, 200, "text/plain", "OK\n", 3);
}

static int h_info(struct gw_req *r)
{
	struct gw *g = r->g;
	char url[256] = "";

	natsConnection_GetConnectedUrl(g->n->nc, url, sizeof(url));
	return gw_respond_json(
		r, 200,
		json_pack(
			"{s:{s:s, s:s, s:s}, s:{s:s}, s:s, s:s, s:s, s:I, "
			"s:I, s:i, s:I}",
			"provider", "provider", "sukima", "orchestration",
			"nats-jetstream", "version", SUKIMA_VERSION, "version",
			"release", SUKIMA_VERSION, "arch", "x86_64",
			"gateway_id", g->id, "nats", url, "max_body",
			(json_int_t)g->o.max_body, "max_artifact",
			(json_int_t)g->o.max_artifact, "live_workers",
			gw_live_workers(g), "uptime_s",
			(json_int_t)((sk_now_us() - g->started_us) / 1000000)));
}

static int h_nodes(struct gw_req *r)
{
	json_t *a = gw_kv_list(r->g, SK_B_WORKERS);

	if (!a)
		return gw_respond_error(r, 503, "cannot read sk_workers");
	return gw_respond_json(r, 200, a);
}

/*
 * POST /system/nodes/{id}/drain: ask that worker to leave as on SIGTERM
 * (sk.ctl.<id>.drain); 202 once it said it heard.
 */
static int h_node_drain(struct gw_req *r)
{
	char subj[96];
	natsMsg *reply = NULL;
	natsStatus s;
	json_t *node, *ans;

	if (strcmp(r->m.rest, "/drain") != 0)
		return gw_respond_error(r, 404, "no route");
	node = gw_kv_get_json(r->g, SK_B_WORKERS, r->m.name, NULL);
	if (!node)
		return gw_respond_error(r, 404, "worker '%s' not found",
					r->m.name);
	json_decref(node);
	snprintf(subj, sizeof(subj), SK_SUBJ_CTL "%s.drain", r->m.name);
	s = natsConnection_RequestString(&reply, r->g->n->nc, subj, "", 2000);
	if (s != NATS_OK)
		return gw_respond_error(r, 504,
					"worker '%s' did not answer the drain "
					"request (%s)",
					r->m.name, natsStatus_GetText(s));
	ans = json_loadb(natsMsg_GetData(reply),
			 (size_t)natsMsg_GetDataLength(reply), 0, NULL);
	natsMsg_Destroy(reply);
	if (!ans)
		ans = json_pack("{s:s, s:s}", "id", r->m.name, "state",
				"draining");
	sk_info("drain requested for worker %s", r->m.name);
	return gw_respond_json(r, 202, ans);
}

/* --- functions ---------------------------------------------------------- */

static int h_fn_list(struct gw_req *r)
{
	json_t *a = gw_kv_list(r->g, SK_B_FUNCTIONS);

	if (!a)
		return gw_respond_error(r, 503, "cannot read sk_functions");
	return gw_respond_json(r, 200, a);
}

static int h_fn_get(struct gw_req *r, const char *name)
{
	json_t *f = gw_kv_get_json(r->g, SK_B_FUNCTIONS, name, NULL);

	if (!f)
		return gw_respond_error(r, 404, "function '%s' not found",
					name);
	return gw_respond_json(r, 200, f);
}

static int h_fn_delete(struct gw_req *r, const char *name)
{
	uint64_t rev;
	json_t *f = gw_kv_get_json(r->g, SK_B_FUNCTIONS, name, &rev);

	if (!f)
		return gw_respond_error(r, 404, "function '%s' not found",
					name);
	json_decref(f);
	gw_fn_cache_drop(r->g, name);
	if (sk_kv_delete(r->g->n, SK_B_FUNCTIONS, name) != 0)
		return gw_respond_error(r, 503, "cannot delete '%s'", name);
	sk_info("removed function %s", name);
	return gw_respond(r, 204, NULL, "", 0);
}

/* DELETE /system/functions {"functionName": NAME} (OpenFaaS) or {"name"}. */
static int h_fn_delete_body(struct gw_req *r)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *name =
		json_string_value(json_object_get(j, "functionName"));
	int ret;

	if (!name)
		name = json_string_value(json_object_get(j, "name"));
	if (!name || !gw_name_valid(name)) {
		json_decref(j);
		return gw_respond_error(
			r, 400, "body must be {\"functionName\": NAME}");
	}
	ret = h_fn_delete(r, name);
	json_decref(j);
	return ret;
}

/*
 * POST creates or replaces, PUT only replaces.  A replace is a KV update
 * with the revision we read, so two concurrent deploys of one name cannot
 * both win with the same version number.
 */
static int h_fn_deploy(struct gw_req *r, int must_exist)
{
	struct gw *g = r->g;
	char err[256], when[32];
	json_t *spec = gw_deploy_parse(r->body, r->len, err, sizeof(err));
	struct sk_function f;
	char *txt = NULL;
	uint64_t size = 0;
	int ret, ex;

	memset(&f, 0, sizeof(f));
	if (!spec)
		return gw_respond_error(r, 400, "%s", err);
	txt = json_dumps(spec, JSON_COMPACT);
	json_decref(spec);
	if (!txt || sk_function_parse(&f, txt, strlen(txt), err, sizeof(err))) {
		ret = gw_respond_error(r, 400, "%s",
				       txt ? err : "out of memory");
		goto out;
	}
	free(txt);
	txt = NULL;
	/* A signature that cannot verify would only fail every call later. */
	if (f.sig[0] && sk_sign_verify(f.name, f.digest, f.sig, f.signer, err,
				       sizeof(err))) {
		ret = gw_respond_error(r, 400, "%s", err);
		goto out;
	}
	ex = gw_artifact_exists(g, f.digest, &size);
	if (ex < 0) {
		ret = gw_respond_error(r, 503, "cannot read the object store");
		goto out;
	}
	if (ex == 0) {
		ret = gw_respond_error(r, 400,
				       "artifact %s not uploaded (POST the ELF "
				       "to /system/artifacts first)",
				       f.digest);
		goto out;
	}
	f.size = size;
	rfc3339_now(when, sizeof(when));
	snprintf(f.created, sizeof(f.created), "%s", when);
	for (int tries = 0; tries < 8; tries++) {
		uint64_t rev = 0;
		json_t *old = gw_kv_get_json(g, SK_B_FUNCTIONS, f.name, &rev);
		int rc;

		if (!old && must_exist) {
			ret = gw_respond_error(
				r, 404, "function '%s' not found", f.name);
			goto out;
		}
		f.version = old ? (uint64_t)json_integer_value(
					  json_object_get(old, "version")) +
					    1
				: 1;
		json_decref(old);
		free(txt);
		txt = sk_function_json(&f);
		if (!txt) {
			ret = gw_respond_error(r, 500, "out of memory");
			goto out;
		}
		/* It rides in every work message's header: keep it small. */
		if (strlen(txt) > GW_SPEC_MAX) {
			ret = gw_respond_error(r, 400,
					       "function spec too large (%zu "
					       "bytes of argv/env; at most %d)",
					       strlen(txt), GW_SPEC_MAX);
			goto out;
		}
		rc = rev ? sk_kv_update(g->n, SK_B_FUNCTIONS, f.name, txt,
					strlen(txt), rev, NULL)
			 : sk_kv_create(g->n, SK_B_FUNCTIONS, f.name, txt,
					strlen(txt), NULL);
		if (rc == 0) {
			gw_fn_cache_put(g, f.name, txt, strlen(txt));
			sk_info("deployed function %s version %llu", f.name,
				(unsigned long long)f.version);
			ret = gw_respond(r, f.version == 1 ? 201 : 200,
					 "application/json", txt, strlen(txt));
			goto out;
		}
		/* Someone else wrote between our read and write: read again. */
		if (rc != -EEXIST && rc != -ESTALE) {
			ret = gw_respond_error(r, 503,
					       "cannot write sk_functions");
			goto out;
		}
	}
	ret = gw_respond_error(r, 409, "concurrent deploys of '%s': retry",
			       f.name);
out:
	free(txt);
	sk_function_free(&f);
	return ret;
}

static int h_artifact(struct gw_req *r)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hex[65];
	const char *why = NULL;
	int ex;

	if (gw_elf_check(r->body, r->len, &why) != 0)
		return gw_respond_error(r, 400, "artifact refused: %s", why);
	if (!EVP_Digest(r->body, r->len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		return gw_respond_error(r, 500, "SHA-256 failed");
	sk_hex(hex, md, 32);
	ex = gw_artifact_exists(r->g, hex, NULL);
	if (ex < 0)
		return gw_respond_error(r, 503, "cannot read the object store");
	if (ex == 0 && gw_artifact_put(r->g, hex, r->body, r->len) != 0)
		return gw_respond_error(r, 503,
					"cannot store the artifact in NATS");
	if (ex == 0)
		sk_info("stored artifact %s (%zu bytes)", hex, r->len);
	return gw_respond_json(r, ex ? 200 : 201,
			       json_pack("{s:s, s:I}", "digest", hex, "size",
					 (json_int_t)r->len));
}

/* --- invocations ---------------------------------------------------------- */

struct env_ctx {
	struct sk_strv *env;
	int n;
	int failed;
};

static int env_push(struct sk_strv *env, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);
	char *kv = malloc(kl + vl + 2);
	int rc;

	if (!kv)
		return -ENOMEM;
	memcpy(kv, k, kl);
	kv[kl] = '=';
	memcpy(kv + kl + 1, v, vl + 1);
	rc = sk_strv_push(env, kv);
	free(kv);
	return rc;
}

static enum MHD_Result add_header_env(void *cls, enum MHD_ValueKind kind,
				      const char *key, const char *value)
{
	struct env_ctx *c = cls;
	char name[160];

	(void)kind;
	if (!key || !value || c->n >= GW_HDR_ENV_MAX ||
	    strlen(value) > SK_ENV_VAL_MAX)
		return MHD_YES;
	if (gw_header_env_name(key, name, sizeof(name)) != 0)
		return MHD_YES;
	/* Later entries win when the env is turned into an object, and the
	 * classic watchdog takes the first value: skip repeats. */
	for (size_t i = c->env->n - (size_t)c->n; i < c->env->n; i++)
		if (strncmp(c->env->v[i], name, strlen(name)) == 0 &&
		    c->env->v[i][strlen(name)] == '=')
			return MHD_YES;
	if (env_push(c->env, name, value))
		c->failed = 1;
	else
		c->n++;
	return MHD_YES;
}

/*
 * The Sk-Call header of a work message: the whole function spec, so the
 * call finishes on the version it started with, plus the request's
 * watchdog variables after the function's env (so they win).
 */
static char *make_sk_call(struct gw_req *r, const struct sk_function *f,
			  const char *id, const char *reply,
			  const char *callback)
{
	struct sk_call c;
	struct env_ctx ec;
	char num[32];
	char *out = NULL;

	memset(&c, 0, sizeof(c));
	if (sk_call_from_function(&c, f))
		goto out;
	snprintf(c.id, sizeof(c.id), "%s", id);
	c.reply = strdup(reply);
	c.callback = strdup(callback);
	c.queued_at_us = sk_now_us();
	if (!c.reply || !c.callback)
		goto out;
	ec.env = &c.env;
	ec.n = 0;
	ec.failed = 0;
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header_env,
				  &ec);
	snprintf(num, sizeof(num), "%zu", r->len);
	if (ec.failed || env_push(&c.env, "Http_Method", r->method_str) ||
	    env_push(&c.env, "Http_Path", r->m.rest[0] ? r->m.rest : "/") ||
	    (r->query[0] && strlen(r->query) <= SK_ENV_VAL_MAX &&
	     env_push(&c.env, "Http_Query", r->query)) ||
	    env_push(&c.env, "Http_ContentLength", num) ||
	    env_push(&c.env, "Http_Content_Length", num))
		goto out;
	out = sk_call_json(&c);
out:
	sk_call_free(&c);
	return out;
}

/* The function (name) from the registry: 0, -ENOENT or -EIO. */
static int load_function(struct gw *g, const char *name, struct sk_function *f)
{
	char *val = NULL;
	size_t len = 0;
	char err[128];
	int cached = gw_fn_cache_get(g, name, &val, &len) == 0;
	int rc = cached ? 0
			: sk_kv_get(g->n, SK_B_FUNCTIONS, name, &val, &len,
				    NULL);

	if (rc == 0) {
		if (!cached)
			gw_fn_cache_put(g, name, val, len);
		rc = sk_function_parse(f, val, len, err, sizeof(err));
		if (rc) {
			sk_warn("sk_functions/%s: %s", name, err);
			rc = -EIO;
		}
	} else if (rc != -ENOENT) {
		rc = -EIO;
	}
	free(val);
	return rc;
}

/* A callback URL we are willing to POST to later. */
static int callback_ok(const char *u)
{
	if (strlen(u) > 2048)
		return 0;
	if (strncasecmp(u, "http://", 7) != 0 &&
	    strncasecmp(u, "https://", 8) != 0)
		return 0;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static int fn_error(struct gw_req *r, int rc)
{
	if (rc == -ENOENT)
		return gw_respond_error(r, 404, "function '%s' not found",
					r->m.name);
	return gw_respond_error(r, 503, "cannot read sk_functions");
}

/* Http_Path must fit an env value, or the worker would refuse the call. */
static int path_ok(struct gw_req *r)
{
	return strlen(r->m.rest) <= SK_ENV_VAL_MAX;
}

static int h_invoke_sync(struct gw_req *r)
{
	struct gw *g = r->g;
	struct sk_function f;
	struct gw_call *c;
	char reply[128], arch[SK_ARCH_MAX + 1];
	char *skcall;
	uint32_t replicas;
	int64_t now = sk_mono_ms();
	int rc;

	memset(&f, 0, sizeof(f));
	if (!path_ok(r))
		return gw_respond_error(r, 400, "path after the name too long");
	rc = load_function(g, r->m.name, &f);
	if (rc)
		return fn_error(r, rc);
	if (gw_live_workers(g) == 0) {
		rc = gw_respond_error(r, 503,
				      "no live worker for arch %s (start one: "
				      "sukima worker --nats URL)",
				      f.arch);
		sk_function_free(&f);
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		sk_function_free(&f);
		return gw_respond_error(r, 500, "out of memory");
	}
	sk_new_id(c->id);
	snprintf(reply, sizeof(reply), "%s%s.%s", SK_SUBJ_REPLY, g->id, c->id);
	skcall = make_sk_call(r, &f, c->id, reply, "");
	snprintf(c->function, sizeof(c->function), "%s", f.name);
	c->conn = r->conn;
	c->start_deadline_ms = now + g->o.start_wait_ms;
	/* Queueing time counts too: bound the whole wait, never hang. */
	c->deadline_ms =
		now + g->o.start_wait_ms + f.timeout_ms + g->o.margin_ms;
	snprintf(arch, sizeof(arch), "%s", f.arch);
	replicas = f.replicas;
	c->replicas = replicas;
	sk_function_free(&f);
	if (!skcall) {
		free(c);
		return gw_respond_error(r, 500, "out of memory");
	}
	r->call = c;
	atomic_fetch_add(&g->st.sync_calls, 1);

	pthread_mutex_lock(&g->lock);
	gw_call_add(g, c);
	gw_http_suspend(r);
	pthread_mutex_unlock(&g->lock);

	if (gw_publish_call(g, arch, c->id, skcall, replicas, r->body, r->len,
			    1) != 0) {
		/* No message, so no reply can race with this. */
		struct gw_call *t;

		pthread_mutex_lock(&g->lock);
		t = gw_call_take(g, c->id);
		if (t) {
			t->state = GW_CALL_ABORTED;
			gw_http_resume(t->conn);
		}
		pthread_mutex_unlock(&g->lock);
	}
	free(skcall);
	return MHD_YES;
}

static void set_call_headers(struct gw_req *r, const struct sk_result *res)
{
	char dur[32];

	gw_resp_header(r, "X-Call-Id", r->call->id);
	if (res->started_at_us > 0 && res->ended_at_us >= res->started_at_us) {
		snprintf(dur, sizeof(dur), "%.6f",
			 (double)(res->ended_at_us - res->started_at_us) / 1e6);
		gw_resp_header(r, "X-Duration-Seconds", dur);
	}
	if (res->worker[0])
		gw_resp_header(r, "X-Worker", res->worker);
}

/*
 * Read the committed result of (c) from sk_results into c->result.  A
 * worker that takes over a call whose first worker died between commit
 * and announce may not read results (docs/security.md): it sends an empty
 * reply, meaning "committed, read it".  Also tried before a 504, should
 * that reply be lost too.  0 or -errno.
 */
static int stored_result(struct gw *g, struct gw_call *c)
{
	char *val = NULL;
	size_t len = 0;
	int rc = sk_kv_get(g->n, SK_B_RESULTS, c->id, &val, &len, NULL);

	if (rc)
		return rc;
	free(c->result);
	c->result = val;
	c->result_len = len;
	return 0;
}

int gw_api_finish_call(struct gw_req *r)
{
	struct gw_call *c = r->call;
	struct sk_result res;
	char err[128];
	const char *ct;
	int ret;

	switch (c->state) {
	case GW_CALL_DONE:
		if (c->result_len == 0 && stored_result(r->g, c) != 0) {
			gw_resp_header(r, "X-Call-Id", c->id);
			return gw_respond_error(
				r, 502,
				"the call's result was announced "
				"but cannot be read");
		}
		break;
	case GW_CALL_NOSTART:
		gw_resp_header(r, "X-Call-Id", c->id);
		return gw_respond_error(
			r, 503,
			"no worker started the call within %lld "
			"ms (cancelled)",
			(long long)r->g->o.start_wait_ms);
	case GW_CALL_TIMEOUT:
		if (stored_result(r->g, c) == 0)
			break;
		gw_resp_header(r, "X-Call-Id", c->id);
		return gw_respond_error(r, 504,
					"no result within the function's "
					"timeout plus margin");
	default:
		gw_resp_header(r, "X-Call-Id", c->id);
		return gw_respond_error(r, 503,
					"could not queue the call (NATS "
					"unavailable or shutting down)");
	}
	if (sk_result_parse(&res, c->result, c->result_len, err, sizeof(err))) {
		gw_resp_header(r, "X-Call-Id", c->id);
		return gw_respond_error(
			r, 502, "malformed result from worker: %s", err);
	}
	if (c->replicas > 1) {
		char why[256];

		if (gw_replicas_check(r->g, &res, c->replicas, why,
				      sizeof(why))) {
			sk_warn("call %s: %s", c->id, why);
			sk_result_free(&res);
			gw_resp_header(r, "X-Call-Id", c->id);
			return gw_respond_error(r, 502, "%s", why);
		}
	}
	set_call_headers(r, &res);
	switch (res.status) {
	case SK_ST_SUCCEEDED:
		/* As the classic watchdog: echo the caller's content type. */
		ct = gw_req_header(r, "Content-Type");
		ret = gw_respond(r, 200, ct ? ct : "application/octet-stream",
				 res.output ? (const char *)res.output : "",
				 res.output_len);
		break;
	case SK_ST_TIMED_OUT:
		ret = gw_respond_json(
			r, 504,
			json_pack("{s:s, s:s}", "error",
				  res.reason && res.reason[0]
					  ? res.reason
					  : "function timed out",
				  "stderr",
				  res.stderr_tail ? res.stderr_tail : ""));
		break;
	default: {
		char msg[256];

		if (res.reason && res.reason[0])
			snprintf(msg, sizeof(msg), "%s", res.reason);
		else
			snprintf(msg, sizeof(msg),
				 "function exited with status %d",
				 res.exit_code);
		ret = gw_respond_json(
			r, 502,
			json_pack("{s:s, s:i, s:s}", "error", msg, "exit_code",
				  res.exit_code, "stderr",
				  res.stderr_tail ? res.stderr_tail : ""));
	}
	}
	sk_result_free(&res);
	return ret;
}

static int h_invoke_async(struct gw_req *r)
{
	struct gw *g = r->g;
	const char *cb = gw_req_header(r, "X-Callback-Url");
	char id[SK_ID_LEN + 1];
	char *skcall = NULL, *rec = NULL;
	struct sk_function f;
	struct sk_callrec cr;
	int ret, rc;

	memset(&f, 0, sizeof(f));
	memset(&cr, 0, sizeof(cr));
	if (cb && !callback_ok(cb))
		return gw_respond_error(
			r, 400, "X-Callback-Url must be an http(s) URL");
	if (!path_ok(r))
		return gw_respond_error(r, 400, "path after the name too long");
	rc = load_function(g, r->m.name, &f);
	if (rc)
		return fn_error(r, rc);
	sk_new_id(id);
	skcall = make_sk_call(r, &f, id, "", cb ? cb : "");
	snprintf(cr.id, sizeof(cr.id), "%s", id);
	snprintf(cr.function, sizeof(cr.function), "%s", f.name);
	cr.version = f.version;
	cr.status = SK_ST_QUEUED;
	cr.async = 1;
	cr.queued_at_us = sk_now_us();
	rec = gw_callrec_json(&cr);
	if (!skcall || !rec) {
		ret = gw_respond_error(r, 500, "out of memory");
		goto out;
	}
	/*
	 * The record first: a worker must never see work without it.  The
	 * callback URL lives in its own key, which the worker role may not
	 * write (cmd_init.c): gw_callbacks.c takes the URL from there only.
	 */
	if (sk_kv_create(g->n, SK_B_CALLS, id, rec, strlen(rec), NULL) != 0 ||
	    (cb && gw_callback_save(g, id, cb) != 0) ||
	    gw_publish_call(g, f.arch, id, skcall, f.replicas, r->body, r->len,
			    0) != 0) {
		ret = gw_respond_error(r, 503,
				       "could not queue the call (NATS "
				       "unavailable?)");
		goto out;
	}
	atomic_fetch_add(&g->st.async_calls, 1);
	gw_resp_header(r, "X-Call-Id", id);
	ret = gw_respond_json(
		r, 202, json_pack("{s:s, s:s}", "id", id, "status", "queued"));
out:
	free(skcall);
	free(rec);
	sk_function_free(&f);
	sk_callrec_free(&cr);
	return ret;
}

/*
 * GET /system/invocations/{id}: sk_results is the truth once present;
 * sk_calls tells queued/running/cancelled and the attempts.  ?raw=1 returns
 * just the output bytes of a finished call.
 */
/*
 * The final result of a redundant call must match its votes (a worker
 * credential can write a final result directly): one that does not is
 * shown as failed, its output withheld.
 */
static void check_votes(struct gw_req *r, json_t *res)
{
	char why[256], *txt = json_dumps(res, JSON_COMPACT);

	if (txt &&
	    gw_replicas_suspect(r->g, txt, strlen(txt), why, sizeof(why))) {
		json_object_set_new(res, "status", json_string("failed"));
		json_object_set_new(res, "reason", json_string(why));
		json_object_del(res, "output_b64");
	}
	free(txt);
}

static int h_invocation_get(struct gw_req *r)
{
	struct gw *g = r->g;
	/*
	 * The record first: a worker commits the result before it marks
	 * the record final, so a final record read here means the result
	 * read next is there.  The other order answered a final status
	 * without the output when both writes fell between the two reads.
	 */
	json_t *rec = gw_kv_get_json(g, SK_B_CALLS, r->m.name, NULL);
	json_t *res = gw_kv_get_json(g, SK_B_RESULTS, r->m.name, NULL);
	json_t *o;
	const char *raw = MHD_lookup_connection_value(
		r->conn, MHD_GET_ARGUMENT_KIND, "raw");

	if (!res && !rec)
		return gw_respond_error(r, 404, "invocation '%s' not found",
					r->m.name);
	if (res)
		check_votes(r, res);
	o = json_object();
	if (rec)
		json_object_update(o, rec);
	if (res) {
		json_object_update(o, res);
		/* The record's counter may lag the result's attempt number. */
		json_int_t a =
			json_integer_value(json_object_get(res, "attempt"));
		json_int_t ra =
			json_integer_value(json_object_get(rec, "attempts"));
		json_object_set_new(o, "attempts",
				    json_integer(a > ra ? a : ra));
		json_object_del(o, "attempt");
	}
	if (!json_object_get(o, "status"))
		json_object_set_new(o, "status", json_string("queued"));
	json_int_t s = json_integer_value(json_object_get(o, "started_at_us"));
	json_int_t e = json_integer_value(json_object_get(o, "ended_at_us"));
	if (s > 0 && e >= s)
		json_object_set_new(o, "duration_seconds",
				    json_real((double)(e - s) / 1e6));
	json_decref(res);
	json_decref(rec);
	if (raw && strcmp(raw, "0") != 0) {
		const char *b64 =
			json_string_value(json_object_get(o, "output_b64"));
		int ret;

		if (!b64) {
			json_decref(o);
			return gw_respond_error(r, 409,
						"invocation has no result yet");
		}
		size_t n = strlen(b64);
		char *buf = malloc(n / 4 * 3 + 4);
		long got = buf ? sk_b64_decode(buf, n / 4 * 3 + 4, b64, n, 0)
			       : -ENOMEM;
		ret = got < 0 ? gw_respond_error(r, 500, "malformed result")
			      : gw_respond(r, 200, "application/octet-stream",
					   buf, (size_t)got);
		free(buf);
		json_decref(o);
		return ret;
	}
	return gw_respond_json(r, 200, o);
}

static int h_invocation_cancel(struct gw_req *r)
{
	struct gw *g = r->g;

	for (int tries = 0; tries < 8; tries++) {
		uint64_t rev = 0;
		json_t *rec = gw_kv_get_json(g, SK_B_CALLS, r->m.name, &rev);
		const char *st;
		char *txt;
		int rc;

		if (!rec) {
			json_t *res = gw_kv_get_json(g, SK_B_RESULTS, r->m.name,
						     NULL);
			if (res) {
				json_decref(res);
				return gw_respond_error(
					r, 409, "invocation already finished");
			}
			return gw_respond_error(
				r, 404, "invocation '%s' not found", r->m.name);
		}
		st = json_string_value(json_object_get(rec, "status"));
		if (!st || strcmp(st, "queued") != 0) {
			int cancelled = st && strcmp(st, "cancelled") == 0;
			int ret = cancelled
					  ? gw_respond_json(r, 200,
							    json_incref(rec))
					  : gw_respond_error(
						    r, 409,
						    "invocation is %s, only a "
						    "queued call can be "
						    "cancelled",
						    st ? st : "unknown");
			json_decref(rec);
			return ret;
		}
		json_object_set_new(rec, "status", json_string("cancelled"));
		json_object_set_new(rec, "ended_at_us",
				    json_integer(sk_now_us()));
		txt = json_dumps(rec, JSON_COMPACT);
		rc = txt ? sk_kv_update(g->n, SK_B_CALLS, r->m.name, txt,
					strlen(txt), rev, NULL)
			 : -ENOMEM;
		free(txt);
		if (rc == 0) {
			sk_info("cancelled invocation %s", r->m.name);
			return gw_respond_json(r, 200, rec);
		}
		json_decref(rec);
		if (rc != -ESTALE)
			return gw_respond_error(r, 503,
						"cannot update sk_calls");
	}
	return gw_respond_error(r, 409, "invocation changed while cancelling");
}

/* --- dispatch ------------------------------------------------------------ */

int gw_api_dispatch(struct gw_req *r)
{
	switch (r->m.route->id) {
	case GW_R_HEALTHZ:
		return h_healthz(r);
	case GW_R_INFO:
		return h_info(r);
	case GW_R_NODES:
		return h_nodes(r);
	case GW_R_NODE:
		return h_node_drain(r);
	case GW_R_FUNCTIONS:
		switch (r->method) {
		case GW_GET:
			return h_fn_list(r);
		case GW_POST:
			return h_fn_deploy(r, 0);
		case GW_PUT:
			return h_fn_deploy(r, 1);
		default:
			return h_fn_delete_body(r);
		}
	case GW_R_FUNCTION:
		if (r->method == GW_DELETE)
			return h_fn_delete(r, r->m.name);
		return h_fn_get(r, r->m.name);
	case GW_R_ARTIFACTS:
		return h_artifact(r);
	case GW_R_INVOKE:
		return h_invoke_sync(r);
	case GW_R_ASYNC:
		return h_invoke_async(r);
	case GW_R_INVOCATION:
		if (r->method == GW_DELETE)
			return h_invocation_cancel(r);
		return h_invocation_get(r);
	case GW_R_TOKENS:
	case GW_R_TOKEN:
		return gw_auth_h_tokens(r);
	case GW_R_METRICS:
	case GW_R_LOGS:
	case GW_R_UI:
		return gw_obs_dispatch(r);
	default:
		return gw_respond_error(r, 404, "no route");
	}
}
