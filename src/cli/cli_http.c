/* cli_http.c: the HTTP client side of the sukima command (libcurl). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli_http.h"
#include "cli/cli_progress.h"

const char *cli_gateway(const char *opt)
{
	const char *e = getenv("SUKIMA_GATEWAY");

	if (opt && opt[0])
		return opt;
	if (e && e[0])
		return e;
	return CLI_DEFAULT_GATEWAY;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
	struct cli_resp *r = u;
	size_t add = sz * n;
	char *b = realloc(r->body, r->len + add + 1);

	if (!b)
		return 0;
	memcpy(b + r->len, p, add);
	r->body = b;
	r->len += add;
	b[r->len] = '\0';
	return add;
}

/* Copy the value of header "name: value\r\n" into dst when it matches. */
static void grab(const char *line, size_t n, const char *name, char *dst,
		 size_t cap)
{
	size_t nl = strlen(name);

	if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	line += nl + 1;
	n -= nl + 1;
	while (n && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, line, n);
	dst[n] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
	struct cli_resp *r = u;

	grab(p, sz * n, "X-Call-Id", r->call_id, sizeof(r->call_id));
	grab(p, sz * n, "X-Duration-Seconds", r->duration, sizeof(r->duration));
	return sz * n;
}

int cli_request(const char *gw, const char *method, const char *path,
		const char *const *headers, const void *body, size_t len,
		long timeout_s, struct cli_resp *out)
{
	CURL *h;
	struct curl_slist *hd = NULL;
	CURLcode cc;
	char *url;
	size_t gl = strlen(gw);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	while (gl && gw[gl - 1] == '/')
		gl--;
	url = malloc(gl + strlen(path) + 1);
	h = curl_easy_init();
	if (!url || !h) {
		free(url);
		if (h)
			curl_easy_cleanup(h);
		return -ENOMEM;
	}
	memcpy(url, gw, gl);
	strcpy(url + gl, path);
	for (size_t i = 0; headers && headers[i]; i++)
		hd = curl_slist_append(hd, headers[i]);
	hd = curl_slist_append(hd, "Expect:");
	/* Bearer token (--token or $SUKIMA_TOKEN) and the private CA. */
	if (getenv("SUKIMA_TOKEN") && *getenv("SUKIMA_TOKEN")) {
		char auth[256];

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 getenv("SUKIMA_TOKEN"));
		hd = curl_slist_append(hd, auth);
	}
	if (getenv("SUKIMA_CA") && *getenv("SUKIMA_CA"))
		curl_easy_setopt(h, CURLOPT_CAINFO, getenv("SUKIMA_CA"));
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	if (timeout_s > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
		cli_progress_attach(h, len);
	}
	cc = curl_easy_perform(h);
	switch (cc) {
	case CURLE_OK:
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		rc = -ECONNREFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		rc = -ETIMEDOUT;
		break;
	default:
		rc = -EIO;
	}
	if (!out->body) {
		out->body = calloc(1, 1);
		if (!out->body)
			rc = -ENOMEM;
	}
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	free(url);
	return rc;
}

void cli_resp_free(struct cli_resp *r)
{
	free(r->body);
	r->body = NULL;
}

int cli_fail(const char *cmd, const char *gw, int rc, const struct cli_resp *r)
{
	if (rc == -ECONNREFUSED) {
		fprintf(stderr,
			"sukima %s: cannot reach the gateway at %s (start a "
			"local cloud with `make up`, or a gateway with "
			"`sukima gateway --nats nats://HOST:4222 --listen "
			"127.0.0.1:8080`; or set --gateway / "
			"SUKIMA_GATEWAY)\n",
			cmd, gw);
		return 3;
	}
	if (rc == -ETIMEDOUT) {
		fprintf(stderr,
			"sukima %s: the gateway at %s did not answer "
			"in time\n",
			cmd, gw);
		return 3;
	}
	if (rc) {
		fprintf(stderr, "sukima %s: request to %s failed: %s\n", cmd,
			gw, strerror(-rc));
		return 3;
	}
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	const char *se = json_string_value(json_object_get(j, "stderr"));

	if (msg)
		fprintf(stderr, "sukima %s: HTTP %ld: %s\n", cmd, r->status,
			msg);
	else
		fprintf(stderr, "sukima %s: HTTP %ld: %.200s\n", cmd, r->status,
			r->body);
	if (se && se[0]) {
		size_t n = strlen(se);
		fprintf(stderr, "--- function stderr (tail) ---\n%s%s", se,
			se[n - 1] == '\n' ? "" : "\n");
	}
	json_decref(j);
	return 1;
}

json_t *cli_json(const char *cmd, const struct cli_resp *r)
{
	json_error_t e;
	json_t *j = json_loadb(r->body, r->len, 0, &e);

	if (!j)
		fprintf(stderr, "sukima %s: the gateway sent bad JSON: %s\n",
			cmd, e.text);
	return j;
}

void cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s) {
		puts(s);
		free(s);
	}
}

int cli_read_all(int fd, size_t max, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap + 1);

	if (!b)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= max + 1) {
				free(b);
				return -EFBIG;
			}
			cap *= 2;
			char *nb = realloc(b, cap + 1);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(b);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(b);
			return -EFBIG;
		}
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}
