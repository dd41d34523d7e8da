/* kvmprobe.c: proves standard KVM works in the test machine. */
/*
 * Run by tests/stdkvm/run.sh inside QEMU, before the monitor's cases, so a
 * broken machine (no SVM, modules not loaded, wrong kernel) is told apart
 * from a broken monitor. The guest starts directly in 64-bit mode at CPL 0,
 * as the standard-KVM backend of sukima-vmm does, uses SSE (which needs
 * CR4.OSFXSR and a working FPU state in nested SVM), writes its result to an
 * I/O port and halts. Prints "kvmprobe: ok ..." and exits 0, or names the
 * step that failed and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE   0x200000UL /* one 2 MiB page, identity-mapped */
#define GDT_ADDR   0x0500UL
#define CODE_ADDR  0x1000UL
#define PML4_ADDR  0x2000UL
#define PDPT_ADDR  0x3000UL
#define PD_ADDR	   0x4000UL
#define STACK_TOP  0x1ff000UL
#define PROBE_PORT 0x10
#define PROBE_DATA 0x246aU /* (0x1234 + 1) * 2, computed by the guest */

/* The guest: leaves (0x1234 + 1) * 2 in eax by way of an SSE register. */
static const char guest_code[] = "\xb8\x34\x12\x00\x00" /* mov eax, 0x1234 */
				 "\x83\xc0\x01"		/* add eax, 1 */
				 "\x66\x48\x0f\x6e\xc0" /* movq xmm0, rax */
				 "\x66\x0f\xd4\xc0"	/* paddq xmm0, xmm0 */
				 "\x66\x48\x0f\x7e\xc0" /* movq rax, xmm0 */
				 "\xe7\x10"		/* out 0x10, eax */
				 "\xf4";		/* hlt */

static int fail(const char *step)
{
	fprintf(stderr, "kvmprobe: %s: %s\n", step, strerror(errno));
	return 1;
}

static int fail_exit(const char *step, const struct kvm_run *run)
{
	fprintf(stderr, "kvmprobe: %s: unexpected exit reason %u", step,
		run->exit_reason);
	if (run->exit_reason == KVM_EXIT_IO)
		fprintf(stderr, " (io port 0x%x dir %u size %u)", run->io.port,
			run->io.direction, run->io.size);
	else if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		fprintf(stderr, " (internal error suberror %u)",
			run->internal.suberror);
	else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
		fprintf(stderr, " (hardware entry failure 0x%llx)",
			(unsigned long long)
				run->fail_entry.hardware_entry_failure_reason);
	fputc('\n', stderr);
	return 1;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code ? 1 : 0;
	s->db = code ? 0 : 1; /* L=1 requires D=0 */
}

/* Page tables, GDT and code in guest memory (mem). */
static void build_guest(uint8_t *mem)
{
	uint64_t *pml4 = (uint64_t *)(mem + PML4_ADDR);
	uint64_t *pdpt = (uint64_t *)(mem + PDPT_ADDR);
	uint64_t *pd = (uint64_t *)(mem + PD_ADDR);
	uint64_t *gdt = (uint64_t *)(mem + GDT_ADDR);

	pml4[0] = PDPT_ADDR | 0x3; /* present, writable */
	pdpt[0] = PD_ADDR | 0x3;
	pd[0] = 0x0 | 0x83; /* present, writable, 2 MiB page */

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffULL; /* 0x08: 64-bit code, DPL 0 */
	gdt[2] = 0x00cf92000000ffffULL; /* 0x10: data, DPL 0 */

	memcpy(mem + CODE_ADDR, guest_code, sizeof(guest_code));
}

/* Give the vCPU the CPUID KVM supports: the VMM does the same first. */
static int set_cpuid(int kvm, int vcpu)
{
	struct kvm_cpuid2 *c;
	unsigned int n = 256;
	int ret;

	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return -1;
	c->nent = n;
	ret = ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c);
	if (ret == 0)
		ret = ioctl(vcpu, KVM_SET_CPUID2, c);
	free(c);
	return ret;
}

int main(void)
{
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	uint8_t *mem;
	uint32_t data;
	int kvm, vm, vcpu, api, run_size;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		fprintf(stderr, "kvmprobe: KVM_GET_API_VERSION is %d, not %d\n",
			api, KVM_API_VERSION);
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");

	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest memory");
	build_guest(mem);
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(*run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (set_cpuid(kvm, vcpu) < 0)
		return fail("KVM_SET_CPUID2");

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	set_seg(&sregs.cs, 0x08, 11, 1);
	set_seg(&sregs.ds, 0x10, 3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = GDT_ADDR;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.cr3 = PML4_ADDR;
	sregs.cr4 = 0x620;	/* PAE | OSFXSR | OSXMMEXCPT */
	sregs.cr0 = 0x80050033; /* PG | AM | WP | NE | ET | MP | PE */
	sregs.efer = 0x500;	/* LMA | LME */
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");

	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_ADDR;
	regs.rsp = STACK_TOP;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN (first)");
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != PROBE_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
	    run->io.count != 1)
		return fail_exit("first exit", run);
	memcpy(&data, (uint8_t *)run + run->io.data_offset, sizeof(data));
	if (data != PROBE_DATA) {
		fprintf(stderr, "kvmprobe: guest wrote 0x%x, expected 0x%x\n",
			data, PROBE_DATA);
		return 1;
	}

	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN (second)");
	if (run->exit_reason != KVM_EXIT_HLT)
		return fail_exit("second exit", run);

	/* What a VMM backend may rely on here, for whoever reads the log. */
	printf("kvmprobe: ok (api %d, long mode, sse, out 0x%x <- 0x%x, hlt; "
	       "caps sync_regs=%d xcrs=%d xsave=%d immediate_exit=%d)\n",
	       api, PROBE_PORT, data,
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS),
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XCRS),
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE),
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT));
	return 0;
}
