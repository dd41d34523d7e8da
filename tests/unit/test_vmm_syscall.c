/* test_vmm_syscall.c: unit tests of the syscall allowlist and its argument checks (vmm_syscall.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vmm/vmm_mem.c"
#include "vmm/vmm_syscall.c"

/* The warm path's input window is not under test here. */
uint64_t vmm__win_used(struct vmm *vm)
{
	return 0;
}

void vmm__win_fill(struct vmm *vm, uint64_t pos)
{
	vm->req_pos = pos;
}

static uint64_t fs_seen;

static int fake_set_fs(struct vmm *vm, uint64_t base)
{
	(void)vm;
	fs_seen = base;
	return 0;
}

static const struct vmm_backend_ops fake_ops = {
	.name = "fake",
	.set_fs_base = fake_set_fs,
};

struct fixture {
	struct vmm vm;
	int in[2], out[2];
};

#define BUF 0x500000ULL /* a guest buffer inside the image */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->vm.cfg.timeout = 10;
	f->vm.cfg.trace_fd = 2;
	f->vm.ops = &fake_ops;
	if (vmm_mem_init(&f->vm.mem, 64ULL << 20, 8ULL << 20, 0))
		return -1;
	vmm_mem_set_image(&f->vm.mem, 0x400000, 0x600000);
	if (pipe(f->in) || pipe(f->out))
		return -1;
	f->vm.cfg.in_fd = f->in[0];
	f->vm.cfg.out_fd = f->out[1];
	f->vm.cfg.err_fd = f->out[1];
	f->vm.cfg.max_output = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmm_mem_fini(&f->vm.mem);
	close(f->in[0]);
	close(f->in[1]);
	close(f->out[0]);
	close(f->out[1]);
	free(f);
	return 0;
}

/* One call; returns the guest-visible result, *done = monitor stops. */
static int64_t call(struct fixture *f, uint64_t nr, uint64_t a0, uint64_t a1,
		    uint64_t a2, uint64_t a3, struct vmm_result *res, int *done)
{
	struct vmm_exit ex = {.kind = VMM_X_SYSCALL, .nr = nr};
	struct vmm_result r;
	int d;

	ex.arg[0] = a0;
	ex.arg[1] = a1;
	ex.arg[2] = a2;
	ex.arg[3] = a3;
	d = vmm_syscall(&f->vm, &ex, res ? res : &r);
	if (done)
		*done = d;
	else
		assert_int_equal(d, 0);
	return (int64_t)ex.ret;
}

static void *g(struct fixture *f, uint64_t ga)
{
	return vmm_mem_ptr(&f->vm.mem, vmm_gaddr(ga), 1, VMM_MEM_READ);
}

static void test_read_write(void **s)
{
	struct fixture *f = *s;
	char got[16] = {0};

	assert_int_equal(write(f->in[1], "hello", 5), 5);
	assert_int_equal(call(f, SYS_read, 0, BUF, 64, 0, NULL, NULL), 5);
	assert_memory_equal(g(f, BUF), "hello", 5);
	assert_int_equal(call(f, SYS_write, 1, BUF, 5, 0, NULL, NULL), 5);
	assert_int_equal(read(f->out[0], got, sizeof(got)), 5);
	assert_string_equal(got, "hello");
	/* wrong descriptors */
	assert_int_equal(call(f, SYS_read, 1, BUF, 5, 0, NULL, NULL), -EBADF);
	assert_int_equal(call(f, SYS_write, 0, BUF, 5, 0, NULL, NULL), -EBADF);
	assert_int_equal(call(f, SYS_write, 3, BUF, 5, 0, NULL, NULL), -EBADF);
	assert_int_equal(call(f, SYS_read, 0xffffffff, BUF, 5, 0, NULL, NULL),
			 -EBADF);
}

static void test_bad_pointers(void **s)
{
	struct fixture *f = *s;
	static const uint64_t bad[] = {0,	    0x1000,
				       VMM_GA_STUB, 0x1ffff0,
				       64ULL << 20, 0xffff800000000000ULL,
				       ~0ULL - 2};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			call(f, SYS_write, 1, bad[i], 16, 0, NULL, NULL),
			-EFAULT);
		assert_int_equal(
			call(f, SYS_read, 0, bad[i], 16, 0, NULL, NULL),
			-EFAULT);
		assert_int_equal(
			call(f, SYS_uname, bad[i], 0, 0, 0, NULL, NULL),
			-EFAULT);
		assert_int_equal(
			call(f, SYS_clock_gettime, 0, bad[i], 0, 0, NULL, NULL),
			-EFAULT);
		assert_int_equal(
			call(f, SYS_getrandom, bad[i], 16, 0, 0, NULL, NULL),
			-EFAULT);
		assert_int_equal(
			call(f, SYS_writev, 1, bad[i], 1, 0, NULL, NULL),
			-EFAULT);
	}
	/* a length that runs off the end of guest memory */
	assert_int_equal(call(f, SYS_write, 1, BUF, 1ULL << 40, 0, NULL, NULL),
			 -EFAULT);
}

static void test_iovecs(void **s)
{
	struct fixture *f = *s;
	uint64_t *iov =
		vmm_mem_ptr(&f->vm.mem, vmm_gaddr(BUF), 32, VMM_MEM_WRITE);
	char got[8] = {0};

	memcpy(g(f, BUF + 0x100), "ab", 2);
	memcpy(g(f, BUF + 0x200), "cd", 2);
	iov[0] = BUF + 0x100;
	iov[1] = 2;
	iov[2] = BUF + 0x200;
	iov[3] = 2;
	assert_int_equal(call(f, SYS_writev, 1, BUF, 2, 0, NULL, NULL), 4);
	assert_int_equal(read(f->out[0], got, sizeof(got)), 4);
	assert_string_equal(got, "abcd");
	iov[2] = 0x10; /* second iovec is wild */
	assert_int_equal(call(f, SYS_writev, 1, BUF, 2, 0, NULL, NULL),
			 -EFAULT);
	assert_int_equal(call(f, SYS_writev, 1, BUF, 5000, 0, NULL, NULL),
			 -EINVAL);
}

static void test_output_limit(void **s)
{
	struct fixture *f = *s;
	struct vmm_result res;
	char got[200];
	int done;

	assert_int_equal(call(f, SYS_write, 1, BUF, 60, 0, &res, &done), 60);
	assert_int_equal(done, 0);
	assert_int_equal(call(f, SYS_write, 2, BUF, 60, 0, &res, &done), 40);
	assert_int_equal(done, 1);
	assert_int_equal(res.reason, VMM_OUTPUT);
	assert_int_equal(res.status, 120);
	assert_non_null(strstr(res.msg, "output limit of 100 bytes"));
	assert_int_equal(read(f->out[0], got, sizeof(got)), 100);
}

static void test_denied(void **s)
{
	struct fixture *f = *s;
	static const uint64_t eacces[] = {SYS_open,   SYS_openat, SYS_socket,
					  SYS_clone,  SYS_fork,	  SYS_vfork,
					  SYS_execve, SYS_ptrace, SYS_kill};
	static const uint64_t enosys[] = {SYS_mount, SYS_bpf,  SYS_reboot,
					  SYS_iopl,  SYS_pipe, 1000,
					  1ULL << 40};

	memcpy(g(f, BUF), "/etc/passwd", 12);
	for (unsigned i = 0; i < sizeof(eacces) / sizeof(eacces[0]); i++)
		assert_int_equal(call(f, eacces[i], BUF, 0, 0, 0, NULL, NULL),
				 -EACCES);
	for (unsigned i = 0; i < sizeof(enosys) / sizeof(enosys[0]); i++)
		assert_int_equal(call(f, enosys[i], BUF, 0, 0, 0, NULL, NULL),
				 -ENOSYS);
	/* newfstatat with a path is a file-system access */
	assert_int_equal(
		call(f, SYS_newfstatat, -100, BUF, BUF + 64, 0, NULL, NULL),
		-EACCES);
}

static void test_exit(void **s)
{
	struct fixture *f = *s;
	struct vmm_result res;
	int done;

	call(f, SYS_exit_group, 0x1234, 0, 0, 0, &res, &done);
	assert_int_equal(done, 1);
	assert_int_equal(res.reason, VMM_EXITED);
	assert_int_equal(res.status, 0x34);
}

static void test_misc(void **s)
{
	struct fixture *f = *s;
	uint64_t *u = g(f, BUF);

	assert_int_equal(call(f, SYS_uname, BUF, 0, 0, 0, NULL, NULL), 0);
	assert_string_equal((char *)g(f, BUF), "Linux");
	assert_string_equal((char *)g(f, BUF + 65 * 4), "x86_64");
	assert_int_equal(call(f, SYS_clock_gettime, 99, BUF, 0, 0, NULL, NULL),
			 -EINVAL);
	assert_int_equal(call(f, SYS_fstat, 1, BUF, 0, 0, NULL, NULL), 0);
	assert_int_equal(((struct g_stat *)g(f, BUF))->mode & 0170000, 0010000);
	assert_int_equal(call(f, SYS_fstat, 5, BUF, 0, 0, NULL, NULL), -EBADF);
	assert_int_equal(call(f, SYS_ioctl, 1, 0x5401, BUF, 0, NULL, NULL),
			 -ENOTTY);
	assert_int_equal(call(f, SYS_close, 1, 0, 0, 0, NULL, NULL), 0);
	assert_int_equal(call(f, SYS_write, 1, BUF, 1, 0, NULL, NULL), -EBADF);
	assert_int_equal(call(f, SYS_close, 1, 0, 0, 0, NULL, NULL), -EBADF);
	assert_int_equal(call(f, SYS_rt_sigaction, 2, 0, BUF, 4, NULL, NULL),
			 -EINVAL);
	assert_int_equal(call(f, SYS_rt_sigaction, 2, 0, BUF, 8, NULL, NULL),
			 0);
	assert_int_equal(
		call(f, SYS_prlimit64, 0, 3, BUF, BUF + 64, NULL, NULL),
		-EPERM);
	assert_int_equal(call(f, SYS_prlimit64, 0, 3, 0, BUF, NULL, NULL), 0);
	assert_int_equal(u[0], 8ULL << 20);
	u[0] = 5;
	assert_int_equal(call(f, SYS_futex, BUF, 0, 6, 0, NULL, NULL), -EAGAIN);
	assert_int_equal(
		call(f, SYS_arch_prctl, 0x1002, 0x123000, 0, 0, NULL, NULL), 0);
	assert_int_equal(fs_seen, 0x123000);
	assert_int_equal(
		call(f, SYS_arch_prctl, 0x1002, 1ULL << 63, 0, 0, NULL, NULL),
		-EPERM);
	assert_int_equal(call(f, SYS_arch_prctl, 0x1003, BUF, 0, 0, NULL, NULL),
			 0);
	assert_int_equal(u[0], 0x123000);
	assert_int_equal(call(f, SYS_getpid, 0, 0, 0, 0, NULL, NULL), 1);
	assert_int_equal(call(f, SYS_nanosleep, 0x10, 0, 0, 0, NULL, NULL),
			 -EFAULT);
	/* brk and mmap reach the bookkeeping */
	assert_int_equal(call(f, SYS_brk, 0, 0, 0, 0, NULL, NULL), 0x600000);
	assert_true(call(f, SYS_mmap, 0, 4096, 3, MAP_PRIVATE | MAP_ANONYMOUS,
			 NULL, NULL) > 0x600000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_pointers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_iovecs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
