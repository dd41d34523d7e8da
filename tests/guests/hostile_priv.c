/* hostile_priv.c: one privileged or faulting instruction, chosen by
 * argv[1]; at CPL 3 each must end the function with the native signal's
 * status (#GP -> 139, #UD -> 132, #DE -> 136, #BP/#DB -> 133). argv[2] is
 * the port for "out"/"in" (default 0x80). "stubport" does the stub's own
 * `out` (port 0xbf, reachable from user mode on PVM) outside the stub with
 * rcx = 0: the monitor must reject it (121) or return to rcx (#PF, 139).
 * "*-nostack"/"ud2-rostack" fault with a useless stack pointer; "jmp-handler"
 * and "jmp-stub" enter the monitor's code (src/vmm/vmm_abi.h) by a jump. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/vmm/vmm_abi.h"

static uint64_t gdtr[2];

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "hlt";
	unsigned port = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 0x80;
	volatile int zero = 0;
	uint64_t v = 0;

	fprintf(stderr, "hostile_priv: %s\n", m);
	if (!strcmp(m, "hlt"))
		__asm__ volatile("hlt");
	else if (!strcmp(m, "out"))
		__asm__ volatile("outb %%al, %%dx" ::"a"(0x55), "d"(port));
	else if (!strcmp(m, "in"))
		__asm__ volatile("inb %%dx, %%al" : "=a"(v) : "d"(port));
	else if (!strcmp(m, "wrmsr")) /* LSTAR: the syscall entry */
		__asm__ volatile("wrmsr" ::"c"(0xc0000082), "a"(0), "d"(0));
	else if (!strcmp(m, "rdmsr"))
		__asm__ volatile("rdmsr" : "=a"(v) : "c"(0xc0000082) : "rdx");
	else if (!strcmp(m, "lgdt"))
		__asm__ volatile("lgdt %0" ::"m"(gdtr));
	else if (!strcmp(m, "lidt"))
		__asm__ volatile("lidt %0" ::"m"(gdtr));
	else if (!strcmp(m, "cr3"))
		__asm__ volatile("mov %0, %%cr3" ::"r"(v));
	else if (!strcmp(m, "cr0read"))
		__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	else if (!strcmp(m, "cli"))
		__asm__ volatile("cli");
	else if (!strcmp(m, "sti"))
		__asm__ volatile("sti");
	else if (!strcmp(m, "invlpg"))
		__asm__ volatile("invlpg (%0)" ::"r"(&v));
	else if (!strcmp(m, "wbinvd"))
		__asm__ volatile("wbinvd");
	else if (!strcmp(m, "swapgs"))
		__asm__ volatile("swapgs");
	else if (!strcmp(m, "sysret"))
		__asm__ volatile("sysretq");
	else if (!strcmp(m, "xsetbv"))
		__asm__ volatile("xsetbv" ::"c"(0), "a"(7), "d"(0));
	else if (!strcmp(m,
			 "stubport")) /* the stub's port, not from the stub */
		__asm__ volatile("xor %%ecx, %%ecx\n\t"
				 "mov $0x202, %%r11d\n\t"
				 "outb %%al, $0xbf" ::"a"(39)
				 : "rcx", "r11", "memory");
	else if (!strcmp(m, "excport")) /* an exception handler's port (#PF) */
		__asm__ volatile("outb %%al, $0xce" ::"a"(0));
	else if (!strcmp(m, "int80")) /* the 32-bit system call gate */
		__asm__ volatile("int $0x80" : "=a"(v) : "a"(20) : "memory");
	else if (!strcmp(m, "int1")) /* icebp: #DB */
		__asm__ volatile(".byte 0xf1");
	else if (!strcmp(m, "ud2-nostack")) /* exception with rsp = 0 */
		__asm__ volatile("xor %esp, %esp\n\tud2");
	else if (!strcmp(m, "ud2-rostack")) /* ... with rsp in the stub page */
		__asm__ volatile(
			"mov %0, %%rsp\n\tud2" ::"i"(VMM_GA_STUB + 0x100));
	else if (!strcmp(m, "pf-nostack"))
		__asm__ volatile("xor %%esp, %%esp\n\tmov (%%rsp), %%rax" ::
					 : "rax");
	else if (!strcmp(m, "jmp-handler")) /* the #PF handler, not by a #PF */
		__asm__ volatile("jmp *%0" ::"r"(VMM_GA_EXC + 8 * 14));
	else if (!strcmp(m, "jmp-stub")) /* the stub by jmp, not syscall */
		__asm__ volatile("mov $39, %%eax\n\t"
				 "lea 1f(%%rip), %%rcx\n\t"
				 "jmp *%0\n\t"
				 "1:" ::"r"(VMM_GA_STUB)
				 : "rax", "rcx", "r11", "memory");
	else if (!strcmp(m, "ud2"))
		__asm__ volatile("ud2");
	else if (!strcmp(m, "int3"))
		__asm__ volatile("int3");
	else if (!strcmp(m, "div0"))
		v = (uint64_t)(100 / zero);
	else if (!strcmp(m, "null"))
		v = *(volatile uint64_t *)(uintptr_t)zero;
	else if (!strcmp(m, "kernel"))
		v = *(volatile uint64_t *)0xffff800000000000ull;
	else if (!strcmp(m, "noncanon"))
		v = *(volatile uint64_t *)0x0000800000001000ull;
	else if (!strcmp(m, "jmpnull"))
		((void (*)(void))(uintptr_t)zero)();
	else {
		fprintf(stderr, "hostile_priv: unknown mode %s\n", m);
		return 2;
	}
	/* Reaching here means the instruction did not fault. */
	printf("survived %s %llu\n", m, (unsigned long long)v);
	return 1;
}
