/* test_vmm_elf.c: unit tests of the ELF parser and placement (vmm_elf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vmm/vmm_elf.c"

#define IMG 0x3000

/* A minimal static executable: header, phdrs, two PT_LOADs. */
static uint8_t img[IMG];

static Elf64_Ehdr *eh(void)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *ph(int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

static void make(int type)
{
	memset(img, 0, sizeof(img));
	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = ELFCLASS64;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;
	eh()->e_type = (uint16_t)type;
	eh()->e_machine = EM_X86_64;
	eh()->e_version = EV_CURRENT;
	eh()->e_phoff = sizeof(Elf64_Ehdr);
	eh()->e_phentsize = sizeof(Elf64_Phdr);
	eh()->e_phnum = 2;
	eh()->e_ehsize = sizeof(Elf64_Ehdr);
	uint64_t base = type == ET_EXEC ? 0x400000 : 0;
	eh()->e_entry = base + 0x1000;
	*ph(0) = (Elf64_Phdr){.p_type = PT_LOAD,
			      .p_flags = PF_R | PF_X,
			      .p_offset = 0,
			      .p_vaddr = base,
			      .p_filesz = 0x2000,
			      .p_memsz = 0x2000,
			      .p_align = 0x1000};
	*ph(1) = (Elf64_Phdr){.p_type = PT_LOAD,
			      .p_flags = PF_R | PF_W,
			      .p_offset = 0x2000,
			      .p_vaddr = base + 0x2000,
			      .p_filesz = 0x800,
			      .p_memsz = 0x5000,
			      .p_align = 0x1000};
}

static int parse(struct vmm_elf *e, const char **why)
{
	return vmm_elf_parse(img, sizeof(img), e, why);
}

static void expect_reject(const char *needle)
{
	struct vmm_elf e;
	const char *why = NULL;

	assert_int_equal(parse(&e, &why), -ENOEXEC);
	assert_non_null(why);
	assert_non_null(strstr(why, needle));
}

static void test_valid_exec(void **s)
{
	struct vmm_elf e;
	const char *why = NULL;
	uint64_t base = 1;

	make(ET_EXEC);
	assert_int_equal(parse(&e, &why), 0);
	assert_int_equal(e.pie, 0);
	assert_int_equal(e.nseg, 2);
	assert_int_equal(e.lo, 0x400000);
	assert_int_equal(e.hi, 0x407000);
	assert_int_equal(e.phdr_va, 0x400000 + sizeof(Elf64_Ehdr));
	assert_int_equal(e.phnum, 2);
	assert_int_equal(vmm_elf_place(&e, 0x200000, 0x4000000, &base, &why),
			 0);
	assert_int_equal(base, 0);
}

static void test_valid_pie(void **s)
{
	struct vmm_elf e;
	const char *why = NULL;
	uint64_t base = 0;

	make(ET_DYN);
	ph(1)->p_align = 0x200000;
	assert_int_equal(parse(&e, &why), 0);
	assert_int_equal(e.pie, 1);
	assert_int_equal(vmm_elf_place(&e, 0x201000, 0x4000000, &base, &why),
			 0);
	assert_int_equal(base % 0x200000, 0);
	assert_true(base >= 0x201000);
}

static void test_not_elf(void **s)
{
	struct vmm_elf e;
	const char *why;

	assert_int_equal(
		vmm_elf_parse((const uint8_t *)"#!/bin/sh\n", 10, &e, &why),
		-ENOEXEC);
	assert_string_equal(why, "not an ELF file");
	assert_int_equal(vmm_elf_parse(img, 0, &e, &why), -ENOEXEC);
	assert_int_equal(vmm_elf_parse(img, 3, &e, &why), -ENOEXEC);
}

static void test_truncated(void **s)
{
	struct vmm_elf e;
	const char *why;

	make(ET_EXEC);
	assert_int_equal(vmm_elf_parse(img, 40, &e, &why), -ENOEXEC);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(vmm_elf_parse(img, sizeof(Elf64_Ehdr) + 60, &e, &why),
			 -ENOEXEC);
	assert_non_null(strstr(why, "truncated"));
	/* the data segment lies beyond the end of a shortened file */
	assert_int_equal(vmm_elf_parse(img, 0x2400, &e, &why), -ENOEXEC);
	assert_non_null(strstr(why, "truncated"));
}

static void test_wrong_kind(void **s)
{
	make(ET_EXEC);
	img[EI_CLASS] = ELFCLASS32;
	expect_reject("32-bit");
	make(ET_EXEC);
	img[EI_DATA] = ELFDATA2MSB;
	expect_reject("little-endian");
	make(ET_EXEC);
	eh()->e_machine = EM_AARCH64;
	expect_reject("x86-64");
	make(ET_REL);
	expect_reject("not an executable");
	make(ET_EXEC);
	eh()->e_phentsize = 32;
	expect_reject("program header size");
	make(ET_EXEC);
	eh()->e_phnum = 0;
	expect_reject("number of program headers");
}

static void test_dynamic(void **s)
{
	make(ET_EXEC);
	ph(1)->p_type = PT_INTERP;
	expect_reject("dynamically linked");
	make(ET_DYN);
	ph(1)->p_type = PT_INTERP;
	expect_reject("dynamically linked");
	make(ET_EXEC);
	ph(1)->p_type = PT_DYNAMIC;
	expect_reject("dynamically linked");
}

static void test_bad_segments(void **s)
{
	make(ET_EXEC);
	ph(1)->p_filesz = 0x6000;
	expect_reject("file size exceeds");
	make(ET_EXEC);
	ph(1)->p_vaddr = 0x401000;
	ph(1)->p_offset = 0x1000;
	expect_reject("overlapping");
	make(ET_EXEC);
	ph(0)->p_vaddr = 0x500000;
	eh()->e_entry = 0x500000;
	expect_reject("overlapping");
	make(ET_EXEC);
	eh()->e_entry = 0x300000;
	expect_reject("entry point");
	make(ET_EXEC);
	ph(1)->p_memsz = 1ULL << 50;
	expect_reject("absurd");
	make(ET_EXEC);
	ph(1)->p_vaddr = 0xffffffffffff0000ULL;
	expect_reject("absurd");
	make(ET_EXEC);
	ph(1)->p_offset = ~0ULL - 10;
	expect_reject("absurd");
	make(ET_EXEC);
	ph(1)->p_align = 0x3000;
	expect_reject("power of two");
	make(ET_EXEC);
	ph(1)->p_vaddr = 0x402100;
	expect_reject("modulo the page size");
	make(ET_EXEC);
	ph(0)->p_type = PT_NOTE;
	ph(1)->p_type = PT_NOTE;
	expect_reject("no loadable segment");
}

static void test_place_limits(void **s)
{
	struct vmm_elf e;
	const char *why = NULL;
	uint64_t base;

	make(ET_EXEC);
	assert_int_equal(parse(&e, &why), 0);
	/* the image does not fit under the guest's usable top */
	assert_int_equal(vmm_elf_place(&e, 0x200000, 0x404000, &base, &why),
			 -ENOEXEC);
	assert_non_null(strstr(why, "outside"));
	/* below the monitor's area */
	assert_int_equal(vmm_elf_place(&e, 0x800000, 0x4000000, &base, &why),
			 -ENOEXEC);
	/* larger than the whole guest */
	ph(1)->p_memsz = 0x10000000;
	assert_int_equal(parse(&e, &why), 0);
	assert_int_equal(vmm_elf_place(&e, 0x200000, 0x4000000, &base, &why),
			 -ENOEXEC);
	assert_non_null(strstr(why, "larger than guest memory"));
}

static void test_phdrs_outside_loads(void **s)
{
	struct vmm_elf e;
	const char *why;

	make(ET_EXEC);
	ph(0)->p_offset = 0x1000;
	ph(0)->p_vaddr = 0x401000;
	ph(0)->p_filesz = ph(0)->p_memsz = 0x1000;
	assert_int_equal(parse(&e, &why), 0);
	assert_int_equal(e.phdr_va, 0); /* the loader copies them itself */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_exec),
		cmocka_unit_test(test_valid_pie),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_wrong_kind),
		cmocka_unit_test(test_dynamic),
		cmocka_unit_test(test_bad_segments),
		cmocka_unit_test(test_place_limits),
		cmocka_unit_test(test_phdrs_outside_loads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
