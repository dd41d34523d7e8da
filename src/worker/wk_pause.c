/* wk_pause.c: the worker's live monitors: pause/resume by signal, a pause-aware clock, their CPU time. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/sk_util.h"
#include "worker/wk_pause.h"

#define MAX_LIVE 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t live[MAX_LIVE];
static int nlive;
static int paused;
static int64_t paused_at, paused_total;

void wk_pause_track(pid_t pid)
{
	pthread_mutex_lock(&lock);
	if (nlive < MAX_LIVE)
		live[nlive++] = pid;
	/* Blocked in the monitor until its handlers are in: never lost. */
	if (paused)
		kill(pid, WK_PAUSE_SIG);
	pthread_mutex_unlock(&lock);
}

void wk_pause_untrack(pid_t pid)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nlive; i++)
		if (live[i] == pid) {
			live[i] = live[--nlive];
			break;
		}
	pthread_mutex_unlock(&lock);
}

pid_t wk_pause_reap(pid_t pid, int *status, int nohang)
{
	siginfo_t si;
	pid_t r;

	/* Wait without reaping: the zombie keeps its pid ours meanwhile. */
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si,
			   WEXITED | WNOWAIT | (nohang ? WNOHANG : 0)) == 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	if (si.si_pid == 0)
		return 0; /* WNOHANG and still running */
	wk_pause_untrack(pid);
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	return r < 0 ? -errno : r;
}

static void signal_all(int sig)
{
	for (int i = 0; i < nlive; i++)
		kill(live[i], sig);
}

void wk_pause_all(void)
{
	pthread_mutex_lock(&lock);
	if (!paused) {
		paused = 1;
		paused_at = sk_mono_ms();
		signal_all(WK_PAUSE_SIG);
	}
	pthread_mutex_unlock(&lock);
}

void wk_resume_all(void)
{
	pthread_mutex_lock(&lock);
	if (paused) {
		paused = 0;
		paused_total += sk_mono_ms() - paused_at;
		signal_all(WK_RESUME_SIG);
	}
	pthread_mutex_unlock(&lock);
}

int wk_pause_paused(void)
{
	int p;

	pthread_mutex_lock(&lock);
	p = paused;
	pthread_mutex_unlock(&lock);
	return p;
}

int64_t wk_pause_clock_ms(void)
{
	int64_t now = sk_mono_ms(), t;

	pthread_mutex_lock(&lock);
	t = now - paused_total - (paused ? now - paused_at : 0);
	pthread_mutex_unlock(&lock);
	return t;
}

/* utime + stime (+ cutime + cstime when (children)) of /proc/<pid>/stat. */
static uint64_t proc_cpu(const char *path, int children)
{
	char buf[1024], *p;
	unsigned long long v[4] = {0};
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: after the last. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
			 "%llu %llu %llu",
			 &v[0], &v[1], &v[2], &v[3]) != 4)
		return 0;
	return v[0] + v[1] + (children ? v[2] + v[3] : 0);
}

uint64_t wk_pause_own_cpu(void)
{
	pid_t pids[MAX_LIVE];
	uint64_t sum = proc_cpu("/proc/self/stat", 1);
	char path[64];
	int n;

	pthread_mutex_lock(&lock);
	n = nlive;
	memcpy(pids, live, (size_t)n * sizeof(pid_t));
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
		sum += proc_cpu(path, 0);
	}
	return sum;
}
