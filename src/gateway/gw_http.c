/* gw_http.c: libmicrohttpd glue of the gateway: request life cycle, bounded bodies, responses. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "common/sk_log.h"
#include "gateway/gw.h"
#include "gateway/gw_auth.h"
#include "gateway/gw_obs.h"

/* JSON API bodies (deploy requests, deletes) are small. */
#define GW_API_BODY_MAX (1u << 20)

/*
 * MHD hands the access handler a decoded path without the query string;
 * Http_Query needs the raw one, so keep the URI as sent.  This callback
 * runs first for every request and its return value becomes *con_cls.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct gw_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->g = cls;
	r->conn = conn;
	r->raw_uri = strdup(uri ? uri : "");
	r->t0_us = sk_now_us();
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gw_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	/* A suspended request is never completed: gw_http_stop resumes all. */
	free(r->raw_uri);
	free(r->path);
	free(r->body);
	atomic_fetch_sub(&r->g->inflight, r->cap);
	if (r->call) {
		free(r->call->result);
		free(r->call);
	}
	for (int i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i][0]);
		free(r->hdrs[i][1]);
	}
	free(r);
	*con_cls = NULL;
}

void gw_resp_header(struct gw_req *r, const char *name, const char *value)
{
	if (r->nhdrs >= 8)
		return;
	r->hdrs[r->nhdrs][0] = strdup(name);
	r->hdrs[r->nhdrs][1] = strdup(value);
	r->nhdrs++;
}

int gw_respond(struct gw_req *r, int status, const char *ctype,
	       const void *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char allow[64];

	resp = MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(resp, "Content-Type", ctype);
	for (int i = 0; i < r->nhdrs; i++)
		if (r->hdrs[i][0] && r->hdrs[i][1])
			MHD_add_response_header(resp, r->hdrs[i][0],
						r->hdrs[i][1]);
	if (status == 405 && r->allowed) {
		gw_methods_str(r->allowed, allow, sizeof(allow));
		MHD_add_response_header(resp, "Allow", allow);
	}
	ret = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	if (status >= 100 && status < 600)
		atomic_fetch_add(&r->g->st.status[status / 100], 1);
	gw_metrics_response(r, status);
	return ret;
}

int gw_respond_json(struct gw_req *r, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int ret;

	json_decref(j);
	if (!s)
		return gw_respond(r, 500, "application/json",
				  "{\"error\":\"out of memory\"}\n", 26);
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (t) {
		s = t;
		s[n++] = '\n';
		s[n] = '\0';
	}
	ret = gw_respond(r, status, "application/json", s, n);
	free(s);
	return ret;
}

int gw_respond_error(struct gw_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return gw_respond_json(r, status, json_pack("{s:s}", "error", msg));
}

const char *gw_req_header(struct gw_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void gw_http_suspend(struct gw_req *r)
{
	MHD_suspend_connection(r->conn);
}

void gw_http_resume(struct MHD_Connection *conn)
{
	MHD_resume_connection(conn);
}

static uint64_t route_limit(const struct gw *g, const struct gw_match *m)
{
	if (!m->route)
		return GW_API_BODY_MAX;
	switch (m->route->id) {
	case GW_R_ARTIFACTS:
		return g->o.max_artifact;
	case GW_R_INVOKE:
	case GW_R_ASYNC:
		return g->o.max_body;
	default:
		return GW_API_BODY_MAX;
	}
}

/* First call for a request: route it and reject early what we can. */
static int begin(struct gw_req *r, const char *url, const char *method)
{
	struct gw *g = r->g;
	const char *cl;
	const char *q;
	int ret;

	r->started = 1;
	atomic_fetch_add(&g->st.requests, 1);
	snprintf(r->method_str, sizeof(r->method_str), "%s", method);
	r->method = gw_method_bit(method);
	r->path = strdup(url);
	q = r->raw_uri ? strchr(r->raw_uri, '?') : NULL;
	r->query = q ? q + 1 : "";
	if (!r->path || !r->raw_uri)
		return gw_respond_error(r, 500, "out of memory");
	r->match_rc = gw_route_match(r->method, r->path, &r->m, &r->allowed);
	switch (r->match_rc) {
	case 0:
		break;
	case -EPERM:
		return gw_respond_error(r, 405, "method %s not allowed on %s",
					r->method_str, r->path);
	case -EMSGSIZE:
		return gw_respond_error(
			r, 400,
			"bad name in path: a function name is a DNS label "
			"(1-63 of a-z, 0-9, '-'), an invocation id 1-64 of "
			"[A-Za-z0-9_-]");
	default:
		return gw_respond_error(r, 404, "no route for %s", r->path);
	}
	/* Tokens before bodies: a stranger's upload is never read. */
	if (gw_auth_check(r, &ret))
		return ret;
	r->limit = route_limit(g, &r->m);
	cl = gw_req_header(r, "Content-Length");
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno || end == cl || *end)
			return gw_respond_error(r, 400, "bad Content-Length");
		if (n > r->limit)
			return gw_respond_error(
				r, 413,
				"request body of %llu bytes exceeds the "
				"limit of %llu bytes",
				n, (unsigned long long)r->limit);
		if (atomic_load(&g->inflight) + n > g->o.max_inflight)
			return gw_respond_error(
				r, 503,
				"gateway busy: too many request "
				"bytes in flight, retry");
	}
	return MHD_YES;
}

/* Append upload data, never past the limit: beyond it, count and drop. */
static int absorb(struct gw_req *r, const char *data, size_t n)
{
	if (r->too_big || r->busy || r->len + n > r->limit) {
		if (!r->busy)
			r->too_big = 1;
		r->discarded += n;
		/* A client streaming forever is cut off, not drained forever. */
		if (r->discarded > r->limit + (4u << 20))
			return MHD_NO;
		return MHD_YES;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > r->limit + 1)
			cap = r->limit + 1;
		/* One budget for all requests, so 500 big bodies cannot OOM us. */
		if (atomic_fetch_add(&r->g->inflight, cap - r->cap) +
			    (cap - r->cap) >
		    r->g->o.max_inflight) {
			atomic_fetch_sub(&r->g->inflight, cap - r->cap);
			r->busy = 1;
			r->discarded += n;
			return MHD_YES;
		}
		char *b = realloc(r->body, cap);
		if (!b) {
			atomic_fetch_sub(&r->g->inflight, cap - r->cap);
			return MHD_NO;
		}
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct gw_req *r = *con_cls;

	(void)cls;
	(void)version;
	if (!r)
		return MHD_NO; /* on_uri could not allocate */
	if (!r->started)
		return (enum MHD_Result)begin(r, url, method);
	if (*upload_data_size) {
		int ret = absorb(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return (enum MHD_Result)ret;
	}
	if (r->call)
		return (enum MHD_Result)gw_api_finish_call(r);
	if (r->busy)
		return (enum MHD_Result)gw_respond_error(
			r, 503,
			"gateway busy: too many request bytes in flight, "
			"retry");
	if (r->too_big)
		return (enum MHD_Result)gw_respond_error(
			r, 413, "request body exceeds the limit of %llu bytes",
			(unsigned long long)r->limit);
	if (!r->body) {
		r->body = strdup("");
		if (!r->body)
			return MHD_NO;
	}
	return (enum MHD_Result)gw_api_dispatch(r);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	sk_debug("http: %s", msg);
}

int gw_http_start(struct gw *g)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;
	/* HTTPS (GnuTLS inside libmicrohttpd) when --tls-cert is given. */
	struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
	unsigned tls_flag = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)g->o.port);
	if (inet_pton(AF_INET, g->o.listen_addr, &sa.sin_addr) != 1) {
		sk_error("bad listen address '%s' (want an IPv4 address)",
			 g->o.listen_addr);
		return -EINVAL;
	}
	if (g->o.tls_cert) {
		g->tls_cert_pem = gw_auth_read_pem(g->o.tls_cert);
		g->tls_key_pem = gw_auth_read_pem(g->o.tls_key);
		if (!g->tls_cert_pem || !g->tls_key_pem) {
			sk_error("cannot read --tls-cert %s / --tls-key %s",
				 g->o.tls_cert, g->o.tls_key);
			return -ENOENT;
		}
		tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
						 g->tls_cert_pem};
		tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
						 g->tls_key_pem};
		tls_flag = MHD_USE_TLS;
	}
	g->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | tls_flag,
		(uint16_t)g->o.port, NULL, NULL, on_request, g,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)g->o.threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, g,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, g,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, g, MHD_OPTION_ARRAY,
		tls, MHD_OPTION_END);
	if (!g->mhd) {
		sk_error("cannot listen on %s:%u (in use or not permitted)",
			 g->o.listen_addr, g->o.port);
		return -EADDRINUSE;
	}
	di = MHD_get_daemon_info(g->mhd, MHD_DAEMON_INFO_BIND_PORT);
	if (di)
		g->o.port = di->port;
	return 0;
}

void gw_http_stop(struct gw *g)
{
	if (g->mhd)
		MHD_stop_daemon(g->mhd);
	g->mhd = NULL;
}
