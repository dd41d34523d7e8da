/* vmm_elf.c: parser of static x86-64 ELF executables (pure: bytes in, plan out). */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmm/vmm_elf.h"

#define PAGE 4096ULL

/* Sizes beyond this are absurd for a function (and would overflow sums). */
#define ELF_ABSURD (1ULL << 40)

static int reject(const char **why, const char *reason)
{
	*why = reason;
	return -ENOEXEC;
}

int vmm_elf_parse(const uint8_t *buf, size_t len, struct vmm_elf *out,
		  const char **why)
{
	Elf64_Ehdr eh;
	int has_tls = 0;

	memset(out, 0, sizeof(*out));
	if (len < 4 || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return reject(why, "not an ELF file");
	if (len < EI_NIDENT)
		return reject(why, "truncated ELF header");
	if (buf[EI_CLASS] != ELFCLASS64)
		return reject(why,
			      "not a 64-bit ELF (32-bit is not supported)");
	if (buf[EI_DATA] != ELFDATA2LSB)
		return reject(why, "not little-endian");
	if (len < sizeof(eh))
		return reject(why, "truncated ELF header");
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_machine != EM_X86_64)
		return reject(why, "not an x86-64 executable");
	if (eh.e_version != EV_CURRENT)
		return reject(why, "bad ELF version");
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return reject(why, "not an executable (ET_EXEC or ET_DYN)");
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return reject(why, "bad program header size");
	if (eh.e_phnum == 0 || eh.e_phnum > 256)
		return reject(why, "bad number of program headers");
	if (eh.e_phoff >= len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return reject(why, "truncated program headers");

	out->pie = eh.e_type == ET_DYN;
	out->entry = eh.e_entry;
	out->phoff = eh.e_phoff;
	out->phnum = eh.e_phnum;
	out->align = PAGE;

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		struct vmm_elf_seg *s;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) {
			/* static-pie carries PT_DYNAMIC for its own relocs. */
			if (ph.p_type == PT_INTERP || !out->pie)
				return reject(why,
					      "dynamically linked (has "
					      "PT_INTERP); link it static");
		}
		if (ph.p_type == PT_TLS)
			has_tls = 1;
		if (ph.p_type == PT_PHDR)
			out->phdr_va = ph.p_vaddr;
		if (ph.p_type != PT_LOAD)
			continue;
		if (out->nseg == VMM_ELF_MAX_SEGS)
			return reject(why, "too many PT_LOAD segments");
		if (ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return reject(why, "segment file size exceeds memory "
					   "size");
		if (ph.p_memsz >= ELF_ABSURD || ph.p_vaddr >= ELF_ABSURD ||
		    ph.p_offset >= ELF_ABSURD)
			return reject(why, "absurd segment size or address");
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return reject(why, "truncated: segment beyond end of "
					   "file");
		if (ph.p_align > 1) {
			if (ph.p_align & (ph.p_align - 1))
				return reject(why, "segment alignment is not "
						   "a power of two");
			if (ph.p_align >= ELF_ABSURD)
				return reject(why, "absurd segment alignment");
			if (ph.p_align > out->align)
				out->align = ph.p_align;
		}
		if ((ph.p_vaddr - ph.p_offset) % PAGE != 0)
			return reject(why, "segment address and file offset "
					   "disagree modulo the page size");
		s = &out->seg[out->nseg++];
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->flags = ph.p_flags;
	}
	(void)has_tls;
	if (out->nseg == 0)
		return reject(why, "no loadable segment");

	for (unsigned i = 0; i < out->nseg; i++) {
		const struct vmm_elf_seg *s = &out->seg[i];

		if (i > 0) {
			const struct vmm_elf_seg *p = &out->seg[i - 1];

			if (s->vaddr < p->vaddr + p->memsz)
				return reject(why, "overlapping or unsorted "
						   "segments");
		}
		/* The phdrs are visible to the guest if a segment maps them. */
		if (!out->phdr_va && s->offset <= eh.e_phoff &&
		    eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) <=
			    s->offset + s->filesz)
			out->phdr_va = s->vaddr + (eh.e_phoff - s->offset);
	}
	out->lo = out->seg[0].vaddr & ~(PAGE - 1);
	out->hi = out->seg[out->nseg - 1].vaddr + out->seg[out->nseg - 1].memsz;
	out->hi = (out->hi + PAGE - 1) & ~(PAGE - 1);
	if (out->hi - out->lo >= ELF_ABSURD)
		return reject(why, "absurd image size");

	for (unsigned i = 0; i < out->nseg; i++) {
		const struct vmm_elf_seg *s = &out->seg[i];

		if (out->entry >= s->vaddr && out->entry < s->vaddr + s->memsz)
			return 0;
	}
	return reject(why, "entry point outside the loadable segments");
}

int vmm_elf_place(const struct vmm_elf *elf, uint64_t lo, uint64_t hi,
		  uint64_t *base, const char **why)
{
	uint64_t b = 0;

	if (elf->pie) {
		/* The first aligned address at or above lo, like a kernel. */
		uint64_t al = elf->align < PAGE ? PAGE : elf->align;

		if (al > (1ULL << 30))
			al = 1ULL << 30;
		b = (lo + al - 1) & ~(al - 1);
		b -= elf->lo;
		/* b is a bias: the image lies at [elf->lo + b, elf->hi + b). */
	}
	if (elf->lo + b < lo || elf->hi + b > hi || elf->hi + b < elf->lo) {
		*why = elf->hi - elf->lo > hi - lo
			       ? "segments larger than guest memory (use --mem)"
			       : "segments outside the guest's usable memory";
		return -ENOEXEC;
	}
	*base = b;
	return 0;
}
