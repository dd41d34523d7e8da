/* vmm_warm.c: the warm path: snapshot at the first read of stdin, restore per invocation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm_stub.h"
#include "vmm/vmm_syscall.h"
#include "vmm/vmm_warm.h"

struct vmm_warm {
	struct vmm_exit ex; /* the read of stdin the snapshot stopped at */
	unsigned closed_fds;
	uint64_t fs_base, sigmask;
	struct vmm_buf init_out, init_err; /* written before the snapshot */
	int need_full;			   /* next restore: all vCPU state */
};

static struct vmm_abi_shared *shared(struct vmm *vm)
{
	return vmm_mem_sys(&vm->mem, VMM_GA_SHARED,
			   sizeof(struct vmm_abi_shared));
}

uint64_t vmm__win_used(struct vmm *vm)
{
	uint64_t off = shared(vm)->in_off;

	return off > vm->win_len ? vm->win_len : off;
}

void vmm__win_fill(struct vmm *vm, uint64_t pos)
{
	struct vmm_abi_shared *sh = shared(vm);
	uint64_t n = vm->req_len - pos;

	if (n > VMM_IN_CAP)
		n = VMM_IN_CAP;
	if (n)
		memcpy(vmm_mem_sys(&vm->mem, VMM_GA_IN, n), vm->req + pos, n);
	vmm_mem_note_write(&vm->mem, VMM_GA_IN, n);
	vmm_mem_note_write(&vm->mem, VMM_GA_SHARED, sizeof(*sh));
	vm->req_pos = pos;
	vm->win_len = n;
	sh->in_len = n;
	sh->in_off = 0;
	sh->flags = VMM_SHARED_FAST |
		    (pos + n == vm->req_len ? VMM_SHARED_ALLIN : 0);
}

static int copy_buf(struct vmm_buf *dst, const struct vmm_buf *src)
{
	dst->p = malloc(src->len ? src->len : 1);
	if (!dst->p)
		return -ENOMEM;
	if (src->len)
		memcpy(dst->p, src->p, src->len);
	dst->len = dst->cap = src->len;
	return 0;
}

void vmm_warm_free(struct vmm *vm)
{
	if (!vm->warm)
		return;
	free(vm->warm->init_out.p);
	free(vm->warm->init_err.p);
	free(vm->warm);
	vm->warm = NULL;
}

static void host_failure(struct vmm_result *res, const char *what, int e)
{
	memset(res, 0, sizeof(*res));
	res->reason = VMM_HOST;
	res->status = VMM_STATUS_SETUP;
	snprintf(res->msg, sizeof(res->msg), "%s: %s", what, strerror(-e));
}

int vmm_warm_init(struct vmm *vm, struct vmm_result *res)
{
	struct vmm_abi_shared *sh;
	struct vmm_warm *w;
	struct vmm_exit ex;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&ex, 0, sizeof(ex));
	if (!vm->mem.file || !vm->cfg.capture || !vm->ops->snapshot)
		return -EINVAL;
	r = vmm__timer_arm(vm, vm->cfg.timeout);
	if (r == 0)
		r = vmm__run_loop(vm, &ex, res, 1);
	vmm__timer_disarm();
	if (r != 1)
		return r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->ex = ex;
	w->closed_fds = vm->closed_fds;
	w->fs_base = vm->fs_base;
	w->sigmask = vm->sigmask;
	if (copy_buf(&w->init_out, &vm->out) ||
	    copy_buf(&w->init_err, &vm->err_out)) {
		free(w->init_out.p);
		free(w);
		return -ENOMEM;
	}
	sh = shared(vm);
	memset(sh, 0, sizeof(*sh));
	sh->abi_version = VMM_ABI_VERSION;
	sh->flags = VMM_SHARED_FAST;
	sh->mem_lo = VMM_GA_SYS_END;
	sh->mem_hi = vm->mem.size;
	sh->guard = vm->mem.guard;
	/* From here on the CPU marks what each invocation writes. */
	vmm__dirty_reset(vm);
	r = vm->ops->snapshot(vm);
	if (r == 0)
		r = vmm_mem_freeze(&vm->mem);
	if (r == 0)
		vm->mem.track = 1;
	if (r) {
		free(w->init_out.p);
		free(w->init_err.p);
		free(w);
		host_failure(res, "snapshot", r);
		return r;
	}
	vm->warm = w;
	return 1;
}

int vmm_invoke(struct vmm *vm, const uint8_t *req, size_t len, double timeout,
	       uint64_t max_output, struct vmm_result *res)
{
	struct vmm_warm *w = vm->warm;
	struct vmm_exit ex;
	int r, done;

	memset(res, 0, sizeof(*res));
	if (!w)
		return -EINVAL;
	r = vm->ops->restore(vm, w->need_full);
	if (r) {
		host_failure(res, "restore", r);
		return r;
	}
	vm->closed_fds = w->closed_fds;
	vm->fs_base = w->fs_base;
	vm->sigmask = w->sigmask;
	vm->err_midline = 0;
	vm->exits = 0;
	vm->cfg.timeout = timeout;
	vm->cfg.max_output = max_output;
	vm->out.len = vm->err_out.len = 0;
	vm->out_bytes = 0;
	vm->req = req;
	vm->req_len = len;
	vm->fast = 1;
	vmm__win_fill(vm, 0);
	/* What the function wrote while starting up, as a cold run shows it:
	 * stdout through the stub's buffer (so it comes first), stderr
	 * straight into the captured stream. */
	if (w->init_out.len > VMM_OUT_CAP) {
		r = -E2BIG;
		host_failure(res, "start-up output", r);
		goto out;
	}
	memcpy(vmm_mem_sys(&vm->mem, VMM_GA_OUT, w->init_out.len),
	       w->init_out.p, w->init_out.len);
	vmm_mem_note_write(&vm->mem, VMM_GA_OUT, w->init_out.len);
	shared(vm)->out_len = w->init_out.len;
	if (w->init_err.len) {
		void *p = realloc(vm->err_out.p, w->init_err.len);

		if (!p) {
			r = -ENOMEM;
			host_failure(res, "start-up output", r);
			goto out;
		}
		vm->err_out.p = p;
		vm->err_out.cap = w->init_err.len;
		memcpy(p, w->init_err.p, w->init_err.len);
		vm->err_out.len = w->init_err.len;
		vm->out_bytes = w->init_err.len;
	}

	ex = w->ex;
	r = vmm__timer_arm(vm, timeout);
	if (r) {
		vmm__timer_disarm();
		host_failure(res, "timer", r);
		goto out;
	}
	/* Complete the read the snapshot stopped at, then run. */
	done = vmm_syscall(vm, &ex, res);
	if (!done)
		r = vmm__run_loop(vm, &ex, res, 0);
	else
		vmm_syscall_flush(vm, res);
	vmm__timer_disarm();
out:
	vm->req = NULL;
	vm->fast = 0;
	w->need_full =
		(res->reason != VMM_EXITED && res->reason != VMM_OUTPUT) ||
		vm->fs_base != w->fs_base;
	if (res->reason == VMM_ABI || res->reason == VMM_HOST) {
		/* The vCPU may be wedged (shutdown): a new VM, same memory. */
		vm->ops->destroy(vm);
		if (vm->ops->create(vm) == 0)
			w->need_full = 1;
	}
	/* Back to the snapshot now, so an idle VM holds no dirtied page:
	 * what the guest wrote (Dirty bits) and what the monitor wrote. */
	vmm__dirty_scan(vm);
	if (vmm_mem_reset(&vm->mem) && r == 0)
		r = -EIO;
	return r;
}
