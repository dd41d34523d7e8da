/* bench_spawn.c: runs commands interleaved by posix_spawn and reports wall time and peak RSS. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * bench_spawn [-n ITER] [-w WARMUP] [-i STDIN] LABEL CMD [ARG...]
 *             [-- LABEL CMD [ARG...]]...
 *
 * Each iteration runs every command once, in turn, so that noise on this
 * shared machine hits all of them alike. A run is timed from just before
 * posix_spawn() to the return of wait4(), with an empty environment, stdin
 * from STDIN (default /dev/null), stdout and stderr to /dev/null. The
 * first WARMUP iterations are not counted. One line per command:
 *
 *   LABEL <tab> runs <tab> median_us <tab> p99_us <tab> min_us <tab>
 *   maxrss_kb (median of ru_maxrss) <tab> failed runs <tab> last status
 *   <tab> cpu_us (median of ru_utime + ru_stime: guest time included)
 *
 * A run "fails" when its status is not 0; the first failure of each
 * command is reported on stderr.
 */

struct cmd {
	const char *label;
	char **argv;
	double *us, *cpu;
	long *rss;
	int fails, last_status;
};

static char *empty_env[] = {NULL};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* run_once(c, in, slot): one timed run; 0, or -errno if it could not spawn */
static int run_once(struct cmd *c, const char *in, int slot)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	double t0, t1;
	pid_t pid;
	int st, rc;

	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return -rc;
	posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	t0 = now_us();
	rc = posix_spawn(&pid, c->argv[0], &fa, NULL, c->argv, empty_env);
	if (rc) {
		posix_spawn_file_actions_destroy(&fa);
		return -rc;
	}
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR) {
			posix_spawn_file_actions_destroy(&fa);
			return -errno;
		}
	t1 = now_us();
	posix_spawn_file_actions_destroy(&fa);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	c->last_status = st;
	if (st) {
		if (!c->fails)
			fprintf(stderr, "bench_spawn: %s: status %d\n",
				c->label, st);
		c->fails++;
	}
	if (slot >= 0) {
		c->us[slot] = t1 - t0;
		c->rss[slot] = ru.ru_maxrss;
		c->cpu[slot] =
			(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
				1e6 +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_spawn [-n ITER] [-w WARMUP] [-i STDIN] "
			"LABEL CMD [ARG...] [-- LABEL CMD [ARG...]]...\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *in = "/dev/null";
	struct cmd *cmds;
	int n = 20, warm = 2, ncmd = 0, i, k, opt;

	while ((opt = getopt(argc, argv, "+n:w:i:")) != -1) {
		switch (opt) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'w':
			warm = atoi(optarg);
			break;
		case 'i':
			in = optarg;
			break;
		default:
			return usage();
		}
	}
	if (n < 1 || n > 100000 || warm < 0 || optind + 2 > argc)
		return usage();
	cmds = calloc((size_t)argc, sizeof(*cmds));
	if (!cmds)
		return 1;
	/* Split the remaining words on "--" into LABEL CMD ARGS groups. */
	for (i = optind; i < argc; i++) {
		int start = i;

		while (i < argc && strcmp(argv[i], "--"))
			i++;
		if (i - start < 2)
			return usage();
		argv[i < argc ? i : argc] = NULL; /* ends this argv */
		cmds[ncmd].label = argv[start];
		cmds[ncmd].argv = &argv[start + 1];
		cmds[ncmd].us = calloc((size_t)n, sizeof(double));
		cmds[ncmd].rss = calloc((size_t)n, sizeof(long));
		cmds[ncmd].cpu = calloc((size_t)n, sizeof(double));
		if (!cmds[ncmd].us || !cmds[ncmd].rss || !cmds[ncmd].cpu)
			return 1;
		ncmd++;
	}
	for (i = -warm; i < n; i++)
		for (k = 0; k < ncmd; k++) {
			int rc = run_once(&cmds[k], in, i);

			if (rc) {
				fprintf(stderr, "bench_spawn: %s: %s\n",
					cmds[k].argv[0], strerror(-rc));
				return 1;
			}
		}
	for (k = 0; k < ncmd; k++) {
		struct cmd *c = &cmds[k];
		int p99 = (99 * n + 99) / 100 - 1;

		qsort(c->us, (size_t)n, sizeof(double), cmp_double);
		qsort(c->rss, (size_t)n, sizeof(long), cmp_long);
		qsort(c->cpu, (size_t)n, sizeof(double), cmp_double);
		printf("%s\t%d\t%.1f\t%.1f\t%.1f\t%ld\t%d\t%d\t%.1f\n",
		       c->label, n, c->us[n / 2], c->us[p99], c->us[0],
		       c->rss[n / 2], c->fails, c->last_status, c->cpu[n / 2]);
	}
	return 0;
}
