/* main.c: the sukima command: CLI, gateway and worker in one binary. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: sukima COMMAND [ARGS...]\n");
		return argc < 2 ? 2 : 0;
	}
	fprintf(stderr, "sukima: unknown command '%s'\n", argv[1]);
	return 2;
}
