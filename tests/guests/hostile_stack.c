/* hostile_stack.c: unbounded recursion; must end with a page fault on the
 * stack guard (139), never run into other guest memory. */
#include <stdio.h>

/* never reached; keeps the recursion "finite" for the compiler */
static volatile unsigned long limit = ~0UL;

static unsigned long deep(unsigned long n)
{
	volatile char frame[1024];

	if (n == limit)
		return 0;
	frame[0] = (char)n;
	frame[1023] = (char)(n >> 8);
	return deep(n + 1) + frame[0] + frame[1023];
}

int main(void)
{
	printf("%lu\n", deep(0));
	return 0;
}
