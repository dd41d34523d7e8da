/* cmd_logs.c: `sukima logs [NAME] [--follow] [--since DUR]`: invocation records (activations) from GET /system/logs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_http.h"

#define FOLLOW_POLL_MS 1000

static void usage(FILE *f)
{
	fprintf(f, "usage: sukima logs [NAME] [--follow] [--since DURATION] "
		   "[--limit N] [--gateway URL] [--json]\n"
		   "  invocation records of NAME (all functions without it), "
		   "oldest first;\n"
		   "  --since 10m: only the last 10 minutes (s, m, h, d); "
		   "--follow: keep printing new ones\n"
		   "  --json: the API's answer (with --follow: one record per "
		   "line)\n");
}

/* A duration the gateway takes: digits[.digits] then ms, s, m, h or d. */
static int since_ok(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0 || v > 1e7)
		return 0;
	return !*end || !strcmp(end, "ms") || !strcmp(end, "s") ||
	       !strcmp(end, "m") || !strcmp(end, "h") || !strcmp(end, "d");
}

static void print_time(long long us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%s.%03lldZ", buf, us % 1000000 / 1000);
}

static void print_dur(double s)
{
	if (s < 0.001)
		printf("%.0fus", s * 1e6);
	else if (s < 1)
		printf("%.2fms", s * 1e3);
	else
		printf("%.3fs", s);
}

static void print_record(json_t *r, int json)
{
	const char *reason = json_string_value(json_object_get(r, "reason"));
	const char *worker = json_string_value(json_object_get(r, "worker"));
	json_t *err = json_object_get(r, "stderr"), *line;
	size_t i;

	if (json) {
		char *s = json_dumps(r, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		return;
	}
	print_time((long long)json_integer_value(
		json_object_get(r, "ended_at_us")));
	printf(" %s v%lld %s %-9s ",
	       json_string_value(json_object_get(r, "function")) ?: "?",
	       (long long)json_integer_value(json_object_get(r, "version")),
	       json_string_value(json_object_get(r, "id")) ?: "?",
	       json_string_value(json_object_get(r, "status")) ?: "?");
	if (json_object_get(r, "duration_seconds"))
		print_dur(json_number_value(
			json_object_get(r, "duration_seconds")));
	else
		printf("-");
	printf(" attempts=%lld worker=%.12s",
	       (long long)json_integer_value(json_object_get(r, "attempts")),
	       worker && *worker ? worker : "-");
	if (reason && *reason)
		printf(" reason=\"%s\"", reason);
	printf("\n");
	json_array_foreach(err, i, line)
	{
		printf("    | %s\n", json_string_value(line) ?: "");
	}
}

/*
 * One GET /system/logs; prints the records and returns 0 with (*cursor)
 * set, or the exit status of a failure (printed when (loud)).
 */
static int fetch(const char *gw, const char *name, const char *since, int limit,
		 long long after, int json, int follow, long long *cursor,
		 int loud)
{
	char path[512];
	struct cli_resp r;
	json_t *j, *a, *rec;
	size_t i;
	int n, rc;

	n = snprintf(path, sizeof(path), "/system/logs?limit=%d", limit);
	if (name)
		n += snprintf(path + n, sizeof(path) - (size_t)n,
			      "&function=%.100s", name);
	if (since)
		n += snprintf(path + n, sizeof(path) - (size_t)n,
			      "&since=%.40s", since);
	if (after >= 0)
		snprintf(path + n, sizeof(path) - (size_t)n, "&after=%lld",
			 after);
	rc = cli_request(gw, "GET", path, NULL, NULL, 0, 30, &r);
	if (rc || r.status / 100 != 2) {
		int ret = loud ? cli_fail("logs", gw, rc, &r) : 1;
		cli_resp_free(&r);
		return ret;
	}
	j = cli_json("logs", &r);
	cli_resp_free(&r);
	if (!j)
		return 1;
	a = json_object_get(j, "invocations");
	if (json && !follow) {
		cli_print_json(j);
	} else {
		json_array_foreach(a, i, rec)
		{
			print_record(rec, json);
		}
	}
	fflush(stdout);
	*cursor = (long long)json_integer_value(json_object_get(j, "cursor"));
	json_decref(j);
	return 0;
}

int cmd_logs(int argc, char **argv)
{
	static const struct option lo[] = {
		{"gateway", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"follow", no_argument, NULL, 'f'},
		{"since", required_argument, NULL, 's'},
		{"limit", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *gwopt = NULL, *since = NULL, *name = NULL, *gw;
	int json = 0, follow = 0, limit = 50, c, ret, warned = 0;
	long long cursor = -1;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fhn:", lo, NULL)) != -1) {
		switch (c) {
		case 'g':
			gwopt = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'f':
			follow = 1;
			break;
		case 's':
			if (!since_ok(optarg)) {
				fprintf(stderr,
					"sukima logs: bad --since '%s' (30s, "
					"10m, 2h, 1d)\n",
					optarg);
				return 2;
			}
			since = optarg;
			break;
		case 'n':
			limit = (int)strtol(optarg, &end, 10);
			if (*end || limit < 1 || limit > 500) {
				fprintf(stderr, "sukima logs: --limit must be "
						"1..500\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	if (argc - optind == 1)
		name = argv[optind];
	gw = cli_gateway(gwopt);
	ret = fetch(gw, name, since, limit, -1, json, follow, &cursor, 1);
	if (ret || !follow)
		return ret;
	for (;;) {
		long long prev;

		usleep(FOLLOW_POLL_MS * 1000);
		/* Drain what completed meanwhile, a page at a time. */
		do {
			prev = cursor;
			ret = fetch(gw, name, since, 500, prev, json, 1,
				    &cursor, 0);
			if (ret) {
				if (!warned)
					fprintf(stderr,
						"sukima logs: gateway %s not "
						"answering; still trying\n",
						gw);
				warned = 1;
				break;
			}
			warned = 0;
		} while (cursor > prev);
	}
}
