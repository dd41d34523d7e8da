/* vmm.h: the protection domain's public API: create, load, run, destroy. */
#ifndef SUKIMA_VMM_H
#define SUKIMA_VMM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm_abi.h"
#include "vmm/vmm_mem.h"

struct vmm_config {
	uint64_t mem_size;   /* bytes, multiple of 2 MiB */
	double timeout;	     /* seconds of wall clock per run */
	uint64_t max_output; /* stdout + stderr bytes per run */
	int trace;	     /* one line per system call on trace_fd */
	int in_fd, out_fd, err_fd, trace_fd;
	const char *backend; /* NULL: detect (see vmm_backend_pick) */
	int warm;	     /* file-backed memory, so it can be snapshotted */
	int capture;	     /* stdout/stderr go to vm->out/err_out, not fds */
};

/* Defaults as documented in docs/guest-abi.md. */
void vmm_config_default(struct vmm_config *cfg);

enum vmm_reason {
	VMM_EXITED,  /* the function called exit/exit_group */
	VMM_TIMEOUT, /* wall-clock deadline */
	VMM_OUTPUT,  /* output limit */
	VMM_FAULT,   /* CPU exception in the function */
	VMM_ABI,     /* triple fault, unexpected exit, ... */
	VMM_HOST,    /* the host failed under us (KVM_RUN error, ...) */
};

struct vmm_result {
	enum vmm_reason reason;
	int status;	/* process exit status for this result */
	int vector;	/* VMM_FAULT: CPU exception vector */
	uint64_t error; /* VMM_FAULT: error code */
	uint64_t rip;	/* VMM_FAULT / VMM_ABI: guest rip */
	uint64_t addr;	/* #PF: faulting address (CR2) */
	char msg[200];	/* one line without "sukima: ", empty for EXITED */
};

/* What the backend reports when KVM_RUN comes back to us. */
enum vmm_exit_kind {
	VMM_X_NONE,
	VMM_X_SYSCALL,
	VMM_X_EXCEPTION,
	VMM_X_TIMEOUT,
	VMM_X_ABI,
	VMM_X_HOST,
};

struct vmm_exit {
	enum vmm_exit_kind kind;
	uint64_t nr, arg[6]; /* VMM_X_SYSCALL */
	uint64_t ret;	     /* VMM_X_SYSCALL: result, set before re-entry */
	int vector;	     /* VMM_X_EXCEPTION */
	uint64_t error, rip, cr2;
	char what[120]; /* VMM_X_ABI / VMM_X_HOST: description */
};

struct vmm;
struct vmm_backend; /* opaque, per backend */

/* One hypervisor API flavour.  The table lives in vmm.c. */
struct vmm_backend_ops {
	const char *name;
	/* 1 if this flavour is the host's (checked in table order). */
	int (*probe)(void);
	/* the stub at VMM_GA_STUB, and whether user mode may reach its port */
	const uint8_t *stub, *stub_end;
	int user_port;
	/* opens the hypervisor, VM + vCPU + memory; vm->mem is ready. */
	int (*create)(struct vmm *vm);
	/* initial registers: first user instruction at rip, stack at rsp */
	int (*start)(struct vmm *vm, uint64_t rip, uint64_t rsp);
	/* runs until an exit of interest; re-entry completes a syscall */
	int (*run)(struct vmm *vm, struct vmm_exit *ex);
	int (*set_fs_base)(struct vmm *vm, uint64_t base);
	void (*destroy)(struct vmm *vm);
	/* warm path: save the vCPU at a syscall exit; put it back (full: also
	 * segments and control state, after a fault or a new VM) */
	int (*snapshot)(struct vmm *vm);
	int (*restore)(struct vmm *vm, int full);
};

/* A growable byte buffer (captured output). */
struct vmm_buf {
	uint8_t *p;
	size_t len, cap;
};

struct vmm {
	struct vmm_config cfg;
	const struct vmm_backend_ops *ops;
	struct vmm_backend *b;
	struct vmm_mem mem;
	/* per-run state of the syscall emulation */
	uint64_t out_bytes;
	unsigned closed_fds; /* bit i: guest closed fd i (0..2) */
	int err_midline;     /* the guest's stderr does not end in '\n' */
	uint64_t fs_base, sigmask;
	uint64_t entry, sp;
	volatile sig_atomic_t timed_out; /* set by the deadline timer */
	char err[200];			 /* setup error details */
	/* warm path (vmm_warm.c) */
	struct vmm_buf out, err_out; /* captured stdout / stderr */
	const uint8_t *req;	     /* stdin of a warm invocation */
	uint64_t req_len, req_pos;   /* req_pos: start of the input window */
	uint64_t win_len;	     /* bytes the monitor put in the window */
	int fast;		     /* the stub serves read(0)/write(1) */
	uint64_t exits;		     /* exits to the monitor in this run */
	struct vmm_warm *warm;	     /* the snapshot, NULL until taken */
	void *vcpu_snap;	     /* the backend's part of it (malloc'd) */
};

/*
 * vmm_create(out, cfg): picks the backend, reserves guest memory, builds the
 * page tables and descriptor tables, creates the VM and its vCPU.  Opens
 * /dev/kvm; touches no other file.  Returns 0, or -errno with the reason in
 * (*out)->err when *out is not NULL (destroy it anyway).
 */
int vmm_create(struct vmm **out, const struct vmm_config *cfg);

/*
 * vmm_load(vm, elf, len, argc, argv, envc, envp): loads a static ELF from
 * memory and builds the Linux start-up stack.  Call once, after
 * vmm_create().  Returns 0, -ENOEXEC / -E2BIG (ELF rejected, reason in
 * vm->err) or -ENOMEM (the arguments do not fit the stack).
 */
int vmm_load(struct vmm *vm, const uint8_t *elf, size_t len, int argc,
	     char *const *argv, int envc, char *const *envp);

/*
 * vmm_run(vm, res): runs the function until it exits or the monitor ends it
 * (deadline, output limit, fault, ABI breach).  Fills res.  Returns 0, or
 * -errno if the host failed (res says why as well).
 */
int vmm_run(struct vmm *vm, struct vmm_result *res);

void vmm_destroy(struct vmm *vm);

/*
 * Make SIGUSR1 pause the monitor (its vCPU not run, its deadline timer
 * stopped) until SIGUSR2, and unblock both.  Call once, early in main.
 */
int vmm_pause_init(void);

/*
 * vmm__run_loop(vm, ex, res, stop_at_stdin): the run loop shared by cold and
 * warm runs.  ex is the exit to complete first (VMM_X_NONE at the start).
 * With stop_at_stdin, returns 1 with ex holding the first read/readv of fd
 * 0, unemulated (the snapshot point).  Otherwise returns 0 with res filled,
 * or -errno if the host failed.  The deadline timer must be armed.
 */
int vmm__run_loop(struct vmm *vm, struct vmm_exit *ex, struct vmm_result *res,
		  int stop_at_stdin);
int vmm__timer_arm(struct vmm *vm, double seconds);
/* Warm VMs: clear every Dirty bit of the identity map (before the
 * snapshot); note every page whose Dirty bit is set (after an invocation)
 * with vmm_mem_note_write(), returning how many. */
void vmm__dirty_reset(struct vmm *vm);
uint64_t vmm__dirty_scan(struct vmm *vm);
void vmm__timer_disarm(void);

/* vmm_backend_pick(name): by name, or detected when name is NULL. */
const struct vmm_backend_ops *vmm_backend_pick(const char *name);

/* Internal: shared by vmm.c and the backends. */
/* The running backend's "leave KVM_RUN at once" flag, set by the timer. */
extern volatile uint8_t *volatile vmm__kick;

#endif
