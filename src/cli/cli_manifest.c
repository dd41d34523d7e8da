/* cli_manifest.c: sukima.yml (functions with their artifact or C source, memory, timeout, env, args, replicas) and `sukima deploy -f`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_manifest.h"
#include "common/sk_util.h"
#include "gateway/gw_parse.h"

#define ELF_MAX	 (128ull << 20)
#define FNS_MAX	 256
#define LIST_MAX 64

extern char **environ;

struct ctx {
	yaml_document_t *d;
	const char *path;
	char *err;
	size_t errlen;
};

static int fail(struct ctx *c, yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, yaml_node_t *n, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%lu: %s", c->path,
		 n ? (unsigned long)n->start_mark.line + 1 : 1ul, msg);
	return -1;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
		       ? (const char *)n->data.scalar.value
		       : NULL;
}

static yaml_node_t *node(struct ctx *c, int i)
{
	return yaml_document_get_node(c->d, i);
}

/* (dir)/(p) unless p is absolute; malloc'd. */
static char *resolve(const char *dir, const char *p)
{
	char *out;

	if (p[0] == '/' || !dir[0])
		return strdup(p);
	if (!strcmp(p, "."))
		return strdup(dir);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

static int parse_list(struct ctx *c, yaml_node_t *v, const char *what,
		      json_t *out)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "%s: a list of strings is expected", what);
	for (yaml_node_item_t *i = v->data.sequence.items.start;
	     i < v->data.sequence.items.top; i++) {
		const char *s = scalar(node(c, *i));
		if (!s)
			return fail(c, v, "%s: items must be strings", what);
		if (json_array_size(out) >= LIST_MAX)
			return fail(c, v, "%s: more than %d items", what,
				    LIST_MAX);
		json_array_append_new(out, json_string(s));
	}
	return 0;
}

static int env_name_ok(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
	      *k == '_'))
		return 0;
	for (k++; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return 0;
	return 1;
}

static int parse_env(struct ctx *c, yaml_node_t *v, json_t *out)
{
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v, "environment: a map NAME: value is expected");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		const char *k = scalar(node(c, p->key));
		const char *s = scalar(node(c, p->value));

		if (!k || !env_name_ok(k))
			return fail(c, node(c, p->key),
				    "environment: bad variable name '%s'",
				    k ? k : "?");
		if (!s)
			return fail(c, node(c, p->value),
				    "environment.%s: a string is expected", k);
		if (json_object_size(out) >= LIST_MAX)
			return fail(c, v, "environment: more than %d entries",
				    LIST_MAX);
		json_object_set_new(out, k, json_string(s));
	}
	return 0;
}

/* "64M", "64Mi", "64" (MiB) -> MiB. */
static int parse_mem(const char *s, long long *mib)
{
	char buf[32];
	size_t n = strlen(s);
	uint64_t v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	if (n > 2 && buf[n - 1] == 'i')
		buf[n - 1] = '\0'; /* Kubernetes' Mi, Gi */
	if (strspn(buf, "0123456789") == strlen(buf)) {
		*mib = strtoll(buf, NULL, 10);
		return *mib > 0 ? 0 : -1;
	}
	if (sk_parse_size(buf, &v) || v < (1u << 20))
		return -1;
	*mib = (long long)(v >> 20);
	return 0;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || end == s || *end || *out < lo || *out > hi ? -1 : 0;
}

static int parse_fn(struct ctx *c, const char *dir, const char *name,
		    yaml_node_t *v, struct cli_fn *f)
{
	memset(f, 0, sizeof(*f));
	f->max_output = -1;
	f->env = json_object();
	f->args = json_array();
	f->name = strdup(name);
	if (!gw_name_valid(name))
		return fail(c, v,
			    "function name '%s' is not a DNS label (1-63 of "
			    "a-z, 0-9, '-')",
			    name);
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v, "functions.%s: a map is expected", name);
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
		const char *k = scalar(kn), *s = scalar(vn);

		if (!k)
			return fail(c, kn, "functions.%s: bad key", name);
		if (!strcmp(k, "environment") || !strcmp(k, "env")) {
			if (parse_env(c, vn, f->env))
				return -1;
			continue;
		}
		if (!strcmp(k, "args")) {
			if (parse_list(c, vn, "args", f->args))
				return -1;
			continue;
		}
		if (!strcmp(k, "limits")) {
			/* OpenFaaS: limits: {memory: 64Mi} */
			if (vn->type != YAML_MAPPING_NODE)
				return fail(c, vn, "limits: a map is expected");
			for (yaml_node_pair_t *q = vn->data.mapping.pairs.start;
			     q < vn->data.mapping.pairs.top; q++) {
				const char *lk = scalar(node(c, q->key));
				const char *lv = scalar(node(c, q->value));
				if (!lk || strcmp(lk, "memory") || !lv ||
				    parse_mem(lv, &f->mem_mib))
					return fail(c, node(c, q->key),
						    "limits: only memory: "
						    "SIZE is understood");
			}
			continue;
		}
		if (!s)
			return fail(c, vn,
				    "functions.%s.%s: a value is expected",
				    name, k);
		if (!strcmp(k, "lang")) {
			if (strcmp(s, "c"))
				return fail(c, vn,
					    "functions.%s.lang: only 'c' is "
					    "known (or give an artifact)",
					    name);
			free(f->lang);
			f->lang = strdup(s);
		} else if (!strcmp(k, "handler") || !strcmp(k, "source")) {
			free(f->handler);
			f->handler = resolve(dir, s);
		} else if (!strcmp(k, "artifact") || !strcmp(k, "elf")) {
			free(f->artifact);
			f->artifact = resolve(dir, s);
		} else if (!strcmp(k, "memory")) {
			if (parse_mem(s, &f->mem_mib))
				return fail(c, vn,
					    "functions.%s.memory: bad size "
					    "'%s' (64M, 64Mi, 64)",
					    name, s);
		} else if (!strcmp(k, "timeout")) {
			if (cli_parse_duration_ms(s, &f->timeout_ms))
				return fail(c, vn,
					    "functions.%s.timeout: bad "
					    "duration '%s' (500ms, 10s, 2m)",
					    name, s);
		} else if (!strcmp(k, "max_output")) {
			uint64_t b;
			if (sk_parse_size(s, &b))
				return fail(c, vn,
					    "functions.%s.max_output: bad "
					    "size '%s'",
					    name, s);
			f->max_output = (long long)b;
		} else if (!strcmp(k, "replicas")) {
			if (parse_int(s, 1, 3, &f->replicas))
				return fail(c, vn,
					    "functions.%s.replicas: 1..3",
					    name);
		} else if (!strcmp(k, "argv0")) {
			if (!gw_argv0_valid(s))
				return fail(c, vn,
					    "functions.%s.argv0: 1-64 of "
					    "[A-Za-z0-9._+-]",
					    name);
			free(f->argv0);
			f->argv0 = strdup(s);
		} else {
			return fail(c, kn,
				    "functions.%s: unknown key '%s' (lang, "
				    "handler, artifact, memory, timeout, "
				    "max_output, environment, args, argv0, "
				    "replicas, limits)",
				    name, k);
		}
	}
	if (f->lang && !f->handler)
		return fail(c, v, "functions.%s: lang c needs a handler folder",
			    name);
	if (!f->lang && f->handler)
		return fail(c, v, "functions.%s: a handler needs lang: c",
			    name);
	if (!f->artifact && f->handler) {
		if (asprintf(&f->artifact, "%s/build/%s", f->handler, name) < 0)
			f->artifact = NULL;
	}
	if (!f->artifact)
		return fail(c, v,
			    "functions.%s: give an artifact (a static ELF) or "
			    "lang: c with a handler folder",
			    name);
	return 0;
}

int cli_manifest_load(const char *path, struct cli_manifest *m, char *err,
		      size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *fns = NULL;
	struct ctx c = {&doc, path, err, errlen};
	char *pcopy, *dir;
	FILE *fp;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	fp = fopen(path, "rb");
	if (!fp) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%lu: %s", path,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "bad YAML");
		yaml_parser_delete(&parser);
		fclose(fp);
		return -1;
	}
	yaml_parser_delete(&parser);
	fclose(fp);
	pcopy = strdup(path);
	dir = pcopy ? dirname(pcopy) : ".";
	m->path = strdup(path);
	root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		fail(&c, root, "a map with 'functions:' is expected");
		goto out;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		const char *k = scalar(node(&c, p->key));
		yaml_node_t *v = node(&c, p->value);

		if (k && !strcmp(k, "functions")) {
			fns = v;
		} else if (k && !strcmp(k, "provider") &&
			   v->type == YAML_MAPPING_NODE) {
			for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
			     q < v->data.mapping.pairs.top; q++) {
				const char *pk = scalar(node(&c, q->key));
				const char *pv = scalar(node(&c, q->value));
				if (pk && pv && !strcmp(pk, "gateway")) {
					free(m->gateway);
					m->gateway = strdup(pv);
				}
			}
		} else if (!k ||
			   (strcmp(k, "version") && strcmp(k, "provider"))) {
			fail(&c, node(&c, p->key),
			     "unknown top-level key '%s' (version, provider, "
			     "functions)",
			     k ? k : "?");
			goto out;
		}
	}
	if (!fns || fns->type != YAML_MAPPING_NODE ||
	    fns->data.mapping.pairs.top == fns->data.mapping.pairs.start) {
		fail(&c, fns ? fns : root,
		     "'functions:' must map names to functions");
		goto out;
	}
	size_t n = (size_t)(fns->data.mapping.pairs.top -
			    fns->data.mapping.pairs.start);
	if (n > FNS_MAX) {
		fail(&c, fns, "more than %d functions", FNS_MAX);
		goto out;
	}
	m->fns = calloc(n, sizeof(*m->fns));
	if (!m->fns) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (yaml_node_pair_t *p = fns->data.mapping.pairs.start;
	     p < fns->data.mapping.pairs.top; p++) {
		const char *name = scalar(node(&c, p->key));

		if (!name) {
			fail(&c, node(&c, p->key), "bad function name");
			goto out;
		}
		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(m->fns[i].name, name)) {
				fail(&c, node(&c, p->key),
				     "function '%s' listed twice", name);
				goto out;
			}
		m->n++;
		if (parse_fn(&c, strcmp(dir, ".") ? dir : "", name,
			     node(&c, p->value), &m->fns[m->n - 1]))
			goto out;
	}
	rc = 0;
out:
	free(pcopy);
	yaml_document_delete(&doc);
	if (rc)
		cli_manifest_free(m);
	return rc;
}

static void fn_free(struct cli_fn *f)
{
	free(f->name);
	free(f->lang);
	free(f->handler);
	free(f->artifact);
	free(f->argv0);
	json_decref(f->env);
	json_decref(f->args);
}

void cli_manifest_free(struct cli_manifest *m)
{
	for (size_t i = 0; m->fns && i < m->n; i++)
		fn_free(&m->fns[i]);
	free(m->fns);
	free(m->path);
	free(m->gateway);
	memset(m, 0, sizeof(*m));
}

int cli_manifest_filter(const char *cmd, struct cli_manifest *m,
			const char *filter)
{
	size_t keep = m->n;

	if (!filter)
		return 0;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->fns[i].name, filter))
			keep = i;
	if (keep == m->n) {
		fprintf(stderr, "sukima %s: no function '%s' in %s\n", cmd,
			filter, m->path ? m->path : CLI_MANIFEST_DEFAULT);
		return 1;
	}
	for (size_t i = 0; i < m->n; i++)
		if (i != keep)
			fn_free(&m->fns[i]);
	m->fns[0] = m->fns[keep];
	m->n = 1;
	return 0;
}

/* Read (path) whole and check it is a static x86-64 ELF. */
static int read_elf(const char *cmd, const char *path, char **buf, size_t *len)
{
	const char *why;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		fprintf(stderr, "sukima %s: cannot open %s: %s\n", cmd, path,
			strerror(errno));
		return 1;
	}
	rc = cli_read_all(fd, ELF_MAX, buf, len);
	close(fd);
	if (rc) {
		fprintf(stderr, "sukima %s: cannot read %s: %s\n", cmd, path,
			strerror(-rc));
		return 1;
	}
	if (gw_elf_check(*buf, *len, &why)) {
		fprintf(stderr, "sukima %s: %s: %s\n", cmd, path, why);
		free(*buf);
		*buf = NULL;
		return 1;
	}
	return 0;
}

int cli_fn_build(const char *cmd, const struct cli_fn *f)
{
	char *argv[] = {"make", "-s", "-C", f->handler, NULL};
	char *buf = NULL;
	size_t len;
	pid_t pid;
	int st, rc;

	if (f->lang) {
		rc = posix_spawnp(&pid, "make", NULL, NULL, argv, environ);
		if (rc) {
			fprintf(stderr, "sukima %s: cannot run make: %s\n", cmd,
				strerror(rc));
			return 1;
		}
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "sukima %s: building %s in %s failed\n",
				cmd, f->name, f->handler);
			return 1;
		}
	}
	rc = read_elf(cmd, f->artifact, &buf, &len);
	free(buf);
	return rc;
}

/*
 * `sukima deploy` with no NAME ELF, only manifest options, in a folder
 * holding sukima.yml: deploy the manifest (as faas-cli does stack.yml).
 */
static int manifest_only(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--gateway") ||
		    !strcmp(argv[i], "--filter"))
			i++;
		else if (strncmp(argv[i], "--gateway=", 10) &&
			 strncmp(argv[i], "--filter=", 9) &&
			 strcmp(argv[i], "--json") &&
			 strcmp(argv[i], "--no-build"))
			return 0;
	}
	return access(CLI_MANIFEST_DEFAULT, R_OK) == 0;
}

int cli_manifest_wanted(int argc, char **argv)
{
	if (manifest_only(argc, argv))
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file") ||
		    !strcmp(argv[i], "--yaml") ||
		    !strncmp(argv[i], "--file=", 7) ||
		    !strncmp(argv[i], "--yaml=", 7) ||
		    (!strncmp(argv[i], "-f", 2) && argv[i][2]))
			return 1;
	}
	return 0;
}

/* Steps 1 and 2 of docs/api.md for one function; the stored JSON or NULL. */
static json_t *deploy_one(const char *gw, const struct cli_fn *f, int *ret)
{
	static const char *const octet[] = {
		"Content-Type: application/octet-stream", NULL};
	static const char *const js[] = {"Content-Type: application/json",
					 NULL};
	struct cli_resp r = {0};
	json_t *req = NULL, *a, *out = NULL;
	char *elf = NULL, *txt = NULL;
	const char *digest, *base;
	size_t len;
	int rc;

	*ret = read_elf("deploy", f->artifact, &elf, &len);
	if (*ret)
		return NULL;
	rc = cli_request(gw, "POST", "/system/artifacts", octet, elf, len, 0,
			 &r);
	free(elf);
	if (rc || r.status / 100 != 2) {
		*ret = cli_fail("deploy", gw, rc, &r);
		goto out;
	}
	a = cli_json("deploy", &r);
	digest = json_string_value(json_object_get(a, "digest"));
	if (!digest) {
		json_decref(a);
		*ret = 1;
		goto out;
	}
	req = json_pack("{s:s, s:s, s:O, s:O}", "name", f->name, "digest",
			digest, "argv", f->args, "env", f->env);
	json_decref(a);
	cli_resp_free(&r);
	if (!req) {
		*ret = 1;
		goto out;
	}
	if (f->mem_mib)
		json_object_set_new(req, "mem_mib", json_integer(f->mem_mib));
	if (f->timeout_ms)
		json_object_set_new(req, "timeout_ms",
				    json_integer(f->timeout_ms));
	if (f->max_output >= 0)
		json_object_set_new(req, "max_output",
				    json_integer(f->max_output));
	if (f->replicas)
		json_object_set_new(req, "replicas", json_integer(f->replicas));
	/* As `sukima deploy`: the function sees its file's name as argv[0]. */
	base = strrchr(f->artifact, '/') ? strrchr(f->artifact, '/') + 1
					 : f->artifact;
	if (f->argv0)
		json_object_set_new(req, "argv0", json_string(f->argv0));
	else if (gw_argv0_valid(base))
		json_object_set_new(req, "argv0", json_string(base));
	txt = json_dumps(req, JSON_COMPACT);
	rc = cli_request(gw, "POST", "/system/functions", js, txt,
			 txt ? strlen(txt) : 0, 30, &r);
	if (rc || r.status / 100 != 2) {
		*ret = cli_fail("deploy", gw, rc, &r);
		goto out;
	}
	out = cli_json("deploy", &r);
	*ret = out ? 0 : 1;
out:
	cli_resp_free(&r);
	json_decref(req);
	free(txt);
	return out;
}

int cli_manifest_deploy(int argc, char **argv)
{
	static const struct option lo[] = {
		{"file", required_argument, NULL, 'f'},
		{"yaml", required_argument, NULL, 'f'},
		{"filter", required_argument, NULL, 'F'},
		{"no-build", no_argument, NULL, 'B'},
		{"gateway", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *file = CLI_MANIFEST_DEFAULT, *filter = NULL, *gwopt = NULL;
	const char *gw;
	struct cli_manifest m;
	json_t *all = json_array();
	char err[512];
	int c, json = 0, build = 1, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'F':
			filter = optarg;
			break;
		case 'B':
			build = 0;
			break;
		case 'g':
			gwopt = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: sukima deploy -f sukima.yml [--filter "
				"NAME] [--no-build] [--gateway URL] "
				"[--json]\n");
			json_decref(all);
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sukima deploy: with -f, functions come from "
				"the manifest (no NAME ELF)\n");
		json_decref(all);
		return 2;
	}
	if (cli_manifest_load(file, &m, err, sizeof(err))) {
		fprintf(stderr, "sukima deploy: %s\n", err);
		json_decref(all);
		return 2;
	}
	/* --gateway, then $SUKIMA_GATEWAY, then the manifest's provider. */
	gw = gwopt || getenv("SUKIMA_GATEWAY") || !m.gateway
		     ? cli_gateway(gwopt)
		     : m.gateway;
	ret = cli_manifest_filter("deploy", &m, filter);
	for (size_t i = 0; i < m.n && !ret; i++) {
		struct cli_fn *f = &m.fns[i];
		json_t *out;

		if (build && f->lang && cli_fn_build("deploy", f)) {
			ret = 1;
			break;
		}
		out = deploy_one(gw, f, &ret);
		if (!out)
			break;
		if (!json)
			printf("deployed %s version %lld (sha256 %.12s, %lld "
			       "bytes)\n",
			       f->name,
			       (long long)json_integer_value(
				       json_object_get(out, "version")),
			       json_string_value(
				       json_object_get(out, "digest")),
			       (long long)json_integer_value(
				       json_object_get(out, "size")));
		json_array_append_new(all, out);
	}
	if (!ret && json)
		cli_print_json(all);
	json_decref(all);
	cli_manifest_free(&m);
	return ret;
}
