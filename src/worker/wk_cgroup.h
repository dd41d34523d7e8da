/* wk_cgroup.h: the monitors' own cgroup v2 (idle CPU, a memory cap, an optional CPU cap) where the PC allows it. */
#ifndef SUKIMA_WK_CGROUP_H
#define SUKIMA_WK_CGROUP_H

#include <stdint.h>

/*
 * Create the worker's monitor cgroup "sukima-monitors-<pid>", a child of
 * the worker's own cgroup v2 (P), in one of two cases:
 *  - P already hands the cpu and memory controllers down
 *    (cgroup.subtree_control; in practice only the root cgroup can) and
 *    is writable: P itself is left as it is;
 *  - P is delegated to the worker: not the root, marked delegated the
 *    way systemd marks a unit with Delegate= (user.delegate or
 *    trusted.delegate "1"), offers cpu and memory (cgroup.controllers),
 *    P, its cgroup.procs and cgroup.subtree_control are writable by the
 *    worker and the worker is its only process.  The worker then moves
 *    itself into the leaf P/sukima-worker and enables +cpu +memory in P's
 *    cgroup.subtree_control first (the no-internal-process rule), and
 *    stays there.
 * Anything else that exists is never modified, except that an empty
 * "sukima-monitors-<pid>" under P whose worker is gone (killed before it
 * could remove it) is removed.  Sets cpu.idle 1 (or cpu.weight 1 on
 * kernels without it), memory.max (mem_bytes), and cpu.max when
 * (cpu_max_pct) > 0.  Must be called before the first monitor is started
 * (they are the worker's children: in P, they would keep it from handing
 * controllers down).  Logs one line either way (the fallback: priorities
 * only).  Returns 0 (in use) or -errno (not available; not an error).
 */
int wk_cgroup_open(uint64_t mem_bytes, int cpu_max_pct);

/*
 * Descriptor of the cgroup's cgroup.procs, or -1: a monitor writes "0"
 * into it before exec (wk__exec_spawn) to enter it.
 */
int wk_cgroup_procs_fd(void);

/*
 * Remove the monitors' cgroup (after the last monitor ended); the worker
 * stays in its leaf, and P keeps handing cpu and memory down (systemd
 * removes a unit's whole subtree when the unit stops).
 */
void wk_cgroup_close(void);

#endif
