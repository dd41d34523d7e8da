/* cli_http.h: the HTTP client side of the sukima command (libcurl), shared by deploy/invoke/ls/... */
#ifndef SUKIMA_CLI_HTTP_H
#define SUKIMA_CLI_HTTP_H

#include <stddef.h>

#include <jansson.h>

#define CLI_DEFAULT_GATEWAY "http://127.0.0.1:8080"

/* A response: status, body (NUL-terminated, may hold NULs), X-Call-Id. */
struct cli_resp {
	long status;
	char *body;
	size_t len;
	char call_id[80];
	char duration[32];
};

/* (opt) if set, else $SUKIMA_GATEWAY, else CLI_DEFAULT_GATEWAY. */
const char *cli_gateway(const char *opt);

/*
 * One request to the gateway (gw) + (path).  (headers) is a NULL-terminated
 * list of "Name: value" lines (may be NULL); (body, len) is sent when body
 * is non-NULL.  Returns 0 with (*out) filled (any HTTP status), or -errno:
 * -ECONNREFUSED (nobody listening / unresolvable), -ETIMEDOUT, -EIO.
 */
int cli_request(const char *gw, const char *method, const char *path,
		const char *const *headers, const void *body, size_t len,
		long timeout_s, struct cli_resp *out);
void cli_resp_free(struct cli_resp *r);

/*
 * Print one line for a failed request on stderr ("sukima CMD: ...") and
 * return the exit status to use: 1 for HTTP errors, 3 when the gateway is
 * unreachable (with how to start one).
 */
int cli_fail(const char *cmd, const char *gw, int rc, const struct cli_resp *r);

/* Parse (r)'s body as JSON; NULL with a message on stderr if it is not. */
json_t *cli_json(const char *cmd, const struct cli_resp *r);

/* Print (j) indented on stdout. */
void cli_print_json(json_t *j);

/* Read all of (fd) into a malloc'd buffer, at most (max) bytes. */
int cli_read_all(int fd, size_t max, char **buf, size_t *len);

#endif
