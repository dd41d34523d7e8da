/* main.c: sukima-vmm, the protection-domain monitor (one per micro-VM). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vmm.h"
#include "vmm/vmm_elf.h"
#include "vmm/vmm_jail.h"
#include "vmm/vmm_serve.h"

#define ELF_MAX_FILE (1ULL << 30)

static const char usage_text[] =
	"usage: sukima-vmm [--mem SIZE] [--timeout SECONDS] "
	"[--max-output BYTES]\n"
	"                  [--env KEY=VALUE]... [--trace] [--repeat N | "
	"--serve]\n"
	"                  ELF [ARGS...]\n"
	"                  [--no-jail] [--priority idle|normal]\n";

__attribute__((format(printf, 2, 3))) static int die(int status,
						     const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sukima: %s\n", line);
	return status;
}

/* "64M", "1G", "4096", "512K": bytes, or 0 when malformed. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1ULL << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ULL << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ULL << 30;
		end++;
		break;
	}
	if (*end == 'i' && mul > 1)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > UINT64_MAX / mul)
		return 0;
	return v * mul;
}

/*
 * The ELF file, whole, in memory: mapped from the page cache with its page
 * tables filled in one call (a copy into the heap faulted page by page:
 * ~0.4 ms for an 800 KiB static glibc binary here), read when it cannot be
 * mapped.  *mapped says which; release_elf() undoes either.  Returns 0 or
 * the exit status.
 */
static int read_elf(const char *path, uint8_t **buf, size_t *len, int *mapped)
{
	struct stat st;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*mapped = 0;
	if (fd < 0)
		return die(VMM_STATUS_NOFILE, "cannot open %s: %s", path,
			   strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return die(VMM_STATUS_NOFILE, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > ELF_MAX_FILE) {
		close(fd);
		return die(VMM_STATUS_ELF, "ELF: file too large");
	}
	*len = (size_t)st.st_size;
	if (*len) {
		void *p = mmap(NULL, *len, PROT_READ,
			       MAP_PRIVATE | MAP_POPULATE, fd, 0);

		if (p != MAP_FAILED) {
			close(fd);
			*buf = p;
			*mapped = 1;
			return 0;
		}
	}
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		close(fd);
		return die(VMM_STATUS_SETUP, "out of memory");
	}
	while (done < *len) {
		ssize_t r = read(fd, *buf + done, *len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			free(*buf);
			return die(VMM_STATUS_NOFILE, "cannot read %s: %s",
				   path, r < 0 ? strerror(errno) : "short");
		}
		done += (size_t)r;
	}
	close(fd);
	return 0;
}

static void release_elf(uint8_t *buf, size_t len, int mapped)
{
	if (mapped)
		munmap(buf, len);
	else
		free(buf);
}

static int read_stdin(struct vmm_buf *b)
{
	for (;;) {
		ssize_t r;

		if (b->cap - b->len < 65536) {
			size_t cap = b->cap ? 2 * b->cap : 65536;
			uint8_t *p = realloc(b->p, cap);

			if (!p)
				return -ENOMEM;
			b->p = p;
			b->cap = cap;
		}
		r = read(0, b->p + b->len, b->cap - b->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		b->len += (size_t)r;
	}
}

/* Heapsort: glibc's qsort may call sysinfo(2), which the jail refuses. */
static void sift(double *a, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		double t;

		if (c >= n)
			return;
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[i] >= a[c])
			return;
		t = a[i];
		a[i] = a[c];
		a[c] = t;
		i = c;
	}
}

static void sort_doubles(double *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (size_t e = n; e-- > 1;) {
		double t = a[0];

		a[0] = a[e];
		a[e] = t;
		sift(a, 0, e);
	}
}

static void write_out(int fd, const struct vmm_buf *b)
{
	size_t done = 0;

	while (done < b->len) {
		ssize_t w = write(fd, b->p + done, b->len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		done += (size_t)w;
	}
}

/* --repeat N: N warm invocations with the same stdin; the last one's
 * output and status, and the latencies on one line. */
static int run_repeat(struct vmm *vm, const struct vmm_buf *req, long n)
{
	struct vmm_result res;
	double *lat = calloc((size_t)n, sizeof(*lat));
	long done;

	if (!lat)
		return die(VMM_STATUS_SETUP, "out of memory");
	done = vmm_repeat(vm, req->p, req->len, n, &res, lat);
	if (done < 0) {
		free(lat);
		return die(VMM_STATUS_SETUP, "warm path: %s",
			   res.msg[0] ? res.msg : strerror((int)-done));
	}
	write_out(1, &vm->out);
	write_out(2, &vm->err_out);
	sort_doubles(lat, (size_t)done);
	fprintf(stderr,
		"min %.0f p50 %.0f p99 %.0f max %.0f us (%ld %s, %llu exits "
		"in the last)\n",
		lat[0], lat[(size_t)(done - 1) / 2],
		lat[(size_t)((double)(done - 1) * 0.99)], lat[done - 1], done,
		vm->warm ? "warm invocations" : "cold run: no read of stdin",
		(unsigned long long)vm->exits);
	free(lat);
	if (res.reason != VMM_EXITED) {
		if (vm->err_out.len &&
		    vm->err_out.p[vm->err_out.len - 1] != '\n')
			fputc('\n', stderr);
		return die(res.status, "%s", res.msg);
	}
	return res.status;
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	struct vmm_result res;
	struct vmm_elf elf;
	struct vmm *vm = NULL;
	const char *why;
	char **env;
	int nenv = 0, i, r, status;
	int jail = 1;				      /* --no-jail */
	long repeat = 0;			      /* --repeat N */
	int serve = 0;				      /* --serve */
	struct vmm_buf req = {0};		      /* --repeat: stdin */
	enum vmm_jail_prio prio = VMM_JAIL_PRIO_IDLE; /* --priority */
	uint8_t *buf = NULL;
	size_t len = 0;
	int mapped = 0; /* buf is a file mapping */

	/* A closed 0, 1 or 2 would be reused by /dev/kvm or the VM: the guest
	 * would then read or write KVM descriptors.  Park /dev/null there. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			return die(VMM_STATUS_SETUP, "cannot open /dev/null");
	/* SIGUSR1/SIGUSR2 pause and resume (the owner's PC comes first). */
	if (vmm_pause_init())
		return die(VMM_STATUS_SETUP, "cannot set up pausing");
	vmm_config_default(&cfg);
	cfg.backend = getenv("SUKIMA_VMM_BACKEND");
	env = calloc((size_t)argc, sizeof(*env));
	if (!env)
		return die(VMM_STATUS_SETUP, "out of memory");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		size_t n;

		if (a[0] == '-' && a[1] && a[1] != '-') {
			free(env);
			return die(VMM_STATUS_USAGE,
				   "unknown option %s (put -- before an ELF "
				   "path that starts with -)",
				   a);
		}
		if (a[0] != '-' || a[1] != '-')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--trace") == 0) {
			cfg.trace = 1;
			continue;
		}
		if (strcmp(a, "--serve") == 0) {
			serve = 1;
			continue;
		}
		if (strcmp(a, "--no-jail") == 0) {
			jail = 0;
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			free(env);
			return 0;
		}
		n = strcspn(a, "=");
		if (a[n] == '=') {
			val = a + n + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			free(env);
			return die(VMM_STATUS_USAGE, "option %s needs a value",
				   a);
		}
		if (strncmp(a, "--mem", n) == 0 && n == 5) {
			uint64_t m = parse_size(val);

			m = (m + VMM_LARGE_PAGE - 1) & ~(VMM_LARGE_PAGE - 1);
			if (m < (8ULL << 20) || m > VMM_MEM_MAX) {
				free(env);
				return die(VMM_STATUS_USAGE,
					   "--mem: '%s' is not a size between "
					   "8M and 4G",
					   val);
			}
			cfg.mem_size = m;
		} else if (strncmp(a, "--timeout", n) == 0 && n == 9) {
			char *end;
			double t = strtod(val, &end);

			if (end == val || *end || !(t > 0) || t > 1e6) {
				free(env);
				return die(VMM_STATUS_USAGE,
					   "--timeout: '%s' is not a number "
					   "of seconds",
					   val);
			}
			cfg.timeout = t;
		} else if (strncmp(a, "--max-output", n) == 0 && n == 12) {
			cfg.max_output = parse_size(val);
			if (!cfg.max_output && strcmp(val, "0") != 0) {
				free(env);
				return die(VMM_STATUS_USAGE,
					   "--max-output: '%s' is not a size",
					   val);
			}
		} else if (strncmp(a, "--env", n) == 0 && n == 5) {
			if (!strchr(val, '=') || val[0] == '=') {
				free(env);
				return die(VMM_STATUS_USAGE,
					   "--env: '%s' is not KEY=VALUE", val);
			}
			env[nenv++] = (char *)val;
		} else if (strncmp(a, "--priority", n) == 0 && n == 10) {
			if (strcmp(val, "idle") && strcmp(val, "normal")) {
				free(env);
				return die(VMM_STATUS_USAGE,
					   "--priority: '%s' is not idle or "
					   "normal",
					   val);
			}
			prio = strcmp(val, "idle") ? VMM_JAIL_PRIO_NORMAL
						   : VMM_JAIL_PRIO_IDLE;
		} else if (strncmp(a, "--repeat", n) == 0 && n == 8) {
			char *end;

			errno = 0;
			repeat = strtol(val, &end, 10);
			if (errno || end == val || *end || repeat < 1 ||
			    repeat > 10000000) {
				free(env);
				return die(VMM_STATUS_USAGE,
					   "--repeat: '%s' is not a count "
					   "between 1 and 10000000",
					   val);
			}
		} else if (strncmp(a, "--backend", n) == 0 && n == 9) {
			cfg.backend = val;
		} else {
			free(env);
			fputs(usage_text, stderr);
			return die(VMM_STATUS_USAGE, "unknown option %.*s",
				   (int)n, a);
		}
	}
	if (i >= argc) {
		free(env);
		fputs(usage_text, stderr);
		return die(VMM_STATUS_USAGE, "no ELF given");
	}
	if (cfg.backend && !vmm_backend_pick(cfg.backend)) {
		free(env);
		return die(VMM_STATUS_USAGE, "unknown backend '%s'",
			   cfg.backend);
	}

	if (repeat && serve) {
		free(env);
		return die(VMM_STATUS_USAGE, "--repeat and --serve exclude "
					     "each other");
	}
	cfg.warm = cfg.capture = repeat || serve;

	/* Order matters for the jail (issue 7): open everything, set up,
	 * then run. */
	r = read_elf(argv[i], &buf, &len, &mapped);
	if (r) {
		free(env);
		return r;
	}
	if (vmm_elf_parse(buf, len, &elf, &why)) {
		status = die(VMM_STATUS_ELF, "ELF: %s", why);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (repeat && read_stdin(&req)) {
		status = die(VMM_STATUS_SETUP, "cannot read stdin");
		goto out;
	}
	r = vmm_create(&vm, &cfg);
	if (r) {
		status = die(VMM_STATUS_SETUP, "%s",
			     vm && vm->err[0] ? vm->err : strerror(-r));
		goto out;
	}
	r = vmm_load(vm, buf, len, argc - i, argv + i, nenv, env);
	if (r == -ENOEXEC) {
		status = die(VMM_STATUS_ELF, "ELF: %s", vm->err);
		goto out;
	} else if (r == -E2BIG) {
		status = die(VMM_STATUS_USAGE, "%s", vm->err);
		goto out;
	} else if (r) {
		status = die(VMM_STATUS_SETUP, "%s",
			     vm->err[0] ? vm->err : strerror(-r));
		goto out;
	}
	release_elf(buf, len, mapped);
	buf = NULL;

	/* The jail (vmm_jail.h, docs/security.md): everything is open and
	 * mapped, no guest instruction has run yet.  SCHED_IDLE even with
	 * --no-jail unless --priority normal. */
	{
		const int outs[] = {cfg.out_fd, cfg.err_fd, cfg.trace_fd};

		r = vmm_jail_monitor(jail, prio, cfg.in_fd, outs, 3,
				     cfg.mem_size, cfg.max_output);
		if (r) {
			status = die(VMM_STATUS_SETUP,
				     "cannot jail the monitor: %s",
				     strerror(-r));
			goto out;
		}
	}
	if (serve) {
		status = vmm_serve(vm, 0, 1);
		goto out;
	}
	if (repeat) {
		status = run_repeat(vm, &req, repeat);
		goto out;
	}
	vmm_run(vm, &res);
	status = res.status;
	if (res.reason != VMM_EXITED) {
		/* Our line must start a line, whatever the guest left. */
		if (vm->err_midline && cfg.err_fd == 2)
			fputc('\n', stderr);
		die(status, "%s", res.msg);
	}
out:
	vmm_destroy(vm);
	free(req.p);
	if (buf)
		release_elf(buf, len, mapped);
	free(env);
	return status;
}
