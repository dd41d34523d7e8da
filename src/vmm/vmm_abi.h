/* vmm_abi.h: the guest ABI of the protection domain (layout, ports, shared page). */
#ifndef SUKIMA_VMM_ABI_H
#define SUKIMA_VMM_ABI_H

/*
 * Self-contained (C99 headers only): both the monitor and anything that
 * inspects a guest's memory use it.  Change VMM_ABI_VERSION whenever a
 * constant or a layout here changes; docs/guest-abi.md describes it.
 */
#include <stdint.h>

#define VMM_ABI_VERSION 1

/*
 * A guest (physical == virtual, identity-mapped) address.  A struct, so that
 * it cannot be dereferenced or mixed with host pointers by accident: the only
 * way to touch guest memory is vmm_mem_ptr(), the bounds-checked accessor.
 */
typedef struct {
	uint64_t a;
} vmm_gaddr_t;

static inline vmm_gaddr_t vmm_gaddr(uint64_t a)
{
	vmm_gaddr_t g = {a};
	return g;
}

#define VMM_PAGE_SIZE  4096ULL
#define VMM_LARGE_PAGE 0x200000ULL

/*
 * The first 2 MiB belong to the monitor.  Page 0 is never mapped (NULL
 * faults), the paging structures are not mapped at all (the MMU reads them
 * by physical address), the descriptor tables and the stub are mapped
 * read-only, the exception stack and the shared I/O page read-write.
 */
#define VMM_GA_PML4	  0x1000ULL
#define VMM_GA_PDPT	  0x2000ULL
#define VMM_GA_PD	  0x3000ULL /* VMM_PD_PAGES pages: up to 4 GiB */
#define VMM_PD_PAGES	  4
#define VMM_GA_PT	  0x7000ULL /* VMM_PT_PAGES 4 KiB page tables */
#define VMM_PT_PAGES	  8
#define VMM_GA_GDT	  0x10000ULL
#define VMM_GA_TSS	  0x10800ULL
#define VMM_GA_IDT	  0x11000ULL
#define VMM_GA_STUB	  0x12000ULL  /* LSTAR: the syscall stub */
#define VMM_GA_EXC	  0x12800ULL  /* exception handler v at +8*v */
#define VMM_GA_EXC_STACK  0x14000ULL  /* top of the exception stack */
#define VMM_GA_SHARED	  0x14000ULL  /* struct vmm_abi_shared (warm path) */
#define VMM_GA_IOBUF	  0x20000ULL  /* request/response buffers */
#define VMM_IOBUF_SIZE	  0xe0000ULL  /* 896 KiB: input window, then output */
#define VMM_GA_PT_WARM	  0x100000ULL /* warm VMs: 4 KiB tables, 512 MiB */
#define VMM_PT_WARM_PAGES 256
#define VMM_GA_SYS_END	  0x200000ULL
#define VMM_MEM_MAX	  (4ULL << 30)

/* GDT selectors (the host's own user selectors, so sysretq works). */
#define VMM_SEL_KCODE 0x10
#define VMM_SEL_KDATA 0x18
#define VMM_SEL_UDATA 0x2b
#define VMM_SEL_UCODE 0x33
#define VMM_SEL_TSS   0x40

/*
 * Ports.  The stub does `out %al, $VMM_PORT_SYSCALL`; exception handler v
 * does `out %al, $(VMM_PORT_EXC + v)` (v < 32).  The TSS I/O bitmap lets
 * user mode reach VMM_PORT_SYSCALL only, and only on the PVM flavour.
 */
#define VMM_PORT_SYSCALL 0xbf
#define VMM_PORT_EXC	 0xc0

/* The monitor's exit statuses (docs/guest-abi.md). */
#define VMM_STATUS_LIMIT_OUTPUT 120
#define VMM_STATUS_ABI		121
#define VMM_STATUS_USAGE	122
#define VMM_STATUS_TIMEOUT	124
#define VMM_STATUS_SETUP	125
#define VMM_STATUS_ELF		126
#define VMM_STATUS_NOFILE	127

/*
 * The hardware exception frame on the exception stack, as pushed for a
 * vector with an error code (vectors without one get err = 0 from the
 * monitor, which knows which push one).
 */
struct vmm_abi_exc_frame {
	uint64_t err;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};
_Static_assert(sizeof(struct vmm_abi_exc_frame) == 48, "exception frame");

/*
 * The shared page of the warm path (read-write for the guest, which is its
 * own to corrupt: the monitor clamps every field it reads back).  The stub
 * serves read(0) from the input window VMM_GA_IOBUF[in_off, in_len) and
 * appends write(1) to VMM_GA_IOBUF + VMM_IOBUF_SIZE / 2 [0, out_len); see
 * docs/guest-abi.md ("Warm path").
 */
#define VMM_SHARED_FAST	 1u /* flags: the stub may serve read/write */
#define VMM_SHARED_ALLIN 2u /* flags: the window holds the rest of the input */

struct vmm_abi_shared {
	uint32_t abi_version;
	uint32_t flags;
	uint64_t in_len;  /* bytes in the input window */
	uint64_t in_off;  /* bytes of the window already read */
	uint64_t out_len; /* bytes in the output buffer */
	uint64_t mem_lo;  /* the function's memory, for pointer checks */
	uint64_t mem_hi;
	uint64_t guard;	     /* the stack guard page */
	uint64_t save_rsp;   /* the stub's scratch */
	uint64_t fast_calls; /* calls served without an exit */
	uint64_t spare[7];
};
_Static_assert(sizeof(struct vmm_abi_shared) == 128, "shared page header");

#endif
