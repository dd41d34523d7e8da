/* sk_model.c: the cloud's JSON documents, parsed with validation (jansson). */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_model.h"
#include "common/sk_util.h"

/* Hostile input may be large; nothing we store is bigger than this. */
#define MODEL_JSON_MAX ((size_t)(SK_OUTPUT_MAX * 4 / 3 + (1 << 20)))

static const char *const status_names[] = {
	[SK_ST_QUEUED] = "queued",	 [SK_ST_RUNNING] = "running",
	[SK_ST_SUCCEEDED] = "succeeded", [SK_ST_FAILED] = "failed",
	[SK_ST_TIMED_OUT] = "timed_out", [SK_ST_CANCELLED] = "cancelled",
	[SK_ST_DISPUTED] = "disputed",
};

const char *sk_status_name(enum sk_status s)
{
	if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[s];
}

int sk_status_parse(const char *name, enum sk_status *s)
{
	for (unsigned i = 0; i < sizeof(status_names) / sizeof(status_names[0]);
	     i++)
		if (strcmp(name, status_names[i]) == 0) {
			*s = (enum sk_status)i;
			return 0;
		}
	return -EINVAL;
}

int sk_status_final(enum sk_status s)
{
	return s == SK_ST_SUCCEEDED || s == SK_ST_FAILED ||
	       s == SK_ST_TIMED_OUT || s == SK_ST_CANCELLED ||
	       s == SK_ST_DISPUTED;
}

void sk_strv_free(struct sk_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int sk_strv_push(struct sk_strv *sv, const char *s)
{
	char **nv = realloc(sv->v, (sv->n + 1) * sizeof(*nv));
	char *copy;

	if (!nv)
		return -ENOMEM;
	sv->v = nv;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	sv->v[sv->n++] = copy;
	return 0;
}

int sk_valid_name(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
			return 0;
	return n >= 1 && n <= SK_NAME_MAX && s[0] != '-' && s[n - 1] != '-';
}

int sk_valid_id(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '-' ||
		      s[n] == '_'))
			return 0;
	return n >= 1 && n <= SK_ID_MAX;
}

int sk_valid_arch(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n >= 1 && n <= SK_ARCH_MAX;
}

int sk_valid_env_key(const char *s)
{
	size_t n = 0;

	if (!s || !((s[0] >= 'A' && s[0] <= 'Z') ||
		    (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n <= SK_ENV_KEY_MAX;
}

int sk_valid_argv0(const char *s)
{
	size_t n = 0;

	if (!s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '.' ||
		      s[n] == '_' || s[n] == '+' || s[n] == '-'))
			return 0;
	return n >= 1 && n <= SK_ARGV0_MAX;
}

/* --- parsing helpers ------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int model_fail(char *err,
							    size_t errlen,
							    const char *fmt,
							    ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static json_t *load(const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;

	if (!json || len == 0) {
		model_fail(err, errlen, "empty document");
		return NULL;
	}
	if (len > MODEL_JSON_MAX) {
		model_fail(err, errlen, "document too large (%zu bytes)", len);
		return NULL;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		model_fail(err, errlen, "invalid JSON: %s (line %d)", je.text,
			   je.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		model_fail(err, errlen, "expected a JSON object");
		return NULL;
	}
	return root;
}

/* Validators for get_str: 1 = ok. */
typedef int (*str_check)(const char *s);

static int check_any(const char *s)
{
	(void)s;
	return 1;
}

/* An id, or "" for "none yet" (a queued call has no worker). */
static int check_id_or_empty(const char *s)
{
	return !*s || sk_valid_id(s);
}

static int check_argv0(const char *s)
{
	return !*s || sk_valid_argv0(s);
}

static int check_digest(const char *s)
{
	return sk_is_sha256_hex(s);
}

/* No control characters: keeps one-line fields one line. */
static int check_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int check_subject(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/*
 * A string member into a fixed buffer (dst, cap bytes incl. NUL).
 * (required) 0: absent or null leaves dst as is.
 */
static int get_str(json_t *o, const char *key, int required, char *dst,
		   size_t cap, str_check check, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	if (!v || json_is_null(v)) {
		if (required)
			return model_fail(err, errlen, "missing \"%s\"", key);
		return 0;
	}
	if (!json_is_string(v))
		return model_fail(err, errlen, "\"%s\" must be a string", key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= cap || strlen(s) != n)
		return model_fail(err, errlen,
				  "\"%s\" too long or contains NUL", key);
	if (!check(s))
		return model_fail(err, errlen, "\"%s\" is not valid", key);
	memcpy(dst, s, n + 1);
	return 0;
}

static int check_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

static int check_sig(const char *s)
{
	return !*s || check_hex(s, 128);
}

static int check_signer(const char *s)
{
	return !*s || check_hex(s, 64);
}

/* "sig" (128 hex) and "signer" (64 hex): both or neither. */
static int get_sig(json_t *o, char *sig, char *signer, char *err, size_t errlen)
{
	int rc;

	if ((rc = get_str(o, "sig", 0, sig, 129, check_sig, err, errlen)) ||
	    (rc = get_str(o, "signer", 0, signer, 65, check_signer, err,
			  errlen)))
		return rc;
	if (!sig[0] != !signer[0])
		return model_fail(err, errlen,
				  "\"sig\" and \"signer\" go together");
	return 0;
}

/* A string member into a malloc'd copy; absent -> "" when not required. */
static int get_dup(json_t *o, const char *key, int required, char **dst,
		   size_t max, str_check check, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s = "";
	size_t n = 0;

	if (!v || json_is_null(v)) {
		if (required)
			return model_fail(err, errlen, "missing \"%s\"", key);
	} else if (!json_is_string(v)) {
		return model_fail(err, errlen, "\"%s\" must be a string", key);
	} else {
		s = json_string_value(v);
		n = json_string_length(v);
		if (n > max || strlen(s) != n)
			return model_fail(err, errlen,
					  "\"%s\" too long or contains NUL",
					  key);
		if (!check(s))
			return model_fail(err, errlen, "\"%s\" is not valid",
					  key);
	}
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static int get_int(json_t *o, const char *key, int required, int64_t min,
		   int64_t max, int64_t *dst, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	json_int_t x;

	if (!v || json_is_null(v)) {
		if (required)
			return model_fail(err, errlen, "missing \"%s\"", key);
		return 0;
	}
	if (!json_is_integer(v))
		return model_fail(err, errlen, "\"%s\" must be an integer",
				  key);
	x = json_integer_value(v);
	if (x < min || x > max)
		return model_fail(err, errlen,
				  "\"%s\" out of range [%lld, %lld]", key,
				  (long long)min, (long long)max);
	*dst = x;
	return 0;
}

#define GET_INT(o, key, req, min, max, lval)                               \
	({                                                                 \
		int64_t _t = (int64_t)(lval);                              \
		int _r = get_int(o, key, req, min, max, &_t, err, errlen); \
		if (_r == 0)                                               \
			(lval) = (__typeof__(lval))_t;                     \
		_r;                                                        \
	})

static int get_argv(json_t *o, const char *key, struct sk_strv *sv, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(o, key), *e;
	size_t i;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return model_fail(err, errlen,
				  "\"%s\" must be an array of strings", key);
	if (json_array_size(v) > SK_ARGV_MAX)
		return model_fail(err, errlen,
				  "\"%s\" has more than %d entries", key,
				  SK_ARGV_MAX);
	json_array_foreach(v, i, e)
	{
		const char *s;

		if (!json_is_string(e))
			return model_fail(err, errlen,
					  "\"%s\" must be an array of strings",
					  key);
		s = json_string_value(e);
		if (json_string_length(e) > SK_ARG_MAX ||
		    strlen(s) != json_string_length(e))
			return model_fail(
				err, errlen,
				"\"%s\" entry too long or contains NUL", key);
		if (sk_strv_push(sv, s))
			return -ENOMEM;
	}
	return 0;
}

static int get_env(json_t *o, const char *key, struct sk_strv *sv, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(o, key), *e;
	const char *k;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return model_fail(err, errlen,
				  "\"%s\" must be an object of strings", key);
	if (json_object_size(v) > SK_ENV_MAX)
		return model_fail(err, errlen,
				  "\"%s\" has more than %d entries", key,
				  SK_ENV_MAX);
	json_object_foreach(v, k, e)
	{
		const char *s;
		char *kv;
		size_t kl, vl;

		if (!sk_valid_env_key(k))
			return model_fail(err, errlen,
					  "\"%s\": bad variable name", key);
		if (!json_is_string(e))
			return model_fail(err, errlen,
					  "\"%s\" values must be strings", key);
		s = json_string_value(e);
		vl = json_string_length(e);
		if (vl > SK_ENV_VAL_MAX || strlen(s) != vl)
			return model_fail(
				err, errlen,
				"\"%s\" value too long or contains NUL", key);
		kl = strlen(k);
		kv = malloc(kl + vl + 2);
		if (!kv)
			return -ENOMEM;
		memcpy(kv, k, kl);
		kv[kl] = '=';
		memcpy(kv + kl + 1, s, vl + 1);
		if (sk_strv_push(sv, kv)) {
			free(kv);
			return -ENOMEM;
		}
		free(kv);
	}
	return 0;
}

static int get_status(json_t *o, const char *key, enum sk_status *st, char *err,
		      size_t errlen)
{
	char name[16];
	int rc = get_str(o, key, 1, name, sizeof(name), check_any, err, errlen);

	if (rc)
		return rc;
	if (sk_status_parse(name, st))
		return model_fail(err, errlen, "unknown %s \"%s\"", key, name);
	return 0;
}

/* --- serializing helpers -------------------------------------------------- */

static json_t *argv_json(const struct sk_strv *sv)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

static json_t *env_json(const struct sk_strv *sv)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < sv->n; i++) {
		const char *eq = strchr(sv->v[i], '=');
		char key[SK_ENV_KEY_MAX + 1];
		size_t kl;

		if (!eq || (kl = (size_t)(eq - sv->v[i])) > SK_ENV_KEY_MAX)
			continue;
		memcpy(key, sv->v[i], kl);
		key[kl] = '\0';
		json_object_set_new(o, key, json_string(eq + 1));
	}
	return o;
}

/* Strings from callers may hold invalid UTF-8 (stderr): make it valid. */
static json_t *str_json(const char *s)
{
	json_t *j;
	char *copy;

	if (!s)
		return json_string("");
	j = json_string(s);
	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (unsigned char *p = (unsigned char *)copy; *p; p++)
		if (*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static char *dump(json_t *o)
{
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* --- function --------------------------------------------------------------- */

void sk_function_init(struct sk_function *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->arch, sizeof(f->arch), "%s", SK_DEF_ARCH);
	f->mem_mib = SK_DEF_MEM_MIB;
	f->timeout_ms = SK_DEF_TIMEOUT_MS;
	f->max_output = SK_DEF_MAX_OUTPUT;
	f->replicas = 1;
}

void sk_function_free(struct sk_function *f)
{
	sk_strv_free(&f->argv);
	sk_strv_free(&f->env);
}

int sk_function_parse(struct sk_function *f, const char *json, size_t len,
		      char *err, size_t errlen)
{
	json_t *o;
	int rc;

	sk_function_init(f);
	o = load(json, len, err, errlen);
	if (!o)
		return -EINVAL;
	if ((rc = get_str(o, "name", 1, f->name, sizeof(f->name), sk_valid_name,
			  err, errlen)) ||
	    (rc = get_str(o, "digest", 1, f->digest, sizeof(f->digest),
			  check_digest, err, errlen)) ||
	    (rc = get_str(o, "arch", 0, f->arch, sizeof(f->arch), sk_valid_arch,
			  err, errlen)) ||
	    (rc = GET_INT(o, "version", 0, 0, INT64_MAX, f->version)) ||
	    (rc = GET_INT(o, "size", 0, 0, INT64_MAX, f->size)) ||
	    (rc = GET_INT(o, "mem_mib", 0, 1, SK_MEM_MIB_MAX, f->mem_mib)) ||
	    (rc = GET_INT(o, "timeout_ms", 0, 1, SK_TIMEOUT_MS_MAX,
			  f->timeout_ms)) ||
	    (rc = GET_INT(o, "max_output", 0, 0, (int64_t)SK_OUTPUT_MAX,
			  f->max_output)) ||
	    (rc = GET_INT(o, "replicas", 0, 0, 1024, f->replicas)) ||
	    (rc = get_str(o, "created", 0, f->created, sizeof(f->created),
			  check_line, err, errlen)) ||
	    (rc = get_str(o, "argv0", 0, f->argv0, sizeof(f->argv0),
			  check_argv0, err, errlen)) ||
	    (rc = get_sig(o, f->sig, f->signer, err, errlen)) ||
	    (rc = get_argv(o, "argv", &f->argv, err, errlen)) ||
	    (rc = get_env(o, "env", &f->env, err, errlen)))
		sk_function_free(f);
	json_decref(o);
	return rc;
}

/* "argv0" only when set: readers that predate it see the same document. */
static json_t *with_argv0(json_t *o, const char *argv0)
{
	if (o && argv0[0])
		json_object_set_new(o, "argv0", json_string(argv0));
	return o;
}

/* "sig" and "signer" only when signed, for the same reason. */
static json_t *with_sig(json_t *o, const char *sig, const char *signer)
{
	if (o && sig[0]) {
		json_object_set_new(o, "sig", json_string(sig));
		json_object_set_new(o, "signer", json_string(signer));
	}
	return o;
}

/* "replicas"/"replica" of a call only when redundant. */
static json_t *with_replica(json_t *o, const struct sk_call *c)
{
	if (o && c->replicas > 1 && c->replica >= 1) {
		json_object_set_new(o, "replicas", json_integer(c->replicas));
		json_object_set_new(o, "replica", json_integer(c->replica));
	}
	return o;
}

char *sk_function_json(const struct sk_function *f)
{
	json_t *o = json_pack(
		"{s:s, s:I, s:s, s:s, s:I, s:i, s:i, s:I, s:o, s:o, s:i, s:s}",
		"name", f->name, "version", (json_int_t)f->version, "digest",
		f->digest, "arch", f->arch, "size", (json_int_t)f->size,
		"mem_mib", (int)f->mem_mib, "timeout_ms", (int)f->timeout_ms,
		"max_output", (json_int_t)f->max_output, "argv",
		argv_json(&f->argv), "env", env_json(&f->env), "replicas",
		(int)f->replicas, "created", f->created);

	return dump(with_sig(with_argv0(o, f->argv0), f->sig, f->signer));
}

/* --- call (Sk-Call header) ---------------------------------------------- */

void sk_call_free(struct sk_call *c)
{
	sk_strv_free(&c->argv);
	sk_strv_free(&c->env);
	free(c->reply);
	free(c->callback);
	c->reply = c->callback = NULL;
}

int sk_call_parse(struct sk_call *c, const char *json, size_t len, char *err,
		  size_t errlen)
{
	json_t *o;
	int rc;

	memset(c, 0, sizeof(*c));
	c->mem_mib = SK_DEF_MEM_MIB;
	c->timeout_ms = SK_DEF_TIMEOUT_MS;
	c->max_output = SK_DEF_MAX_OUTPUT;
	o = load(json, len, err, errlen);
	if (!o)
		return -EINVAL;
	if ((rc = get_str(o, "id", 1, c->id, sizeof(c->id), sk_valid_id, err,
			  errlen)) ||
	    (rc = get_str(o, "function", 1, c->function, sizeof(c->function),
			  sk_valid_name, err, errlen)) ||
	    (rc = get_str(o, "digest", 1, c->digest, sizeof(c->digest),
			  check_digest, err, errlen)) ||
	    (rc = GET_INT(o, "version", 0, 0, INT64_MAX, c->version)) ||
	    (rc = GET_INT(o, "mem_mib", 0, 1, SK_MEM_MIB_MAX, c->mem_mib)) ||
	    (rc = GET_INT(o, "timeout_ms", 0, 1, SK_TIMEOUT_MS_MAX,
			  c->timeout_ms)) ||
	    (rc = GET_INT(o, "max_output", 0, 0, (int64_t)SK_OUTPUT_MAX,
			  c->max_output)) ||
	    (rc = GET_INT(o, "queued_at_us", 0, 0, INT64_MAX,
			  c->queued_at_us)) ||
	    (rc = get_str(o, "argv0", 0, c->argv0, sizeof(c->argv0),
			  check_argv0, err, errlen)) ||
	    (rc = get_sig(o, c->sig, c->signer, err, errlen)) ||
	    (rc = GET_INT(o, "replicas", 0, 0, SK_REPLICAS_MAX, c->replicas)) ||
	    (rc = GET_INT(o, "replica", 0, 0, SK_REPLICAS_MAX, c->replica)) ||
	    (rc = get_argv(o, "argv", &c->argv, err, errlen)) ||
	    (rc = get_env(o, "env", &c->env, err, errlen)) ||
	    (rc = get_dup(o, "reply", 0, &c->reply, SK_SUBJECT_MAX,
			  check_subject, err, errlen)) ||
	    (rc = get_dup(o, "callback", 0, &c->callback, SK_URL_MAX,
			  check_subject, err, errlen)))
		sk_call_free(c);
	else if (c->replicas > 1 ? c->replica < 1 || c->replica > c->replicas
				 : c->replica != 0) {
		rc = model_fail(err, errlen,
				"\"replica\" must be 1..\"replicas\"");
		sk_call_free(c);
	}
	json_decref(o);
	return rc;
}

char *sk_call_json(const struct sk_call *c)
{
	json_t *o = json_pack(
		"{s:s, s:s, s:I, s:s, s:i, s:i, s:I, s:o, s:o, s:s, s:s, s:I}",
		"id", c->id, "function", c->function, "version",
		(json_int_t)c->version, "digest", c->digest, "mem_mib",
		(int)c->mem_mib, "timeout_ms", (int)c->timeout_ms, "max_output",
		(json_int_t)c->max_output, "argv", argv_json(&c->argv), "env",
		env_json(&c->env), "reply", c->reply ? c->reply : "",
		"callback", c->callback ? c->callback : "", "queued_at_us",
		(json_int_t)c->queued_at_us);

	return dump(with_replica(
		with_sig(with_argv0(o, c->argv0), c->sig, c->signer), c));
}

int sk_call_from_function(struct sk_call *c, const struct sk_function *f)
{
	memcpy(c->function, f->name, sizeof(c->function));
	memcpy(c->digest, f->digest, sizeof(c->digest));
	memcpy(c->argv0, f->argv0, sizeof(c->argv0));
	memcpy(c->sig, f->sig, sizeof(c->sig));
	memcpy(c->signer, f->signer, sizeof(c->signer));
	c->replicas = f->replicas;
	c->version = f->version;
	c->mem_mib = f->mem_mib;
	c->timeout_ms = f->timeout_ms;
	c->max_output = f->max_output;
	sk_strv_free(&c->argv);
	sk_strv_free(&c->env);
	for (size_t i = 0; i < f->argv.n; i++)
		if (sk_strv_push(&c->argv, f->argv.v[i]))
			return -ENOMEM;
	for (size_t i = 0; i < f->env.n; i++)
		if (sk_strv_push(&c->env, f->env.v[i]))
			return -ENOMEM;
	return 0;
}

/* --- result ------------------------------------------------------------------ */

void sk_result_free(struct sk_result *r)
{
	free(r->reason);
	free(r->output);
	free(r->stderr_tail);
	r->reason = r->stderr_tail = NULL;
	r->output = NULL;
	r->output_len = 0;
}

int sk_result_parse(struct sk_result *r, const char *json, size_t len,
		    char *err, size_t errlen)
{
	json_t *o, *b;
	int rc;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	o = load(json, len, err, errlen);
	if (!o)
		return -EINVAL;
	if ((rc = get_str(o, "id", 1, r->id, sizeof(r->id), sk_valid_id, err,
			  errlen)) ||
	    (rc = get_str(o, "function", 1, r->function, sizeof(r->function),
			  sk_valid_name, err, errlen)) ||
	    (rc = get_str(o, "worker", 0, r->worker, sizeof(r->worker),
			  check_id_or_empty, err, errlen)) ||
	    (rc = get_status(o, "status", &r->status, err, errlen)) ||
	    (rc = GET_INT(o, "version", 0, 0, INT64_MAX, r->version)) ||
	    (rc = GET_INT(o, "attempt", 0, 0, 1000000, r->attempt)) ||
	    (rc = GET_INT(o, "exit_code", 0, -1, 255, r->exit_code)) ||
	    (rc = GET_INT(o, "queued_at_us", 0, 0, INT64_MAX,
			  r->queued_at_us)) ||
	    (rc = GET_INT(o, "started_at_us", 0, 0, INT64_MAX,
			  r->started_at_us)) ||
	    (rc = GET_INT(o, "ended_at_us", 0, 0, INT64_MAX, r->ended_at_us)) ||
	    (rc = get_dup(o, "reason", 0, &r->reason, SK_REASON_MAX, check_any,
			  err, errlen)) ||
	    (rc = get_dup(o, "stderr", 0, &r->stderr_tail, SK_STDERR_MAX * 4,
			  check_any, err, errlen)))
		goto out;
	b = json_object_get(o, "output_b64");
	if (b && !json_is_null(b)) {
		size_t n;
		long got;

		if (!json_is_string(b)) {
			rc = model_fail(err, errlen,
					"\"output_b64\" must be a string");
			goto out;
		}
		n = json_string_length(b);
		r->output = malloc(n / 4 * 3 + 3);
		if (!r->output) {
			rc = -ENOMEM;
			goto out;
		}
		got = sk_b64_decode(r->output, n / 4 * 3 + 3,
				    json_string_value(b), n, 0);
		if (got < 0) {
			rc = model_fail(err, errlen,
					"\"output_b64\" is not base64");
			goto out;
		}
		r->output_len = (size_t)got;
	}
out:
	if (rc)
		sk_result_free(r);
	json_decref(o);
	return rc;
}

char *sk_result_json(const struct sk_result *r)
{
	char *b64 = malloc(sk_b64_len(r->output_len) + 1);
	json_t *o;

	if (!b64)
		return NULL;
	sk_b64_encode(b64, r->output ? r->output : (const unsigned char *)"",
		      r->output_len, 0);
	o = json_pack("{s:s, s:s, s:I, s:s, s:i, s:s, s:i, s:o, s:s, s:o, "
		      "s:I, s:I, s:I}",
		      "id", r->id, "function", r->function, "version",
		      (json_int_t)r->version, "worker", r->worker, "attempt",
		      (int)r->attempt, "status", sk_status_name(r->status),
		      "exit_code", r->exit_code, "reason", str_json(r->reason),
		      "output_b64", b64, "stderr", str_json(r->stderr_tail),
		      "queued_at_us", (json_int_t)r->queued_at_us,
		      "started_at_us", (json_int_t)r->started_at_us,
		      "ended_at_us", (json_int_t)r->ended_at_us);
	free(b64);
	return dump(o);
}

/* --- invocation record ------------------------------------------------------ */

void sk_callrec_free(struct sk_callrec *c)
{
	sk_strv_free(&c->workers);
	free(c->reason);
	free(c->callback);
	c->reason = c->callback = NULL;
}

int sk_callrec_parse(struct sk_callrec *c, const char *json, size_t len,
		     char *err, size_t errlen)
{
	json_t *o, *w, *e;
	size_t i;
	int rc;

	memset(c, 0, sizeof(*c));
	o = load(json, len, err, errlen);
	if (!o)
		return -EINVAL;
	if ((rc = get_str(o, "id", 1, c->id, sizeof(c->id), sk_valid_id, err,
			  errlen)) ||
	    (rc = get_str(o, "function", 1, c->function, sizeof(c->function),
			  sk_valid_name, err, errlen)) ||
	    (rc = get_status(o, "status", &c->status, err, errlen)) ||
	    (rc = get_str(o, "worker", 0, c->worker, sizeof(c->worker),
			  check_id_or_empty, err, errlen)) ||
	    (rc = GET_INT(o, "version", 0, 0, INT64_MAX, c->version)) ||
	    (rc = GET_INT(o, "attempts", 0, 0, 1000000, c->attempts)) ||
	    (rc = GET_INT(o, "duplicates", 0, 0, 1000000, c->duplicates)) ||
	    (rc = GET_INT(o, "queued_at_us", 0, 0, INT64_MAX,
			  c->queued_at_us)) ||
	    (rc = GET_INT(o, "started_at_us", 0, 0, INT64_MAX,
			  c->started_at_us)) ||
	    (rc = GET_INT(o, "ended_at_us", 0, 0, INT64_MAX, c->ended_at_us)) ||
	    (rc = get_dup(o, "reason", 0, &c->reason, SK_REASON_MAX, check_any,
			  err, errlen)) ||
	    (rc = get_dup(o, "callback", 0, &c->callback, SK_URL_MAX,
			  check_subject, err, errlen)))
		goto out;
	e = json_object_get(o, "async");
	if (e && !json_is_null(e)) {
		if (!json_is_boolean(e)) {
			rc = model_fail(err, errlen,
					"\"async\" must be a boolean");
			goto out;
		}
		c->async = json_is_true(e);
	}
	w = json_object_get(o, "workers");
	if (w && !json_is_null(w)) {
		if (!json_is_array(w) || json_array_size(w) > 1000) {
			rc = model_fail(err, errlen,
					"\"workers\" must be an array of ids");
			goto out;
		}
		json_array_foreach(w, i, e)
		{
			if (!json_is_string(e) ||
			    !sk_valid_id(json_string_value(e))) {
				rc = model_fail(
					err, errlen,
					"\"workers\" must be an array of ids");
				goto out;
			}
			if ((rc = sk_strv_push(&c->workers,
					       json_string_value(e))))
				goto out;
		}
	}
out:
	if (rc)
		sk_callrec_free(c);
	json_decref(o);
	return rc;
}

char *sk_callrec_json(const struct sk_callrec *c)
{
	return dump(json_pack(
		"{s:s, s:s, s:I, s:s, s:i, s:s, s:s, s:o, s:o, s:b, s:i, s:I, "
		"s:I, s:I}",
		"id", c->id, "function", c->function, "version",
		(json_int_t)c->version, "status", sk_status_name(c->status),
		"attempts", (int)c->attempts, "worker", c->worker, "callback",
		c->callback ? c->callback : "", "workers",
		argv_json(&c->workers), "reason", str_json(c->reason), "async",
		c->async, "duplicates", (int)c->duplicates, "queued_at_us",
		(json_int_t)c->queued_at_us, "started_at_us",
		(json_int_t)c->started_at_us, "ended_at_us",
		(json_int_t)c->ended_at_us));
}

/* --- worker ------------------------------------------------------------------ */

int sk_worker_parse(struct sk_worker *w, const char *json, size_t len,
		    char *err, size_t errlen)
{
	json_t *o, *l;
	int rc;

	memset(w, 0, sizeof(*w));
	o = load(json, len, err, errlen);
	if (!o)
		return -EINVAL;
	if ((rc = get_str(o, "id", 1, w->id, sizeof(w->id), sk_valid_id, err,
			  errlen)) ||
	    (rc = get_str(o, "name", 0, w->name, sizeof(w->name), check_line,
			  err, errlen)) ||
	    (rc = get_str(o, "hostname", 0, w->hostname, sizeof(w->hostname),
			  check_line, err, errlen)) ||
	    (rc = get_str(o, "os", 0, w->os, sizeof(w->os), check_line, err,
			  errlen)) ||
	    (rc = get_str(o, "arch", 1, w->arch, sizeof(w->arch), sk_valid_arch,
			  err, errlen)) ||
	    (rc = get_str(o, "flavour", 0, w->flavour, sizeof(w->flavour),
			  check_line, err, errlen)) ||
	    (rc = get_str(o, "state", 1, w->state, sizeof(w->state), check_line,
			  err, errlen)) ||
	    (rc = get_str(o, "version", 0, w->version, sizeof(w->version),
			  check_line, err, errlen)) ||
	    (rc = GET_INT(o, "slots", 0, 0, 65536, w->slots)) ||
	    (rc = GET_INT(o, "busy", 0, 0, 65536, w->busy)) ||
	    (rc = GET_INT(o, "mem_mib", 0, 0, INT64_MAX, w->mem_mib)) ||
	    (rc = GET_INT(o, "seen_us", 0, 0, INT64_MAX, w->seen_us)) ||
	    (rc = GET_INT(o, "done", 0, 0, INT64_MAX, w->done)) ||
	    (rc = GET_INT(o, "duplicates", 0, 0, INT64_MAX, w->duplicates)))
		goto out;
	l = json_object_get(o, "load");
	if (l && !json_is_null(l)) {
		if (!json_is_number(l)) {
			rc = model_fail(err, errlen,
					"\"load\" must be a number");
			goto out;
		}
		w->load = json_number_value(l);
	}
out:
	json_decref(o);
	return rc;
}

char *sk_worker_json(const struct sk_worker *w)
{
	return dump(
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, "
			  "s:s, s:f, s:s, s:I, s:I, s:I}",
			  "id", w->id, "name", w->name, "hostname", w->hostname,
			  "os", w->os, "arch", w->arch, "flavour", w->flavour,
			  "slots", (int)w->slots, "busy", (int)w->busy,
			  "mem_mib", (json_int_t)w->mem_mib, "state", w->state,
			  "load", w->load, "version", w->version, "seen_us",
			  (json_int_t)w->seen_us, "done", (json_int_t)w->done,
			  "duplicates", (json_int_t)w->duplicates));
}
