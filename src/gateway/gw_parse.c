/* gw_parse.c: pure parsers of the gateway; no I/O, so they are unit-tested and fuzzed alone. */
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_model.h"
#include "gateway/gw_parse.h"

/*
 * The routing table.  Order matters only between a prefix and a longer one
 * sharing it ("/system/function/" vs "/system/functions"): exact paths first.
 */
const struct gw_route gw_routes[] = {
	{"/healthz", 0, GW_GET | GW_HEAD, GW_R_HEALTHZ, GW_SCOPE_NONE},
	{"/system/info", 0, GW_GET, GW_R_INFO, GW_SCOPE_NONE},
	{"/system/functions", 0, GW_GET | GW_POST | GW_PUT | GW_DELETE,
	 GW_R_FUNCTIONS, GW_SCOPE_DEPLOY},
	{"/system/artifacts", 0, GW_POST, GW_R_ARTIFACTS, GW_SCOPE_DEPLOY},
	{"/system/nodes", 0, GW_GET, GW_R_NODES, GW_SCOPE_ADMIN},
	{"/system/logs", 0, GW_GET, GW_R_LOGS, GW_SCOPE_INVOKE},
	{"/metrics", 0, GW_GET, GW_R_METRICS, GW_SCOPE_ADMIN},
	{"/ui", 0, GW_GET | GW_HEAD, GW_R_UI, GW_SCOPE_NONE},
	{"/ui/app.js", 0, GW_GET | GW_HEAD, GW_R_UI, GW_SCOPE_NONE},
	{"/ui/style.css", 0, GW_GET | GW_HEAD, GW_R_UI, GW_SCOPE_NONE},
	{"/system/function/", 1, GW_GET | GW_DELETE, GW_R_FUNCTION,
	 GW_SCOPE_DEPLOY},
	{"/system/invocations/", 3, GW_GET | GW_DELETE, GW_R_INVOCATION,
	 GW_SCOPE_INVOKE},
	{"/function/", 2, GW_GET | GW_POST | GW_PUT | GW_DELETE, GW_R_INVOKE,
	 GW_SCOPE_INVOKE},
	{"/async-function/", 2, GW_POST, GW_R_ASYNC, GW_SCOPE_INVOKE},
	{"/system/tokens", 0, GW_GET | GW_POST, GW_R_TOKENS, GW_SCOPE_ADMIN},
	{"/system/tokens/", 3, GW_DELETE, GW_R_TOKEN, GW_SCOPE_ADMIN},
	{"/system/nodes/", 2, GW_POST, GW_R_NODE, GW_SCOPE_ADMIN},
	{NULL, 0, 0, GW_R__COUNT, GW_SCOPE_NONE},
};

unsigned gw_method_bit(const char *method)
{
	static const struct {
		const char *s;
		unsigned bit;
	} t[] = {{"GET", GW_GET},
		 {"POST", GW_POST},
		 {"PUT", GW_PUT},
		 {"DELETE", GW_DELETE},
		 {"HEAD", GW_HEAD}};

	for (size_t i = 0; method && i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(method, t[i].s) == 0)
			return t[i].bit;
	return GW_OTHER;
}

void gw_methods_str(unsigned methods, char *out, size_t outlen)
{
	static const char *names[] = {"GET", "POST", "PUT", "DELETE", "HEAD"};
	size_t n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < 5; i++) {
		if (!(methods & (1u << i)))
			continue;
		int w = snprintf(out + n, outlen - n, "%s%s", n ? ", " : "",
				 names[i]);
		if (w < 0 || (size_t)w >= outlen - n)
			return;
		n += (size_t)w;
	}
}

int gw_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > GW_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int gw_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > GW_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!(isalnum((unsigned char)c) || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int gw_route_match(unsigned method, const char *path, struct gw_match *m,
		   unsigned *allowed)
{
	memset(m, 0, sizeof(*m));
	m->rest = "";
	if (allowed)
		*allowed = 0;
	for (const struct gw_route *r = gw_routes; r->prefix; r++) {
		size_t pl = strlen(r->prefix);
		const char *p;

		if (r->param == 0) {
			/* Tolerate one trailing slash, as OpenFaaS clients send. */
			if (strncmp(path, r->prefix, pl) != 0 ||
			    (path[pl] != '\0' && strcmp(path + pl, "/") != 0))
				continue;
		} else {
			if (strncmp(path, r->prefix, pl) != 0)
				continue;
			p = path + pl;
			const char *end = strchr(p, '/');
			size_t nl = end ? (size_t)(end - p) : strlen(p);

			if (nl == 0)
				return -ENOENT;
			if (r->param != 2 && end && end[1] != '\0')
				return -ENOENT;
			if (nl > GW_ID_MAX)
				return -EMSGSIZE;
			memcpy(m->name, p, nl);
			m->name[nl] = '\0';
			if (r->param == 3 ? !gw_id_valid(m->name)
					  : !gw_name_valid(m->name))
				return -EMSGSIZE;
			m->rest = end && r->param == 2 ? end : "";
		}
		if (!(r->methods & method)) {
			if (allowed)
				*allowed = r->methods;
			return -EPERM;
		}
		m->route = r;
		return 0;
	}
	return -ENOENT;
}

int gw_header_env_name(const char *header, char *out, size_t outlen)
{
	static const char pfx[] = "Http_";
	size_t n = strlen(header), i;
	int upper = 1;

	if (n == 0)
		return -EINVAL;
	if (outlen < sizeof(pfx) + n)
		return -ENOSPC;
	memcpy(out, pfx, sizeof(pfx) - 1);
	for (i = 0; i < n; i++) {
		char c = header[i], o;

		if (c == '-') {
			o = '_';
			upper = 1;
		} else if (isalpha((unsigned char)c)) {
			o = upper ? (char)toupper((unsigned char)c)
				  : (char)tolower((unsigned char)c);
			upper = 0;
		} else if (isdigit((unsigned char)c) || c == '_') {
			o = c;
			upper = 0;
		} else {
			return -EINVAL;
		}
		out[sizeof(pfx) - 1 + i] = o;
	}
	out[sizeof(pfx) - 1 + n] = '\0';
	return 0;
}

int gw_elf_check(const void *buf, size_t len, const char **why)
{
	const unsigned char *b = buf;
	Elf64_Ehdr eh;
	int loads = 0;

	if (len < sizeof(eh) || memcmp(b, ELFMAG, SELFMAG) != 0) {
		*why = "not an ELF file";
		return -ENOEXEC;
	}
	memcpy(&eh, b, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
		*why = "not an x86-64 (ELFCLASS64, little-endian) ELF";
		return -ENOEXEC;
	}
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		*why = "not an executable ELF (ET_EXEC or static-PIE)";
		return -ENOEXEC;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff) {
		*why = "ELF program headers missing or outside the file";
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, b + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP) {
			*why = "dynamically linked ELF (has PT_INTERP): "
			       "link it with -static";
			return -ENOEXEC;
		}
		if (ph.p_type == PT_LOAD) {
			if (ph.p_offset > len ||
			    ph.p_filesz > len - ph.p_offset) {
				*why = "ELF segment outside the file";
				return -ENOEXEC;
			}
			loads++;
		}
	}
	if (loads == 0) {
		*why = "ELF has no loadable segment";
		return -ENOEXEC;
	}
	return 0;
}

int gw_argv0_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > GW_ARGV0_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("._+-", s[i])))
			return 0;
	return 1;
}

int gw_digest_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

/* A JSON integer in [lo, hi] at key, or def when absent. */
static int int_field(json_t *o, const char *key, json_int_t lo, json_int_t hi,
		     json_int_t def, json_int_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		snprintf(err, errlen, "%s must be an integer in [%lld, %lld]",
			 key, (long long)lo, (long long)hi);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

static int str_ok(const char *s)
{
	return strlen(s) <= GW_STR_MAX;
}

/* An env name as a POSIX shell would take it: [A-Za-z_][A-Za-z0-9_]*. */
static int env_name_ok(const char *k)
{
	if (!k[0] || isdigit((unsigned char)k[0]) || strlen(k) > 256)
		return 0;
	for (const char *p = k; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return 0;
	return 1;
}

static int hex_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

json_t *gw_deploy_parse(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *in, *out = NULL, *argv, *env, *v;
	json_int_t mem, tmo, maxout, replicas;
	const char *name, *digest, *arch = "x86_64";

	in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!in || !json_is_object(in)) {
		snprintf(err, errlen, "body is not a JSON object%s%s",
			 in ? "" : ": ", in ? "" : jerr.text);
		goto fail;
	}
	v = json_object_get(in, "name");
	if (!v)
		v = json_object_get(in, "service"); /* OpenFaaS's key */
	name = json_string_value(v);
	if (!name || !gw_name_valid(name)) {
		snprintf(err, errlen,
			 "name must be a DNS label (1-63 of a-z, 0-9, '-')");
		goto fail;
	}
	digest = json_string_value(json_object_get(in, "digest"));
	if (!digest || !gw_digest_valid(digest)) {
		snprintf(err, errlen,
			 "digest must be the lowercase hex SHA-256 of an "
			 "uploaded artifact (POST /system/artifacts)");
		goto fail;
	}
	v = json_object_get(in, "arch");
	if (v) {
		arch = json_string_value(v);
		if (!arch || strcmp(arch, "x86_64") != 0) {
			snprintf(err, errlen, "arch must be \"x86_64\"");
			goto fail;
		}
	}
	if (int_field(in, "mem_mib", GW_MEM_MIN_MIB, GW_MEM_MAX_MIB,
		      SK_DEF_MEM_MIB, &mem, err, errlen) ||
	    int_field(in, "timeout_ms", GW_TIMEOUT_MIN_MS, GW_TIMEOUT_MAX_MS,
		      SK_DEF_TIMEOUT_MS, &tmo, err, errlen) ||
	    int_field(in, "max_output", 0, (json_int_t)SK_OUTPUT_MAX,
		      (json_int_t)SK_DEF_MAX_OUTPUT, &maxout, err, errlen) ||
	    int_field(in, "replicas", 1, 3, 1, &replicas, err, errlen))
		goto fail;

	argv = json_array();
	env = json_object();
	out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "name",
			name, "digest", digest, "arch", arch, "mem_mib", mem,
			"timeout_ms", tmo, "max_output", maxout, "replicas",
			replicas, "argv", argv, "env", env);
	if (!out) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	v = json_object_get(in, "argv");
	if (v && !json_is_null(v)) {
		size_t i;
		json_t *a;

		if (!json_is_array(v) || json_array_size(v) > GW_ARGV_MAX) {
			snprintf(err, errlen,
				 "argv must be an array of at most %d strings",
				 GW_ARGV_MAX);
			goto fail;
		}
		for (i = 0;
		     i < json_array_size(v) && (a = json_array_get(v, i));
		     i++) {
			if (!json_is_string(a) ||
			    !str_ok(json_string_value(a))) {
				snprintf(err, errlen,
					 "argv[%zu] must be a string of at "
					 "most %d bytes",
					 i, GW_STR_MAX);
				goto fail;
			}
			json_array_append(argv, a);
		}
	}
	v = json_object_get(in, "env");
	if (!v)
		v = json_object_get(in, "envVars"); /* OpenFaaS's key */
	if (v && !json_is_null(v)) {
		const char *k;
		json_t *e;

		if (!json_is_object(v) || json_object_size(v) > GW_ENV_MAX) {
			snprintf(err, errlen,
				 "env must be an object of at most %d strings",
				 GW_ENV_MAX);
			goto fail;
		}
		for (void *it = json_object_iter(v); it;
		     it = json_object_iter_next(v, it)) {
			k = json_object_iter_key(it);
			e = json_object_iter_value(it);
			if (!env_name_ok(k) || !json_is_string(e) ||
			    !str_ok(json_string_value(e))) {
				snprintf(err, errlen,
					 "env: bad entry (names "
					 "[A-Za-z_][A-Za-z0-9_]*, values "
					 "strings "
					 "of at most %d bytes)",
					 GW_STR_MAX);
				goto fail;
			}
			json_object_set(env, k, e);
		}
	}
	v = json_object_get(in, "argv0");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    !gw_argv0_valid(json_string_value(v))) {
			snprintf(err, errlen,
				 "argv0 must be 1-%d of [A-Za-z0-9._+-]",
				 GW_ARGV0_MAX);
			goto fail;
		}
		json_object_set(out, "argv0", v);
	}
	/* A code signature (sukima deploy --sign): checked by gw_api. */
	v = json_object_get(in, "sig");
	if (v && !json_is_null(v)) {
		json_t *who = json_object_get(in, "signer");

		if (!json_is_string(v) || !hex_ok(json_string_value(v), 128) ||
		    !json_is_string(who) ||
		    !hex_ok(json_string_value(who), 64)) {
			snprintf(err, errlen,
				 "sig must be 128 and signer 64 lowercase hex "
				 "digits (an Ed25519 signature and its key)");
			goto fail;
		}
		json_object_set(out, "sig", v);
		json_object_set(out, "signer", who);
	}
	json_decref(in);
	return out;
fail:
	json_decref(out);
	json_decref(in);
	return NULL;
}
