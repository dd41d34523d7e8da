/* cmd_objstore.c: `sukima objstore`: put/get/info/rm objects in the NATS object store. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/sk_log.h"
#include "common/sk_nats.h"
#include "common/sk_objstore.h"
#include "common/sk_util.h"

static void objstore_usage(FILE *f)
{
	fprintf(f,
		"usage: sukima objstore [--nats URL] [--bucket B] put NAME "
		"FILE\n"
		"       sukima objstore [--nats URL] [--bucket B] get NAME "
		"FILE|-\n"
		"       sukima objstore [--nats URL] [--bucket B] info NAME\n"
		"       sukima objstore [--nats URL] [--bucket B] rm NAME\n"
		"An operator's and tests' view of the ADR-20 object store "
		"(default bucket %s,\nNATS from --nats or $SUKIMA_NATS, "
		"default nats://127.0.0.1:4222).\n",
		SK_OBJ_ARTIFACTS);
}

static void print_info(const struct sk_obj_info *i)
{
	char hex[65];

	sk_hex(hex, i->sha256, 32);
	printf("{\"name\":\"%s\",\"bucket\":\"%s\",\"nuid\":\"%s\",\"size\":%"
	       "llu,"
	       "\"chunks\":%u,\"sha256\":\"%s\",\"mtime\":\"%s\"}\n",
	       i->name, i->bucket, i->nuid, (unsigned long long)i->size,
	       i->chunks, hex, i->mtime);
}

int cmd_objstore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"nats", required_argument, NULL, 'n'},
		{"bucket", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *url = getenv("SUKIMA_NATS");
	const char *bucket = SK_OBJ_ARTIFACTS, *op, *name;
	struct sk_nats_opts no = {0};
	struct sk_obj_info info;
	struct sk_nats *n = NULL;
	int c, rc;

	sk_log_init("objstore", SK_LOG_WARN);
	while ((c = getopt_long(argc, argv, "+n:b:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			url = optarg;
			break;
		case 'b':
			bucket = optarg;
			break;
		case 'h':
			objstore_usage(stdout);
			return 0;
		default:
			objstore_usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2) {
		objstore_usage(stderr);
		return 2;
	}
	op = argv[optind];
	name = argv[optind + 1];
	if ((strcmp(op, "put") == 0 || strcmp(op, "get") == 0) &&
	    argc - optind < 3) {
		objstore_usage(stderr);
		return 2;
	}
	no.urls = url ? url : "nats://127.0.0.1:4222";
	no.name = "sukima-objstore";
	no.connect_wait_ms = 0;
	rc = sk_nats_connect(&n, &no);
	if (rc) {
		fprintf(stderr, "sukima objstore: cannot connect to %s: %s\n",
			no.urls, strerror(-rc));
		return 1;
	}
	rc = sk_obj_bucket_create(n, bucket);
	if (rc)
		goto out;
	if (strcmp(op, "put") == 0) {
		rc = sk_obj_put_file(n, bucket, name, argv[optind + 2], &info);
		if (rc == 0)
			print_info(&info);
	} else if (strcmp(op, "get") == 0) {
		const char *path = argv[optind + 2];
		if (strcmp(path, "-") == 0)
			rc = sk_obj_get_fd(n, bucket, name, STDOUT_FILENO,
					   &info);
		else
			rc = sk_obj_get_file(n, bucket, name, path, 0644,
					     &info);
	} else if (strcmp(op, "info") == 0) {
		rc = sk_obj_info(n, bucket, name, &info);
		if (rc == 0)
			print_info(&info);
	} else if (strcmp(op, "rm") == 0) {
		rc = sk_obj_delete(n, bucket, name);
	} else {
		objstore_usage(stderr);
		sk_nats_close(n);
		return 2;
	}
out:
	if (rc)
		fprintf(stderr, "sukima objstore: %s %s: %s\n", op, name,
			rc == -EBADMSG ? "object corrupt (digest, size or "
					 "chunks do not match its metadata)"
				       : strerror(-rc));
	sk_nats_close(n);
	return rc ? 1 : 0;
}
