/* wk_exec.c: what both execution modes share: the monitor's command line, spawning it, outcomes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "worker/wk_cgroup.h"
#include "worker/wk_exec.h"
#include "worker/wk_pause.h"
#include "worker/wk_stats.h"

extern char **environ;

/* argv for the monitor; strings point into the call or (nums). */
char **wk__exec_argv(const struct wk_exec_req *req, char nums[3][32], int serve)
{
	const struct sk_call *c = req->call;
	size_t n = 0, cap = 9 + 2 * c->env.n + c->argv.n;
	char **av = calloc(cap + 1, sizeof(*av));
	unsigned secs;

	if (!av)
		return NULL;
	/* The monitor takes whole seconds; the worker enforces the rest. */
	secs = (c->timeout_ms + 999) / 1000;
	snprintf(nums[0], 32, "%uM", c->mem_mib);
	snprintf(nums[1], 32, "%u", secs ? secs : 1);
	snprintf(nums[2], 32, "%llu", (unsigned long long)c->max_output);
	av[n++] = (char *)req->monitor;
	av[n++] = "--mem";
	av[n++] = nums[0];
	av[n++] = "--timeout";
	av[n++] = nums[1];
	av[n++] = "--max-output";
	av[n++] = nums[2];
	for (size_t i = 0; i < c->env.n; i++) {
		av[n++] = "--env";
		av[n++] = c->env.v[i];
	}
	if (serve)
		av[n++] = "--serve";
	av[n++] = (char *)req->elf;
	for (size_t i = 0; i < c->argv.n; i++)
		av[n++] = c->argv.v[i];
	av[n] = NULL;
	return av;
}

/*
 * Start the monitor with the pipes as its stdio, in its own session and
 * so process group (a Ctrl-C aimed at the worker's terminal must not kill
 * running functions: the worker decides; and where the kernel groups
 * sessions for fairness (autogroup), its own group at nice 19 competes
 * with the owner's, not the worker's session at the owner's weight), and with PR_SET_PDEATHSIG so a worker
 * killed outright (SIGKILL, OOM) takes its monitors with it instead of
 * leaving them running to their timeout.  vfork: no copy of the worker's
 * address space; signals stay blocked until the child has reset them, so
 * no handler of ours runs in the child.  The monitor starts at SCHED_IDLE
 * and nice 19 (its set-up is the owner's CPU too), in the monitors' cgroup
 * when there is one (wk_cgroup.h), with the pause signals blocked until it
 * has its handlers (wk_pause.h).  Returns the pid or -errno.
 */
pid_t wk__exec_spawn(const char *path, char **av, int in, int out, int err)
{
	struct sched_param sp = {.sched_priority = 0};
	sigset_t all, old, pause_sigs;
	pid_t parent = getpid(), pid;
	int e, ag, cg = wk_cgroup_procs_fd();

	sigfillset(&all);
	sigemptyset(&pause_sigs);
	sigaddset(&pause_sigs, WK_PAUSE_SIG);
	sigaddset(&pause_sigs, WK_RESUME_SIG);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = vfork();
	if (pid == 0) {
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(125);
		if (setsid() < 0)
			setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(125); /* the worker died in between */
		/* Best effort, like the monitor's own: never a reason to fail. */
		if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0 ||
		    setpriority(PRIO_PROCESS, 0, 19) < 0)
			errno = 0;
		if (cg >= 0 && write(cg, "0", 1) < 0)
			errno = 0;
		ag = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
		if (ag >= 0 && write(ag, "19", 2) < 0)
			errno = 0;
		if (ag >= 0)
			close(ag);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		sigprocmask(SIG_SETMASK, &pause_sigs, NULL);
		execve(path, av, environ);
		_exit(errno == ENOENT ? 127 : 126);
	}
	e = errno;
	if (pid > 0)
		wk_pause_track(pid);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid < 0 ? -e : pid;
}

void wk_exec_res_free(struct wk_exec_res *res)
{
	free(res->out);
	free(res->err);
	res->out = NULL;
	res->err = NULL;
}

enum sk_status wk_exec_status(const struct wk_exec_res *res, char *reason,
			      size_t cap)
{
	if (res->end == WK_END_TIMEOUT ||
	    (res->end == WK_END_EXITED && res->status == 124)) {
		snprintf(reason, cap, "%s",
			 res->reason[0] ? res->reason : "timed out");
		return SK_ST_TIMED_OUT;
	}
	if (res->end == WK_END_EXITED && res->status == 0) {
		reason[0] = '\0';
		return SK_ST_SUCCEEDED;
	}
	if (res->end == WK_END_EXITED && res->status == 128 + SIGSYS) {
		/* The monitor's fault (or an attack on it), not the
		 * function's outcome: the guest never makes host calls. */
		snprintf(reason, cap,
			 "monitor killed by its seccomp jail "
			 "(forbidden system call)");
		sk_error("%s", reason);
		return SK_ST_FAILED;
	}
	if (res->reason[0])
		snprintf(reason, cap, "%s", res->reason);
	else if (res->end == WK_END_EXITED && res->status > 128)
		snprintf(reason, cap, "killed by signal %d", res->status - 128);
	else
		snprintf(reason, cap, "exit status %d", res->status);
	return SK_ST_FAILED;
}

int wk_exec_run(const struct wk_exec_req *req, struct wk_exec_res *res)
{
	int rc = wk__exec_warm(req, res), warm = rc != -ENOTSUP;

	if (!warm)
		rc = wk__exec_cold(req, res);
	if (rc == 0 && res->end == WK_END_EXITED)
		wk_stats_run(warm, res->ended_us - res->started_us);
	return rc;
}
