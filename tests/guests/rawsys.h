/* rawsys.h: a raw system call that returns -errno instead of setting errno,
 * so guests can print exactly what the kernel (or the VMM) answered. */
#ifndef GUEST_RAWSYS_H
#define GUEST_RAWSYS_H

static inline long rawsys(long nr, long a, long b, long c, long d, long e,
			  long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define RS_ARGS(nr, a, b, c, d, e, f, ...)                             \
	rawsys((long)(nr), (long)(a), (long)(b), (long)(c), (long)(d), \
	       (long)(e), (long)(f))
/* RS(nr, args...): up to six arguments, missing ones are 0 */
#define RS(...) RS_ARGS(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)

#endif
