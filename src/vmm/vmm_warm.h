/* vmm_warm.h: the warm path: snapshot at the first read of stdin, restore per invocation. */
#ifndef SUKIMA_VMM_WARM_H
#define SUKIMA_VMM_WARM_H

#include "vmm/vmm.h"

/*
 * vmm_warm_init(vm, res): runs a loaded function (created with cfg.warm and
 * cfg.capture) until it first reads stdin, then snapshots it: guest memory
 * (copy-on-write from then on), vCPU state, the monitor's bookkeeping, and
 * the output it wrote so far (replayed before each invocation's own).
 * Returns 1 when the snapshot exists; 0 when the function ended before
 * reading stdin (res says how; no snapshot: run it cold each time); -errno
 * if the host failed.  Bounded by cfg.timeout.
 */
int vmm_warm_init(struct vmm *vm, struct vmm_result *res);

/*
 * vmm_invoke(vm, req, len, timeout, max_output, res): one invocation from
 * the snapshot, stdin = req[0..len).  Output is in vm->out / vm->err_out
 * until the next call.  Leaves the VM restored for the next invocation.
 * Returns 0 (res filled) or -errno if the host failed.
 */
int vmm_invoke(struct vmm *vm, const uint8_t *req, size_t len, double timeout,
	       uint64_t max_output, struct vmm_result *res);

void vmm_warm_free(struct vmm *vm);

/* Input window of the fast path (used by the read emulation). */
uint64_t vmm__win_used(struct vmm *vm);
void vmm__win_fill(struct vmm *vm, uint64_t pos);

#endif
