/* main.c: sukima-vmm, the protection-domain monitor (one per micro-VM). */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argv;
	fprintf(stderr, "sukima-vmm: not built yet\n");
	return argc > 0 ? 125 : 125;
}
