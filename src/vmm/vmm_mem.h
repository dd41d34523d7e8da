/* vmm_mem.h: guest memory, its one bounds-checked accessor, and brk/mmap bookkeeping. */
#ifndef SUKIMA_VMM_MEM_H
#define SUKIMA_VMM_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm_abi.h"

/*
 * Guest memory is one host mapping of `size` bytes at guest physical 0,
 * identity-mapped once at start-up.  Memory management calls never touch
 * the page tables (the PVM shadow MMU would not see it): they only move the
 * bookkeeping below, inside the already-mapped range.
 *
 *  0 .. VMM_GA_SYS_END        monitor (page tables, GDT/IDT/TSS, stub, I/O)
 *  image_lo .. image_hi       the ELF image
 *  brk_start .. brk_cur       the heap, growing up
 *  ... free ...               anonymous mmaps, allocated top-down
 *  guard                      one unmapped page
 *  stack_lo .. size           the stack
 */
struct vmm_mem {
	uint8_t *host; /* host view of guest [0, size) */
	uint64_t size;
	int memfd;    /* only while setting up the file views */
	int file;     /* memfd-backed (warm path) */
	uint8_t *cow; /* private view waiting for vmm_mem_freeze() */
	uint64_t image_lo, image_hi;
	uint64_t brk_start, brk_cur, brk_hwm; /* hwm: highest brk ever */
	uint64_t guard; /* the stack guard page (not mapped) */
	uint64_t stack_lo;
	uint64_t npages;
	uint8_t *used;	/* bitmap: page belongs to an mmap */
	uint8_t *dirty; /* bitmap: page was handed out before (zero on reuse) */
	struct vmm_mem
		*frozen;  /* the bookkeeping at the snapshot (warm path) */
	uint8_t *written; /* bitmap: written by the monitor since the reset */
	uint8_t *
		ever; /* bitmap: ever written by the guest since the snapshot */
	uint8_t *snap; /* read-only view of the snapshot (the memfd) */
	int track;     /* reset by copying back `written` | `ever` pages */
};

enum { VMM_MEM_READ = 1, VMM_MEM_WRITE = 2 };

/*
 * vmm_mem_init(m, size, stack_size, file): reserves guest memory (zero,
 * MAP_NORESERVE; with file, a shared mapping of a memfd so that it can be
 * frozen later) and the bookkeeping.  size must be a multiple of 2 MiB in
 * [8 MiB, VMM_MEM_MAX].  Returns 0 or -errno.
 */
int vmm_mem_init(struct vmm_mem *m, uint64_t size, uint64_t stack_size,
		 int file);
void vmm_mem_fini(struct vmm_mem *m);

/*
 * vmm_mem_freeze(m): makes the current contents the snapshot: the memfd
 * keeps them and the guest range becomes a private (copy-on-write) mapping
 * of it at the same address (mremap of a view made by vmm_mem_init), so
 * KVM's memory slot stays valid.  Saves the bookkeeping too.  Once, on a
 * file-backed m.  Returns 0 or -errno.
 */
int vmm_mem_freeze(struct vmm_mem *m);

/*
 * vmm_mem_reset(m): back to the snapshot: drops every page written since
 * (MADV_DONTNEED on the private mapping; KVM is told through its MMU
 * notifier) and restores the bookkeeping.  Once m->track is set, it
 * copies the noted pages back from the snapshot instead, so they stay
 * mapped (no fault, no KVM invalidation on the next run).  Returns 0 or
 * -errno.
 */
int vmm_mem_reset(struct vmm_mem *m);

/*
 * vmm_mem_huge_image(m, lo, hi): before the ELF image [lo, hi) is copied in,
 * asks for transparent huge pages on the 2 MiB blocks it mostly fills (cold,
 * anonymous memory only).  One host page and one KVM mapping then serve a
 * large image instead of a fault per 4 KiB page; a small one is left alone
 * (zeroing 2 MiB costs more than its few faults).
 */
void vmm_mem_huge_image(struct vmm_mem *m, uint64_t lo, uint64_t hi);

/*
 * vmm_mem_set_image(m, lo, hi): records the ELF image [lo, hi) and puts the
 * program break right after it.  Call once, after loading.
 */
void vmm_mem_set_image(struct vmm_mem *m, uint64_t lo, uint64_t hi);

/*
 * vmm_mem_ptr(m, ga, len, access): THE accessor for guest pointers.  Returns
 * the host address of guest [ga, ga+len) if the whole range lies in memory
 * the function may touch with that access (not the monitor's area, not the
 * guard page), else NULL.  len 0 gives a non-NULL pointer without checks
 * beyond overflow.
 */
void *vmm_mem_ptr(struct vmm_mem *m, vmm_gaddr_t ga, uint64_t len, int access);

/*
 * vmm_mem_note_write(m, ga, len): records that guest [ga, ga+len) changed
 * (the accessor does it for VMM_MEM_WRITE; the monitor's own writes to its
 * area and the page-table scan of the warm path call it).
 */
void vmm_mem_note_write(struct vmm_mem *m, uint64_t ga, uint64_t len);

/*
 * vmm_mem_note_guest_write(m, ga, len): the guest wrote [ga, ga+len) (a
 * Dirty bit): from now on that page is copied back at every reset, since
 * the CPU will not tell again.
 */
void vmm_mem_note_guest_write(struct vmm_mem *m, uint64_t ga, uint64_t len);

/*
 * vmm_mem_sys(m, ga, len): the monitor's own view of its area (page tables,
 * descriptors, stub, exception stack, I/O buffers); NULL if out of range.
 */
void *vmm_mem_sys(const struct vmm_mem *m, uint64_t ga, uint64_t len);

/* Linux semantics, guest-visible results (address or -errno). */
uint64_t vmm_mem_brk(struct vmm_mem *m, uint64_t want);
int64_t vmm_mem_mmap(struct vmm_mem *m, uint64_t addr, uint64_t len, int prot,
		     int flags, int fd, uint64_t off);
int64_t vmm_mem_munmap(struct vmm_mem *m, uint64_t addr, uint64_t len);
int64_t vmm_mem_mprotect(struct vmm_mem *m, uint64_t addr, uint64_t len,
			 int prot);
int64_t vmm_mem_mremap(struct vmm_mem *m, uint64_t old, uint64_t old_len,
		       uint64_t new_len, int flags, uint64_t new_addr);
int64_t vmm_mem_madvise(struct vmm_mem *m, uint64_t addr, uint64_t len,
			int advice);

#endif
