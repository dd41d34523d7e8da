/* vmm_stub.c: the in-guest syscall stubs (LSTAR), with the warm path's exitless read/write. */
#include "vmm/vmm_stub.h"

/*
 * The stub is guest code, assembled here and copied to VMM_GA_STUB.  It is
 * position-independent (relative jumps, absolute addresses of the monitor's
 * fixed pages only) and trusts nothing: it runs on behalf of the guest and
 * only moves bytes between guest memory and the guest's own shared buffers,
 * so a guest that corrupts struct vmm_abi_shared only hurts itself.
 *
 * When VMM_SHARED_FAST is set (warm invocations), read/readv of fd 0 are
 * served from the input window and write/writev of fd 1 are appended to the
 * output buffer without leaving the guest.  Anything else -- another call, a
 * pointer outside the function's memory, an empty window with more input
 * pending, a full output buffer -- takes the slow path: `out` to the
 * monitor, which emulates the call (and flushes the buffer first).
 *
 * The fast path must not touch the user stack (red zone), so it switches to
 * a private stack at the end of the shared page.  It preserves every register
 * but RAX, RCX and R11, as the Linux syscall ABI does.
 */
#define S(x)  #x
#define XS(x) S(x)

/* clang-format off */
#define STUB_ASM(name, fast_return, slow_tail)                              \
	".globl " #name "\n"                                                \
	".globl " #name "_end\n"                                            \
	#name ":\n"                                                         \
	"	testl $" XS(VMM_SHARED_FAST) ", " XS(SH_FLAGS) "\n"         \
	"	jz 90f\n"                                                   \
	"	mov %rsp, " XS(SH_SAVE_RSP) "\n"                            \
	"	mov $" XS(SH_STACK_TOP) ", %rsp\n"                          \
	"	push %rcx\n	push %r11\n	push %rdi\n	push %rsi\n"   \
	"	push %rdx\n	push %r8\n	push %r9\n	push %r10\n"   \
	"	push %rax\n"                                                \
	"	cld\n"                                                      \
	"	cmp $0, %rax\n	je 10f\n"                                   \
	"	cmp $19, %rax\n	je 20f\n"                                   \
	"	cmp $1, %rax\n	je 30f\n"                                   \
	"	cmp $20, %rax\n	je 40f\n"                                   \
	"	jmp 80f\n"                                                  \
	/* read(0, buf, len) */                                             \
	"10:	test %rdi, %rdi\n	jnz 80f\n"                          \
	"	CHECK %rsi, %rdx, 80f\n"                                    \
	"	AVAIL 80f, 70f\n"                                           \
	"	cmp %rdx, %rax\n	jbe 11f\n"                          \
	"	mov %rdx, %rax\n"                                           \
	"11:	mov %rsi, %rdi\n"                                           \
	"	mov " XS(SH_IN_OFF) ", %rsi\n"                              \
	"	lea " XS(VMM_GA_IN) "(%rsi), %rsi\n"                        \
	"	mov %rax, %rcx\n"                                           \
	"	rep movsb\n"                                                \
	"	add %rax, " XS(SH_IN_OFF) "\n"                              \
	"	jmp 70f\n"                                                  \
	/* readv(0, iov, cnt): validate every iovec, then copy */           \
	"20:	test %rdi, %rdi\n	jnz 80f\n"                          \
	"	cmp $1024, %rdx\n	ja 80f\n"                           \
	"	mov %rdx, %r10\n	shl $4, %r10\n"                     \
	"	CHECK %rsi, %r10, 80f\n"                                    \
	"	mov %rsi, %r11\n	mov %rdx, %r10\n"                   \
	"21:	test %r10, %r10\n	jz 22f\n"                           \
	"	mov (%r11), %rdi\n	mov 8(%r11), %rcx\n"                \
	"	CHECK %rdi, %rcx, 80f\n"                                    \
	"	add $16, %r11\n	dec %r10\n	jmp 21b\n"                  \
	"22:	AVAIL 80f, 70f\n"                                           \
	"	mov %rax, %r9\n"                                            \
	"	xor %edx, %edx\n"                                           \
	"	mov 40(%rsp), %r11\n"                                       \
	"	mov 32(%rsp), %r10\n"                                       \
	"23:	test %r10, %r10\n	jz 29f\n"                           \
	"	test %r9, %r9\n	jz 29f\n"                                   \
	"	mov 8(%r11), %rcx\n"                                        \
	"	cmp %r9, %rcx\n	jbe 24f\n"                                  \
	"	mov %r9, %rcx\n"                                            \
	"24:	mov (%r11), %rdi\n"                                         \
	"	mov " XS(SH_IN_OFF) ", %rsi\n"                              \
	"	lea " XS(VMM_GA_IN) "(%rsi), %rsi\n"                        \
	"	mov %rcx, %r8\n"                                            \
	"	rep movsb\n"                                                \
	"	add %r8, " XS(SH_IN_OFF) "\n"                               \
	"	add %r8, %rdx\n"                                            \
	"	sub %r8, %r9\n"                                             \
	"	cmp 8(%r11), %r8\n	jb 29f\n"                           \
	"	add $16, %r11\n	dec %r10\n	jmp 23b\n"                  \
	"29:	mov %rdx, %rax\n	jmp 70f\n"                          \
	/* write(1, buf, len) */                                            \
	"30:	cmp $1, %rdi\n	jne 80f\n"                                  \
	"	CHECK %rsi, %rdx, 80f\n"                                    \
	"	mov " XS(SH_OUT_LEN) ", %rcx\n"                             \
	"	cmp $" XS(VMM_OUT_CAP) ", %rcx\n	ja 80f\n"           \
	"	mov %rcx, %rax\n	add %rdx, %rax\n	jc 80f\n"   \
	"	cmp $" XS(VMM_OUT_CAP) ", %rax\n	ja 80f\n"           \
	"	mov %rax, " XS(SH_OUT_LEN) "\n"                             \
	"	lea " XS(VMM_GA_OUT) "(%rcx), %rdi\n"                       \
	"	mov %rdx, %rcx\n"                                           \
	"	rep movsb\n"                                                \
	"	mov %rdx, %rax\n"                                           \
	"	jmp 70f\n"                                                  \
	/* writev(1, iov, cnt): validate and size, then copy */             \
	"40:	cmp $1, %rdi\n	jne 80f\n"                                  \
	"	cmp $1024, %rdx\n	ja 80f\n"                           \
	"	mov %rdx, %r10\n	shl $4, %r10\n"                     \
	"	CHECK %rsi, %r10, 80f\n"                                    \
	"	mov %rsi, %r11\n	mov %rdx, %r10\n"                   \
	"	xor %eax, %eax\n"                                           \
	"41:	test %r10, %r10\n	jz 42f\n"                           \
	"	mov (%r11), %rdi\n	mov 8(%r11), %rcx\n"                \
	"	CHECK %rdi, %rcx, 80f\n"                                    \
	"	add %rcx, %rax\n	jc 80f\n"                           \
	"	add $16, %r11\n	dec %r10\n	jmp 41b\n"                  \
	"42:	mov " XS(SH_OUT_LEN) ", %rcx\n"                             \
	"	cmp $" XS(VMM_OUT_CAP) ", %rcx\n	ja 80f\n"           \
	"	mov %rcx, %r9\n	add %rax, %r9\n	jc 80f\n"                  \
	"	cmp $" XS(VMM_OUT_CAP) ", %r9\n	ja 80f\n"                   \
	"	mov %r9, " XS(SH_OUT_LEN) "\n"                              \
	"	lea " XS(VMM_GA_OUT) "(%rcx), %rdi\n"                       \
	"	mov 40(%rsp), %r11\n"                                       \
	"	mov 32(%rsp), %r10\n"                                       \
	"43:	test %r10, %r10\n	jz 70f\n"                           \
	"	mov (%r11), %rsi\n	mov 8(%r11), %rcx\n"                \
	"	rep movsb\n"                                                \
	"	add $16, %r11\n	dec %r10\n	jmp 43b\n"                  \
	/* fast return: RAX = result */                                     \
	"70:	incq " XS(SH_FAST_CALLS) "\n"                               \
	"	add $8, %rsp\n"                                             \
	"	pop %r10\n	pop %r9\n	pop %r8\n	pop %rdx\n"     \
	"	pop %rsi\n	pop %rdi\n	pop %r11\n	pop %rcx\n"    \
	fast_return                                                         \
	/* slow path: restore everything, exit to the monitor */            \
	"80:	pop %rax\n"                                                 \
	"	pop %r10\n	pop %r9\n	pop %r8\n	pop %rdx\n"     \
	"	pop %rsi\n	pop %rdi\n	pop %r11\n	pop %rcx\n"    \
	"	mov " XS(SH_SAVE_RSP) ", %rsp\n"                            \
	"90:	out %al, $" XS(VMM_PORT_SYSCALL) "\n"                       \
	slow_tail                                                           \
	#name "_end:\n"

__asm__(
	".pushsection .rodata\n"
	/* CHECK p, len, fail: [p, p+len) inside the function's memory and
	 * clear of the stack guard page (clobbers r8, r9). */
	".macro CHECK p, len, fail\n"
	"	mov \\p, %r8\n"
	"	add \\len, %r8\n"
	"	jc \\fail\n"
	"	cmp " XS(SH_MEM_LO) ", \\p\n"
	"	jb \\fail\n"
	"	cmp " XS(SH_MEM_HI) ", %r8\n"
	"	ja \\fail\n"
	"	mov " XS(SH_GUARD) ", %r9\n"
	"	cmp %r9, %r8\n"
	"	jbe ok\\@\n"
	"	add $4096, %r9\n"
	"	cmp %r9, \\p\n"
	"	jb \\fail\n"
	"ok\\@:\n"
	".endm\n"
	/* AVAIL slow, done: RAX = unread bytes of the window; when none,
	 * EOF (RAX = 0, to done) if all the input was there, else slow. */
	".macro AVAIL slow, done\n"
	"	mov " XS(SH_IN_LEN) ", %rax\n"
	"	cmp $" XS(VMM_IN_CAP) ", %rax\n"
	"	ja \\slow\n"
	"	mov " XS(SH_IN_OFF) ", %rcx\n"
	"	cmp %rax, %rcx\n"
	"	ja \\slow\n"
	"	sub %rcx, %rax\n"
	"	jnz av\\@\n"
	"	testl $" XS(VMM_SHARED_ALLIN) ", " XS(SH_FLAGS) "\n"
	"	jz \\slow\n"
	"	jmp \\done\n"
	"av\\@:\n"
	".endm\n"
	/* PVM: CPL 3; restore RFLAGS from R11 and jump to RCX ourselves. */
	STUB_ASM(vmm__stub_pvm,
		 "	push %r11\n	popfq\n"
		 "	mov " XS(SH_SAVE_RSP) ", %rsp\n"
		 "	jmp *%rcx\n",
		 "	ud2\n")
	/* VMX/SVM: CPL 0; sysretq does both. */
	STUB_ASM(vmm__stub_std,
		 "	mov " XS(SH_SAVE_RSP) ", %rsp\n"
		 "	sysretq\n",
		 "	sysretq\n")
	".purgem CHECK\n"
	".purgem AVAIL\n"
	".popsection\n");
/* clang-format on */
