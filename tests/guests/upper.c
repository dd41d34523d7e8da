/* upper.c: guest that upper-cases stdin to stdout through stdio. */
#include <ctype.h>
#include <stdio.h>

int main(void)
{
	int c;

	while ((c = getchar()) != EOF)
		putchar(toupper(c));
	return ferror(stdin) || fflush(stdout) != 0;
}
