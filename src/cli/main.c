/* main.c: the sukima command: CLI, gateway and worker in one binary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* One row per subcommand (one line each); the prototypes live in cli.h. */
/* clang-format off */
static const struct cli_cmd commands[] = {
	{"run", cmd_run, "run a function in a protection domain on this host"},
	{"gateway", cmd_gateway, "run the HTTP gateway (--nats URL --listen ADDR:PORT)"},
	{"deploy", cmd_deploy, "deploy a function: NAME ELF [--mem] [--timeout] [--env K=V] [--arg A], or -f sukima.yml"},
	{"invoke", cmd_invoke, "invoke a function: NAME [--async] [-H K:V] (stdin -> request)"},
	{"ls", cmd_ls, "list deployed functions"},
	{"describe", cmd_describe, "show one function: NAME"},
	{"rm", cmd_rm, "remove a function: NAME"},
	{"status", cmd_status, "show an invocation: ID [--output]"},
	{"nodes", cmd_nodes, "list worker nodes"},
	{"logs", cmd_logs, "invocation records: [NAME] [--follow] [--since DURATION]"},
	{"new", cmd_new, "create a function skeleton in C: NAME (handler.c, Makefile, sukima.yml)"},
	{"build", cmd_build, "build the C functions of a manifest: [DIR|FILE.yml]"},
	{"worker", cmd_worker, "run a worker agent (--nats URL [--slots N])"},
	{"up", cmd_up, "run a local cloud: nats-server, gateway, workers"},
	{"objstore", cmd_objstore, "put/get/info/rm artifacts in NATS"},
	{"init", cmd_init, "create a deployment's secrets: CA, certificates, NATS users, first token"},
	{"token", cmd_token, "gateway tokens: create, ls, revoke"},
	{"keygen", cmd_keygen, "an Ed25519 key pair for deploy --sign / worker --trusted-keys: PREFIX"},
	{NULL, NULL, NULL},
};
/* clang-format on */

static void usage(FILE *f)
{
	fprintf(f, "usage: sukima COMMAND [ARGS...]\n\ncommands:\n");
	for (const struct cli_cmd *c = commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	/*
	 * --token T / --token=T anywhere before "--": the gateway bearer
	 * token of every client command, passed on as $SUKIMA_TOKEN.
	 */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *t = NULL;
		int eat = 0;

		if (!strcmp(argv[i], "--token") && i + 1 < argc)
			t = argv[i + 1], eat = 2;
		else if (!strncmp(argv[i], "--token=", 8))
			t = argv[i] + 8, eat = 1;
		if (!eat)
			continue;
		setenv("SUKIMA_TOKEN", t, 1);
		memmove(argv + i, argv + i + eat,
			sizeof(*argv) * (size_t)(argc - i - eat + 1));
		argc -= eat;
		i--;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	for (const struct cli_cmd *c = commands; c->name; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "sukima: unknown command '%s' (try: sukima help)\n",
		argv[1]);
	return 2;
}
