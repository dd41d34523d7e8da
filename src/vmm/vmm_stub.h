/* vmm_stub.h: the in-guest syscall stubs and the constants their assembly uses. */
#ifndef SUKIMA_VMM_STUB_H
#define SUKIMA_VMM_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm_abi.h"

/* Plain literals (the assembler takes no C suffixes), checked below. */
#define SH_FLAGS      0x14004
#define SH_IN_LEN     0x14008
#define SH_IN_OFF     0x14010
#define SH_OUT_LEN    0x14018
#define SH_MEM_LO     0x14020
#define SH_MEM_HI     0x14028
#define SH_GUARD      0x14030
#define SH_SAVE_RSP   0x14038
#define SH_FAST_CALLS 0x14040
#define SH_STACK_TOP  0x15000
#define VMM_GA_IN     0x20000
#define VMM_IN_CAP    0x70000
#define VMM_GA_OUT    0x90000
#define VMM_OUT_CAP   0x70000

#define SH_OFF(f) (VMM_GA_SHARED + offsetof(struct vmm_abi_shared, f))
_Static_assert(SH_FLAGS == SH_OFF(flags) && SH_IN_LEN == SH_OFF(in_len) &&
		       SH_IN_OFF == SH_OFF(in_off) &&
		       SH_OUT_LEN == SH_OFF(out_len) &&
		       SH_MEM_LO == SH_OFF(mem_lo) &&
		       SH_MEM_HI == SH_OFF(mem_hi) &&
		       SH_GUARD == SH_OFF(guard) &&
		       SH_SAVE_RSP == SH_OFF(save_rsp) &&
		       SH_FAST_CALLS == SH_OFF(fast_calls),
	       "stub offsets follow struct vmm_abi_shared");
_Static_assert(SH_STACK_TOP == VMM_GA_SHARED + VMM_PAGE_SIZE, "stub stack");
_Static_assert(VMM_GA_IN == VMM_GA_IOBUF && VMM_IN_CAP == VMM_IOBUF_SIZE / 2 &&
		       VMM_GA_OUT == VMM_GA_IOBUF + VMM_IOBUF_SIZE / 2 &&
		       VMM_OUT_CAP == VMM_IOBUF_SIZE / 2,
	       "I/O buffers");

/* The stubs, [start, end): copied to VMM_GA_STUB by vmm_create(). */
extern const uint8_t vmm__stub_pvm[], vmm__stub_pvm_end[];
extern const uint8_t vmm__stub_std[], vmm__stub_std_end[];

#endif
