/* vmm_kvm.h: internal interface between the common KVM code and its flavours. */
#ifndef SUKIMA_VMM_KVM_H
#define SUKIMA_VMM_KVM_H

#include <stdint.h>

#include "vmm/vmm.h"

/*
 * What differs between PVM (guest starts at CPL 3; `syscall` lands in a
 * user-mode stub that exits with `out`; the monitor returns to RCX itself)
 * and standard VMX/SVM (CPL 0 stub `out; sysretq`; OSXSAVE and XCR0).
 */
struct vmm__kvm_flavour {
	uint64_t cr4;
	uint64_t sfmask;
	int set_xcr0;	     /* KVM_SET_XCRS with XCR0 = x87|SSE|AVX */
	int monitor_returns; /* the monitor sets RIP = RCX, RFLAGS = R11 */
	int cpuid_required;  /* SET_CPUID2 must work; 0: cold VMs get none */
};

int vmm__kvm_create(struct vmm *vm, const struct vmm__kvm_flavour *fl);
int vmm__kvm_start(struct vmm *vm, uint64_t rip, uint64_t rsp);
int vmm__kvm_run(struct vmm *vm, struct vmm_exit *ex);
int vmm__kvm_set_fs_base(struct vmm *vm, uint64_t base);
void vmm__kvm_destroy(struct vmm *vm);
int vmm__kvm_snapshot(struct vmm *vm);
int vmm__kvm_restore(struct vmm *vm, int full);

#endif
