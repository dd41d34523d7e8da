/* vmm_elf.h: parser of static x86-64 ELF executables (pure: bytes in, plan out). */
#ifndef SUKIMA_VMM_ELF_H
#define SUKIMA_VMM_ELF_H

#include <stddef.h>
#include <stdint.h>

#define VMM_ELF_MAX_SEGS 16

struct vmm_elf_seg {
	uint64_t vaddr; /* unrelocated */
	uint64_t memsz;
	uint64_t offset;
	uint64_t filesz;
	uint32_t flags; /* PF_R/W/X */
};

struct vmm_elf {
	int pie;	/* ET_DYN: needs a load base */
	uint64_t entry; /* unrelocated */
	uint64_t phoff; /* file offset of the program headers */
	uint16_t phnum;
	uint64_t phdr_va; /* unrelocated vaddr of the phdrs, 0 if not loaded */
	uint64_t lo, hi;  /* page-rounded span of the PT_LOADs, unrelocated */
	uint64_t align;	  /* largest PT_LOAD alignment (power of two) */
	unsigned nseg;
	struct vmm_elf_seg seg[VMM_ELF_MAX_SEGS];
};

/*
 * vmm_elf_parse(buf, len, out, why): checks that buf[0..len) is a static
 * x86-64 executable (ET_EXEC, or ET_DYN without PT_INTERP) whose PT_LOADs
 * are sane, and fills out.  Returns 0, or -ENOEXEC with *why set to a
 * static one-line reason.  Never reads outside buf.
 */
int vmm_elf_parse(const uint8_t *buf, size_t len, struct vmm_elf *out,
		  const char **why);

/*
 * vmm_elf_place(elf, lo, hi, base, why): chooses the load bias (0 for
 * ET_EXEC) so that the whole image lies in guest [lo, hi).  Returns 0, or
 * -ENOEXEC with *why set.
 */
int vmm_elf_place(const struct vmm_elf *elf, uint64_t lo, uint64_t hi,
		  uint64_t *base, const char **why);

#endif
