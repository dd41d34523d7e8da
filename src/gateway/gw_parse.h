/* gw_parse.h: pure parsers of the gateway (routes, names, headers, ELF, deploy JSON). */
#ifndef SUKIMA_GW_PARSE_H
#define SUKIMA_GW_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Methods as a bit set, so a route can accept several. */
enum {
	GW_GET = 1 << 0,
	GW_POST = 1 << 1,
	GW_PUT = 1 << 2,
	GW_DELETE = 1 << 3,
	GW_HEAD = 1 << 4,
	GW_OTHER = 1 << 5,
};

/* Token scopes (issue 8); every route names the scope it needs. */
enum gw_scope {
	GW_SCOPE_NONE = 0, /* health, info */
	GW_SCOPE_INVOKE,
	GW_SCOPE_DEPLOY,
	GW_SCOPE_ADMIN,
};

enum gw_route_id {
	GW_R_HEALTHZ,
	GW_R_INFO,
	GW_R_FUNCTIONS,	 /* /system/functions */
	GW_R_FUNCTION,	 /* /system/function/{name} */
	GW_R_ARTIFACTS,	 /* /system/artifacts */
	GW_R_INVOKE,	 /* /function/{name}[/rest] */
	GW_R_ASYNC,	 /* /async-function/{name}[/rest] */
	GW_R_INVOCATION, /* /system/invocations/{id} */
	GW_R_NODES,	 /* /system/nodes */
	GW_R_NODE,	 /* /system/nodes/{id}/drain */
	GW_R_METRICS,	 /* /metrics (gw_metrics.c) */
	GW_R_LOGS,	 /* /system/logs (gw_logs.c) */
	GW_R_UI,	 /* /ui, /ui/app.js, /ui/style.css (gw_ui.c) */
	GW_R_TOKENS,	 /* /system/tokens (gw_auth.c) */
	GW_R_TOKEN,	 /* /system/tokens/{id} (gw_auth.c) */
	GW_R__COUNT,
};

#define GW_NAME_MAX 63 /* a DNS label */
#define GW_ID_MAX   64

struct gw_route {
	const char *prefix; /* "/system/functions", "/function/" */
	int param; /* 0: exact path; 1: {name}; 2: {name}[/rest]; 3: {id} */
	unsigned methods; /* GW_GET | ... */
	enum gw_route_id id;
	enum gw_scope scope;
};

struct gw_match {
	const struct gw_route *route;
	char name[GW_ID_MAX + 1]; /* function name or invocation id */
	const char *rest;	  /* "/sub/path" inside the url, or "" */
};

/* The routing table, terminated by a NULL prefix. */
extern const struct gw_route gw_routes[];

/* Method name -> GW_* bit (GW_OTHER for anything unknown). */
unsigned gw_method_bit(const char *method);

/*
 * Match (method, path) against gw_routes.  path excludes the query string.
 * Returns 0 and fills m; -ENOENT (404: no such path); -EMSGSIZE (400: bad
 * name or id); -EPERM (405: path exists, method not allowed; *allowed gets
 * the methods that are).
 */
int gw_route_match(unsigned method, const char *path, struct gw_match *m,
		   unsigned *allowed);

/* "GET, POST" for an Allow header. */
void gw_methods_str(unsigned methods, char *out, size_t outlen);

/* A function name is a DNS label: 1-63 of [a-z0-9-], no leading/trailing '-'. */
int gw_name_valid(const char *name);
/* An invocation id: 1-64 of [A-Za-z0-9_-]. */
int gw_id_valid(const char *id);

/*
 * HTTP header name -> watchdog env name (out, outlen): Go's canonical form
 * ("content-type" -> "Content-Type"), '-' -> '_', prefixed "Http_".
 * Returns 0, or -EINVAL for a name that cannot be an env name (any byte
 * outside [A-Za-z0-9_-], empty) or -ENOSPC when out is too small.
 */
int gw_header_env_name(const char *header, char *out, size_t outlen);

/*
 * Is buf (len) a static x86-64 ELF executable?  ELFCLASS64, little endian,
 * EM_X86_64, ET_EXEC or ET_DYN, program headers inside the file, at least one
 * PT_LOAD and no PT_INTERP.  Returns 0, or -ENOEXEC with *why set to a
 * one-line reason.
 */
int gw_elf_check(const void *buf, size_t len, const char **why);

/* A program name for argv[0]: 1-64 of [A-Za-z0-9._+-], not "." or "..". */
#define GW_ARGV0_MAX 64
int gw_argv0_valid(const char *s);

/* Lowercase hex SHA-256 (64 chars)? */
int gw_digest_valid(const char *s);

/* Limits applied to a deploy request. */
#define GW_MEM_MIN_MIB	  1
#define GW_MEM_MAX_MIB	  4096
#define GW_TIMEOUT_MIN_MS 1
#define GW_TIMEOUT_MAX_MS (15 * 60 * 1000)
#define GW_ARGV_MAX	  64
#define GW_ENV_MAX	  64
#define GW_STR_MAX	  4096

/*
 * Validate a deploy request body (JSON) and return the function JSON to
 * store, minus version/created (filled by the caller).  Accepted keys:
 * name (or service), digest, mem_mib, timeout_ms, max_output, argv, env
 * (object of strings), arch, replicas, argv0.  Returns a new object (the caller
 * owns it) or NULL with err (errlen) set to a one-line reason.
 */
json_t *gw_deploy_parse(const char *body, size_t len, char *err, size_t errlen);

#endif
