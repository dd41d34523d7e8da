/* cmd_up.c: `sukima up`: a whole local cloud (nats-server, gateway, workers) in one command. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_init.h"
#include "common/sk_log.h"
#include "common/sk_model.h"
#include "common/sk_nats.h"
#include "common/sk_objstore.h"
#include "common/sk_token.h"
#include "common/sk_util.h"

#define UP_MAX_WORKERS	64
#define UP_STOP_WAIT_MS 15000 /* workers drain within their 10 s grace */

struct child {
	char what[32]; /* "nats-server", "gateway", "worker 1" */
	char log[PATH_MAX + 64];
	pid_t pid;
	int status; /* valid once pid == 0 after running */
	int reaped;
};

/* The data dir lives outside struct up so paths built from it into the
 * children's members never alias it. */
static char up_data[PATH_MAX - 64];

struct up {
	char *data;	       /* up_data */
	char self[PATH_MAX];   /* this binary */
	char bindir[PATH_MAX]; /* its folder: examples/ lives there */
	char examples[PATH_MAX];
	int nats_port, gw_port, workers, slots;
	struct child nats, gateway, worker[UP_MAX_WORKERS];
	struct sk_nats *n;
	int insecure; /* no TLS, logins or tokens (tests, debugging) */
};

/* (out) = data dir + "/" + (name): the secrets of `sukima init`. */
static void secret_path(const struct up *u, const char *name, char *out,
			size_t cap)
{
	snprintf(out, cap, "%s/%s", u->data, name);
}

static void up_usage(FILE *f)
{
	fprintf(f, "usage: sukima up [--workers N] [--data DIR] [--port P] "
		   "[--nats-port P] [--slots N]\n"
		   "                 [--examples DIR] [--insecure]\n"
		   "Starts a local cloud: nats-server with JetStream (config, "
		   "store and logs under\nDIR), a gateway on 127.0.0.1:P, N "
		   "workers, deploys the example functions,\nand stops "
		   "everything on Ctrl-C or SIGTERM.\n"
		   "  --workers N    workers to start (default 1)\n"
		   "  --slots N      slots per worker (default: CPUs)\n"
		   "  --data DIR     default "
		   "${XDG_DATA_HOME:-$HOME/.local/share}/sukima\n"
		   "  --port P       gateway port (default 8080; 0 = any free "
		   "port)\n"
		   "  --nats-port P  NATS client port (default 4222 if free, "
		   "else any; 0 = any)\n"
		   "  --examples DIR example ELFs to deploy (default: "
		   "examples/ beside this binary)\n"
		   "  --insecure     no TLS, NATS logins or gateway tokens "
		   "(default: the secrets\n"
		   "                 of `sukima init` in DIR, created on "
		   "first use)\n");
}

/* --- small helpers ------------------------------------------------------------ */

/* Bind 127.0.0.1:port (0 = any) to learn whether/which port is free. */
static int probe_port(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* GET /healthz on 127.0.0.1:port answers 200? */
static int http_healthy(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 1};
	static const char req[] = "GET /healthz HTTP/1.0\r\nHost: "
				  "127.0.0.1\r\n\r\n";
	char buf[64];
	ssize_t got;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;

	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1) {
		got = read(fd, buf, sizeof(buf) - 1);
		if (got > 12) {
			buf[got] = '\0';
			ok = strncmp(buf, "HTTP/1.", 7) == 0 &&
			     strncmp(buf + 9, "200", 3) == 0;
		}
	}
	close(fd);
	return ok;
}

/*
 * Start argv with stdout+stderr appended to c->log, in its own session (a
 * terminal's Ctrl-C reaches only `up`, which then stops the children in
 * order), and with PR_SET_PDEATHSIG so they stop if `up` is killed.
 */
static int spawn(struct child *c, char *const argv[])
{
	pid_t parent = getpid(), pid;
	int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDONLY);

		setsid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(125);
		if (null >= 0)
			dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(argv[0], argv);
		dprintf(2, "sukima up: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(fd);
	c->pid = pid;
	c->reaped = 0;
	return 0;
}

/* Reap (c) if it ended; returns 1 when it is not running any more. */
static int child_done(struct child *c)
{
	if (c->pid <= 0)
		return 1;
	if (c->reaped)
		return 1;
	if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
		c->reaped = 1;
		return 1;
	}
	return 0;
}

static void describe_exit(const struct child *c, char *buf, size_t cap)
{
	if (WIFEXITED(c->status))
		snprintf(buf, cap, "exited with status %d",
			 WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		snprintf(buf, cap, "was killed by signal %d",
			 WTERMSIG(c->status));
	else
		snprintf(buf, cap, "ended");
}

/* SIGTERM, wait up to (ms), then SIGKILL and reap.  By PID only. */
static void stop_child(struct child *c, int64_t ms)
{
	int64_t deadline;

	if (c->pid <= 0 || child_done(c))
		return;
	kill(c->pid, SIGTERM);
	deadline = sk_mono_ms() + ms;
	while (!child_done(c) && sk_mono_ms() < deadline)
		usleep(20 * 1000);
	if (!child_done(c)) {
		fprintf(stderr,
			"sukima up: %s (pid %d) did not stop in %lld "
			"ms: killed\n",
			c->what, (int)c->pid, (long long)ms);
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
			;
		c->reaped = 1;
	}
}

static void print_log_tail(const struct child *c)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	int fd = open(c->log, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	lseek(fd,
	      size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0,
	      SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "--- last lines of %s ---\n%s", c->log, buf);
		if (buf[n - 1] != '\n')
			fputc('\n', stderr);
	}
}

/* --- the steps -------------------------------------------------------------- */

/* The admin token of `sukima init` goes into sk_tokens (idempotent). */
static int seed_admin_token(struct up *u)
{
	char path[PATH_MAX + 16], tok[SK_TOKEN_LEN + 8] = "";
	FILE *f;
	int rc;

	secret_path(u, "admin.token", path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(tok, sizeof(tok), f))
		tok[0] = '\0';
	fclose(f);
	tok[strcspn(tok, "\r\n")] = '\0';
	rc = cli_token_seed(u->n, tok, SK_SCOPE_ADMIN, "admin (sukima init)");
	explicit_bzero(tok, sizeof(tok));
	if (rc)
		fprintf(stderr,
			"sukima up: cannot store the admin token of "
			"%s\n",
			path);
	return rc;
}

static int start_nats(struct up *u)
{
	char conf[PATH_MAX + 16], store[PATH_MAX + 16], url[64];
	const char *bin = getenv("NATS_SERVER");
	struct sk_nats_opts no = {0};
	static struct sk_sec sec;
	FILE *f;
	int rc;

	snprintf(conf, sizeof(conf), "%s/nats.conf", u->data);
	snprintf(store, sizeof(store), "%s/jetstream", u->data);
	f = fopen(conf, "we");
	if (!f)
		return -errno;
	/*
	 * 8 MiB messages: a result carries the output in base64 (1 MiB of
	 * output by default) and a work message the request body.
	 */
	fprintf(f,
		"# Generated by `sukima up`; rewritten at each start.\n"
		"listen: 127.0.0.1:%d\n"
		"server_name: sukima-up\n"
		"max_payload: 8MB\n"
		"jetstream {\n  store_dir: \"%s\"\n}\n",
		u->nats_port, store);
	/* TLS, users and permissions of `sukima init`. */
	if (!u->insecure)
		fprintf(f, "include ./nats-auth.conf\n");
	fclose(f);
	snprintf(u->nats.what, sizeof(u->nats.what), "nats-server");
	snprintf(u->nats.log, sizeof(u->nats.log), "%s/logs/nats.log", u->data);
	{
		char *argv[] = {(char *)(bin && *bin ? bin : "nats-server"),
				"-c", conf, NULL};
		rc = spawn(&u->nats, argv);
		if (rc)
			return rc;
	}
	/* Wait for the port first: no "cannot reach" noise while it boots. */
	for (int64_t end = sk_mono_ms() + 10000;
	     probe_port(u->nats_port) >= 0 && sk_mono_ms() < end;) {
		if (child_done(&u->nats))
			return -ECHILD;
		usleep(20 * 1000);
	}
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", u->nats_port);
	no.urls = url;
	no.name = "sukima-up";
	no.connect_wait_ms = 10000;
	if (!u->insecure) {
		char creds[PATH_MAX + 16], err[600];

		secret_path(u, "admin.creds", creds, sizeof(creds));
		if (sk_sec_load_creds(&sec, creds, err, sizeof(err))) {
			fprintf(stderr, "sukima up: %s\n", err);
			return -ENOENT;
		}
		no.sec = &sec;
	}
	for (int64_t end = sk_mono_ms() + 10000;;) {
		if (child_done(&u->nats))
			return -ECHILD;
		rc = sk_nats_connect(&u->n, &no);
		if (rc == 0 || sk_mono_ms() > end)
			break;
	}
	if (rc)
		return rc;
	/* JetStream may need a moment after the port opens. */
	for (int tries = 0; tries < 50; tries++) {
		rc = sk_nats_setup(u->n, NULL);
		if (rc == 0)
			break;
		usleep(200 * 1000);
	}
	if (rc == 0 && !u->insecure)
		rc = seed_admin_token(u);
	return rc;
}

static int start_gateway(struct up *u)
{
	char url[64], listen[64], creds[PATH_MAX + 16];
	char *argv[] = {u->self, "gateway", "--nats", url, "--listen",
			listen,	 "--creds", creds,    NULL};
	int rc;

	/* The gateway stays on 127.0.0.1 (plain HTTP, tokens required). */
	secret_path(u, "gateway.creds", creds, sizeof(creds));
	if (u->insecure)
		argv[6] = "--insecure", argv[7] = NULL;

	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", u->nats_port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", u->gw_port);
	snprintf(u->gateway.what, sizeof(u->gateway.what), "gateway");
	snprintf(u->gateway.log, sizeof(u->gateway.log), "%s/logs/gateway.log",
		 u->data);
	rc = spawn(&u->gateway, argv);
	if (rc)
		return rc;
	for (int64_t end = sk_mono_ms() + 15000; sk_mono_ms() < end;) {
		if (child_done(&u->gateway))
			return -ECHILD;
		if (http_healthy(u->gw_port))
			return 0;
		usleep(50 * 1000);
	}
	return -ETIMEDOUT;
}

static int start_workers(struct up *u)
{
	char url[64], name[32], cache[PATH_MAX + 16], slots[16];
	char creds[PATH_MAX + 16];
	char *argv[] = {u->self, "worker",  "--nats", url,	 "--name",
			name,	 "--cache", cache,    "--slots", slots,
			NULL,	 NULL,	    NULL};
	int rc;

	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", u->nats_port);
	snprintf(cache, sizeof(cache), "%s/cache", u->data);
	snprintf(slots, sizeof(slots), "%d", u->slots);
	for (int i = 0; i < u->workers; i++) {
		struct child *c = &u->worker[i];

		snprintf(name, sizeof(name), "up-%d", i + 1);
		snprintf(c->what, sizeof(c->what), "worker %d", i + 1);
		snprintf(c->log, sizeof(c->log), "%s/logs/worker-%d.log",
			 u->data, i + 1);
		/* Worker i logs in as worker-i: its own membership key. */
		if (!u->insecure) {
			snprintf(name, sizeof(name), "worker-%d.creds", i + 1);
			secret_path(u, name, creds, sizeof(creds));
			snprintf(name, sizeof(name), "up-%d", i + 1);
			argv[10] = "--creds";
			argv[11] = creds;
		}
		rc = spawn(c, argv);
		if (rc)
			return rc;
	}
	/* Ready when all N have a membership entry. */
	for (int64_t end = sk_mono_ms() + 20000; sk_mono_ms() < end;) {
		char **keys = NULL;
		size_t count = 0;

		for (int i = 0; i < u->workers; i++)
			if (child_done(&u->worker[i]))
				return -ECHILD;
		if (sk_kv_keys(u->n, SK_B_WORKERS, &keys, &count) == 0) {
			sk_kv_keys_free(keys, count);
			if ((int)count >= u->workers)
				return 0;
		}
		usleep(100 * 1000);
	}
	return -ETIMEDOUT;
}

/* Deploy one example ELF as function (name): artifact, then registry. */
static int deploy_one(struct up *u, const char *name, const char *path)
{
	struct sk_function f;
	struct sk_obj_info info;
	uint64_t size, rev = 0;
	char *old = NULL, *json;
	size_t oldlen = 0;
	int rc;

	sk_function_init(&f);
	snprintf(f.name, sizeof(f.name), "%.63s", name);
	rc = sk_sha256_file(path, f.digest, &size);
	if (rc)
		return rc;
	f.size = size;
	if (sk_obj_info(u->n, SK_OBJ_ARTIFACTS, f.digest, &info) != 0) {
		rc = sk_obj_put_file(u->n, SK_OBJ_ARTIFACTS, f.digest, path,
				     &info);
		if (rc)
			return rc;
	}
	f.version = 1;
	if (sk_kv_get(u->n, SK_B_FUNCTIONS, name, &old, &oldlen, &rev) == 0) {
		struct sk_function prev;
		if (sk_function_parse(&prev, old, oldlen, NULL, 0) == 0) {
			if (strcmp(prev.digest, f.digest) == 0) {
				/* Same ELF already deployed: keep it. */
				sk_function_free(&prev);
				free(old);
				return 0;
			}
			f.version = prev.version + 1;
			sk_function_free(&prev);
		}
		free(old);
	}
	{
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(f.created, sizeof(f.created), "%Y-%m-%dT%H:%M:%SZ",
			 &tm);
	}
	json = sk_function_json(&f);
	sk_function_free(&f);
	if (!json)
		return -ENOMEM;
	rc = sk_kv_put(u->n, SK_B_FUNCTIONS, name, json, strlen(json), NULL);
	free(json);
	return rc;
}

static int deploy_examples(struct up *u, char *names, size_t cap)
{
	struct dirent **list = NULL;
	int n = scandir(u->examples, &list, NULL, alphasort), deployed = 0;

	names[0] = '\0';
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 256];
		struct stat st;
		const char *name = list[i]->d_name;

		snprintf(path, sizeof(path), "%s/%s", u->examples, name);
		if (sk_valid_name(name) && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
			int rc = deploy_one(u, name, path);
			if (rc)
				fprintf(stderr,
					"sukima up: cannot deploy %s: %s\n",
					name, strerror(-rc));
			else {
				size_t l = strlen(names);
				snprintf(names + l, cap - l, "%s%s",
					 deployed ? ", " : "", name);
				deployed++;
			}
		}
		free(list[i]);
	}
	free(list);
	return deployed;
}

static void stop_all(struct up *u)
{
	/* Workers first (they hand work back through NATS), NATS last. */
	for (int i = 0; i < u->workers; i++)
		if (u->worker[i].pid > 0 && !child_done(&u->worker[i]))
			kill(u->worker[i].pid, SIGTERM);
	for (int i = 0; i < u->workers; i++)
		stop_child(&u->worker[i], UP_STOP_WAIT_MS);
	stop_child(&u->gateway, 5000);
	if (u->n) {
		sk_nats_close(u->n);
		u->n = NULL;
	}
	stop_child(&u->nats, 5000);
}

static void banner(struct up *u, const char *functions)
{
	const char *first = strchr(functions, ',') ? "upper" : functions;
	char gw[64];

	if (!strstr(functions, "upper"))
		first = functions[0] ? functions : "NAME";
	snprintf(gw, sizeof(gw), "http://127.0.0.1:%d", u->gw_port);
	printf("\nSukima is up.\n\n");
	printf("  nats-server  pid %-7d nats://127.0.0.1:%d  (JetStream, "
	       "store %s/jetstream)\n",
	       (int)u->nats.pid, u->nats_port, u->data);
	printf("  gateway      pid %-7d %s\n", (int)u->gateway.pid, gw);
	printf("  dashboard    %s/ui%s  (metrics: %s/metrics)\n", gw,
	       u->insecure ? "" : "#token=<admin token>", gw);
	for (int i = 0; i < u->workers; i++)
		printf("  worker %-5d pid %-7d name up-%d, %d slots\n", i + 1,
		       (int)u->worker[i].pid, i + 1, u->slots);
	printf("  data dir     %s  (config nats.conf, logs in logs/)\n",
	       u->data);
	if (!u->insecure)
		printf("  security     NATS: TLS + a login per role "
		       "(nats-auth.conf); gateway: bearer tokens\n"
		       "  token        export SUKIMA_TOKEN=$(cat "
		       "%s/admin.token)   # scope admin\n",
		       u->data);
	else
		printf("  security     NONE (--insecure): anyone on this "
		       "machine may deploy and invoke\n");
	printf("  functions    %s\n\n",
	       functions[0] ? functions : "(none: no examples found)");
	printf("Try:\n");
	printf("  curl -d 'hello sukima'%s %s/function/%.*s\n",
	       u->insecure ? "" : " -H \"Authorization: Bearer $SUKIMA_TOKEN\"",
	       gw, (int)strcspn(first, ","), first);
	printf("  echo -n Ada | %s invoke hello --gateway %s\n", u->self, gw);
	printf("  %s token create --scope invoke --ttl 1d --gateway %s\n",
	       u->self, gw);
	printf("  %s nodes --gateway %s\n", u->self, gw);
	if (u->insecure)
		printf("  %s worker --nats nats://127.0.0.1:%d   # one more "
		       "worker (another shell)\n",
		       u->self, u->nats_port);
	else
		printf("  %s worker --nats nats://127.0.0.1:%d --creds "
		       "%s/worker-%d.creds   # one more worker\n",
		       u->self, u->nats_port, u->data, u->workers + 1);
	printf("\nCtrl-C stops everything.\n");
	fflush(stdout);
}

static int resolve_self(struct up *u)
{
	ssize_t n = readlink("/proc/self/exe", u->self, sizeof(u->self) - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	u->self[n] = '\0';
	snprintf(u->bindir, sizeof(u->bindir), "%s", u->self);
	slash = strrchr(u->bindir, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

int cmd_up(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"workers", required_argument, NULL, 'w'},
		{"data", required_argument, NULL, 'd'},
		{"port", required_argument, NULL, 'p'},
		{"nats-port", required_argument, NULL, 'P'},
		{"slots", required_argument, NULL, 's'},
		{"examples", required_argument, NULL, 'e'},
		{"insecure", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct up u; /* large: keep it off the stack */
	char functions[1024], lockpath[PATH_MAX + 16], why[64];
	int nats_port_req = -1, c, rc, lockfd, status = 0;
	const char *data = NULL, *examples = NULL;
	sigset_t set;

	sk_log_init("up", SK_LOG_WARN);
	memset(&u, 0, sizeof(u));
	u.data = up_data;
	u.workers = 1;
	u.gw_port = 8080;
	u.slots = 0;
	while ((c = getopt_long(argc, argv, "w:d:p:P:s:e:h", longopts, NULL)) !=
	       -1) {
		char *end;
		long v;

		switch (c) {
		case 'w':
		case 'p':
		case 'P':
		case 's':
			v = strtol(optarg, &end, 10);
			if (*end || v < 0 ||
			    (c == 'w' && (v < 1 || v > UP_MAX_WORKERS)) ||
			    (c == 's' && (v < 1 || v > 256)) || v > 65535) {
				fprintf(stderr,
					"sukima up: bad value '%s' "
					"for --%s\n",
					optarg,
					c == 'w'   ? "workers"
					: c == 'p' ? "port"
					: c == 'P' ? "nats-port"
						   : "slots");
				return 2;
			}
			if (c == 'w')
				u.workers = (int)v;
			else if (c == 'p')
				u.gw_port = (int)v;
			else if (c == 'P')
				nats_port_req = (int)v;
			else
				u.slots = (int)v;
			break;
		case 'd':
			data = optarg;
			break;
		case 'e':
			examples = optarg;
			break;
		case 'I':
			u.insecure = 1;
			break;
		case 'h':
			up_usage(stdout);
			return 0;
		default:
			up_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sukima up: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (u.slots == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		u.slots = cpus > 0 ? (int)cpus : 1;
	}
	if (resolve_self(&u)) {
		fprintf(stderr, "sukima up: cannot find my own binary\n");
		return 1;
	}
	if (data)
		snprintf(up_data, sizeof(up_data), "%s", data);
	else if (getenv("XDG_DATA_HOME") && *getenv("XDG_DATA_HOME"))
		snprintf(up_data, sizeof(up_data), "%s/sukima",
			 getenv("XDG_DATA_HOME"));
	else
		snprintf(up_data, sizeof(up_data), "%s/.local/share/sukima",
			 getenv("HOME") ? getenv("HOME") : ".");
	if (u.data[0] != '/') {
		char cwd[PATH_MAX], tmp[sizeof(up_data)];
		if (getcwd(cwd, sizeof(cwd)) &&
		    snprintf(tmp, sizeof(tmp), "%s/%s", cwd, up_data) <
			    (int)sizeof(tmp))
			memcpy(up_data, tmp, sizeof(up_data));
	}
	snprintf(u.examples, sizeof(u.examples), "%s",
		 examples ? examples : "");
	if (!examples)
		snprintf(u.examples, sizeof(u.examples), "%.*s/examples",
			 (int)(sizeof(u.examples) - 10), u.bindir);
	{
		char logs[PATH_MAX + 8];
		snprintf(logs, sizeof(logs), "%s/logs", u.data);
		rc = sk_mkdir_p(logs, 0755);
		if (rc) {
			fprintf(stderr, "sukima up: cannot create %s: %s\n",
				logs, strerror(-rc));
			return 1;
		}
	}
	/* Secrets on first use (`sukima init`), enough logins for N workers. */
	if (!u.insecure) {
		char probe[PATH_MAX + 32];

		secret_path(&u, "ca.key", probe, sizeof(probe));
		if (access(probe, F_OK) != 0) {
			rc = cli_init_secrets(
				u.data, u.workers < 8 ? 8 : u.workers, NULL, 1);
			if (rc) {
				fprintf(stderr,
					"sukima up: cannot create secrets in "
					"%s: %s\n",
					u.data, strerror(-rc));
				return 1;
			}
			printf("sukima up: created secrets in %s (sukima "
			       "init)\n",
			       u.data);
		}
		snprintf(probe, sizeof(probe), "%s/worker-%d.creds", u.data,
			 u.workers);
		if (access(probe, R_OK) != 0) {
			fprintf(stderr,
				"sukima up: no %s: `sukima init --force "
				"--dir %s --workers %d` makes enough worker "
				"logins (or use --insecure)\n",
				probe, u.data, u.workers);
			return 1;
		}
	}
	/* One `up` per data dir: two nats-servers on one store corrupt it. */
	snprintf(lockpath, sizeof(lockpath), "%s/up.lock", u.data);
	lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr,
			"sukima up: %s is in use by another `sukima "
			"up` (use --data DIR)\n",
			u.data);
		return 1;
	}
	/* Ports: the gateway's is fixed (8080) unless told; NATS any free. */
	rc = probe_port(u.gw_port);
	if (rc < 0) {
		fprintf(stderr,
			"sukima up: gateway port %d is in use (another "
			"`sukima up`?); choose one with --port\n",
			u.gw_port);
		return 1;
	}
	u.gw_port = rc;
	if (nats_port_req < 0) {
		rc = probe_port(4222);
		if (rc < 0)
			rc = probe_port(0);
	} else {
		rc = probe_port(nats_port_req);
	}
	if (rc < 0) {
		fprintf(stderr,
			"sukima up: NATS port %d is in use; choose one "
			"with --nats-port\n",
			nats_port_req);
		return 1;
	}
	u.nats_port = rc;

	/* Signals are taken synchronously with sigtimedwait below. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("sukima up: data in %s\n", u.data);
	fflush(stdout);
	rc = start_nats(&u);
	if (rc) {
		fprintf(stderr, "sukima up: nats-server did not start (%s)\n",
			rc == -ECHILD ? "it exited" : strerror(-rc));
		print_log_tail(&u.nats);
		goto fail;
	}
	rc = start_gateway(&u);
	if (rc) {
		fprintf(stderr, "sukima up: the gateway did not start (%s)\n",
			rc == -ECHILD ? "it exited" : strerror(-rc));
		print_log_tail(&u.gateway);
		goto fail;
	}
	rc = start_workers(&u);
	if (rc) {
		fprintf(stderr,
			"sukima up: the workers did not all start "
			"(%s)\n",
			rc == -ECHILD ? "one exited" : strerror(-rc));
		for (int i = 0; i < u.workers; i++)
			if (child_done(&u.worker[i]))
				print_log_tail(&u.worker[i]);
		goto fail;
	}
	rc = deploy_examples(&u, functions, sizeof(functions));
	if (rc < 0) {
		fprintf(stderr,
			"sukima up: no examples deployed: %s: %s (run "
			"`make examples`)\n",
			u.examples, strerror(-rc));
		functions[0] = '\0';
	}
	banner(&u, functions);

	for (;;) {
		struct timespec ts = {.tv_sec = 1};
		int sig = sigtimedwait(&set, NULL, &ts);

		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			printf("\nsukima up: stopping (signal %d)...\n", sig);
			fflush(stdout);
			break;
		}
		/* A child that ends by itself is reported; NATS is vital. */
		if (child_done(&u.nats)) {
			describe_exit(&u.nats, why, sizeof(why));
			fprintf(stderr, "sukima up: nats-server %s: stopping\n",
				why);
			print_log_tail(&u.nats);
			status = 1;
			break;
		}
		if (u.gateway.pid > 0 && !u.gateway.reaped &&
		    child_done(&u.gateway)) {
			describe_exit(&u.gateway, why, sizeof(why));
			fprintf(stderr,
				"sukima up: the gateway (pid %d) %s; see "
				"%s\n",
				(int)u.gateway.pid, why, u.gateway.log);
		}
		for (int i = 0; i < u.workers; i++) {
			struct child *w = &u.worker[i];
			if (w->pid > 0 && !w->reaped && child_done(w)) {
				describe_exit(w, why, sizeof(why));
				fprintf(stderr,
					"sukima up: %s (pid %d) %s; see %s\n",
					w->what, (int)w->pid, why, w->log);
			}
		}
	}
	stop_all(&u);
	printf("sukima up: stopped.\n");
	fflush(stdout);
	close(lockfd);
	return status;
fail:
	stop_all(&u);
	close(lockfd);
	return 1;
}
