/* bench_inproc.c: times the protection domain in one process: vmm_create, vmm_load, vmm_run, vmm_destroy. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/vmm.h"

/*
 * bench_inproc N ELF [ARGS...]: runs ELF N times through the library API
 * (no process spawn, no exec of the monitor, no jail) with stdin, stdout
 * and stderr on /dev/null, and prints one line per phase:
 *
 *   phase <tab> runs <tab> median_us <tab> p99_us <tab> min_us <tab> 0 <tab>
 *   0 <tab> 0 <tab> 0
 *
 * (bench_spawn's columns, with no RSS, failures or status) for create,
 * load, run, destroy and total. Exits 1 if a run fails.
 */

enum { CREATE, LOAD, RUN, DESTROY, TOTAL, NPHASE };
static const char *const phase_name[NPHASE] = {"create", "load", "run",
					       "destroy", "total"};

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

static int read_all(const char *path, unsigned char **buf, size_t *len)
{
	struct stat st;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
		goto fail;
	*len = (size_t)st.st_size;
	*buf = malloc(*len);
	if (!*buf)
		goto fail;
	while (done < *len) {
		ssize_t r = read(fd, *buf + done, *len - done);

		if (r <= 0)
			goto fail;
		done += (size_t)r;
	}
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	unsigned char *elf = NULL;
	size_t len = 0;
	double *t[NPHASE];
	int n, i, p, null_fd;

	if (argc < 3 || (n = atoi(argv[1])) < 1 || n > 100000) {
		fprintf(stderr, "usage: bench_inproc N ELF [ARGS...]\n");
		return 2;
	}
	if (read_all(argv[2], &elf, &len)) {
		fprintf(stderr, "bench_inproc: cannot read %s\n", argv[2]);
		return 1;
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return 1;
	for (p = 0; p < NPHASE; p++) {
		t[p] = calloc((size_t)n, sizeof(double));
		if (!t[p])
			return 1;
	}
	vmm_config_default(&cfg);
	cfg.in_fd = cfg.out_fd = cfg.err_fd = cfg.trace_fd = null_fd;
	for (i = 0; i < n; i++) {
		struct vmm_result res = {0};
		struct vmm *vm = NULL;
		double t0, t1, t2, t3, t4;
		int r;

		t0 = now_us();
		r = vmm_create(&vm, &cfg);
		t1 = now_us();
		if (r == 0)
			r = vmm_load(vm, elf, len, argc - 2, argv + 2, 0, NULL);
		t2 = now_us();
		if (r == 0)
			r = vmm_run(vm, &res);
		t3 = now_us();
		if (r == 0 && (res.reason != VMM_EXITED || res.status != 0))
			r = -1;
		if (r) {
			fprintf(stderr,
				"bench_inproc: run %d failed (%d): %s\n", i, r,
				vm ? (res.msg[0] ? res.msg : vm->err) : "");
			if (vm)
				vmm_destroy(vm);
			return 1;
		}
		vmm_destroy(vm);
		t4 = now_us();
		t[CREATE][i] = t1 - t0;
		t[LOAD][i] = t2 - t1;
		t[RUN][i] = t3 - t2;
		t[DESTROY][i] = t4 - t3;
		t[TOTAL][i] = t4 - t0;
	}
	for (p = 0; p < NPHASE; p++) {
		qsort(t[p], (size_t)n, sizeof(double), cmp_double);
		printf("%s\t%d\t%.1f\t%.1f\t%.1f\t0\t0\t0\t0\n", phase_name[p],
		       n, t[p][n / 2], t[p][(99 * n + 99) / 100 - 1], t[p][0]);
	}
	return 0;
}
