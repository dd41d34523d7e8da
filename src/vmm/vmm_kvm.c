/* vmm_kvm.c: KVM backend of the protection domain, common to both flavours. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/vmm_kvm.h"

#define MSR_STAR	   0xc0000081
#define MSR_LSTAR	   0xc0000082
#define MSR_SYSCALL_MASK   0xc0000084
#define MSR_FS_BASE	   0xc0000100
#define MSR_GS_BASE	   0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102

/* The vCPU at the snapshot (warm path). */
struct kvm_snap {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
};

struct vmm_backend {
	const struct vmm__kvm_flavour *fl;
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
};

static int fail(struct vmm *vm, const char *what)
{
	int e = errno;

	snprintf(vm->err, sizeof(vm->err), "%s: %s", what, strerror(e));
	return -e;
}

static int set_msrs(struct vmm_backend *b, const uint32_t *idx,
		    const uint64_t *val, unsigned n)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[8];
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = n;
	for (unsigned i = 0; i < n; i++) {
		m.e[i].index = idx[i];
		m.e[i].data = val[i];
	}
	return ioctl(b->vcpu, KVM_SET_MSRS, &m) == (int)n ? 0 : -1;
}

static int setup_cpuid(struct vmm *vm, struct vmm_backend *b)
{
	struct kvm_cpuid2 *c = NULL;
	int n = 128, r;

	for (;;) {
		free(c);
		c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = (uint32_t)n;
		r = ioctl(b->kvm, KVM_GET_SUPPORTED_CPUID, c);
		if (r == 0 || errno != E2BIG || n >= 4096)
			break;
		n *= 2;
	}
	if (r == 0)
		r = ioctl(b->vcpu, KVM_SET_CPUID2, c);
	if (r < 0 && b->fl->cpuid_required) {
		r = fail(vm, "KVM_SET_CPUID2");
		free(c);
		return r;
	}
	free(c);
	return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->dpl = (uint8_t)(sel & 3);
	s->s = 1;
	s->l = code;
	s->db = !code;
	s->g = 1;
}

static int setup_sregs(struct vmm *vm, struct vmm_backend *b)
{
	struct kvm_sregs sr;

	if (ioctl(b->vcpu, KVM_GET_SREGS, &sr))
		return fail(vm, "KVM_GET_SREGS");
	sr.cr0 = 0x80050033; /* PG | AM | WP | NE | ET | MP | PE */
	sr.cr3 = VMM_GA_PML4;
	sr.cr4 = b->fl->cr4;
	sr.efer = 0xd01; /* SCE | LME | LMA | NXE */
	seg(&sr.cs, VMM_SEL_UCODE, 11, 1);
	seg(&sr.ss, VMM_SEL_UDATA, 3, 0);
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.selector = VMM_SEL_TSS;
	sr.tr.base = VMM_GA_TSS;
	sr.tr.limit = 104 + 32;
	sr.tr.type = 11; /* busy 64-bit TSS */
	sr.tr.present = 1;
	memset(&sr.ldt, 0, sizeof(sr.ldt));
	sr.ldt.type = 2;
	sr.ldt.unusable = 1;
	sr.gdt.base = VMM_GA_GDT;
	sr.gdt.limit = 10 * 8 - 1;
	sr.idt.base = VMM_GA_IDT;
	sr.idt.limit = 32 * 16 - 1;
	if (ioctl(b->vcpu, KVM_SET_SREGS, &sr))
		return fail(vm, "KVM_SET_SREGS");
	return 0;
}

int vmm__kvm_create(struct vmm *vm, const struct vmm__kvm_flavour *fl)
{
	struct vmm_backend *b = calloc(1, sizeof(*b));
	struct kvm_userspace_memory_region mr;
	int r, sz;

	if (!b)
		return -ENOMEM;
	b->fl = fl;
	b->kvm = b->vm = b->vcpu = -1;
	vm->b = b;

	b->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (b->kvm < 0)
		return fail(vm, errno == ENOENT ? "no /dev/kvm (is KVM "
						  "available?)"
						: "cannot open /dev/kvm");
	r = ioctl(b->kvm, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		snprintf(vm->err, sizeof(vm->err), "KVM API version %d", r);
		return -ENOTSUP;
	}
	r = ioctl(b->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if (r <= 0 || !(r & KVM_SYNC_X86_REGS) ||
	    ioctl(b->kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		snprintf(vm->err, sizeof(vm->err),
			 "KVM lacks sync regs or immediate exit");
		return -ENOTSUP;
	}
	b->vm = ioctl(b->kvm, KVM_CREATE_VM, 0);
	if (b->vm < 0)
		return fail(vm, "KVM_CREATE_VM");
	/* Needed by VMX only, harmless elsewhere: above the guest's 4 GiB. */
	(void)ioctl(b->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	memset(&mr, 0, sizeof(mr));
	mr.slot = 0;
	mr.guest_phys_addr = 0;
	mr.memory_size = vm->mem.size;
	mr.userspace_addr = (uint64_t)(uintptr_t)vm->mem.host;
	if (ioctl(b->vm, KVM_SET_USER_MEMORY_REGION, &mr))
		return fail(vm, "KVM_SET_USER_MEMORY_REGION");
	b->vcpu = ioctl(b->vm, KVM_CREATE_VCPU, 0);
	if (b->vcpu < 0)
		return fail(vm, "KVM_CREATE_VCPU");
	sz = ioctl(b->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		return fail(vm, "KVM_GET_VCPU_MMAP_SIZE");
	b->run_size = (size_t)sz;
	b->run = mmap(NULL, b->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->vcpu, 0);
	if (b->run == MAP_FAILED) {
		b->run = NULL;
		return fail(vm, "mmap of the vCPU");
	}
	/* CPUID before SREGS and XCRS: KVM derives what they may hold.
	 * Under PVM the guest's CPUID instruction is not emulated (a guest
	 * printing leaves 0 to 0x8000001d sees the host CPU's answers, APIC
	 * ID included, with or without a table): the table only shapes KVM's
	 * own view, which the warm path's XSAVE snapshot relies on.  A cold
	 * VM there goes without: KVM_GET_SUPPORTED_CPUID runs ~100 host
	 * CPUIDs, each trapping to the outer hypervisor on these machines
	 * (~300 us, +60 us to set it), a tenth of a cold start. */
	if (fl->cpuid_required || vm->cfg.warm) {
		r = setup_cpuid(vm, b);
		if (r)
			return r;
	}
	r = setup_sregs(vm, b);
	if (r)
		return r;
	if (fl->set_xcr0) {
		struct kvm_xcrs x;

		memset(&x, 0, sizeof(x));
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = 7; /* x87 | SSE | AVX */
		if (ioctl(b->vcpu, KVM_SET_XCRS, &x))
			return fail(vm, "KVM_SET_XCRS");
	}
	{
		static const uint32_t idx[] = {
			MSR_STAR,    MSR_LSTAR,	  MSR_SYSCALL_MASK,
			MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE};
		const uint64_t val[] = {0x0023001000000000ULL,
					VMM_GA_STUB,
					fl->sfmask,
					0,
					0,
					0};

		if (set_msrs(b, idx, val, 6))
			return fail(vm, "KVM_SET_MSRS");
	}
	b->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	return 0;
}

int vmm__kvm_start(struct vmm *vm, uint64_t rip, uint64_t rsp)
{
	struct vmm_backend *b = vm->b;
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rsp = rsp;
	r.rflags = 0x202;
	if (ioctl(b->vcpu, KVM_SET_REGS, &r))
		return fail(vm, "KVM_SET_REGS");
	return 0;
}

int vmm__kvm_set_fs_base(struct vmm *vm, uint64_t base)
{
	static const uint32_t idx[] = {MSR_FS_BASE};

	return set_msrs(vm->b, idx, &base, 1) ? -EIO : 0;
}

/* Vectors for which the CPU pushes an error code. */
static int has_error_code(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 ||
	       v == 29 || v == 30;
}

static void exception(struct vmm *vm, struct vmm_backend *b,
		      struct vmm_exit *ex, int v)
{
	const struct kvm_regs *r = &b->run->s.regs.regs;
	uint64_t f[6] = {0};
	const void *p;
	int off = has_error_code(v) ? 0 : 1;

	ex->kind = VMM_X_EXCEPTION;
	ex->vector = v;
	p = vmm_mem_sys(&vm->mem, r->rsp, (uint64_t)(6 - off) * 8);
	if (!p)
		p = vmm_mem_ptr(&vm->mem, vmm_gaddr(r->rsp),
				(uint64_t)(6 - off) * 8, VMM_MEM_READ);
	if (p)
		memcpy(&f[off], p, (size_t)(6 - off) * 8);
	ex->error = f[0];
	ex->rip = f[1];
	ex->cr2 = 0;
	if (v == 14) {
		struct kvm_sregs sr;

		if (ioctl(b->vcpu, KVM_GET_SREGS, &sr) == 0)
			ex->cr2 = sr.cr2;
	}
}

__attribute__((format(printf, 3, 4))) static void abi(struct vmm_exit *ex,
						      uint64_t rip,
						      const char *fmt, ...)
{
	va_list ap;

	ex->kind = VMM_X_ABI;
	ex->rip = rip;
	va_start(ap, fmt);
	vsnprintf(ex->what, sizeof(ex->what), fmt, ap);
	va_end(ap);
}

int vmm__kvm_run(struct vmm *vm, struct vmm_exit *ex)
{
	struct vmm_backend *b = vm->b;
	struct kvm_run *run = b->run;
	struct kvm_regs *r = &run->s.regs.regs;

	if (ex->kind == VMM_X_SYSCALL) {
		r->rax = ex->ret;
		if (b->fl->monitor_returns) {
			r->rip = r->rcx;
			r->rflags = r->r11;
		}
		run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	ex->kind = VMM_X_NONE;
	vmm__kick = &run->immediate_exit;
	for (;;) {
		if (vm->timed_out) {
			ex->kind = VMM_X_TIMEOUT;
			break;
		}
		if (ioctl(b->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				run->immediate_exit = 0;
				continue;
			}
			ex->kind = VMM_X_HOST;
			snprintf(ex->what, sizeof(ex->what), "KVM_RUN: %s",
				 strerror(errno));
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.direction == KVM_EXIT_IO_OUT &&
			    run->io.port == VMM_PORT_SYSCALL) {
				ex->kind = VMM_X_SYSCALL;
				ex->nr = r->rax;
				ex->arg[0] = r->rdi;
				ex->arg[1] = r->rsi;
				ex->arg[2] = r->rdx;
				ex->arg[3] = r->r10;
				ex->arg[4] = r->r8;
				ex->arg[5] = r->r9;
				ex->rip = r->rcx;
			} else if (run->io.direction == KVM_EXIT_IO_OUT &&
				   run->io.port >= VMM_PORT_EXC &&
				   run->io.port < VMM_PORT_EXC + 32) {
				exception(vm, b, ex,
					  run->io.port - VMM_PORT_EXC);
			} else {
				abi(ex, r->rip,
				    "unexpected I/O to port 0x%x (rip 0x%llx)",
				    run->io.port, r->rip);
			}
			break;
		case KVM_EXIT_SHUTDOWN:
			abi(ex, r->rip, "triple fault (rip 0x%llx)", r->rip);
			break;
		case KVM_EXIT_HLT:
			abi(ex, r->rip, "halted (rip 0x%llx)", r->rip);
			break;
		case KVM_EXIT_MMIO:
			abi(ex, r->rip,
			    "access to unbacked address 0x%llx (rip 0x%llx)",
			    run->mmio.phys_addr, r->rip);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			abi(ex, r->rip, "KVM internal error %u (rip 0x%llx)",
			    run->internal.suberror, r->rip);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			ex->kind = VMM_X_HOST;
			snprintf(ex->what, sizeof(ex->what),
				 "KVM entry failed (reason 0x%llx)",
				 (unsigned long long)run->fail_entry
					 .hardware_entry_failure_reason);
			break;
		default:
			abi(ex, r->rip, "unexpected exit %u (rip 0x%llx)",
			    run->exit_reason, r->rip);
			break;
		}
		break;
	}
	vmm__kick = NULL;
	return 0;
}

int vmm__kvm_snapshot(struct vmm *vm)
{
	struct vmm_backend *b = vm->b;
	struct kvm_snap *sn = calloc(1, sizeof(*sn));

	if (!sn)
		return -ENOMEM;
	sn->regs = b->run->s.regs.regs;
	/* VMX/SVM resume after the stub's 2-byte `out`, at its sysretq:
	 * KVM skips the out only if RIP still points at it. */
	if (!b->fl->monitor_returns)
		sn->regs.rip += 2;
	if (ioctl(b->vcpu, KVM_GET_SREGS, &sn->sregs) ||
	    ioctl(b->vcpu, KVM_GET_XSAVE, &sn->xsave) ||
	    (b->fl->set_xcr0 && ioctl(b->vcpu, KVM_GET_XCRS, &sn->xcrs))) {
		int e = -errno;

		free(sn);
		return e;
	}
	free(vm->vcpu_snap);
	vm->vcpu_snap = sn; /* outlives this VM: a new one may restore it */
	return 0;
}

int vmm__kvm_restore(struct vmm *vm, int full)
{
	struct vmm_backend *b = vm->b;
	struct kvm_snap *sn = vm->vcpu_snap;

	if (!sn)
		return -EINVAL;
	/* The general registers travel with the next KVM_RUN. */
	b->run->s.regs.regs = sn->regs;
	b->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	/* Vector registers always: they may hold the last request's data. */
	if (ioctl(b->vcpu, KVM_SET_XSAVE, &sn->xsave))
		return -errno;
	if (!full)
		return 0;
	/* Segments and control registers through the sync area as well. */
	b->run->s.regs.sregs = sn->sregs;
	b->run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
	if (b->fl->set_xcr0 && ioctl(b->vcpu, KVM_SET_XCRS, &sn->xcrs))
		return -errno;
	return 0;
}

void vmm__kvm_destroy(struct vmm *vm)
{
	struct vmm_backend *b = vm->b;

	if (b->run)
		munmap(b->run, b->run_size);
	if (b->vcpu >= 0)
		close(b->vcpu);
	if (b->vm >= 0)
		close(b->vm);
	if (b->kvm >= 0)
		close(b->kvm);
	free(b);
	vm->b = NULL;
}
