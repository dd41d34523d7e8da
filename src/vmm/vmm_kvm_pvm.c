/* vmm_kvm_pvm.c: the PVM flavour of the KVM backend (kvm_pvm: guest code at CPL 3). */
#include <unistd.h>

#include "vmm/vmm_kvm.h"
#include "vmm/vmm_stub.h"

/*
 * Under PVM, `syscall` jumps to LSTAR without changing CPL, CS or RSP: the
 * stub is user code on the user stack (no pushes: red zone).  It exits with
 * `out`; the monitor then resumes at RCX with RFLAGS = R11 itself, since
 * sysretq would #GP at CPL 3.  The ud2 is never reached.
 */

static const struct vmm__kvm_flavour pvm = {
	.cr4 = 0x620, /* PAE | OSFXSR | OSXMMEXCPT: PVM refuses OSXSAVE */
	.sfmask = 0,
	.set_xcr0 = 0,
	.monitor_returns = 1,
	.cpuid_required = 0,
};

/* kvm_pvm is loaded: the only way to tell it from VMX/SVM before a run. */
static int probe(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static int create(struct vmm *vm)
{
	return vmm__kvm_create(vm, &pvm);
}

const struct vmm_backend_ops vmm_kvm_pvm_ops = {
	.name = "kvm-pvm",
	.probe = probe,
	.stub = vmm__stub_pvm,
	.stub_end = vmm__stub_pvm_end,
	.user_port = 1,
	.create = create,
	.start = vmm__kvm_start,
	.run = vmm__kvm_run,
	.set_fs_base = vmm__kvm_set_fs_base,
	.destroy = vmm__kvm_destroy,
	.snapshot = vmm__kvm_snapshot,
	.restore = vmm__kvm_restore,
};
