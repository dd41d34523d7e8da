/* vmm_kvm_std.c: the standard (VMX/SVM) flavour of the KVM backend. */
#include "vmm/vmm_kvm.h"
#include "vmm/vmm_stub.h"

/*
 * With hardware virtualisation `syscall` enters CPL 0 at LSTAR (on the user
 * stack: no stack switch).  The stub exits with `out`, the monitor puts the
 * result in RAX, and the stub returns to user mode with sysretq.
 */

static const struct vmm__kvm_flavour std = {
	/* PAE | OSFXSR | OSXMMEXCPT | OSXSAVE: AVX needs XCR0 */
	.cr4 = 0x40620, .sfmask = 0x700, /* TF | IF | DF cleared in the stub */
	.set_xcr0 = 1,	.monitor_returns = 0, .cpuid_required = 1,
};

/* The fallback: any KVM that is not PVM is hardware VMX or SVM. */
static int probe(void)
{
	return 1;
}

static int create(struct vmm *vm)
{
	return vmm__kvm_create(vm, &std);
}

const struct vmm_backend_ops vmm_kvm_std_ops = {
	.name = "kvm-std",
	.probe = probe,
	.stub = vmm__stub_std,
	.stub_end = vmm__stub_std_end,
	.user_port = 0,
	.create = create,
	.start = vmm__kvm_start,
	.run = vmm__kvm_run,
	.set_fs_base = vmm__kvm_set_fs_base,
	.destroy = vmm__kvm_destroy,
	.snapshot = vmm__kvm_snapshot,
	.restore = vmm__kvm_restore,
};
