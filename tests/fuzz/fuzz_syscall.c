/* fuzz_syscall.c: libFuzzer driver for the syscall emulation and its guest-pointer checks. */
/* FUZZ_SOURCES: src/vmm/vmm_syscall.c src/vmm/vmm_mem.c */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vmm_syscall.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The warm path's input window is not under test here. */
uint64_t vmm__win_used(struct vmm *vm)
{
	(void)vm;
	return 0;
}

void vmm__win_fill(struct vmm *vm, uint64_t pos)
{
	vm->req_pos = pos;
}

static int fake_set_fs(struct vmm *vm, uint64_t base)
{
	(void)vm;
	(void)base;
	return 0;
}

static const struct vmm_backend_ops fake_ops = {
	.name = "fuzz",
	.set_fs_base = fake_set_fs,
};

/* Arguments are drawn from values that sit on the edges of guest memory. */
static uint64_t pick(const uint8_t *p)
{
	static const uint64_t edge[] = {
		0,
		1,
		0x1000,
		VMM_GA_STUB,
		0x1ffff0,
		0x200000,
		0x400000,
		0x3ffff00,
		0x3fff000,
		0x4000000,
		0x7fffffffffffULL,
		0xffff800000000000ULL,
		~0ULL,
		~0ULL - 4095,
	};
	uint64_t v;

	memcpy(&v, p + 1, sizeof(v));
	if (p[0] & 0x80)
		return v;
	return edge[p[0] % (sizeof(edge) / sizeof(edge[0]))] + (v & 0xff);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int devnull = -1;
	struct vmm vm;
	struct vmm_result res;

	if (devnull < 0)
		devnull = open("/dev/null", O_RDWR);
	memset(&vm, 0, sizeof(vm));
	vm.ops = &fake_ops;
	vm.cfg.in_fd = devnull;
	vm.cfg.out_fd = vm.cfg.err_fd = vm.cfg.trace_fd = devnull;
	vm.cfg.capture = 1;
	vm.cfg.max_output = 1 << 20;
	vm.cfg.timeout = 1;
	if (vmm_mem_init(&vm.mem, 64ULL << 20, 8ULL << 20, 0))
		__builtin_trap();
	vmm_mem_set_image(&vm.mem, 0x400000, 0x500000);
	/* one call per 64 bytes: nr, then six arguments of 9 bytes each */
	for (size_t off = 0; off + 64 <= size; off += 64) {
		struct vmm_exit ex = {.kind = VMM_X_SYSCALL};

		ex.nr = (uint64_t)(data[off] | data[off + 1] << 8) % 460;
		/* sleeps would really sleep */
		if (ex.nr == 35 || ex.nr == 230)
			continue;
		for (int i = 0; i < 6; i++)
			ex.arg[i] = pick(data + off + 2 + 9 * i);
		memset(&res, 0, sizeof(res));
		if (vmm_syscall(&vm, &ex, &res))
			break;
	}
	vmm_mem_fini(&vm.mem);
	free(vm.out.p);
	free(vm.err_out.p);
	return 0;
}
