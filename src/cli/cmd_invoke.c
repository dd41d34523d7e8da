/* cmd_invoke.c: `sukima invoke NAME`: stdin -> request body, response -> stdout. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_http.h"

#define INVOKE_BODY_MAX (256u << 20)
#define INVOKE_HDRS_MAX 64

static void usage(FILE *f)
{
	fprintf(f, "usage: sukima invoke NAME [--async] [-H K:V]... "
		   "[--path /P] [--query Q]\n"
		   "                     [--callback URL] [--method M] "
		   "[--gateway URL] [--json]\n"
		   "  stdin is the request body; the function's stdout is "
		   "written to stdout.\n"
		   "  --async prints the call id (see: sukima status ID).\n");
}

int cmd_invoke(int argc, char **argv)
{
	static const struct option lo[] = {
		{"async", no_argument, NULL, 'A'},
		{"header", required_argument, NULL, 'H'},
		{"path", required_argument, NULL, 'p'},
		{"query", required_argument, NULL, 'q'},
		{"callback", required_argument, NULL, 'c'},
		{"method", required_argument, NULL, 'X'},
		{"gateway", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *gwopt = NULL, *sub = "", *query = NULL, *method = "POST";
	const char *hdrs[INVOKE_HDRS_MAX + 2];
	char *cbhdr = NULL, *path = NULL, *body = NULL;
	size_t blen = 0, plen;
	int nh = 0, async = 0, json = 0, c, rc, ret = 2;
	struct cli_resp r = {0};
	const char *gw, *name;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hH:X:", lo, NULL)) != -1) {
		switch (c) {
		case 'A':
			async = 1;
			break;
		case 'H': {
			const char *colon = strchr(optarg, ':');
			if (!colon || colon == optarg ||
			    strpbrk(optarg, "\r\n")) {
				fprintf(stderr,
					"sukima invoke: -H wants K:V, got "
					"'%s'\n",
					optarg);
				goto out;
			}
			if (nh >= INVOKE_HDRS_MAX) {
				fprintf(stderr,
					"sukima invoke: too many headers\n");
				goto out;
			}
			hdrs[nh++] = optarg;
			break;
		}
		case 'p':
			sub = optarg;
			break;
		case 'q':
			query = optarg;
			break;
		case 'c':
			free(cbhdr);
			cbhdr = malloc(strlen(optarg) + 32);
			if (!cbhdr)
				goto out;
			sprintf(cbhdr, "X-Callback-Url: %s", optarg);
			break;
		case 'X':
			method = optarg;
			break;
		case 'g':
			gwopt = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		goto out;
	}
	name = argv[optind];
	if (cbhdr)
		hdrs[nh++] = cbhdr;
	hdrs[nh] = NULL;
	gw = cli_gateway(gwopt);
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "sukima invoke: reading the request from stdin "
				"(Ctrl-D to end)\n");
	rc = cli_read_all(STDIN_FILENO, INVOKE_BODY_MAX, &body, &blen);
	if (rc) {
		fprintf(stderr, "sukima invoke: reading stdin: %s\n",
			strerror(-rc));
		ret = 1;
		goto out;
	}
	plen = strlen(name) + strlen(sub) + (query ? strlen(query) : 0) + 32;
	path = malloc(plen);
	if (!path)
		goto out;
	snprintf(path, plen, "/%s/%s%s%s%s",
		 async ? "async-function" : "function", name,
		 sub[0] && sub[0] != '/' ? "/" : "", sub, "");
	if (query) {
		strcat(path, "?");
		strcat(path, query);
	}
	rc = cli_request(gw, async ? "POST" : method, path, hdrs, body, blen, 0,
			 &r);
	if (rc || r.status / 100 != 2) {
		ret = cli_fail("invoke", gw, rc, &r);
		goto out;
	}
	if (async) {
		if (json)
			printf("{\"id\":\"%s\",\"status\":\"queued\"}\n",
			       r.call_id);
		else
			printf("%s\n", r.call_id);
	} else if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s%}", "id", r.call_id,
				      "duration_seconds", r.duration, "output",
				      r.body, r.len);
		if (!o) /* not UTF-8: the raw bytes, then */
			fwrite(r.body, 1, r.len, stdout);
		else
			cli_print_json(o);
		json_decref(o);
	} else {
		fwrite(r.body, 1, r.len, stdout);
	}
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	cli_resp_free(&r);
	free(body);
	free(path);
	free(cbhdr);
	return ret;
}
