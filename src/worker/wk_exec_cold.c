/* wk_exec_cold.c: the cold execution mode: one sukima-vmm process per invocation. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sk_util.h"
#include "worker/wk_exec.h"
#include "worker/wk_pause.h"

extern char **environ;

#define ERR_KEEP SK_STDERR_MAX

struct run {
	const struct wk_exec_req *req;
	struct wk_exec_res *res;
	unsigned char *out;
	size_t out_len, out_cap;
	char err[2 * ERR_KEEP];
	size_t err_len;
};

static void add_err(struct run *r, const char *p, size_t n)
{
	if (n >= ERR_KEEP) {
		p += n - ERR_KEEP;
		n = ERR_KEEP;
	}
	if (r->err_len + n > sizeof(r->err)) {
		/* Keep only the tail: the reason line comes last. */
		size_t keep = ERR_KEEP - n;
		memmove(r->err, r->err + r->err_len - keep, keep);
		r->err_len = keep;
	}
	memcpy(r->err + r->err_len, p, n);
	r->err_len += n;
}

static void add_out(struct run *r, const char *p, size_t n)
{
	size_t room = r->out_cap - r->out_len;

	if (n > room) {
		r->res->out_truncated = 1;
		n = room;
	}
	memcpy(r->out + r->out_len, p, n);
	r->out_len += n;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void find_reason(struct run *r)
{
	/* The last "sukima: <reason>" line the monitor printed. */
	char *best = NULL;

	for (size_t i = 0; i + 8 <= r->err_len; i++)
		if ((i == 0 || r->err[i - 1] == '\n') &&
		    memcmp(r->err + i, "sukima: ", 8) == 0)
			best = r->err + i + 8;
	if (best) {
		size_t n = 0;
		while (best + n < r->err + r->err_len && best[n] != '\n' &&
		       n + 1 < sizeof(r->res->reason))
			n++;
		memcpy(r->res->reason, best, n);
		r->res->reason[n] = '\0';
	}
}

int wk__exec_cold(const struct wk_exec_req *req, struct wk_exec_res *res)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	char nums[3][32];
	char **av = NULL;
	struct run r;
	size_t in_off = 0;
	pid_t pid = -1;
	int64_t next_tick, limit;
	int rc, wstatus = 0, out_open = 1, err_open = 1, exited = 0;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.req = req;
	r.res = res;
	res->started_us = sk_now_us();
	r.out_cap = (size_t)req->call->max_output;
	r.out = malloc(r.out_cap ? r.out_cap : 1);
	av = wk__exec_argv(req, nums, 0);
	if (!r.out || !av) {
		rc = -ENOMEM;
		goto host_fail;
	}
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
	    pipe2(err, O_CLOEXEC)) {
		rc = -errno;
		goto host_fail;
	}
	pid = wk__exec_spawn(req->monitor, av, in[0], out[1], err[1]);
	rc = pid < 0 ? (int)-pid : 0;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	in[0] = out[1] = err[1] = -1;
	if (rc) {
		rc = -rc;
		pid = -1;
		goto host_fail;
	}
	set_nonblock(in[1]);
	set_nonblock(out[0]);
	set_nonblock(err[0]);
	if (req->input_len == 0) {
		close(in[1]);
		in[1] = -1;
	}
	/* Backstop: the monitor's own --timeout should fire first.  On the
	 * pause-aware clock: suspended time is not the function's. */
	limit = wk_pause_clock_ms() + req->call->timeout_ms + 1000;
	if (req->call->timeout_ms % 1000)
		limit = wk_pause_clock_ms() + req->call->timeout_ms;
	next_tick = req->tick_ms > 0 ? sk_mono_ms() + req->tick_ms : 0;

	while (out_open || err_open || !exited) {
		struct pollfd p[3];
		int np = 0, wait_ms = 100;
		int64_t now = sk_mono_ms();
		char buf[65536];

		if (req->abort && *req->abort) {
			res->end = WK_END_ABORTED;
			break;
		}
		if (wk_pause_clock_ms() >= limit ||
		    (req->hard_deadline_ms && now >= req->hard_deadline_ms)) {
			res->end = WK_END_TIMEOUT;
			break;
		}
		if (next_tick && now >= next_tick) {
			req->tick(req->tick_ctx);
			next_tick = now + req->tick_ms;
		}
		if (!out_open && !err_open) {
			pid_t w = wk_pause_reap(pid, &wstatus, 1);
			if (w == pid) {
				exited = 1;
				break;
			}
			usleep(1000);
			continue;
		}
		if (in[1] >= 0)
			p[np++] = (struct pollfd){in[1], POLLOUT, 0};
		if (out_open)
			p[np++] = (struct pollfd){out[0], POLLIN, 0};
		if (err_open)
			p[np++] = (struct pollfd){err[0], POLLIN, 0};
		if (next_tick && next_tick - now < wait_ms)
			wait_ms = (int)(next_tick - now);
		if (limit - wk_pause_clock_ms() < wait_ms)
			wait_ms = (int)(limit - wk_pause_clock_ms());
		if (wait_ms < 1)
			wait_ms = 1;
		if (poll(p, (nfds_t)np, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			res->end = WK_END_HOST;
			snprintf(res->reason, sizeof(res->reason), "poll: %s",
				 strerror(errno));
			break;
		}
		for (int i = 0; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == in[1]) {
				ssize_t w =
					write(in[1],
					      (const char *)req->input + in_off,
					      req->input_len - in_off);
				if (w > 0)
					in_off += (size_t)w;
				/* EPIPE: the function does not read it all. */
				if ((w < 0 && errno != EAGAIN) ||
				    in_off == req->input_len) {
					close(in[1]);
					in[1] = -1;
				}
				continue;
			}
			ssize_t got = read(p[i].fd, buf, sizeof(buf));
			if (got > 0) {
				if (p[i].fd == out[0])
					add_out(&r, buf, (size_t)got);
				else
					add_err(&r, buf, (size_t)got);
			} else if (got == 0 ||
				   (errno != EAGAIN && errno != EINTR)) {
				if (p[i].fd == out[0])
					out_open = 0;
				else
					err_open = 0;
			}
		}
	}
	if (!exited) {
		/* Timeout backstop, abort or poll failure: end it now. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		wk_pause_reap(pid, &wstatus, 0);
		if (res->end == WK_END_TIMEOUT)
			snprintf(res->reason, sizeof(res->reason),
				 "timed out after %u ms",
				 req->call->timeout_ms);
		else if (res->end == WK_END_ABORTED)
			snprintf(res->reason, sizeof(res->reason),
				 "stopped: the worker is leaving");
	} else {
		res->end = WK_END_EXITED;
	}
	if (WIFEXITED(wstatus))
		res->status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		res->status = 128 + WTERMSIG(wstatus);
	if (!res->reason[0])
		find_reason(&r);
	res->ended_us = sk_now_us();
	res->out = r.out;
	res->out_len = r.out_len;
	res->err = malloc(r.err_len + 1);
	if (res->err) {
		memcpy(res->err, r.err, r.err_len);
		res->err[r.err_len] = '\0';
		res->err_len = r.err_len;
	}
	rc = 0;
	goto out;
host_fail:
	res->end = WK_END_HOST;
	snprintf(res->reason, sizeof(res->reason), "cannot start %s: %s",
		 req->monitor, strerror(-rc));
	res->ended_us = sk_now_us();
	free(r.out);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	free(av);
	return rc;
}
