/* test_vmm_mem.c: unit tests of guest memory: the accessor and brk/mmap bookkeeping (vmm_mem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vmm/vmm_mem.c"

#define MB (1ULL << 20)

static int setup(void **state)
{
	static struct vmm_mem m;

	if (vmm_mem_init(&m, 64 * MB, 8 * MB, 0))
		return -1;
	vmm_mem_set_image(&m, 0x400000, 0x412345);
	*state = &m;
	return 0;
}

static int teardown(void **state)
{
	vmm_mem_fini(*state);
	return 0;
}

static void test_init_bounds(void **s)
{
	struct vmm_mem m;

	assert_int_equal(vmm_mem_init(&m, 3 * MB, MB, 0), -EINVAL);
	assert_int_equal(vmm_mem_init(&m, 64 * MB + 4096, MB, 0), -EINVAL);
	assert_int_equal(vmm_mem_init(&m, 8 * MB, 8 * MB, 0), -EINVAL);
	assert_int_equal(vmm_mem_init(&m, 8 * VMM_MEM_MAX, MB, 0), -EINVAL);
}

static void test_accessor(void **s)
{
	struct vmm_mem *m = *s;

	assert_null(vmm_mem_ptr(m, vmm_gaddr(0), 1, VMM_MEM_READ));
	assert_null(vmm_mem_ptr(m, vmm_gaddr(VMM_GA_STUB), 1, VMM_MEM_WRITE));
	assert_null(
		vmm_mem_ptr(m, vmm_gaddr(VMM_GA_SYS_END - 1), 2, VMM_MEM_READ));
	assert_non_null(
		vmm_mem_ptr(m, vmm_gaddr(VMM_GA_SYS_END), 1, VMM_MEM_READ));
	assert_ptr_equal(vmm_mem_ptr(m, vmm_gaddr(0x400000), 16, VMM_MEM_READ),
			 m->host + 0x400000);
	assert_non_null(
		vmm_mem_ptr(m, vmm_gaddr(m->size - 1), 1, VMM_MEM_WRITE));
	assert_null(vmm_mem_ptr(m, vmm_gaddr(m->size - 1), 2, VMM_MEM_WRITE));
	assert_null(vmm_mem_ptr(m, vmm_gaddr(m->size), 1, VMM_MEM_READ));
	assert_null(vmm_mem_ptr(m, vmm_gaddr(~0ULL - 4), 16, VMM_MEM_READ));
	assert_null(vmm_mem_ptr(m, vmm_gaddr(0x400000), ~0ULL, VMM_MEM_READ));
	assert_null(vmm_mem_ptr(m, vmm_gaddr(0xffff800000000000ULL), 8,
				VMM_MEM_READ));
	/* the stack guard page */
	assert_null(vmm_mem_ptr(m, vmm_gaddr(m->guard + 100), 1, VMM_MEM_READ));
	assert_null(vmm_mem_ptr(m, vmm_gaddr(m->guard - 1), 2, VMM_MEM_READ));
	assert_non_null(
		vmm_mem_ptr(m, vmm_gaddr(m->guard + 4096), 1, VMM_MEM_READ));
	/* zero length: nothing to check but overflow */
	assert_non_null(vmm_mem_ptr(m, vmm_gaddr(0), 0, VMM_MEM_READ));
	assert_null(vmm_mem_sys(m, VMM_GA_SYS_END - 8, 16));
	assert_non_null(vmm_mem_sys(m, VMM_GA_STUB, 16));
}

static void test_brk(void **s)
{
	struct vmm_mem *m = *s;
	uint64_t b0 = vmm_mem_brk(m, 0);
	uint8_t *p;

	assert_int_equal(b0, 0x413000);
	assert_int_equal(vmm_mem_brk(m, b0 + 0x10000), b0 + 0x10000);
	p = vmm_mem_ptr(m, vmm_gaddr(b0), 0x10000, VMM_MEM_WRITE);
	memset(p, 0xaa, 0x10000);
	/* shrink, grow again: the regrown bytes read zero, as on Linux */
	assert_int_equal(vmm_mem_brk(m, b0 + 0x100), b0 + 0x100);
	assert_int_equal(vmm_mem_brk(m, b0 + 0x10000), b0 + 0x10000);
	assert_int_equal(p[0xff], 0xaa);
	assert_int_equal(p[0x100], 0);
	assert_int_equal(p[0xffff], 0);
	/* refused: below the start, beyond the guard */
	assert_int_equal(vmm_mem_brk(m, 0x1000), b0 + 0x10000);
	assert_int_equal(vmm_mem_brk(m, m->size), b0 + 0x10000);
	assert_int_equal(vmm_mem_brk(m, b0), b0);
}

static void test_mmap(void **s)
{
	struct vmm_mem *m = *s;
	int64_t a, b, c;
	uint8_t *p;

	a = vmm_mem_mmap(m, 0, 10000, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(a > 0);
	assert_int_equal(a % 4096, 0);
	assert_int_equal((uint64_t)a + 12288, m->guard); /* top-down */
	p = vmm_mem_ptr(m, vmm_gaddr((uint64_t)a), 12288, VMM_MEM_WRITE);
	assert_non_null(p);
	memset(p, 0x55, 12288);
	assert_int_equal(vmm_mem_munmap(m, (uint64_t)a, 10000), 0);
	b = vmm_mem_mmap(m, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
	assert_true(b >= a);
	assert_int_equal(*(uint8_t *)vmm_mem_ptr(m, vmm_gaddr((uint64_t)b), 1,
						 VMM_MEM_READ),
			 0); /* reused pages come back zeroed */
	/* file mappings are refused */
	assert_int_equal(vmm_mem_mmap(m, 0, 4096, PROT_READ, MAP_PRIVATE, 0, 0),
			 -ENODEV);
	assert_int_equal(vmm_mem_mmap(m, 0, 4096, PROT_READ, MAP_PRIVATE, 7, 0),
			 -EBADF);
	assert_int_equal(vmm_mem_mmap(m, 0, 0, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			 -EINVAL);
	/* exhaustion is -ENOMEM, not a crash */
	assert_int_equal(vmm_mem_mmap(m, 0, 1ULL << 40, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			 -ENOMEM);
	assert_int_equal(vmm_mem_mmap(m, 0, 60 * MB, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			 -ENOMEM);
	/* MAP_FIXED inside the guest; outside it is refused */
	c = vmm_mem_mmap(m, 0x1000000, 8192, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	assert_int_equal(c, 0x1000000);
	assert_int_equal(
		vmm_mem_mmap(m, 0x1000000, 4096, PROT_READ,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0),
		-EEXIST);
	assert_int_equal(vmm_mem_mmap(m, 0x1000, 4096, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				      -1, 0),
			 -ENOMEM);
	assert_int_equal(vmm_mem_mmap(m, 0x1000001, 4096, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				      -1, 0),
			 -EINVAL);
	/* brk cannot grow into a mapping */
	assert_int_equal(vmm_mem_brk(m, 0x1001000), vmm_mem_brk(m, 0));
	assert_int_equal(vmm_mem_munmap(m, 0x1000000, 8192), 0);
	assert_int_equal(vmm_mem_munmap(m, 0x1000001, 8192), -EINVAL);
	assert_int_equal(vmm_mem_munmap(m, ~0ULL & ~4095ULL, 8192), -EINVAL);
}

static void test_mremap(void **s)
{
	struct vmm_mem *m = *s;
	int64_t a, b;
	uint8_t *p;

	a = vmm_mem_mmap(m, 0, 8192, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(a > 0);
	p = vmm_mem_ptr(m, vmm_gaddr((uint64_t)a), 8192, VMM_MEM_WRITE);
	memset(p, 0x77, 8192);
	/* shrink in place */
	assert_int_equal(vmm_mem_mremap(m, (uint64_t)a, 8192, 4096, 0, 0), a);
	/* grow: the space above is taken (top-down), so it must move */
	assert_int_equal(
		vmm_mem_mremap(m, (uint64_t)a, 4096, 1 * MB, 0, 0) == a ||
			vmm_mem_mremap(m, (uint64_t)a, 4096, 1 * MB, 0, 0) ==
				-ENOMEM,
		1);
	b = vmm_mem_mremap(m, (uint64_t)a, 4096, 2 * MB, MREMAP_MAYMOVE, 0);
	assert_true(b > 0);
	p = vmm_mem_ptr(m, vmm_gaddr((uint64_t)b), 2 * MB, VMM_MEM_READ);
	assert_int_equal(p[0], 0x77);
	assert_int_equal(p[4095], 0x77);
	assert_int_equal(p[4096], 0);
	/* not a mapping, bad flags */
	assert_int_equal(vmm_mem_mremap(m, 0x400000, 4096, 8192, 0, 0),
			 -EFAULT);
	assert_int_equal(vmm_mem_mremap(m, (uint64_t)b, 4096, 8192, 0x80, 0),
			 -EINVAL);
}

static void test_madvise_mprotect(void **s)
{
	struct vmm_mem *m = *s;
	int64_t a = vmm_mem_mmap(m, 0, 4096 * 100, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *p = vmm_mem_ptr(m, vmm_gaddr((uint64_t)a), 4096 * 100,
				 VMM_MEM_WRITE);

	memset(p, 1, 4096 * 100);
	assert_int_equal(
		vmm_mem_madvise(m, (uint64_t)a, 4096 * 100, MADV_DONTNEED), 0);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[4096 * 100 - 1], 0);
	assert_int_equal(vmm_mem_madvise(m, (uint64_t)a + 1, 4096, 4), -EINVAL);
	assert_int_equal(vmm_mem_mprotect(m, (uint64_t)a, 4096, PROT_NONE), 0);
	assert_int_equal(vmm_mem_mprotect(m, 0x1000, 4096, PROT_READ), -ENOMEM);
	assert_int_equal(vmm_mem_mprotect(m, 0x400001, 4096, PROT_READ),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_bounds),
		cmocka_unit_test_setup_teardown(test_accessor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_brk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mremap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madvise_mprotect, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
