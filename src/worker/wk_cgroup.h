/* wk_cgroup.h: the monitors' own cgroup v2 (idle CPU, a memory cap, an optional CPU cap) where the PC allows it. */
#ifndef SUKIMA_WK_CGROUP_H
#define SUKIMA_WK_CGROUP_H

#include <stdint.h>

/*
 * Create the worker's monitor cgroup: a child "sukima-monitors-<pid>" of
 * the worker's own cgroup v2, only where that cgroup already hands the cpu
 * and memory controllers down (cgroup.subtree_control) and is writable:
 * nothing that exists is ever modified, except that an empty
 * "sukima-monitors-<pid>" whose worker is gone (killed before it could
 * remove it) is removed.  Sets cpu.idle 1 (or cpu.weight 1
 * on kernels without it), memory.max (mem_bytes), and cpu.max when
 * (cpu_max_pct) > 0.  Logs one line either way (the fallback: priorities
 * only).  Returns 0 (in use) or -errno (not available; not an error).
 */
int wk_cgroup_open(uint64_t mem_bytes, int cpu_max_pct);

/*
 * Descriptor of the cgroup's cgroup.procs, or -1: a monitor writes "0"
 * into it before exec (wk__exec_spawn) to enter it.
 */
int wk_cgroup_procs_fd(void);

/* Remove the cgroup (after the last monitor ended). */
void wk_cgroup_close(void);

#endif
