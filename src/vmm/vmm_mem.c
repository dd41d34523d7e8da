/* vmm_mem.c: guest memory, its one bounds-checked accessor, and brk/mmap bookkeeping. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/vmm_mem.h"

#define PAGE	     VMM_PAGE_SIZE
#define PAGE_DOWN(x) ((x) & ~(PAGE - 1))
#define PAGE_UP(x)   (((x) + PAGE - 1) & ~(PAGE - 1))

/*
 * Runs this long are given back to the host rather than memset.  Below 2
 * MiB a guest that frees and reuses memory (malloc churn) would pay a page
 * fault through the nested MMU for every page it touches again: memset is
 * ~9x faster there (mmapchurn: 0.72 s -> 0.08 s on PVM, 12 s -> 1.2 s
 * under QEMU), and the pages stay within the fixed guest size anyway.
 */
#define ZERO_BY_MADVISE VMM_LARGE_PAGE

static int bit_get(const uint8_t *b, uint64_t i)
{
	return (b[i >> 3] >> (i & 7)) & 1;
}

static void bit_put(uint8_t *b, uint64_t i, int v)
{
	if (v)
		b[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		b[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/*
 * Anonymous guest memory on a 2 MiB boundary, so that 2 MiB guest pages can
 * be backed by 2 MiB host pages (see vmm_mem_init).
 */
static uint8_t *map_aligned(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + VMM_LARGE_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t head;

	if (p == MAP_FAILED)
		return p;
	head = (VMM_LARGE_PAGE - (uintptr_t)p % VMM_LARGE_PAGE) %
	       VMM_LARGE_PAGE;
	if (head)
		munmap(p, head);
	munmap(p + head + size, VMM_LARGE_PAGE - head);
	p += head;
	return p;
}

int vmm_mem_init(struct vmm_mem *m, uint64_t size, uint64_t stack_size,
		 int file)
{
	memset(m, 0, sizeof(*m));
	m->memfd = -1;
	if (size % VMM_LARGE_PAGE || size < (8ULL << 20) || size > VMM_MEM_MAX)
		return -EINVAL;
	stack_size = PAGE_UP(stack_size);
	if (stack_size < 16 * PAGE || stack_size > size / 4)
		return -EINVAL;
	m->size = size;
	m->npages = size / PAGE;
	m->stack_lo = size - stack_size;
	m->guard = m->stack_lo - PAGE;
	m->used = calloc(1, m->npages / 8);
	m->dirty = calloc(1, m->npages / 8);
	if (!m->used || !m->dirty)
		goto err;
	if (file) {
		/* Two views of one memfd, both made now (the jail allows no
		 * file mapping later): the guest runs on the shared one until
		 * the snapshot; the private one replaces it then. */
		m->memfd = memfd_create("sukima-guest", MFD_CLOEXEC);
		if (m->memfd < 0 || ftruncate(m->memfd, (off_t)size))
			goto err;
		m->cow = mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_NORESERVE, m->memfd, 0);
		if (m->cow == MAP_FAILED) {
			m->cow = NULL;
			goto err;
		}
		m->snap = mmap(NULL, size, PROT_READ,
			       MAP_SHARED | MAP_NORESERVE, m->memfd, 0);
		if (m->snap == MAP_FAILED) {
			m->snap = NULL;
			goto err;
		}
		m->host = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_NORESERVE, m->memfd, 0);
		close(m->memfd);
		m->memfd = -1;
		m->file = 1;
	} else {
		m->host = map_aligned(size);
	}
	if (m->host == MAP_FAILED) {
		m->host = NULL;
		goto err;
	}
	/* Transparent huge pages where big heaps and mmaps grow (fewer faults
	 * and TLB misses for large working sets), not in the low 8 MiB (the
	 * monitor's area, the image) nor next to the stack, which every run
	 * touches: zeroing 2 MiB there would cost each cold start ~100 us. */
	if (!file && m->guard > (10ULL << 20))
		(void)madvise(m->host + (8ULL << 20),
			      (m->guard & ~(VMM_LARGE_PAGE - 1)) -
				      (10ULL << 20),
			      MADV_HUGEPAGE);
	m->image_lo = m->image_hi = VMM_GA_SYS_END;
	m->brk_start = m->brk_cur = m->brk_hwm = VMM_GA_SYS_END;
	return 0;
err:
	if (m->memfd >= 0)
		close(m->memfd);
	m->memfd = -1;
	if (m->cow)
		munmap(m->cow, size);
	m->cow = NULL;
	if (m->snap)
		munmap(m->snap, size);
	m->snap = NULL;
	free(m->used);
	free(m->dirty);
	m->used = m->dirty = NULL;
	return -ENOMEM;
}

static void free_frozen(struct vmm_mem *m)
{
	if (!m->frozen)
		return;
	free(m->frozen->used);
	free(m->frozen->dirty);
	free(m->frozen);
	m->frozen = NULL;
}

int vmm_mem_freeze(struct vmm_mem *m)
{
	struct vmm_mem *f;
	size_t nb = m->npages / 8;
	void *p;

	if (!m->file || !m->cow || m->frozen)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	*f = *m;
	f->frozen = NULL;
	f->used = malloc(nb);
	f->dirty = malloc(nb);
	if (!f->used || !f->dirty) {
		free(f->used);
		free(f->dirty);
		free(f);
		return -ENOMEM;
	}
	memcpy(f->used, m->used, nb);
	memcpy(f->dirty, m->dirty, nb);
	/* The private view moves over the shared one: same address, so the
	 * memory slot keeps pointing at it; KVM drops its old mappings through
	 * its MMU notifier. */
	p = mremap(m->cow, m->size, m->size, MREMAP_MAYMOVE | MREMAP_FIXED,
		   m->host);
	if (p == MAP_FAILED) {
		int e = -errno;

		free(f->used);
		free(f->dirty);
		free(f);
		return e;
	}
	m->cow = NULL;
	m->frozen = f;
	m->written = calloc(1, nb);
	m->ever = calloc(1, nb);
	if (!m->written || !m->ever)
		return -ENOMEM;
	return 0;
}

int vmm_mem_reset(struct vmm_mem *m)
{
	const struct vmm_mem *f = m->frozen;
	size_t nb = m->npages / 8;

	if (!f)
		return -EINVAL;
	if (!m->track) {
		if (madvise(m->host, m->size, MADV_DONTNEED))
			return -errno;
	} else {
		/* Copy back what changed; what was only read stays mapped. */
		for (uint64_t i = 0; i < nb; i++) {
			unsigned bits = m->written[i] | m->ever[i];

			m->written[i] = 0;
			for (unsigned b = 0; bits; b++, bits >>= 1) {
				uint64_t off = (i * 8 + b) * PAGE;

				if (bits & 1)
					memcpy(m->host + off, m->snap + off,
					       PAGE);
			}
		}
	}
	m->image_lo = f->image_lo;
	m->image_hi = f->image_hi;
	m->brk_start = f->brk_start;
	m->brk_cur = f->brk_cur;
	m->brk_hwm = f->brk_hwm;
	memcpy(m->used, f->used, nb);
	memcpy(m->dirty, f->dirty, nb);
	return 0;
}

void vmm_mem_fini(struct vmm_mem *m)
{
	free_frozen(m);
	free(m->written);
	if (m->host)
		munmap(m->host, m->size);
	if (m->cow)
		munmap(m->cow, m->size);
	if (m->snap)
		munmap(m->snap, m->size);
	free(m->ever);
	if (m->memfd >= 0)
		close(m->memfd);
	free(m->used);
	free(m->dirty);
	memset(m, 0, sizeof(*m));
	m->memfd = -1;
}

/* At least this much of a 2 MiB block: measured break-even here lies
 * between a 2 KiB image (+180 us with a huge page) and 800 KiB (-220 us). */
#define HUGE_IMAGE_MIN (VMM_LARGE_PAGE / 4)

void vmm_mem_huge_image(struct vmm_mem *m, uint64_t lo, uint64_t hi)
{
	uint64_t blk = lo & ~(VMM_LARGE_PAGE - 1);

	if (m->file || lo >= hi || hi > m->size)
		return;
	for (; blk < hi; blk += VMM_LARGE_PAGE) {
		uint64_t a = lo > blk ? lo : blk;
		uint64_t b =
			hi < blk + VMM_LARGE_PAGE ? hi : blk + VMM_LARGE_PAGE;

		if (blk < VMM_GA_SYS_END || blk + VMM_LARGE_PAGE > m->guard ||
		    b - a < HUGE_IMAGE_MIN)
			continue;
		(void)madvise(m->host + blk, VMM_LARGE_PAGE, MADV_HUGEPAGE);
	}
}

void vmm_mem_set_image(struct vmm_mem *m, uint64_t lo, uint64_t hi)
{
	m->image_lo = lo;
	m->image_hi = PAGE_UP(hi);
	m->brk_start = m->brk_cur = m->brk_hwm = m->image_hi;
	for (uint64_t p = lo / PAGE; p < m->image_hi / PAGE; p++)
		bit_put(m->dirty, p, 1);
}

void vmm_mem_note_write(struct vmm_mem *m, uint64_t ga, uint64_t len)
{
	if (!m->written || len == 0 || ga >= m->size)
		return;
	if (len > m->size - ga)
		len = m->size - ga;
	for (uint64_t p = ga / PAGE; p <= (ga + len - 1) / PAGE; p++)
		bit_put(m->written, p, 1);
}

void vmm_mem_note_guest_write(struct vmm_mem *m, uint64_t ga, uint64_t len)
{
	if (!m->ever || len == 0 || ga >= m->size)
		return;
	if (len > m->size - ga)
		len = m->size - ga;
	for (uint64_t p = ga / PAGE; p <= (ga + len - 1) / PAGE; p++)
		bit_put(m->ever, p, 1);
}

void *vmm_mem_ptr(struct vmm_mem *m, vmm_gaddr_t ga, uint64_t len, int access)
{
	uint64_t end = ga.a + len;

	/* All function memory is read-write-execute; writes are noted for
	 * the warm path's reset. */
	if (end < ga.a)
		return NULL;
	if (len == 0)
		return m->host;
	if (ga.a < VMM_GA_SYS_END || end > m->size)
		return NULL;
	if (ga.a < m->guard + PAGE && end > m->guard)
		return NULL;
	if ((access & VMM_MEM_WRITE) && m->written)
		vmm_mem_note_write(m, ga.a, len);
	return m->host + ga.a;
}

void *vmm_mem_sys(const struct vmm_mem *m, uint64_t ga, uint64_t len)
{
	if (ga > VMM_GA_SYS_END || len > VMM_GA_SYS_END - ga)
		return NULL;
	return m->host + ga;
}

/* Zeroes the parts of [lo, hi) that lie on pages handed out before. */
static void zero_dirty(struct vmm_mem *m, uint64_t lo, uint64_t hi)
{
	uint64_t p = lo;

	while (p < hi) {
		uint64_t pg = p / PAGE, run_end;

		if (!bit_get(m->dirty, pg)) {
			p = PAGE_DOWN(p) + PAGE;
			continue;
		}
		run_end = PAGE_DOWN(p) + PAGE;
		while (run_end < hi && bit_get(m->dirty, run_end / PAGE))
			run_end += PAGE;
		if (run_end > hi)
			run_end = hi;
		if (!m->file && p % PAGE == 0 && run_end % PAGE == 0 &&
		    run_end - p >= ZERO_BY_MADVISE &&
		    madvise(m->host + p, run_end - p, MADV_DONTNEED) == 0) {
			for (uint64_t q = p; q < run_end; q += PAGE)
				bit_put(m->dirty, q / PAGE, 0);
		} else {
			memset(m->host + p, 0, run_end - p);
			vmm_mem_note_write(m, p, run_end - p);
		}
		p = run_end;
	}
}

static int range_free(const struct vmm_mem *m, uint64_t lo, uint64_t hi)
{
	for (uint64_t p = lo; p < hi; p += PAGE)
		if (bit_get(m->used, p / PAGE))
			return 0;
	return 1;
}

static void mark(struct vmm_mem *m, uint64_t lo, uint64_t hi, int used)
{
	for (uint64_t p = lo; p < hi; p += PAGE) {
		bit_put(m->used, p / PAGE, used);
		if (used)
			bit_put(m->dirty, p / PAGE, 1);
	}
}

uint64_t vmm_mem_brk(struct vmm_mem *m, uint64_t want)
{
	uint64_t cur_top = PAGE_UP(m->brk_cur), new_top;

	if (want < m->brk_start || want > m->guard)
		return m->brk_cur;
	new_top = PAGE_UP(want);
	if (new_top > cur_top && !range_free(m, cur_top, new_top))
		return m->brk_cur;
	if (want > m->brk_cur) {
		zero_dirty(m, m->brk_cur, want);
		for (uint64_t p = PAGE_DOWN(m->brk_cur); p < new_top; p += PAGE)
			bit_put(m->dirty, p / PAGE, 1);
	}
	m->brk_cur = want;
	if (want > m->brk_hwm)
		m->brk_hwm = want;
	return m->brk_cur;
}

/* Top-down first fit of npg free pages between the break and the guard. */
static uint64_t find_free(const struct vmm_mem *m, uint64_t len)
{
	uint64_t floor = PAGE_UP(m->brk_cur), top = m->guard, run = 0;

	for (uint64_t p = top; p > floor; p -= PAGE) {
		if (bit_get(m->used, (p - PAGE) / PAGE)) {
			run = 0;
			continue;
		}
		run += PAGE;
		if (run == len)
			return p - PAGE;
	}
	return 0;
}

#define MAP_FIXED_ANY (MAP_FIXED | MAP_FIXED_NOREPLACE)

int64_t vmm_mem_mmap(struct vmm_mem *m, uint64_t addr, uint64_t len, int prot,
		     int flags, int fd, uint64_t off)
{
	uint64_t at;

	(void)prot;
	if (!(flags & MAP_ANONYMOUS))
		return fd >= 0 && fd <= 2 ? -ENODEV : -EBADF;
	if (len == 0 || (off & (PAGE - 1)))
		return -EINVAL;
	if (len > m->size)
		return -ENOMEM;
	len = PAGE_UP(len);
	if (flags & MAP_FIXED_ANY) {
		if (addr & (PAGE - 1))
			return -EINVAL;
		if (addr < VMM_GA_SYS_END || addr + len > m->guard ||
		    addr + len < addr)
			return -ENOMEM;
		if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED) &&
		    !range_free(m, addr, addr + len))
			return -EEXIST;
		at = addr;
	} else {
		at = find_free(m, len);
		if (!at)
			return -ENOMEM;
	}
	zero_dirty(m, at, at + len);
	mark(m, at, at + len, 1);
	return (int64_t)at;
}

int64_t vmm_mem_munmap(struct vmm_mem *m, uint64_t addr, uint64_t len)
{
	if ((addr & (PAGE - 1)) || len == 0)
		return -EINVAL;
	len = PAGE_UP(len);
	if (addr + len < addr || addr + len > m->size)
		return -EINVAL;
	for (uint64_t p = addr; p < addr + len; p += PAGE)
		bit_put(m->used, p / PAGE, 0);
	return 0;
}

int64_t vmm_mem_mprotect(struct vmm_mem *m, uint64_t addr, uint64_t len,
			 int prot)
{
	(void)prot; /* not enforced: the map is built once (guest-abi.md) */
	if (addr & (PAGE - 1))
		return -EINVAL;
	len = PAGE_UP(len);
	if (addr + len < addr)
		return -ENOMEM;
	if (len && (addr < VMM_GA_SYS_END || addr + len > m->size))
		return -ENOMEM;
	return 0;
}

static int all_used(const struct vmm_mem *m, uint64_t lo, uint64_t hi)
{
	for (uint64_t p = lo; p < hi; p += PAGE)
		if (!bit_get(m->used, p / PAGE))
			return 0;
	return 1;
}

int64_t vmm_mem_mremap(struct vmm_mem *m, uint64_t old, uint64_t old_len,
		       uint64_t new_len, int flags, uint64_t new_addr)
{
	uint64_t at;

	(void)new_addr;
	if ((old & (PAGE - 1)) || new_len == 0)
		return -EINVAL;
	if (flags & ~(MREMAP_MAYMOVE))
		return -EINVAL;
	old_len = PAGE_UP(old_len);
	new_len = PAGE_UP(new_len);
	if (old_len == 0 || old + old_len < old || old + old_len > m->size ||
	    new_len > m->size)
		return -EFAULT;
	if (!all_used(m, old, old + old_len))
		return -EFAULT;
	if (new_len <= old_len) {
		mark(m, old + new_len, old + old_len, 0);
		return (int64_t)old;
	}
	if (old + new_len <= m->guard &&
	    range_free(m, old + old_len, old + new_len)) {
		zero_dirty(m, old + old_len, old + new_len);
		mark(m, old + old_len, old + new_len, 1);
		return (int64_t)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	at = find_free(m, new_len);
	if (!at)
		return -ENOMEM;
	zero_dirty(m, at, at + new_len);
	mark(m, at, at + new_len, 1);
	memmove(m->host + at, m->host + old, old_len);
	vmm_mem_note_write(m, at, old_len);
	mark(m, old, old + old_len, 0);
	return (int64_t)at;
}

int64_t vmm_mem_madvise(struct vmm_mem *m, uint64_t addr, uint64_t len,
			int advice)
{
	if (addr & (PAGE - 1))
		return -EINVAL;
	len = PAGE_UP(len);
	if (addr + len < addr)
		return -EINVAL;
	if (len && (addr < VMM_GA_SYS_END || addr + len > m->size))
		return -ENOMEM;
	if (advice == MADV_DONTNEED) {
		uint64_t hi = addr + len;

		/* The stack and its guard are never given back. */
		if (hi > m->guard)
			hi = m->guard;
		if (addr < hi)
			zero_dirty(m, addr, hi);
	}
	return 0;
}
