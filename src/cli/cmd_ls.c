/* cmd_ls.c: `sukima ls|describe|rm|status|nodes`: read and manage the cloud through the gateway. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_http.h"

struct common_opts {
	const char *gw;
	int json;
	int output; /* status: print the raw output */
};

/* Parse --gateway/--json (and --output for status); argv[optind..] left. */
static int parse_common(const char *cmd, const char *args, int nargs, int argc,
			char **argv, struct common_opts *o)
{
	static const struct option lo[] = {
		{"gateway", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"output", no_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *gwopt = NULL;
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'g':
			gwopt = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'o':
			if (strcmp(cmd, "status") == 0) {
				o->output = 1;
				break;
			}
			/* fall through */
		case 'h':
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: sukima %s %s[--gateway URL] "
				"[--json]%s\n",
				cmd, args,
				strcmp(cmd, "status") == 0 ? " [--output]"
							   : "");
			return c == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != nargs) {
		fprintf(stderr, "usage: sukima %s %s[--gateway URL] [--json]\n",
			cmd, args);
		return 2;
	}
	o->gw = cli_gateway(gwopt);
	return -1;
}

/* GET (path) and hand back the JSON, or an exit status in *ret. */
static json_t *get_json(const char *cmd, const struct common_opts *o,
			const char *path, int *ret)
{
	struct cli_resp r;
	int rc = cli_request(o->gw, "GET", path, NULL, NULL, 0, 30, &r);
	json_t *j = NULL;

	if (rc || r.status / 100 != 2)
		*ret = cli_fail(cmd, o->gw, rc, &r);
	else if (!(j = cli_json(cmd, &r)))
		*ret = 1;
	cli_resp_free(&r);
	return j;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void join_argv(json_t *a, char *out, size_t n)
{
	size_t i, w = 0;
	json_t *v;

	out[0] = '\0';
	for (i = 0; i < json_array_size(a) && (v = json_array_get(a, i)); i++) {
		int k = snprintf(out + w, n - w, "%s%s", w ? " " : "",
				 json_string_value(v) ? json_string_value(v)
						      : "");
		if (k < 0 || (size_t)k >= n - w)
			break;
		w += (size_t)k;
	}
}

int cmd_ls(int argc, char **argv)
{
	struct common_opts o;
	int ret = parse_common("ls", "", 0, argc, argv, &o);
	json_t *a, *f;
	size_t i;
	char args[128];

	if (ret >= 0)
		return ret;
	a = get_json("ls", &o, "/system/functions", &ret);
	if (!a)
		return ret;
	if (o.json) {
		cli_print_json(a);
	} else {
		printf("%-24s %7s %6s %9s %10s  %-12s  %s\n", "NAME", "VERSION",
		       "MEM", "TIMEOUT", "SIZE", "SHA256", "ARGS");
		for (i = 0;
		     i < json_array_size(a) && (f = json_array_get(a, i));
		     i++) {
			join_argv(json_object_get(f, "argv"), args,
				  sizeof(args));
			printf("%-24s %7lld %5lldM %8.1fs %10lld  %-12.12s  "
			       "%s\n",
			       str(f, "name"), num(f, "version"),
			       num(f, "mem_mib"),
			       (double)num(f, "timeout_ms") / 1000,
			       num(f, "size"), str(f, "digest"), args);
		}
	}
	json_decref(a);
	return 0;
}

int cmd_describe(int argc, char **argv)
{
	struct common_opts o;
	int ret = parse_common("describe", "NAME ", 1, argc, argv, &o);
	char path[160], args[1024];
	json_t *f, *v;
	const char *k;

	if (ret >= 0)
		return ret;
	snprintf(path, sizeof(path), "/system/function/%.100s", argv[optind]);
	f = get_json("describe", &o, path, &ret);
	if (!f)
		return ret;
	if (o.json) {
		cli_print_json(f);
		json_decref(f);
		return 0;
	}
	join_argv(json_object_get(f, "argv"), args, sizeof(args));
	printf("name:        %s\n", str(f, "name"));
	printf("version:     %lld\n", num(f, "version"));
	printf("digest:      %s\n", str(f, "digest"));
	printf("arch:        %s\n", str(f, "arch"));
	printf("size:        %lld bytes\n", num(f, "size"));
	printf("memory:      %lld MiB\n", num(f, "mem_mib"));
	printf("timeout:     %lld ms\n", num(f, "timeout_ms"));
	printf("max output:  %lld bytes\n", num(f, "max_output"));
	printf("args:        %s\n", args);
	printf("env:        %s\n",
	       json_object_size(json_object_get(f, "env")) ? "" : " (none)");
	json_t *env = json_object_get(f, "env");
	for (void *it = json_object_iter(env); it;
	     it = json_object_iter_next(env, it)) {
		k = json_object_iter_key(it);
		v = json_object_iter_value(it);
		printf("  %s=%s\n", k, json_string_value(v));
	}
	printf("created:     %s\n", str(f, "created"));
	json_decref(f);
	return 0;
}

int cmd_rm(int argc, char **argv)
{
	struct common_opts o;
	int ret = parse_common("rm", "NAME ", 1, argc, argv, &o);
	struct cli_resp r;
	char path[160];
	int rc;

	if (ret >= 0)
		return ret;
	snprintf(path, sizeof(path), "/system/function/%.100s", argv[optind]);
	rc = cli_request(o.gw, "DELETE", path, NULL, NULL, 0, 30, &r);
	if (rc || r.status / 100 != 2) {
		ret = cli_fail("rm", o.gw, rc, &r);
		cli_resp_free(&r);
		return ret;
	}
	cli_resp_free(&r);
	if (o.json)
		printf("{\"removed\":\"%s\"}\n", argv[optind]);
	else
		printf("removed %s\n", argv[optind]);
	return 0;
}

static void print_us(const char *label, long long us)
{
	char buf[64];
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us <= 0)
		return;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%-12s %s.%06lldZ\n", label, buf, us % 1000000);
}

int cmd_status(int argc, char **argv)
{
	struct common_opts o;
	int ret = parse_common("status", "ID ", 1, argc, argv, &o);
	char path[160];
	json_t *s, *w;
	size_t i;

	if (ret >= 0)
		return ret;
	if (o.output) {
		struct cli_resp r;
		int rc;

		snprintf(path, sizeof(path), "/system/invocations/%.100s?raw=1",
			 argv[optind]);
		rc = cli_request(o.gw, "GET", path, NULL, NULL, 0, 30, &r);
		if (rc || r.status / 100 != 2)
			ret = cli_fail("status", o.gw, rc, &r);
		else
			ret = fwrite(r.body, 1, r.len, stdout) == r.len ? 0 : 1;
		cli_resp_free(&r);
		return ret;
	}
	snprintf(path, sizeof(path), "/system/invocations/%.100s",
		 argv[optind]);
	s = get_json("status", &o, path, &ret);
	if (!s)
		return ret;
	if (o.json) {
		cli_print_json(s);
		json_decref(s);
		return 0;
	}
	printf("%-12s %s\n", "id:", str(s, "id"));
	printf("%-12s %s (version %lld)\n", "function:", str(s, "function"),
	       num(s, "version"));
	printf("%-12s %s\n", "status:", str(s, "status"));
	printf("%-12s %lld\n", "attempts:", num(s, "attempts"));
	if (str(s, "worker")[0])
		printf("%-12s %s\n", "worker:", str(s, "worker"));
	w = json_object_get(s, "workers");
	if (json_array_size(w) > 1) {
		printf("%-12s", "workers:");
		for (i = 0; i < json_array_size(w); i++)
			printf(" %s", json_string_value(json_array_get(w, i)));
		printf("\n");
	}
	print_us("queued:", num(s, "queued_at_us"));
	print_us("started:", num(s, "started_at_us"));
	print_us("ended:", num(s, "ended_at_us"));
	if (json_object_get(s, "duration_seconds"))
		printf("%-12s %.6f s\n", "duration:",
		       json_real_value(json_object_get(s, "duration_seconds")));
	if (json_object_get(s, "exit_code"))
		printf("%-12s %lld\n", "exit code:", num(s, "exit_code"));
	if (str(s, "reason")[0])
		printf("%-12s %s\n", "reason:", str(s, "reason"));
	if (json_object_get(s, "output_b64")) {
		const char *b = str(s, "output_b64");
		size_t n = strlen(b), pad = 0;

		while (pad < 2 && n > pad && b[n - 1 - pad] == '=')
			pad++;
		printf("%-12s %zu bytes (sukima status %s --output)\n",
		       "output:", n / 4 * 3 - pad, str(s, "id"));
	}
	if (str(s, "stderr")[0])
		printf("stderr (tail):\n%s\n", str(s, "stderr"));
	json_decref(s);
	return 0;
}

int cmd_nodes(int argc, char **argv)
{
	struct common_opts o;
	int ret = parse_common("nodes", "", 0, argc, argv, &o);
	json_t *a, *w;
	size_t i;

	if (ret >= 0)
		return ret;
	a = get_json("nodes", &o, "/system/nodes", &ret);
	if (!a)
		return ret;
	if (o.json) {
		cli_print_json(a);
	} else {
		printf("%-26s %-16s %-16s %-8s %-7s %-4s %-10s %5s %4s %5s\n",
		       "ID", "NAME", "HOST", "OS", "ARCH", "HV", "STATE",
		       "SLOTS", "BUSY", "LOAD");
		for (i = 0;
		     i < json_array_size(a) && (w = json_array_get(a, i)); i++)
			printf("%-26.26s %-16.16s %-16.16s %-8.8s %-7.7s "
			       "%-4.4s "
			       "%-10.10s %5lld %4lld %5.2f\n",
			       str(w, "id"), str(w, "name"), str(w, "hostname"),
			       str(w, "os"), str(w, "arch"), str(w, "flavour"),
			       str(w, "state"), num(w, "slots"), num(w, "busy"),
			       json_number_value(json_object_get(w, "load")));
		if (json_array_size(a) == 0)
			printf("(no workers: start one with `sukima worker "
			       "--nats URL`)\n");
	}
	json_decref(a);
	return 0;
}
