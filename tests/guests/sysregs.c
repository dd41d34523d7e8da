/* sysregs.c: checks the syscall ABI the stub must keep: every register but
 * rax, rcx and r11 survives a system call, including xmm registers, the
 * direction flag, and a system call made with a useless stack pointer
 * (the stub must never touch the user stack). Prints one line per check. */
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>

static int check_gprs(void)
{
	uint64_t out[12];
	uint64_t *o = out;

	/* step over the red zone, where the compiler may keep out[] */
	__asm__ volatile("sub $128, %%rsp\n\t"
			 "push %%rbx\n\t"
			 "push %%rbp\n\t"
			 "push %%r12\n\t"
			 "push %%r13\n\t"
			 "push %%r14\n\t"
			 "push %%r15\n\t"
			 "push %%rdi\n\t" /* &out */
			 "mov $0x1111, %%rbx\n\t"
			 "mov $0x2222, %%rbp\n\t"
			 "mov $0x3333, %%rdx\n\t"
			 "mov $0x4444, %%rsi\n\t"
			 "mov $0x5555, %%rdi\n\t"
			 "mov $0x6666, %%r8\n\t"
			 "mov $0x7777, %%r9\n\t"
			 "mov $0x8888, %%r10\n\t"
			 "mov $0x9999, %%r12\n\t"
			 "mov $0xaaaa, %%r13\n\t"
			 "mov $0xbbbb, %%r14\n\t"
			 "mov $0xcccc, %%r15\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "mov %%rdi, %%rax\n\t"
			 "pop %%rdi\n\t"
			 "mov %%rbx, 0(%%rdi)\n\t"
			 "mov %%rbp, 8(%%rdi)\n\t"
			 "mov %%rdx, 16(%%rdi)\n\t"
			 "mov %%rsi, 24(%%rdi)\n\t"
			 "mov %%rax, 32(%%rdi)\n\t"
			 "mov %%r8, 40(%%rdi)\n\t"
			 "mov %%r9, 48(%%rdi)\n\t"
			 "mov %%r10, 56(%%rdi)\n\t"
			 "mov %%r12, 64(%%rdi)\n\t"
			 "mov %%r13, 72(%%rdi)\n\t"
			 "mov %%r14, 80(%%rdi)\n\t"
			 "mov %%r15, 88(%%rdi)\n\t"
			 "pop %%r15\n\t"
			 "pop %%r14\n\t"
			 "pop %%r13\n\t"
			 "pop %%r12\n\t"
			 "pop %%rbp\n\t"
			 "pop %%rbx\n\t"
			 "add $128, %%rsp\n\t"
			 : "+D"(o)
			 : [nr] "i"(SYS_getpid)
			 : "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11",
			   "memory", "cc");
	static const uint64_t want[12] = {0x1111, 0x2222, 0x3333, 0x4444,
					  0x5555, 0x6666, 0x7777, 0x8888,
					  0x9999, 0xaaaa, 0xbbbb, 0xcccc};
	int i, bad = 0;

	for (i = 0; i < 12; i++)
		bad += out[i] != want[i];
	return bad;
}

static int check_xmm(void)
{
	double in = 1234.5, out = 0;

	__asm__ volatile("movsd %[in], %%xmm7\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "movsd %%xmm7, %[out]\n\t"
			 : [out] "=m"(out)
			 : [in] "m"(in), [nr] "i"(SYS_getpid)
			 : "rax", "rcx", "r11", "xmm7", "memory");
	return out != in;
}

/* The upper halves of ymm/zmm live in XSAVE state the host must keep. */
__attribute__((target("avx"))) static int check_ymm(void)
{
	double in[4] = {1.5, 2.5, 3.5, 4.5}, out[4] = {0};
	int i;

	__asm__ volatile("vmovupd %[in], %%ymm9\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "vmovupd %%ymm9, %[out]\n\t"
			 "vzeroupper\n\t"
			 : [out] "=m"(out)
			 : [in] "m"(in), [nr] "i"(SYS_getpid)
			 : "rax", "rcx", "r11", "xmm9", "memory");
	for (i = 0; i < 4; i++)
		if (out[i] != in[i])
			return 1;
	return 0;
}

__attribute__((target("avx512f"))) static int check_zmm(void)
{
	double in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};
	int i;

	__asm__ volatile("vmovupd %[in], %%zmm25\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "vmovupd %%zmm25, %[out]\n\t"
			 "vzeroupper\n\t"
			 : [out] "=m"(out)
			 : [in] "m"(in), [nr] "i"(SYS_getpid)
			 : "rax", "rcx", "r11", "xmm25", "memory");
	for (i = 0; i < 8; i++)
		if (out[i] != in[i])
			return 1;
	return 0;
}

static int check_df(void)
{
	uint64_t fl;

	__asm__ volatile("std\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "pushfq\n\t"
			 "pop %[fl]\n\t"
			 "cld\n\t"
			 : [fl] "=r"(fl)
			 : [nr] "i"(SYS_getpid)
			 : "rax", "rcx", "r11", "memory", "cc");
	return !(fl & 0x400);
}

static int check_rcx_r11(void)
{
	uint64_t rcx, r11, fl, here;

	__asm__ volatile("pushfq\n\t"
			 "pop %[fl]\n\t"
			 "lea 1f(%%rip), %[here]\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "1:\n\t"
			 "mov %%rcx, %[rcx]\n\t"
			 "mov %%r11, %[r11]\n\t"
			 : [rcx] "=r"(rcx), [r11] "=r"(r11), [fl] "=&r"(fl),
			   [here] "=&r"(here)
			 : [nr] "i"(SYS_getpid)
			 : "rax", "rcx", "r11", "memory", "cc");
	/* Linux leaves the return address in rcx and rflags in r11. */
	return rcx != here || (r11 & 0xcd5) != (fl & 0xcd5);
}

static int check_nostack(void)
{
	static uint64_t saved;
	long r;

	__asm__ volatile("mov %%rsp, %[saved]\n\t"
			 "xor %%esp, %%esp\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "mov %[saved], %%rsp\n\t"
			 : "=a"(r), [saved] "+m"(saved)
			 : [nr] "i"(SYS_getpid)
			 : "rcx", "r11", "memory");
	return r <= 0;
}

int main(void)
{
	unsigned int mxcsr;
	unsigned short fcw;
	unsigned long fl;

	/* start-up FPU/SSE control state and flags, as Linux gives them */
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	__asm__ volatile("pushfq\n\tpop %0" : "=r"(fl));
	printf("mxcsr %#x fcw %#x DF %lu AC %lu\n", mxcsr, fcw, (fl >> 10) & 1,
	       (fl >> 18) & 1);
	printf("gprs preserved: %s\n", check_gprs() ? "NO" : "yes");
	printf("xmm7 preserved: %s\n", check_xmm() ? "NO" : "yes");
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx"))
		printf("ymm9 preserved: %s\n", check_ymm() ? "NO" : "yes");
	else
		printf("ymm9: no AVX\n");
	if (__builtin_cpu_supports("avx512f"))
		printf("zmm25 preserved: %s\n", check_zmm() ? "NO" : "yes");
	else
		printf("zmm25: no AVX-512\n");
	printf("DF preserved: %s\n", check_df() ? "NO" : "yes");
	printf("rcx/r11 as Linux: %s\n", check_rcx_r11() ? "NO" : "yes");
	printf("syscall with rsp=0: %s\n", check_nostack() ? "NO" : "yes");
	return 0;
}
