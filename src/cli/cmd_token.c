/* cmd_token.c: `sukima token create|ls|revoke`: gateway tokens through the admin API. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_init.h"
#include "common/sk_nats.h"
#include "common/sk_token.h"
#include "common/sk_util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sukima token create [--scope invoke|deploy|admin]... "
		"[--ttl DURATION]\n"
		"                           [--rate N[/s]] [--name NAME]\n"
		"       sukima token ls\n"
		"       sukima token revoke ID\n"
		"       sukima token import FILE [--nats URL] [--scope S]... "
		"(NATS side: stores\n"
		"         a token file of `sukima init` in sk_tokens; NATS "
		"login "
		"from $SUKIMA_NATS_CREDS)\n"
		"  common: [--gateway URL] [--json]; the caller's token comes "
		"from --token or\n"
		"  $SUKIMA_TOKEN and needs the admin scope.  create prints "
		"the new token (once).\n");
}

int cli_token_seed(struct sk_nats *n, const char *tok, unsigned scopes,
		   const char *name)
{
	struct sk_token t;
	kvStore *kv = NULL;
	kvConfig kc;
	char *txt;
	natsStatus s;

	memset(&t, 0, sizeof(t));
	if (sk_token_id(tok, t.id))
		return -EINVAL;
	sk_token_hash(tok, t.hash);
	t.scopes = scopes;
	t.created_us = sk_now_us();
	snprintf(t.name, sizeof(t.name), "%s", name);
	if (js_KeyValue(&kv, n->js, SK_TOKEN_BUCKET) != NATS_OK) {
		kvConfig_Init(&kc);
		kc.Bucket = SK_TOKEN_BUCKET;
		kc.History = 1;
		kc.StorageType = js_FileStorage;
		if (js_CreateKeyValue(&kv, n->js, &kc) != NATS_OK &&
		    js_KeyValue(&kv, n->js, SK_TOKEN_BUCKET) != NATS_OK)
			return -EIO;
	}
	txt = sk_token_json(&t);
	s = txt ? kvStore_PutString(NULL, kv, t.id, txt) : NATS_NO_MEMORY;
	free(txt);
	kvStore_Destroy(kv);
	return s == NATS_OK ? 0 : -EIO;
}

/* `token import FILE`: store a token written by `sukima init` in NATS. */
static int do_import(const char *file, const char *url, json_t *scopes,
		     const char *name)
{
	struct sk_nats_opts no = {
		.urls = url, .name = "sukima-token", .connect_wait_ms = 5000};
	struct sk_nats *n = NULL;
	unsigned bits = 0;
	char tok[SK_TOKEN_LEN + 8] = "";
	json_t *v;
	size_t i;
	FILE *f = fopen(file, "re");
	int rc;

	if (!f || !fgets(tok, sizeof(tok), f)) {
		fprintf(stderr, "sukima token import: cannot read %s\n", file);
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	tok[strcspn(tok, "\r\n")] = '\0';
	json_array_foreach(scopes, i, v) bits |=
		sk_scope_parse(json_string_value(v));
	rc = sk_nats_connect(&n, &no);
	if (rc) {
		fprintf(stderr,
			"sukima token import: cannot connect to %s: %s\n", url,
			strerror(-rc));
		return 3;
	}
	rc = cli_token_seed(n, tok, bits ? bits : SK_SCOPE_ADMIN, name);
	sk_nats_close(n);
	explicit_bzero(tok, sizeof(tok));
	if (rc) {
		fprintf(stderr, "sukima token import: %s\n",
			rc == -EINVAL ? "not a token" : strerror(-rc));
		return 1;
	}
	return 0;
}

static void when(int64_t us, char *out, size_t cap)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (!us) {
		snprintf(out, cap, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int do_create(const char *gw, json_t *req, int as_json)
{
	struct cli_resp r;
	const char *hdr[] = {"Content-Type: application/json", NULL};
	char *body = json_dumps(req, JSON_COMPACT);
	json_t *j;
	int rc;

	if (!body)
		return 1;
	rc = cli_request(gw, "POST", "/system/tokens", hdr, body, strlen(body),
			 30, &r);
	free(body);
	if (rc || r.status != 201) {
		rc = cli_fail("token create", gw, rc, &r);
		cli_resp_free(&r);
		return rc;
	}
	j = cli_json("token create", &r);
	cli_resp_free(&r);
	if (!j)
		return 1;
	if (as_json)
		cli_print_json(j);
	else
		printf("%s\n", json_string_value(json_object_get(j, "token")));
	json_decref(j);
	return 0;
}

static int do_ls(const char *gw, int as_json)
{
	struct cli_resp r;
	json_t *j, *t;
	size_t i;
	int rc =
		cli_request(gw, "GET", "/system/tokens", NULL, NULL, 0, 30, &r);

	if (rc || r.status != 200) {
		rc = cli_fail("token ls", gw, rc, &r);
		cli_resp_free(&r);
		return rc;
	}
	j = cli_json("token ls", &r);
	cli_resp_free(&r);
	if (!j)
		return 1;
	if (as_json) {
		cli_print_json(j);
		json_decref(j);
		return 0;
	}
	printf("%-16s  %-12s  %-20s  %-20s  %s\n", "ID", "NAME", "SCOPES",
	       "EXPIRES", "RATE/S");
	json_array_foreach(j, i, t)
	{
		char scopes[64] = "", exp[32];
		json_t *s;
		size_t k;
		double rate = json_number_value(json_object_get(t, "rate"));

		json_array_foreach(json_object_get(t, "scopes"), k, s)
		{
			if (k)
				strncat(scopes, ",",
					sizeof(scopes) - strlen(scopes) - 1);
			strncat(scopes,
				json_string_value(s) ? json_string_value(s)
						     : "?",
				sizeof(scopes) - strlen(scopes) - 1);
		}
		when(json_integer_value(json_object_get(t, "expires_us")), exp,
		     sizeof(exp));
		printf("%-16s  %-12s  %-20s  %-20s  %g\n",
		       json_string_value(json_object_get(t, "id"))
			       ? json_string_value(json_object_get(t, "id"))
			       : "?",
		       json_string_value(json_object_get(t, "name"))
			       ? json_string_value(json_object_get(t, "name"))
			       : "",
		       scopes, exp, rate);
	}
	json_decref(j);
	return 0;
}

static int do_revoke(const char *gw, const char *id)
{
	struct cli_resp r;
	char path[128];
	int rc;

	if (strlen(id) != SK_TOKEN_ID_LEN) {
		/* Accept the token itself too: its id is inside. */
		char tid[SK_TOKEN_ID_LEN + 1];
		if (sk_token_id(id, tid)) {
			fprintf(stderr,
				"sukima token revoke: '%s' is neither a token "
				"id (16 hex) nor a token\n",
				id);
			return 2;
		}
		snprintf(path, sizeof(path), "/system/tokens/%s", tid);
	} else {
		snprintf(path, sizeof(path), "/system/tokens/%s", id);
	}
	rc = cli_request(gw, "DELETE", path, NULL, NULL, 0, 30, &r);
	if (rc || r.status != 204) {
		rc = cli_fail("token revoke", gw, rc, &r);
		cli_resp_free(&r);
		return rc;
	}
	cli_resp_free(&r);
	return 0;
}

int cmd_token(int argc, char **argv)
{
	static const struct option lo[] = {
		{"scope", required_argument, NULL, 's'},
		{"ttl", required_argument, NULL, 't'},
		{"rate", required_argument, NULL, 'r'},
		{"name", required_argument, NULL, 'n'},
		{"gateway", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"nats", required_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *gwopt = NULL, *sub, *name = "imported";
	const char *nats = getenv("SUKIMA_NATS") ? getenv("SUKIMA_NATS")
						 : "nats://127.0.0.1:4222";
	json_t *req = json_object(), *scopes = json_array();
	int c, as_json = 0, rc = 2;
	int64_t ttl;
	char *end;
	double rate;

	if (!req || !scopes)
		goto out;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!sk_scope_parse(optarg)) {
				fprintf(stderr,
					"sukima token: unknown scope '%s' "
					"(invoke, deploy, admin)\n",
					optarg);
				goto out;
			}
			json_array_append_new(scopes, json_string(optarg));
			break;
		case 't':
			if (sk_parse_duration_us(optarg, &ttl)) {
				fprintf(stderr,
					"sukima token: bad --ttl '%s' (e.g. "
					"30s, 10m, 12h, 30d)\n",
					optarg);
				goto out;
			}
			json_object_set_new(req, "ttl_s",
					    json_real((double)ttl / 1e6));
			break;
		case 'r':
			rate = strtod(optarg, &end);
			if (end == optarg || (*end && strcmp(end, "/s")) ||
			    !(rate > 0) || rate > 1e6) {
				fprintf(stderr,
					"sukima token: bad --rate '%s' (e.g. "
					"10 or 10/s)\n",
					optarg);
				goto out;
			}
			json_object_set_new(req, "rate", json_real(rate));
			break;
		case 'n':
			json_object_set_new(req, "name", json_string(optarg));
			name = optarg;
			break;
		case 'N':
			nats = optarg;
			break;
		case 'g':
			gwopt = optarg;
			break;
		case 'j':
			as_json = 1;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		goto out;
	}
	sub = argv[optind];
	if (!strcmp(sub, "create") && optind + 1 == argc) {
		if (json_array_size(scopes) == 0)
			json_array_append_new(scopes, json_string("invoke"));
		json_object_set(req, "scopes", scopes);
		rc = do_create(cli_gateway(gwopt), req, as_json);
	} else if (!strcmp(sub, "ls") && optind + 1 == argc) {
		rc = do_ls(cli_gateway(gwopt), as_json);
	} else if (!strcmp(sub, "import") && optind + 2 == argc) {
		rc = do_import(argv[optind + 1], nats, scopes, name);
	} else if (!strcmp(sub, "revoke") && optind + 2 == argc) {
		rc = do_revoke(cli_gateway(gwopt), argv[optind + 1]);
	} else {
		usage(stderr);
	}
out:
	json_decref(scopes);
	json_decref(req);
	return rc;
}
