/* wk_exec.h: running one invocation in a protection domain (the monitor process). */
#ifndef SUKIMA_WK_EXEC_H
#define SUKIMA_WK_EXEC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
 * Choose the execution mode: (max_warm) > 0 keeps up to that many idle
 * `sukima-vmm --serve` monitors (warm micro-VMs restored from a snapshot
 * per invocation, docs/guest-abi.md "Serve protocol"), 0 runs every
 * invocation cold.  (max_warm_mem) bounds the guest memory, in bytes, that
 * the idle ones may hold together; the least recently used are ended to
 * stay within both bounds.  Call once before wk_exec_run().
 */
void wk_exec_init(int max_warm, uint64_t max_warm_mem);

/*
 * Run (req) to completion: warm when a pooled monitor fits (same ELF,
 * memory, argv and env) or one can be started, cold otherwise (functions
 * that never read stdin, monitors that fail to start).  Returns 0 with
 * (res) filled (free with wk_exec_res_free), or -errno for host failures
 * before anything ran (res->end = WK_END_HOST and res->reason set in that
 * case too).  Thread-safe.
 */
int wk_exec_run(const struct wk_exec_req *req, struct wk_exec_res *res);

/* End idle warm monitors unused for (idle_ms).  Thread-safe. */
void wk_exec_housekeeping(int64_t idle_ms);

/* End every idle warm monitor (at exit).  Thread-safe. */
void wk_exec_shutdown(void);

/* Counters since start: warm runs, cold runs, monitors started warm. */
void wk_exec_stats(uint64_t *warm, uint64_t *cold, uint64_t *started);

/* --- internal: shared by wk_exec_cold.c and wk_exec_warm.c --------------- */

/* The monitor's argv (with --serve when (serve)); NULL on ENOMEM. */
char **wk__exec_argv(const struct wk_exec_req *req, char nums[3][32],
		     int serve);
/* Spawn the monitor with (in, out, err) as its stdio: pid or -errno. */
pid_t wk__exec_spawn(const char *path, char **av, int in, int out, int err);
int wk__exec_cold(const struct wk_exec_req *req, struct wk_exec_res *res);
/* -ENOTSUP: this one cannot run warm (run it cold). */
int wk__exec_warm(const struct wk_exec_req *req, struct wk_exec_res *res);
void wk_exec_res_free(struct wk_exec_res *res);

/* Map a monitor exit status to an invocation outcome and a reason. */
enum sk_status wk_exec_status(const struct wk_exec_res *res, char *reason,
			      size_t cap);

#endif
