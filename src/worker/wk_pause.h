/* wk_pause.h: the worker's live monitors: pausing and resuming them, their CPU time, a clock that stops while they are paused. */
#ifndef SUKIMA_WK_PAUSE_H
#define SUKIMA_WK_PAUSE_H

#include <stdint.h>
#include <sys/types.h>

/*
 * A monitor pauses on SIGUSR1 and resumes on SIGUSR2 (docs/guest-abi.md
 * "Pausing"): its vCPU is not run and its deadline timer stops meanwhile.
 * The worker spawns monitors with both signals blocked, so one sent before
 * the monitor installed its handlers waits instead of killing it.
 */
#define WK_PAUSE_SIG  SIGUSR1
#define WK_RESUME_SIG SIGUSR2

/* (pid) is a live monitor of ours: paused at once if we are paused. */
void wk_pause_track(pid_t pid);
/* (pid) has exited and is about to be reaped (never after the reap). */
void wk_pause_untrack(pid_t pid);

/*
 * Reap monitor (pid) (untracking it first, while it is still a zombie, so
 * no signal of ours can reach a recycled pid).  (nohang): 0 when it has
 * not exited yet.  Returns pid, 0, or -errno; (*status) as waitpid's.
 */
pid_t wk_pause_reap(pid_t pid, int *status, int nohang);

/* Pause / resume every live monitor (and the ones started meanwhile). */
void wk_pause_all(void);
void wk_resume_all(void);
int wk_pause_paused(void);

/*
 * Milliseconds of CLOCK_MONOTONIC during which the monitors were not
 * paused: the clock the worker's own backstop deadlines use, so suspended
 * time is not held against a function.
 */
int64_t wk_pause_clock_ms(void);

/*
 * CPU time (clock ticks, user + system) of this process, of its reaped
 * children, and of the live monitors: what Sukima itself costs the PC.
 */
uint64_t wk_pause_own_cpu(void);

#endif
