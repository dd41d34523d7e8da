/* cli.h: the sukima command's subcommands, one file each (cmd_<name>.c). */
#ifndef SUKIMA_CLI_H
#define SUKIMA_CLI_H

/*
 * Each subcommand gets argv with argv[0] = the subcommand's name and returns
 * the process exit status.  Add the prototype here and a row to the table in
 * main.c.
 */
struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* The gateway (src/gateway/gw_main.c) and its HTTP client commands. */
int cmd_gateway(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_invoke(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_describe(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_nodes(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_new(int argc, char **argv);
int cmd_build(int argc, char **argv);
/* "500ms", "10s", "2m", "10" (seconds) -> milliseconds.  0 or -EINVAL. */
int cli_parse_duration_ms(const char *s, long long *ms);

/* `sukima run`: execs the monitor (src/cli/cmd_run.c). */
int cmd_run(int argc, char **argv);

/* The NATS side (src/common, src/worker, cmd_up.c, cmd_objstore.c). */
int cmd_worker(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_objstore(int argc, char **argv);

/* Security (issue 8): cmd_init.c, cmd_token.c. */
int cmd_init(int argc, char **argv);
int cmd_token(int argc, char **argv);
/* Code signing (issue 8): cmd_keygen.c. */
int cmd_keygen(int argc, char **argv);

#endif
