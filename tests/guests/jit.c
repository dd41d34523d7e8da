/* jit.c: guest that writes machine code into anonymous memory (mmap RW,
 * then mprotect RX, and an RWX mapping) and runs it, as JITs do. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* mov eax, edi; imul eax, eax; add eax, 7; ret */
static const unsigned char code[] = {0x89, 0xf8, 0x0f, 0xaf, 0xc0,
				     0x83, 0xc0, 0x07, 0xc3};

static int run(void *mem, int x)
{
	int (*fn)(int);

	memcpy(&fn, &mem, sizeof(fn));
	return fn(x);
}

int main(void)
{
	unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || q == MAP_FAILED)
		return 1;
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC))
		return 2;
	printf("rx: f(5) = %d\n", run(p, 5));
	memcpy(q, code, sizeof(code));
	printf("rwx: f(9) = %d\n", run(q, 9));
	q[7] = 0x2a; /* patch the constant: self-modifying code */
	printf("patched: f(9) = %d\n", run(q, 9));
	return 0;
}
