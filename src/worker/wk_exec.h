/* wk_exec.h: running one invocation in a protection domain (the monitor process). */
#ifndef SUKIMA_WK_EXEC_H
#define SUKIMA_WK_EXEC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sk_model.h"

/*
 * The interface every execution mode implements.  Today: the cold mode, one
 * `sukima-vmm` process per invocation (wk_exec_cold.c).  The warm mode (a
 * `sukima-vmm --serve` pool restoring snapshots) replaces it behind the same
 * call.
 */
struct wk_exec_req {
	const char *monitor;	    /* path of sukima-vmm */
	const char *elf;	    /* verified artifact in the cache */
	const struct sk_call *call; /* mem, timeout, max_output, argv, env */
	const void *input;	    /* request bytes -> stdin */
	size_t input_len;
	/*
	 * Called every (tick_ms) while the function runs (the lease renewal:
	 * +WPI); may be NULL.
	 */
	void (*tick)(void *ctx);
	void *tick_ctx;
	int64_t tick_ms;
	/* When it becomes non-zero the run is aborted (drain deadline). */
	volatile sig_atomic_t *abort;
	/* Also stop at this CLOCK_MONOTONIC ms deadline (0 = none). */
	int64_t hard_deadline_ms;
};

enum wk_exec_end {
	WK_END_EXITED = 0, /* the monitor exited: see status */
	WK_END_TIMEOUT,	   /* the worker's own backstop timer fired */
	WK_END_ABORTED,	   /* req->abort was set: hand the work back */
	WK_END_HOST,	   /* could not start the monitor (reason says) */
};

struct wk_exec_res {
	enum wk_exec_end end;
	int status;	    /* exit status, or 128+signal */
	unsigned char *out; /* stdout, at most call->max_output bytes */
	size_t out_len;
	int out_truncated; /* the monitor wrote more than max_output */
	char *err;	   /* stderr tail, NUL-terminated */
	size_t err_len;
	char reason[256]; /* the monitor's "sukima: <reason>" or ours */
	int64_t started_us, ended_us;
};

/*
 * Run (req) to completion.  Returns 0 with (res) filled (free with
 * wk_exec_res_free), or -errno for host failures before anything ran
 * (res->end = WK_END_HOST and res->reason set in that case too).
 */
int wk_exec_run(const struct wk_exec_req *req, struct wk_exec_res *res);
void wk_exec_res_free(struct wk_exec_res *res);

/* Map a monitor exit status to an invocation outcome and a reason. */
enum sk_status wk_exec_status(const struct wk_exec_res *res, char *reason,
			      size_t cap);

#endif
