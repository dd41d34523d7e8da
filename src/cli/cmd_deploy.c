/* cmd_deploy.c: `sukima deploy NAME ELF`: upload the artifact, then register the function. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_manifest.h"
#include "common/sk_sign.h"
#include "common/sk_util.h"

#define ELF_MAX (1ULL << 30)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sukima deploy NAME ELF [--mem SIZE] [--timeout DUR] "
		"[--env K=V]... [--arg A]...\n"
		"                     [--max-output SIZE] [--gateway URL] "
		"[--json]\n"
		"       sukima deploy -f sukima.yml [--filter NAME] "
		"[--no-build] "
		"[--gateway URL] [--json]\n"
		"  NAME   a DNS label (a-z, 0-9, '-')\n"
		"  ELF    a static x86-64 Linux executable\n"
		"  --mem 64M        guest memory (plain number: MiB)\n"
		"  --timeout 10s    wall-clock limit (ms, s, m; plain number: "
		"seconds)\n"
		"  --env K=V        environment variable (repeatable)\n"
		"  --arg A          argument after argv[0] (repeatable)\n"
		"  --argv0 NAME     argv[0] the function sees (default: the "
		"ELF's file name)\n"
		"  --sign KEY       sign (name, SHA-256) with an Ed25519 "
		"secret key (sukima keygen)\n"
		"  --replicas N     run each call on N distinct workers (2 or "
		"3), majority wins\n");
}

/* "500ms", "10s", "2m", "10" (seconds) -> ms. */
int cli_parse_duration_ms(const char *s, long long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if (strcmp(end, "ms") != 0)
		return -EINVAL;
	if (v < 1 || v > 24.0 * 3600 * 1000)
		return -EINVAL;
	*ms = (long long)v;
	return 0;
}

int cmd_deploy(int argc, char **argv)
{
	static const struct option lo[] = {
		{"mem", required_argument, NULL, 'm'},
		{"timeout", required_argument, NULL, 't'},
		{"env", required_argument, NULL, 'e'},
		{"arg", required_argument, NULL, 'a'},
		{"max-output", required_argument, NULL, 'o'},
		{"argv0", required_argument, NULL, '0'},
		{"sign", required_argument, NULL, 'S'},
		{"replicas", required_argument, NULL, 'R'},
		{"gateway", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *gwopt = NULL, *name, *path, *keyfile = NULL;
	json_t *req = json_object(), *args = json_array(), *env = json_object();
	struct cli_resp r = {0};
	char *elf = NULL, *txt = NULL;
	size_t elflen = 0;
	int c, fd, rc, json = 0, ret = 2;
	const char *gw;

	if (cli_manifest_wanted(argc, argv)) {
		ret = cli_manifest_deploy(argc, argv);
		goto out;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		uint64_t v;
		long long ms;
		char *eq;

		switch (c) {
		case 'm':
			if (strspn(optarg, "0123456789") == strlen(optarg)) {
				v = strtoull(optarg, NULL, 10) << 20;
			} else if (sk_parse_size(optarg, &v)) {
				fprintf(stderr,
					"sukima deploy: bad --mem '%s'\n",
					optarg);
				goto out;
			}
			json_object_set_new(
				req, "mem_mib",
				json_integer((json_int_t)(v >> 20)));
			break;
		case 't':
			if (cli_parse_duration_ms(optarg, &ms)) {
				fprintf(stderr,
					"sukima deploy: bad --timeout '%s' "
					"(e.g. 500ms, 10s, 2m)\n",
					optarg);
				goto out;
			}
			json_object_set_new(req, "timeout_ms",
					    json_integer(ms));
			break;
		case 'o':
			if (sk_parse_size(optarg, &v)) {
				fprintf(stderr,
					"sukima deploy: bad --max-output "
					"'%s'\n",
					optarg);
				goto out;
			}
			json_object_set_new(req, "max_output",
					    json_integer((json_int_t)v));
			break;
		case 'e':
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				fprintf(stderr,
					"sukima deploy: --env wants K=V, got "
					"'%s'\n",
					optarg);
				goto out;
			}
			*eq = '\0';
			json_object_set_new(env, optarg, json_string(eq + 1));
			*eq = '=';
			break;
		case 'a':
			json_array_append_new(args, json_string(optarg));
			break;
		case '0':
			json_object_set_new(req, "argv0", json_string(optarg));
			break;
		case 'S':
			keyfile = optarg;
			break;
		case 'R':
			if (strcmp(optarg, "1") && strcmp(optarg, "2") &&
			    strcmp(optarg, "3")) {
				fprintf(stderr,
					"sukima deploy: --replicas must be 1, "
					"2 or 3\n");
				goto out;
			}
			json_object_set_new(req, "replicas",
					    json_integer(atoi(optarg)));
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
	if (argc - optind != 2) {
		usage(stderr);
		goto out;
	}
	name = argv[optind];
	path = argv[optind + 1];
	gw = cli_gateway(gwopt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "sukima deploy: cannot open %s: %s\n", path,
			strerror(errno));
		ret = 1;
		goto out;
	}
	rc = cli_read_all(fd, ELF_MAX, &elf, &elflen);
	close(fd);
	if (rc) {
		fprintf(stderr, "sukima deploy: cannot read %s: %s\n", path,
			strerror(-rc));
		ret = 1;
		goto out;
	}

	/* Step 1: the artifact, content-addressed (idempotent). */
	static const char *const octet[] = {
		"Content-Type: application/octet-stream", NULL};
	rc = cli_request(gw, "POST", "/system/artifacts", octet, elf, elflen, 0,
			 &r);
	if (rc || r.status / 100 != 2) {
		ret = cli_fail("deploy", gw, rc, &r);
		goto out;
	}
	json_t *a = cli_json("deploy", &r);
	const char *digest = json_string_value(json_object_get(a, "digest"));
	if (!digest) {
		json_decref(a);
		ret = 1;
		goto out;
	}
	json_object_set_new(req, "digest", json_string(digest));
	if (keyfile) {
		/* Sign what we hashed here, not what the gateway says. */
		unsigned char h[crypto_hash_sha256_BYTES];
		char mine[65], sig[SK_SIG_HEX + 1], signer[SK_SIGNER_HEX + 1];
		char err[300];

		crypto_hash_sha256(h, (const unsigned char *)elf, elflen);
		sk_hex(mine, h, sizeof(h));
		if (strcmp(mine, digest) != 0) {
			fprintf(stderr,
				"sukima deploy: the gateway stored digest "
				"%.16s..., the file has %.16s...: not "
				"signed\n",
				digest, mine);
			json_decref(a);
			ret = 1;
			goto out;
		}
		if (sk_sign_code(keyfile, name, mine, sig, signer, err,
				 sizeof(err))) {
			fprintf(stderr, "sukima deploy: --sign: %s\n", err);
			json_decref(a);
			ret = 1;
			goto out;
		}
		json_object_set_new(req, "sig", json_string(sig));
		json_object_set_new(req, "signer", json_string(signer));
	}
	json_decref(a);
	cli_resp_free(&r);

	/* Step 2: the function, version+1 if it exists. */
	json_object_set_new(req, "name", json_string(name));
	/* busybox and friends dispatch on argv[0]: keep the file's name. */
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!json_object_get(req, "argv0") && strlen(base) <= 64 &&
	    base[strspn(base, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
			      "QRSTUVWXYZ0123456789._+-")] == '\0' &&
	    strcmp(base, ".") && strcmp(base, ".."))
		json_object_set_new(req, "argv0", json_string(base));
	json_object_set(req, "argv", args);
	json_object_set(req, "env", env);
	txt = json_dumps(req, JSON_COMPACT);
	static const char *const js[] = {"Content-Type: application/json",
					 NULL};
	rc = cli_request(gw, "POST", "/system/functions", js, txt,
			 txt ? strlen(txt) : 0, 30, &r);
	if (rc || r.status / 100 != 2) {
		ret = cli_fail("deploy", gw, rc, &r);
		goto out;
	}
	json_t *f = cli_json("deploy", &r);
	if (!f) {
		ret = 1;
		goto out;
	}
	if (json)
		cli_print_json(f);
	else
		printf("deployed %s version %lld (sha256 %.12s, %lld bytes)\n",
		       name,
		       (long long)json_integer_value(
			       json_object_get(f, "version")),
		       json_string_value(json_object_get(f, "digest")),
		       (long long)json_integer_value(
			       json_object_get(f, "size")));
	json_decref(f);
	ret = 0;
out:
	cli_resp_free(&r);
	free(elf);
	free(txt);
	json_decref(req);
	json_decref(args);
	json_decref(env);
	return ret;
}
