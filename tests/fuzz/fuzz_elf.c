/* fuzz_elf.c: libFuzzer driver for the ELF loader (parse, place, copy into a guest-sized buffer). */
/* FUZZ_SOURCES: src/vmm/vmm_elf.c */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/vmm_abi.h"
#include "vmm/vmm_elf.h"

/* A small guest: the image must fit [VMM_GA_SYS_END, GUEST_TOP). */
#define GUEST_TOP (16ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *guest;
	struct vmm_elf elf;
	const char *why = NULL;
	uint64_t base;

	if (!guest) {
		guest = mmap(NULL, GUEST_TOP, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			     0);
		if (guest == MAP_FAILED)
			__builtin_trap();
	}
	if (vmm_elf_parse(data, size, &elf, &why)) {
		if (!why || !*why)
			__builtin_trap(); /* every rejection has a reason */
		return 0;
	}
	if (elf.nseg == 0 || elf.nseg > VMM_ELF_MAX_SEGS)
		__builtin_trap();
	if (vmm_elf_place(&elf, VMM_GA_SYS_END, GUEST_TOP, &base, &why))
		return 0;
	/* What vmm_load() does with an accepted plan: every byte copied must
	 * come from the file and land in the guest (ASan checks both). */
	for (unsigned i = 0; i < elf.nseg; i++) {
		const struct vmm_elf_seg *s = &elf.seg[i];
		uint64_t at = s->vaddr + base;

		if (at < VMM_GA_SYS_END || at + s->memsz > GUEST_TOP ||
		    s->offset + s->filesz > size)
			__builtin_trap();
		memcpy(guest + at, data + s->offset, s->filesz);
		memset(guest + at + s->filesz, 0,
		       s->memsz - s->filesz > 65536 ? 65536
						    : s->memsz - s->filesz);
	}
	if (elf.entry + base < elf.lo + base || elf.entry + base >= GUEST_TOP)
		__builtin_trap();
	return 0;
}
