/* vmm_syscall.h: the allowlist emulation of Linux system calls for the guest. */
#ifndef SUKIMA_VMM_SYSCALL_H
#define SUKIMA_VMM_SYSCALL_H

#include "vmm/vmm.h"

/*
 * vmm_syscall(vm, ex, res): emulates system call ex->nr with ex->arg[] and
 * stores the guest-visible result (value or -errno) in ex->ret.  Returns 0
 * to resume the guest, or 1 when the function is over (exit, output limit,
 * deadline), with res filled.  Only read of fd 0, write of fds 1 and 2,
 * clocks, sleeps and getrandom reach the host.
 */
int vmm_syscall(struct vmm *vm, struct vmm_exit *ex, struct vmm_result *res);

/*
 * vmm_syscall_flush(vm, res): writes out what the stub buffered (warm
 * path), counted against the output limit.  Returns 1 if the limit was
 * crossed (res then says so unless it already holds another ending).
 */
int vmm_syscall_flush(struct vmm *vm, struct vmm_result *res);

/* vmm_syscall_name(nr): the Linux name, or NULL if unknown. */
const char *vmm_syscall_name(uint64_t nr);

/* The fixed uname(2) values (documented in docs/guest-abi.md). */
#define VMM_UNAME_SYSNAME  "Linux"
#define VMM_UNAME_NODENAME "sukima"
#define VMM_UNAME_RELEASE  "6.1.0-sukima"
#define VMM_UNAME_VERSION  "#1 SMP PREEMPT_DYNAMIC"
#define VMM_UNAME_MACHINE  "x86_64"
#define VMM_GUEST_PID	   1
#define VMM_GUEST_UID	   1000

#endif
