/* vmm.c: the protection domain's core: x86 guest layout, ELF loading, start-up stack, run loop. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "vmm/vmm.h"
#include "vmm/vmm_elf.h"
#include "vmm/vmm_syscall.h"
#include "vmm/vmm_warm.h"

extern const struct vmm_backend_ops vmm_kvm_pvm_ops;
extern const struct vmm_backend_ops vmm_kvm_std_ops;

/* Registration table, in detection order: the first whose probe says yes. */
static const struct vmm_backend_ops *const backends[] = {
	&vmm_kvm_pvm_ops,
	&vmm_kvm_std_ops,
};

volatile uint8_t *volatile vmm__kick;
static struct vmm *volatile running;

const struct vmm_backend_ops *vmm_backend_pick(const char *name)
{
	size_t n = sizeof(backends) / sizeof(backends[0]);

	for (size_t i = 0; i < n; i++) {
		if (name && strcmp(name, backends[i]->name) == 0)
			return backends[i];
		if (!name && backends[i]->probe())
			return backends[i];
	}
	return NULL;
}

void vmm_config_default(struct vmm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = 64ULL << 20;
	cfg->timeout = 10.0;
	cfg->max_output = 64ULL << 20;
	cfg->in_fd = 0;
	cfg->out_fd = 1;
	cfg->err_fd = 2;
	cfg->trace_fd = 2;
}

/* --- the monitor's 2 MiB: page tables, descriptors, stub -------------- */

#define PTE_P	0x1ULL
#define PTE_RW	0x2ULL
#define PTE_US	0x4ULL
#define PTE_A	0x20ULL
#define PTE_D	0x40ULL
#define PTE_PS	0x80ULL
#define PTE_DIR (PTE_P | PTE_RW | PTE_US)

/* Leaf flags of the 4 KiB page at ga; 0 = not mapped. */
static uint64_t page_flags(const struct vmm_mem *m, uint64_t ga)
{
	if (ga >= VMM_GA_SYS_END)
		return ga == m->guard ? 0
				      : PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;
	if (ga == VMM_GA_GDT || ga == VMM_GA_IDT || ga == VMM_GA_STUB)
		return PTE_P | PTE_US | PTE_A;
	if (ga == VMM_GA_EXC_STACK - VMM_PAGE_SIZE || ga == VMM_GA_SHARED)
		return PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;
	if (ga >= VMM_GA_IOBUF && ga < VMM_GA_IOBUF + VMM_IOBUF_SIZE)
		return PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;
	return 0;
}

static uint64_t *sys_u64(struct vmm *vm, uint64_t ga, uint64_t len)
{
	return vmm_mem_sys(&vm->mem, ga, len);
}

/* Identity map, built once: 2 MiB pages, 4 KiB tables where it matters. */
/*
 * Identity map, built once: 2 MiB pages, 4 KiB tables where protections
 * differ.  Warm VMs (cfg.warm) get 4 KiB tables for their first 512 MiB and
 * leaves without the Dirty bit: the CPU (or PVM's shadow MMU) sets it on
 * the first write, and vmm__dirty_scan() finds what an invocation wrote.
 */
static int build_page_tables(struct vmm *vm)
{
	struct vmm_mem *m = &vm->mem;
	uint64_t *pml4 = sys_u64(vm, VMM_GA_PML4, VMM_PAGE_SIZE);
	uint64_t *pdpt = sys_u64(vm, VMM_GA_PDPT, VMM_PAGE_SIZE);
	uint64_t *pd = sys_u64(vm, VMM_GA_PD, VMM_PD_PAGES * 4096);
	uint64_t clear = vm->cfg.warm ? PTE_D : 0;
	unsigned pt_used = 0;

	pml4[0] = VMM_GA_PDPT | PTE_DIR | PTE_A;
	for (unsigned i = 0; i < VMM_PD_PAGES; i++)
		pdpt[i] = (VMM_GA_PD + i * VMM_PAGE_SIZE) | PTE_DIR | PTE_A;
	for (uint64_t blk = 0; blk < m->size; blk += VMM_LARGE_PAGE) {
		uint64_t f0 = page_flags(m, blk), *pt;
		uint64_t pt_ga, idx = blk / VMM_LARGE_PAGE;
		int uniform = 1;

		for (uint64_t ga = blk; ga < blk + VMM_LARGE_PAGE; ga += 4096)
			if (page_flags(m, ga) != f0) {
				uniform = 0;
				break;
			}
		if (vm->cfg.warm && idx < VMM_PT_WARM_PAGES) {
			pt_ga = VMM_GA_PT_WARM + idx * VMM_PAGE_SIZE;
		} else if (uniform) {
			pd[idx] = f0 ? (blk | f0 | PTE_PS) & ~clear : 0;
			continue;
		} else if (pt_used == VMM_PT_PAGES) {
			return -ENOSPC;
		} else {
			pt_ga = VMM_GA_PT + pt_used++ * VMM_PAGE_SIZE;
		}
		pt = sys_u64(vm, pt_ga, VMM_PAGE_SIZE);
		for (unsigned i = 0; i < 512; i++) {
			uint64_t ga = blk + i * VMM_PAGE_SIZE, f;

			f = page_flags(m, ga);
			pt[i] = f ? (ga | f) & ~clear : 0;
		}
		pd[idx] = pt_ga | PTE_DIR | PTE_A;
	}
	return 0;
}

/* Visits the leaf entries of the identity map: fn(ctx, ga, len, &entry). */
static void for_each_leaf(struct vmm *vm,
			  void (*fn)(void *ctx, uint64_t ga, uint64_t len,
				     uint64_t *e),
			  void *ctx, int accessed_only)
{
	uint64_t *pd = sys_u64(vm, VMM_GA_PD, VMM_PD_PAGES * 4096);

	for (uint64_t blk = 0; blk < vm->mem.size; blk += VMM_LARGE_PAGE) {
		uint64_t *pde = &pd[blk / VMM_LARGE_PAGE], *pt;

		if (!(*pde & PTE_P))
			continue;
		/* The walker marks each table entry it uses: a 2 MiB region
		 * never touched since the snapshot has nothing written. */
		if (accessed_only && !(*pde & PTE_A))
			continue;
		if (!accessed_only && !(*pde & PTE_PS))
			*pde &= ~PTE_A;
		if (*pde & PTE_PS) {
			fn(ctx, blk, VMM_LARGE_PAGE, pde);
			continue;
		}
		pt = sys_u64(vm, *pde & ~0xfffULL, VMM_PAGE_SIZE);
		for (unsigned i = 0; i < 512; i++)
			if (pt[i] & PTE_P)
				fn(ctx, blk + i * VMM_PAGE_SIZE, VMM_PAGE_SIZE,
				   &pt[i]);
	}
}

static void clear_dirty(void *ctx, uint64_t ga, uint64_t len, uint64_t *e)
{
	(void)ctx;
	(void)ga;
	(void)len;
	*e &= ~PTE_D;
}

void vmm__dirty_reset(struct vmm *vm)
{
	for_each_leaf(vm, clear_dirty, NULL, 0);
}

struct scan {
	struct vmm_mem *m;
	uint64_t pages;
};

static void note_dirty(void *ctx, uint64_t ga, uint64_t len, uint64_t *e)
{
	struct scan *sc = ctx;

	if (*e & PTE_D) {
		/* the page, and the table the CPU wrote the bit into */
		vmm_mem_note_guest_write(sc->m, ga, len);
		sc->pages += len / VMM_PAGE_SIZE;
	}
}

uint64_t vmm__dirty_scan(struct vmm *vm)
{
	struct scan sc = {&vm->mem, 0};

	for_each_leaf(vm, note_dirty, &sc, 1);
	return sc.pages;
}

static void build_descriptors(struct vmm *vm)
{
	uint64_t *gdt = sys_u64(vm, VMM_GA_GDT, 10 * 8);
	uint8_t *tss = vmm_mem_sys(&vm->mem, VMM_GA_TSS, 104 + 33);
	uint8_t *idt = vmm_mem_sys(&vm->mem, VMM_GA_IDT, 32 * 16);
	uint8_t *code = vmm_mem_sys(&vm->mem, VMM_GA_STUB, VMM_PAGE_SIZE);
	uint64_t tss_base = VMM_GA_TSS, tss_limit = 104 + 32;
	uint64_t rsp0 = VMM_GA_EXC_STACK;

	/* Accessed bits preset: the tables are read-only to the guest. */
	gdt[2] = 0x00af9b000000ffffULL; /* 0x10 kernel code, 64-bit */
	gdt[3] = 0x00cf93000000ffffULL; /* 0x18 kernel data */
	gdt[4] = 0x00cffb000000ffffULL; /* 0x20 user code, 32-bit (unused) */
	gdt[5] = 0x00cff3000000ffffULL; /* 0x28 user data */
	gdt[6] = 0x00affb000000ffffULL; /* 0x30 user code, 64-bit */
	gdt[8] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) |
		 (0x8bULL << 40) | (((tss_limit >> 16) & 0xf) << 48) |
		 (((tss_base >> 24) & 0xff) << 56);
	gdt[9] = tss_base >> 32;

	memcpy(tss + 4, &rsp0, 8);
	tss[102] = 104; /* I/O bitmap right after the TSS proper */
	tss[103] = 0;
	memset(tss + 104, 0xff, 33);
	if (vm->ops->user_port)
		tss[104 + VMM_PORT_SYSCALL / 8] &=
			(uint8_t) ~(1u << (VMM_PORT_SYSCALL % 8));

	memcpy(code, vm->ops->stub,
	       (size_t)(vm->ops->stub_end - vm->ops->stub));
	for (unsigned v = 0; v < 32; v++) {
		uint64_t h = VMM_GA_EXC + 8 * v;
		uint8_t *e = idt + 16 * v;
		uint8_t *hc = code + (h - VMM_GA_STUB);

		hc[0] = 0xe6; /* out %al, $(VMM_PORT_EXC + v) */
		hc[1] = (uint8_t)(VMM_PORT_EXC + v);
		hc[2] = 0xeb; /* jmp . */
		hc[3] = 0xfe;
		e[0] = (uint8_t)h;
		e[1] = (uint8_t)(h >> 8);
		e[2] = VMM_SEL_KCODE;
		e[3] = 0;
		e[4] = 0; /* IST */
		/* int3 and into may be used from user mode, as on Linux. */
		e[5] = v == 3 || v == 4 ? 0xee : 0x8e; /* 64-bit intr. gate */
		e[6] = (uint8_t)(h >> 16);
		e[7] = (uint8_t)(h >> 24);
		e[8] = (uint8_t)(h >> 32);
		e[9] = (uint8_t)(h >> 40);
		e[10] = (uint8_t)(h >> 48);
		e[11] = (uint8_t)(h >> 56);
	}
}

int vmm_create(struct vmm **out, const struct vmm_config *cfg)
{
	struct vmm *vm = calloc(1, sizeof(*vm));
	uint64_t stack;
	int r;

	*out = vm;
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->ops = vmm_backend_pick(cfg->backend);
	if (!vm->ops) {
		snprintf(vm->err, sizeof(vm->err), "unknown backend '%s'",
			 cfg->backend ? cfg->backend : "(none)");
		return -EINVAL;
	}
	stack = cfg->mem_size / 8;
	if (stack > (8ULL << 20))
		stack = 8ULL << 20;
	r = vmm_mem_init(&vm->mem, cfg->mem_size, stack, cfg->warm);
	if (r) {
		snprintf(vm->err, sizeof(vm->err),
			 r == -EINVAL ? "bad guest memory size"
				      : "cannot reserve guest memory");
		return r;
	}
	r = build_page_tables(vm);
	if (r) {
		snprintf(vm->err, sizeof(vm->err), "page tables do not fit");
		return r;
	}
	if (vm->ops->stub_end - vm->ops->stub >
	    (long)(VMM_GA_EXC - VMM_GA_STUB)) {
		snprintf(vm->err, sizeof(vm->err), "the stub does not fit");
		return -ENOSPC;
	}
	build_descriptors(vm);
	return vm->ops->create(vm);
}

void vmm_destroy(struct vmm *vm)
{
	if (!vm)
		return;
	if (vm->b)
		vm->ops->destroy(vm);
	vmm_warm_free(vm);
	free(vm->vcpu_snap);
	vmm_mem_fini(&vm->mem);
	free(vm->out.p);
	free(vm->err_out.p);
	free(vm);
}

/* --- loading --------------------------------------------------------- */

/* Pushes len bytes below *sp; 0 if they do not fit above the limit. */
static uint64_t push(struct vmm *vm, uint64_t *sp, uint64_t lim,
		     const void *src, size_t len)
{
	uint8_t *p;

	if (*sp - lim < len)
		return 0;
	*sp -= len;
	p = vmm_mem_ptr(&vm->mem, vmm_gaddr(*sp), len, VMM_MEM_WRITE);
	memcpy(p, src, len);
	return *sp;
}

int vmm_load(struct vmm *vm, const uint8_t *buf, size_t len, int argc,
	     char *const *argv, int envc, char *const *envp)
{
	struct vmm_mem *m = &vm->mem;
	struct vmm_elf elf;
	const char *why = NULL;
	uint64_t bias, sp, lim, phdr, execfn, plat, rnd, nwords, *vec;
	uint64_t *argp = NULL, *envptr;
	uint8_t random[16];
	int r, i, k;

	r = vmm_elf_parse(buf, len, &elf, &why);
	if (!r)
		r = vmm_elf_place(&elf, VMM_GA_SYS_END, m->guard, &bias, &why);
	if (r) {
		snprintf(vm->err, sizeof(vm->err), "%s", why);
		return r;
	}
	vmm_mem_huge_image(m, elf.lo + bias, elf.hi + bias);
	for (unsigned s = 0; s < elf.nseg; s++) {
		const struct vmm_elf_seg *g = &elf.seg[s];
		uint8_t *p = vmm_mem_ptr(m, vmm_gaddr(g->vaddr + bias),
					 g->memsz, VMM_MEM_WRITE);

		/* Page tables for the whole segment in one call rather than
		 * a fault per page as the copy goes (best effort: Linux 5.14). */
		(void)madvise((void *)((uintptr_t)p &
				       ~(uintptr_t)(VMM_PAGE_SIZE - 1)),
			      g->memsz + ((uintptr_t)p & (VMM_PAGE_SIZE - 1)),
			      MADV_POPULATE_WRITE);
		memcpy(p, buf + g->offset, g->filesz);
		memset(p + g->filesz, 0, g->memsz - g->filesz);
	}
	vmm_mem_set_image(m, elf.lo + bias, elf.hi + bias);
	vm->entry = elf.entry + bias;

	/* The Linux start-up stack: strings at the top, vectors below. */
	argp = calloc((size_t)argc + (size_t)envc + 1, sizeof(*argp));
	if (!argp)
		return -ENOMEM;
	envptr = argp + argc;
	sp = m->size - 8;
	lim = m->size - (m->size - m->stack_lo) / 4; /* like ARG_MAX */
	if (!push(vm, &sp, lim, argv[0], strlen(argv[0]) + 1))
		goto too_big;
	execfn = sp;
	for (i = envc - 1; i >= 0; i--)
		if (!(envptr[i] =
			      push(vm, &sp, lim, envp[i], strlen(envp[i]) + 1)))
			goto too_big;
	for (i = argc - 1; i >= 0; i--)
		if (!(argp[i] =
			      push(vm, &sp, lim, argv[i], strlen(argv[i]) + 1)))
			goto too_big;
	if (!(plat = push(vm, &sp, lim, "x86_64", 7)))
		goto too_big;
	if (getrandom(random, sizeof(random), 0) != sizeof(random)) {
		free(argp);
		return -EIO;
	}
	sp &= ~15ULL;
	if (!(rnd = push(vm, &sp, lim, random, sizeof(random))))
		goto too_big;
	phdr = elf.phdr_va ? elf.phdr_va + bias : 0;
	if (!phdr) {
		size_t n = (size_t)elf.phnum * 56;

		sp &= ~15ULL;
		if (!(phdr = push(vm, &sp, lim, buf + elf.phoff, n)))
			goto too_big;
	}

	{
		const uint64_t aux[][2] = {
			{3, phdr},		   /* AT_PHDR */
			{4, 56},		   /* AT_PHENT */
			{5, elf.phnum},		   /* AT_PHNUM */
			{6, VMM_PAGE_SIZE},	   /* AT_PAGESZ */
			{7, 0},			   /* AT_BASE */
			{8, 0},			   /* AT_FLAGS */
			{9, vm->entry},		   /* AT_ENTRY */
			{11, VMM_GUEST_UID},	   /* AT_UID */
			{12, VMM_GUEST_UID},	   /* AT_EUID */
			{13, VMM_GUEST_UID},	   /* AT_GID */
			{14, VMM_GUEST_UID},	   /* AT_EGID */
			{15, plat},		   /* AT_PLATFORM */
			{16, getauxval(AT_HWCAP)}, /* AT_HWCAP */
			{17, 100},		   /* AT_CLKTCK */
			{23, 0},		   /* AT_SECURE */
			{25, rnd},		   /* AT_RANDOM */
			{26, 0},		   /* AT_HWCAP2 */
			{31, execfn},		   /* AT_EXECFN */
			{0, 0},			   /* AT_NULL */
		};
		size_t naux = sizeof(aux) / sizeof(aux[0]);

		nwords = 1 + (uint64_t)argc + 1 + (uint64_t)envc + 1 + 2 * naux;
		sp = (sp - nwords * 8) & ~15ULL;
		if (sp < lim)
			goto too_big;
		vec = vmm_mem_ptr(m, vmm_gaddr(sp), nwords * 8, VMM_MEM_WRITE);
		k = 0;
		vec[k++] = (uint64_t)argc;
		for (i = 0; i < argc; i++)
			vec[k++] = argp[i];
		vec[k++] = 0;
		for (i = 0; i < envc; i++)
			vec[k++] = envptr[i];
		vec[k++] = 0;
		memcpy(&vec[k], aux, sizeof(aux));
	}
	free(argp);
	vm->sp = sp;
	return vm->ops->start(vm, vm->entry, sp);

too_big:
	free(argp);
	snprintf(vm->err, sizeof(vm->err), "argument list too long");
	return -E2BIG;
}

/* --- running --------------------------------------------------------- */

static void on_timer(int sig)
{
	struct vmm *vm = running;

	(void)sig;
	if (vm)
		vm->timed_out = 1;
	if (vmm__kick)
		*vmm__kick = 1;
}

static const struct {
	const char *name;
	int status;
} vectors[32] = {
	[0] = {"divide error", 128 + SIGFPE},
	[1] = {"debug exception", 128 + SIGTRAP},
	[3] = {"breakpoint", 128 + SIGTRAP},
	[4] = {"overflow", 128 + SIGSEGV},
	[5] = {"bound range exceeded", 128 + SIGSEGV},
	[6] = {"invalid opcode", 128 + SIGILL},
	[7] = {"device not available", 128 + SIGSEGV},
	[8] = {"double fault", 128 + SIGSEGV},
	[10] = {"invalid TSS", 128 + SIGSEGV},
	[11] = {"segment not present", 128 + SIGSEGV},
	[12] = {"stack-segment fault", 128 + SIGSEGV},
	[13] = {"general protection fault", 128 + SIGSEGV},
	[14] = {"page fault", 128 + SIGSEGV},
	[16] = {"x87 floating-point exception", 128 + SIGFPE},
	[17] = {"alignment check", 128 + SIGBUS},
	[18] = {"machine check", 128 + SIGBUS},
	[19] = {"SIMD floating-point exception", 128 + SIGFPE},
};

static void fault_result(const struct vmm_exit *ex, struct vmm_result *res)
{
	int v = ex->vector;

	memset(res, 0, sizeof(*res));
	res->reason = VMM_FAULT;
	res->vector = v;
	res->error = ex->error;
	res->rip = ex->rip;
	res->addr = ex->cr2;
	if (v >= 0 && v < 32 && vectors[v].name) {
		res->status = vectors[v].status;
		if (v == 14)
			snprintf(res->msg, sizeof(res->msg),
				 "page fault at 0x%" PRIx64 " (rip 0x%" PRIx64
				 ")",
				 ex->cr2, ex->rip);
		else
			snprintf(res->msg, sizeof(res->msg),
				 "%s (rip 0x%" PRIx64 ")", vectors[v].name,
				 ex->rip);
	} else {
		res->status = 128 + SIGSEGV;
		snprintf(res->msg, sizeof(res->msg),
			 "CPU exception %d (rip 0x%" PRIx64 ")", v, ex->rip);
	}
}

static timer_t timer;
static int timer_made;

int vmm__timer_arm(struct vmm *vm, double s)
{
	struct itimerspec its;

	if (!timer_made) {
		struct sigaction sa;
		struct sigevent sev;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_timer; /* no SA_RESTART: reads see EINTR */
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGALRM, &sa, NULL))
			return -errno;
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = SIGALRM;
		sev._sigev_un._tid = gettid();
		if (timer_create(CLOCK_MONOTONIC, &sev, &timer))
			return -errno;
		timer_made = 1;
	}
	vm->timed_out = 0;
	running = vm;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)s;
	its.it_value.tv_nsec = (long)((s - (double)(time_t)s) * 1e9);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	/* Repeats, in case the first signal fell just before KVM_RUN. */
	its.it_interval.tv_nsec = 10 * 1000 * 1000;
	if (timer_settime(timer, 0, &its, NULL))
		return -errno;
	return 0;
}

void vmm__timer_disarm(void)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (timer_made)
		timer_settime(timer, 0, &its, NULL);
	running = NULL;
}

/*
 * Pausing (docs/guest-abi.md "Pausing"): SIGUSR1 stops the monitor where
 * it is (KVM_RUN returns, the handler waits), with the deadline timer
 * stopped; SIGUSR2 re-arms it for the time that was left and lets it go
 * on.  Suspended time is the owner's, never held against the function.
 */
static volatile sig_atomic_t resume_now;

static void on_resume(int sig)
{
	(void)sig;
	resume_now = 1;
}

static void on_pause(int sig)
{
	struct itimerspec left, zero;
	sigset_t wait_for;
	int saved = errno, armed = 0;

	(void)sig;
	memset(&zero, 0, sizeof(zero));
	if (timer_made && timer_gettime(timer, &left) == 0 &&
	    (left.it_value.tv_sec || left.it_value.tv_nsec)) {
		armed = 1;
		timer_settime(timer, 0, &zero, NULL);
	}
	/* A resume sent before this pause was for an earlier one. */
	resume_now = 0;
	sigfillset(&wait_for);
	sigdelset(&wait_for, SIGUSR2);
	sigdelset(&wait_for, SIGTERM);
	sigdelset(&wait_for, SIGINT);
	while (!resume_now)
		sigsuspend(&wait_for);
	if (armed)
		timer_settime(timer, 0, &left, NULL);
	errno = saved;
}

int vmm_pause_init(void)
{
	struct sigaction sa;
	sigset_t sigs;

	memset(&sa, 0, sizeof(sa));
	/* Interrupted host reads and writes go on; KVM_RUN returns EINTR
	 * and the run loop enters it again. */
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask); /* the timer's signal waits for the resume */
	sa.sa_handler = on_pause;
	if (sigaction(SIGUSR1, &sa, NULL))
		return -errno;
	sa.sa_handler = on_resume;
	if (sigaction(SIGUSR2, &sa, NULL))
		return -errno;
	/* The worker starts monitors with both blocked (wk_pause.h). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	return sigprocmask(SIG_UNBLOCK, &sigs, NULL) ? -errno : 0;
}

static int is_stdin_read(const struct vmm *vm, const struct vmm_exit *ex)
{
	return (ex->nr == 0 || ex->nr == 19) && ex->arg[0] == 0 &&
	       !(vm->closed_fds & 1);
}

int vmm__run_loop(struct vmm *vm, struct vmm_exit *ex, struct vmm_result *res,
		  int stop_at_stdin)
{
	int r;

	for (;;) {
		r = vm->ops->run(vm, ex);
		if (r < 0 && ex->kind != VMM_X_HOST) {
			ex->kind = VMM_X_HOST;
			snprintf(ex->what, sizeof(ex->what), "KVM_RUN: %s",
				 strerror(-r));
		}
		if (ex->kind == VMM_X_SYSCALL) {
			vm->exits++;
			if (stop_at_stdin && is_stdin_read(vm, ex))
				return 1;
			if (vmm_syscall(vm, ex, res))
				break;
			continue;
		}
		vm->exits++;
		if (ex->kind == VMM_X_EXCEPTION) {
			fault_result(ex, res);
		} else if (ex->kind == VMM_X_TIMEOUT) {
			res->reason = VMM_TIMEOUT;
			res->status = VMM_STATUS_TIMEOUT;
		} else if (ex->kind == VMM_X_ABI) {
			res->reason = VMM_ABI;
			res->status = VMM_STATUS_ABI;
			res->rip = ex->rip;
			snprintf(res->msg, sizeof(res->msg), "%s", ex->what);
		} else {
			res->reason = VMM_HOST;
			res->status = VMM_STATUS_SETUP;
			snprintf(res->msg, sizeof(res->msg), "%s", ex->what);
		}
		break;
	}
	/* Output the stub buffered before the end reaches its reader. */
	if (vm->fast)
		vmm_syscall_flush(vm, res);
	if (res->reason == VMM_TIMEOUT)
		snprintf(res->msg, sizeof(res->msg),
			 "function timed out after %.1f s", vm->cfg.timeout);
	return res->reason == VMM_HOST ? -EIO : 0;
}

int vmm_run(struct vmm *vm, struct vmm_result *res)
{
	struct vmm_exit ex;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&ex, 0, sizeof(ex));
	r = vmm__timer_arm(vm, vm->cfg.timeout);
	if (r) {
		vmm__timer_disarm();
		res->reason = VMM_HOST;
		res->status = VMM_STATUS_SETUP;
		snprintf(res->msg, sizeof(res->msg), "cannot arm the timer: %s",
			 strerror(-r));
		return r;
	}
	r = vmm__run_loop(vm, &ex, res, 0);
	vmm__timer_disarm();
	return r;
}
