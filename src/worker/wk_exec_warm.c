/* wk_exec_warm.c: the warm execution mode: a pool of `sukima-vmm --serve` monitors. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "common/sk_util.h"
#include "worker/wk_exec.h"
#include "worker/wk_pause.h"
#include "worker/wk_stats.h"

/*
 * One --serve monitor keeps one function initialised and snapshotted; each
 * request restores it.  Its memory size, env and argv are fixed for its
 * life, so the pool is keyed by a hash of (ELF path, mem, argv, env); the
 * per-call timeout and output limit travel in each request frame.  A
 * monitor is used by one slot at a time (taken out of the pool while it
 * runs).  Anything unexpected on the wire ends that monitor: the next call
 * simply starts another.
 */

#define HELLO_LEN      32
#define REQ_LEN	       32
#define RESP_LEN       48
#define START_BOUND_MS 30000 /* start-up + snapshot of a new monitor */
#define COLD_KEYS_MAX  256

struct vm {
	unsigned char key[32];
	pid_t pid;
	int to, from, err; /* its stdin, stdout, stderr */
	int64_t last_used;
	uint64_t mem; /* its guest memory, bytes: what --warm-mem bounds */
	struct vm *next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm *idle_list;
static int idle_count, max_idle;
static uint64_t idle_mem, max_idle_mem; /* guest memory of the idle ones */
/* Functions that never read stdin: no snapshot, always cold. */
static unsigned char cold_keys[COLD_KEYS_MAX][32];
static int cold_count;
static uint64_t n_warm, n_cold, n_started;

void wk_exec_init(int max_warm, uint64_t max_warm_mem)
{
	max_idle = max_warm > 0 ? max_warm : 0;
	max_idle_mem = max_warm_mem;
}

void wk_exec_stats(uint64_t *warm, uint64_t *cold, uint64_t *started)
{
	pthread_mutex_lock(&pool_lock);
	*warm = n_warm;
	*cold = n_cold;
	*started = n_started;
	pthread_mutex_unlock(&pool_lock);
}

static void spec_key(const struct wk_exec_req *req, unsigned char key[32])
{
	const struct sk_call *c = req->call;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char num[32];

	if (!md) {
		memset(key, 0, 32);
		return;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	/* NUL separators: no two different specs hash the same bytes. */
	EVP_DigestUpdate(md, req->elf, strlen(req->elf) + 1);
	snprintf(num, sizeof(num), "%u", c->mem_mib);
	EVP_DigestUpdate(md, num, strlen(num) + 1);
	snprintf(num, sizeof(num), "a%zu", c->argv.n);
	EVP_DigestUpdate(md, num, strlen(num) + 1);
	for (size_t i = 0; i < c->argv.n; i++)
		EVP_DigestUpdate(md, c->argv.v[i], strlen(c->argv.v[i]) + 1);
	snprintf(num, sizeof(num), "e%zu", c->env.n);
	EVP_DigestUpdate(md, num, strlen(num) + 1);
	for (size_t i = 0; i < c->env.n; i++)
		EVP_DigestUpdate(md, c->env.v[i], strlen(c->env.v[i]) + 1);
	EVP_DigestFinal_ex(md, key, NULL);
	EVP_MD_CTX_free(md);
}

/*
 * End (v): EOF on its stdin asks it to exit; SIGKILL if it lingers.
 * Returns its wait status.  (kill_now) spares a monitor that already died
 * (its status tells why) from the SIGKILL.
 */
static int vm_end(struct vm *v, int kill_now)
{
	int status = 0;

	if (v->to >= 0)
		close(v->to);
	if (kill_now && wk_pause_reap(v->pid, &status, 1) == v->pid)
		goto reaped;
	if (kill_now)
		kill(v->pid, SIGKILL);
	for (int i = 0; i < 100; i++) {
		if (wk_pause_reap(v->pid, &status, 1) == v->pid)
			goto reaped;
		usleep(i < 10 ? 1000 : 10000);
	}
	kill(v->pid, SIGKILL);
	wk_pause_reap(v->pid, &status, 0);
reaped:
	close(v->from);
	close(v->err);
	free(v);
	return status;
}

/* Drop what the monitor wrote on its stderr (its own diagnostics). */
static void drain_err(struct vm *v)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(v->err, buf, sizeof(buf))) > 0)
		if (sk_log_enabled(SK_LOG_DEBUG))
			sk_debug("monitor %d: %.*s", (int)v->pid,
				 (int)(n > 200 ? 200 : n), buf);
}

static struct vm *take(const unsigned char key[32])
{
	struct vm **pp, *v = NULL;

	pthread_mutex_lock(&pool_lock);
	for (pp = &idle_list; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->key, key, 32) == 0) {
			v = *pp;
			*pp = v->next;
			idle_count--;
			idle_mem -= v->mem;
			break;
		}
	pthread_mutex_unlock(&pool_lock);
	return v;
}

static void give_back(struct vm *v)
{
	struct vm *victims = NULL, **pp, **oldest;

	v->last_used = sk_mono_ms();
	pthread_mutex_lock(&pool_lock);
	/* Bounded twice: by count (--warm) and by the guest memory the idle
	 * ones may hold (--warm-mem).  The least recently used make room. */
	while (idle_list &&
	       (idle_count >= max_idle || idle_mem + v->mem > max_idle_mem)) {
		oldest = NULL;
		for (pp = &idle_list; *pp; pp = &(*pp)->next)
			if (!oldest || (*pp)->last_used < (*oldest)->last_used)
				oldest = pp;
		struct vm *victim = *oldest;
		*oldest = victim->next;
		idle_count--;
		idle_mem -= victim->mem;
		victim->next = victims;
		victims = victim;
	}
	if (idle_count < max_idle && idle_mem + v->mem <= max_idle_mem) {
		v->next = idle_list;
		idle_list = v;
		idle_count++;
		idle_mem += v->mem;
	} else {
		/* Alone bigger than the bound: not kept. */
		v->next = victims;
		victims = v;
	}
	pthread_mutex_unlock(&pool_lock);
	/* Idle micro-VMs hold nothing of value: no waiting for a clean exit
	 * on the path that answers a call. */
	while (victims) {
		struct vm *next = victims->next;

		vm_end(victims, 1);
		victims = next;
	}
}

static int is_cold_key(const unsigned char key[32])
{
	int hit = 0;

	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < cold_count && !hit; i++)
		hit = memcmp(cold_keys[i], key, 32) == 0;
	pthread_mutex_unlock(&pool_lock);
	return hit;
}

static void add_cold_key(const unsigned char key[32])
{
	pthread_mutex_lock(&pool_lock);
	memcpy(cold_keys[cold_count % COLD_KEYS_MAX], key, 32);
	cold_count = cold_count < COLD_KEYS_MAX ? cold_count + 1 : cold_count;
	pthread_mutex_unlock(&pool_lock);
}

/*
 * Read exactly (n) bytes from (fd) by (deadline), watching (abort).
 * Returns 0, -EPIPE (EOF), -ETIMEDOUT, -ECANCELED (abort) or -errno.
 */
static int read_full(int fd, void *buf, size_t n, int64_t deadline,
		     volatile sig_atomic_t *abort)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left = deadline - wk_pause_clock_ms();
		ssize_t r;

		if (abort && *abort)
			return -ECANCELED;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, left > 100 ? 100 : (int)left) < 0 &&
		    errno != EINTR)
			return -errno;
		r = read(fd, (char *)buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			return -EPIPE;
		else if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return 0;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* Start a --serve monitor for (req) and read its hello. */
static int vm_start(const struct wk_exec_req *req, const unsigned char key[32],
		    struct vm **out)
{
	int in[2] = {-1, -1}, o[2] = {-1, -1}, e[2] = {-1, -1}, rc;
	unsigned char hello[HELLO_LEN];
	char nums[3][32];
	struct vm *v;
	char **av;
	pid_t pid;

	av = wk__exec_argv(req, nums, 1);
	v = calloc(1, sizeof(*v));
	if (!av || !v) {
		free(av);
		free(v);
		return -ENOMEM;
	}
	if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) ||
	    pipe2(e, O_CLOEXEC)) {
		rc = -errno;
		goto fail;
	}
	pid = wk__exec_spawn(req->monitor, av, in[0], o[1], e[1]);
	close(in[0]);
	close(o[1]);
	close(e[1]);
	in[0] = o[1] = e[1] = -1;
	if (pid < 0) {
		rc = (int)pid;
		goto fail;
	}
	memcpy(v->key, key, 32);
	v->mem = (uint64_t)req->call->mem_mib << 20;
	v->pid = pid;
	v->to = in[1];
	v->from = o[0];
	v->err = e[0];
	fcntl(v->to, F_SETFL, fcntl(v->to, F_GETFL) | O_NONBLOCK);
	fcntl(v->from, F_SETFL, fcntl(v->from, F_GETFL) | O_NONBLOCK);
	fcntl(v->err, F_SETFL, fcntl(v->err, F_GETFL) | O_NONBLOCK);
	free(av);
	rc = read_full(v->from, hello, sizeof(hello),
		       wk_pause_clock_ms() + START_BOUND_MS, req->abort);
	if (rc == 0 && memcmp(hello, "SKH1", 4) != 0)
		rc = -EPROTO;
	if (rc == 0 && get32(hello + 8) == 0) {
		/* No read of stdin: no snapshot; this one runs cold. */
		add_cold_key(key);
		vm_end(v, 0);
		return -ENOTSUP;
	}
	if (rc) {
		/* Could not start (bad ELF, KVM...): cold says why. */
		drain_err(v);
		vm_end(v, 1);
		return rc == -ECANCELED ? rc : -ENOTSUP;
	}
	pthread_mutex_lock(&pool_lock);
	n_started++;
	pthread_mutex_unlock(&pool_lock);
	*out = v;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	free(av);
	free(v);
	return rc;
}

/* Keep the last SK_STDERR_MAX bytes of (p, n) as a string. */
static char *tail_str(const unsigned char *p, size_t n)
{
	char *s;

	if (n > SK_STDERR_MAX) {
		p += n - SK_STDERR_MAX;
		n = SK_STDERR_MAX;
	}
	s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!s[i])
			s[i] = ' ';
	return s;
}

/*
 * One request on (v): write the frame and body while reading the answer
 * (a function may answer before it has read everything).  0 with (res)
 * filled, or -errno (the monitor must then be ended).
 */
static int vm_call(struct vm *v, const struct wk_exec_req *req,
		   struct wk_exec_res *res)
{
	const struct sk_call *c = req->call;
	unsigned char hdr[REQ_LEN], resp[RESP_LEN], *body = NULL;
	size_t hdr_off = 0, in_off = 0, got = 0, need = RESP_LEN;
	uint64_t olen = 0, elen = 0, mlen = 0;
	int64_t deadline, next_tick;
	int have_hdr = 0;

	memcpy(hdr, "SKQ1", 4);
	put32(hdr + 4, 0);
	put64(hdr + 8, (uint64_t)c->timeout_ms * 1000);
	/* 0 means "the monitor's default": ask for at least one byte less. */
	put64(hdr + 16, c->max_output ? c->max_output : 1);
	put64(hdr + 24, req->input_len);
	/* The monitor times the function out; this is the backstop, on the
	 * pause-aware clock (suspended time is not the function's). */
	deadline = wk_pause_clock_ms() + c->timeout_ms + 2000;
	next_tick = req->tick_ms > 0 ? sk_mono_ms() + req->tick_ms : 0;
	res->started_us = sk_now_us();

	while (!have_hdr || got < need) {
		struct pollfd p[2];
		int np = 0,
		    writing = hdr_off < REQ_LEN || in_off < req->input_len;
		int64_t now = sk_mono_ms();

		if (req->abort && *req->abort) {
			free(body);
			return -ECANCELED;
		}
		if (wk_pause_clock_ms() >= deadline ||
		    (req->hard_deadline_ms && now >= req->hard_deadline_ms)) {
			free(body);
			return -ETIMEDOUT;
		}
		if (next_tick && now >= next_tick) {
			req->tick(req->tick_ctx);
			next_tick = now + req->tick_ms;
		}
		p[np++] = (struct pollfd){v->from, POLLIN, 0};
		if (writing)
			p[np++] = (struct pollfd){v->to, POLLOUT, 0};
		if (poll(p, (nfds_t)np, 100) < 0 && errno != EINTR) {
			free(body);
			return -errno;
		}
		if (writing && (np < 2 || p[1].revents)) {
			ssize_t w;

			if (hdr_off < REQ_LEN)
				w = write(v->to, hdr + hdr_off,
					  REQ_LEN - hdr_off);
			else
				w = write(v->to,
					  (const char *)req->input + in_off,
					  req->input_len - in_off);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				free(body);
				return -EPIPE;
			}
			if (w > 0) {
				if (hdr_off < REQ_LEN)
					hdr_off += (size_t)w;
				else
					in_off += (size_t)w;
			}
		}
		if (p[0].revents) {
			ssize_t r;

			if (!have_hdr)
				r = read(v->from, resp + got, RESP_LEN - got);
			else
				r = read(v->from, body + got, need - got);
			if (r == 0) {
				free(body);
				return -EPIPE;
			}
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				free(body);
				return -errno;
			}
			got += (size_t)r;
			if (!have_hdr && got == RESP_LEN) {
				if (memcmp(resp, "SKR1", 4) != 0)
					return -EPROTO;
				mlen = get32(resp + 12);
				olen = get64(resp + 16);
				elen = get64(resp + 24);
				/* Never trust a length beyond the limits. */
				if (olen > c->max_output + 1 ||
				    elen > (64ULL << 20) || mlen > 65536)
					return -EPROTO;
				need = (size_t)(olen + elen + mlen);
				body = malloc(need ? need : 1);
				if (!body)
					return -ENOMEM;
				have_hdr = 1;
				got = 0;
			}
		}
	}
	res->ended_us = sk_now_us();
	res->end = WK_END_EXITED;
	res->status = (int)get32(resp + 4);
	/* Wire layout: stdout (olen), stderr (elen), message (mlen). */
	{
		const unsigned char *e = body + olen, *m = e + elen;
		size_t keep = olen > c->max_output ? (size_t)c->max_output
						   : (size_t)olen;
		size_t ml = mlen < sizeof(res->reason)
				    ? (size_t)mlen
				    : sizeof(res->reason) - 1;

		res->out_truncated = keep < olen;
		res->out = malloc(keep ? keep : 1);
		res->err = tail_str(e, (size_t)elen);
		if (!res->out || !res->err) {
			free(body);
			return -ENOMEM;
		}
		memcpy(res->out, body, keep);
		res->out_len = keep;
		res->err_len = strlen(res->err);
		memcpy(res->reason, m, ml);
		res->reason[ml] = '\0';
		for (size_t i = 0; i < ml; i++)
			if ((unsigned char)res->reason[i] < 0x20)
				res->reason[i] = ' ';
	}
	free(body);
	return 0;
}

int wk__exec_warm(const struct wk_exec_req *req, struct wk_exec_res *res)
{
	unsigned char key[32];
	struct vm *v;
	int rc, fresh = 0;

	if (max_idle == 0)
		goto cold;
	spec_key(req, key);
	if (is_cold_key(key))
		goto cold;
	v = take(key);
	if (!v) {
		int64_t t0 = sk_now_us();

		rc = vm_start(req, key, &v);
		if (rc == 0)
			wk_stats_vm_start(sk_now_us() - t0);
		if (rc == -ENOTSUP)
			goto cold;
		if (rc == -ECANCELED) {
			memset(res, 0, sizeof(*res));
			res->end = WK_END_ABORTED;
			snprintf(res->reason, sizeof(res->reason),
				 "stopped: the worker is leaving");
			return 0;
		}
		if (rc)
			goto cold;
		fresh = 1;
	}
	memset(res, 0, sizeof(*res));
	rc = vm_call(v, req, res);
	drain_err(v);
	if (rc) {
		int st = vm_end(v, 1);

		wk_exec_res_free(res);
		memset(res, 0, sizeof(*res));
		res->ended_us = sk_now_us();
		if (rc == -ECANCELED) {
			res->end = WK_END_ABORTED;
			snprintf(res->reason, sizeof(res->reason),
				 "stopped: the worker is leaving");
			return 0;
		}
		if (rc == -ETIMEDOUT) {
			res->end = WK_END_TIMEOUT;
			snprintf(res->reason, sizeof(res->reason),
				 "timed out after %u ms",
				 req->call->timeout_ms);
			return 0;
		}
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
			/* Its jail killed it: wk_exec_status says so. */
			res->end = WK_END_EXITED;
			res->status = 128 + SIGSYS;
			return 0;
		}
		/*
		 * The monitor died or broke the protocol mid-call.  A fresh
		 * one failing is the function's doing (or the host's): say
		 * so; a pooled one may just have been stale: run it cold.
		 */
		sk_warn("warm monitor %d failed (%s)%s", (int)v->pid,
			strerror(-rc), fresh ? "" : ": running cold");
		if (!fresh)
			goto cold;
		res->end = WK_END_HOST;
		snprintf(res->reason, sizeof(res->reason),
			 "the monitor ended unexpectedly (%s)", strerror(-rc));
		return 0;
	}
	pthread_mutex_lock(&pool_lock);
	n_warm++;
	pthread_mutex_unlock(&pool_lock);
	/* After an ABI breach or a host failure the monitor exits. */
	if (res->status == 121 || res->status == 125)
		vm_end(v, 0);
	else
		give_back(v);
	return 0;
cold:
	pthread_mutex_lock(&pool_lock);
	n_cold++;
	pthread_mutex_unlock(&pool_lock);
	return -ENOTSUP;
}

void wk_exec_housekeeping(int64_t idle_ms)
{
	struct vm *old = NULL, **pp;
	int64_t now = sk_mono_ms();

	pthread_mutex_lock(&pool_lock);
	for (pp = &idle_list; *pp;) {
		if (now - (*pp)->last_used >= idle_ms) {
			struct vm *v = *pp;
			*pp = v->next;
			v->next = old;
			old = v;
			idle_count--;
			idle_mem -= v->mem;
		} else {
			pp = &(*pp)->next;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	while (old) {
		struct vm *v = old;
		old = v->next;
		vm_end(v, 1);
	}
}

void wk_exec_shutdown(void)
{
	wk_exec_housekeeping(-1);
}
