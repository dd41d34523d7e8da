/* cli_manifest.h: sukima.yml, the function manifest (like OpenFaaS's stack.yml), read with libyaml. */
#ifndef SUKIMA_CLI_MANIFEST_H
#define SUKIMA_CLI_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

#define CLI_MANIFEST_DEFAULT "sukima.yml"

/* One entry of `functions:`; paths are resolved against the file's folder. */
struct cli_fn {
	char *name;
	char *lang;	   /* "c" or NULL (a prebuilt artifact) */
	char *handler;	   /* source folder with a Makefile (lang: c) */
	char *artifact;	   /* the static ELF; lang c: <handler>/build/<name> */
	long long mem_mib; /* 0: the gateway's default */
	long long timeout_ms;
	long long max_output; /* -1: default */
	long long replicas;   /* 0: default */
	char *argv0;
	json_t *env;  /* object of strings */
	json_t *args; /* array of strings */
};

struct cli_manifest {
	char *path;
	char *gateway; /* provider.gateway, or NULL */
	struct cli_fn *fns;
	size_t n;
};

/*
 * Read and check (path).  Returns 0, or -1 with (err) set to one line
 * ("sukima.yml:12: functions.hello.memory: bad size 'lots'").
 */
int cli_manifest_load(const char *path, struct cli_manifest *m, char *err,
		      size_t errlen);
void cli_manifest_free(struct cli_manifest *m);

/*
 * Keep in (m) only the function named (filter); all of them when (filter)
 * is NULL.  Names are unique (cli_manifest_load), so at most one is kept.
 * Returns 0, or 1 after one line "sukima (cmd): no function ..." when
 * none has that name ((m) is then unchanged).
 */
int cli_manifest_filter(const char *cmd, struct cli_manifest *m,
			const char *filter);

/*
 * Build (f) (lang c: make -C handler) and check its artifact is a static
 * x86-64 ELF.  Quiet unless it fails (make's output, then one line).
 * Returns 0 or 1.
 */
int cli_fn_build(const char *cmd, const struct cli_fn *f);

/*
 * Is -f/--file/--yaml among (argv), or are there only manifest options
 * and a ./sukima.yml?  Then deploy goes to the manifest.
 */
int cli_manifest_wanted(int argc, char **argv);
/* `sukima deploy -f sukima.yml [--filter NAME] [--no-build] [--gateway] [--json]` */
int cli_manifest_deploy(int argc, char **argv);

#endif
