/* bench_cloud.c: load generator and fork/exec baseline server for bench_cloud.sh. */
/*
 *   bench_cloud http HOST PORT PATH CONC COUNT   keep-alive POSTs, CONC clients
 *   bench_cloud spawn CONC COUNT PROG [ARGS...]  posix_spawn + wait per "request"
 *   bench_cloud server PORT PROG [ARGS...]       HTTP server that fork/execs PROG
 *                                                per request (classic watchdog)
 * http and spawn print one line: "count p50_us p99_us per_s errors".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* --- shared run bookkeeping ------------------------------------------------ */

static atomic_long next_req, errors;
static long total;
static double *lat;

static void report(double elapsed_us)
{
	long n = total - atomic_load(&errors);
	double *ok = malloc(sizeof(double) * (size_t)(total ? total : 1));
	long k = 0;

	for (long i = 0; i < total; i++)
		if (lat[i] >= 0)
			ok[k++] = lat[i];
	qsort(ok, (size_t)k, sizeof(double), cmp_d);
	printf("%ld %.0f %.0f %.1f %ld\n", n, k ? ok[k / 2] : 0.0,
	       k ? ok[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] : 0.0,
	       elapsed_us > 0 ? n / (elapsed_us / 1e6) : 0.0,
	       atomic_load(&errors));
	free(ok);
}

/* --- http client ------------------------------------------------------------ */

static const char *h_host, *h_path;
static int h_port;

static int dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sa.sin_port = htons((uint16_t)h_port);
	inet_pton(AF_INET, h_host, &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * One request on fd: 0 on a 200 answer fully read, 1 on another status
 * (the connection stays usable), -1 when the connection failed.
 */
static int one_request(int fd, char *buf, size_t cap)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0"
			 "\r\n\r\n",
			 h_path, h_host);
	size_t got = 0;
	char *end;
	long clen;

	if (write(fd, req, (size_t)n) != n)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + got, cap - 1 - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		char *cl = strcasestr(buf, "\r\nContent-Length:");
		clen = cl ? strtol(cl + 17, NULL, 10) : 0;
		while (got < (size_t)(end + 4 - buf) + (size_t)clen) {
			r = read(fd, buf + got, cap - 1 - got);
			if (r <= 0)
				return -1;
			got += (size_t)r;
		}
		return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : 1;
	}
}

static void *http_client(void *arg)
{
	static __thread char buf[65536];
	int fd = dial();

	(void)arg;
	for (;;) {
		long i = atomic_fetch_add(&next_req, 1);
		if (i >= total)
			break;
		double t0 = now_us();
		int rc = fd < 0 ? -1 : one_request(fd, buf, sizeof(buf));

		if (rc < 0) {
			lat[i] = -1;
			if (atomic_fetch_add(&errors, 1) == 0)
				fprintf(stderr,
					"bench_cloud: first error: connection "
					"lost\n");
			if (fd >= 0)
				close(fd);
			fd = dial();
			continue;
		}
		/* An error answer still has a latency; it counts as an error. */
		lat[i] = now_us() - t0;
		if (rc && atomic_fetch_add(&errors, 1) == 0) {
			/* Say once what went wrong, for the report. */
			char *e = strstr(buf, "\r\n\r\n");
			fprintf(stderr,
				"bench_cloud: first error: %.*s | %.200s\n",
				(int)strcspn(buf, "\r"), buf, e ? e + 4 : "");
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* --- spawn ------------------------------------------------------------------- */

static char **sp_argv;

static void *spawner(void *arg)
{
	posix_spawn_file_actions_t fa;

	(void)arg;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 01, 0);
	for (;;) {
		long i = atomic_fetch_add(&next_req, 1);
		pid_t pid;
		int st;

		if (i >= total)
			break;
		double t0 = now_us();
		if (posix_spawn(&pid, sp_argv[0], &fa, NULL, sp_argv,
				environ) ||
		    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			lat[i] = -1;
			atomic_fetch_add(&errors, 1);
			continue;
		}
		lat[i] = now_us() - t0;
	}
	posix_spawn_file_actions_destroy(&fa);
	return NULL;
}

static int run_threads(int conc, void *(*fn)(void *))
{
	pthread_t *t = calloc((size_t)conc, sizeof(*t));
	double t0;

	lat = calloc((size_t)total, sizeof(double));
	if (!t || !lat)
		return 1;
	t0 = now_us();
	for (int i = 0; i < conc; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	for (int i = 0; i < conc; i++)
		pthread_join(t[i], NULL);
	report(now_us() - t0);
	free(t);
	free(lat);
	return 0;
}

/* --- fork/exec server (the OpenFaaS classic watchdog model) -------------- */

static char **srv_argv;

/* Read the request head and its body; 0 or -1 (closed / malformed). */
static int read_request(int fd, char *buf, size_t cap, char **body, long *blen)
{
	size_t got = 0;

	for (;;) {
		ssize_t r = read(fd, buf + got, cap - 1 - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (!end) {
			if (got >= cap - 1)
				return -1;
			continue;
		}
		char *cl = strcasestr(buf, "\r\nContent-Length:");
		*blen = cl ? strtol(cl + 17, NULL, 10) : 0;
		if (*blen < 0 || (size_t)*blen > cap / 2)
			return -1;
		size_t head = (size_t)(end + 4 - buf);
		while (got < head + (size_t)*blen) {
			r = read(fd, buf + got, cap - 1 - got);
			if (r <= 0)
				return -1;
			got += (size_t)r;
		}
		*body = buf + head;
		return 0;
	}
}

static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread char buf[1 << 20], out[1 << 16];

	for (;;) {
		char *body;
		long blen;
		int in[2], outp[2], st;
		size_t olen = 0;
		pid_t pid;
		posix_spawn_file_actions_t fa;
		char head[256];

		if (read_request(fd, buf, sizeof(buf), &body, &blen))
			break;
		if (pipe2(in, O_CLOEXEC) || pipe2(outp, O_CLOEXEC))
			break;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
		posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
		int sp = posix_spawn(&pid, srv_argv[0], &fa, NULL, srv_argv,
				     environ);
		posix_spawn_file_actions_destroy(&fa);
		close(in[0]);
		close(outp[1]);
		if (sp == 0 && blen > 0 && write(in[1], body, (size_t)blen) < 0)
			sp = -1;
		close(in[1]);
		for (ssize_t r;
		     (r = read(outp[0], out + olen, sizeof(out) - olen)) > 0;)
			olen += (size_t)r;
		close(outp[0]);
		if (sp == 0)
			waitpid(pid, &st, 0);
		int ok = sp == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n",
				 ok ? "200 OK" : "502 Bad Gateway", olen);
		if (write(fd, head, (size_t)n) != n ||
		    (olen && write(fd, out, olen) != (ssize_t)olen))
			break;
	}
	close(fd);
	return NULL;
}

static int server(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 512)) {
		perror("bench_cloud server");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd))
			close(fd);
		else
			pthread_detach(t);
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 7 && !strcmp(argv[1], "http")) {
		h_host = argv[2];
		h_port = atoi(argv[3]);
		h_path = argv[4];
		total = atol(argv[6]);
		return run_threads(atoi(argv[5]), http_client);
	}
	if (argc >= 5 && !strcmp(argv[1], "spawn")) {
		total = atol(argv[3]);
		sp_argv = argv + 4;
		return run_threads(atoi(argv[2]), spawner);
	}
	if (argc >= 4 && !strcmp(argv[1], "server")) {
		srv_argv = argv + 3;
		return server(atoi(argv[2]));
	}
	fprintf(stderr, "usage: see the comment at the top of bench_cloud.c\n");
	return 2;
}
