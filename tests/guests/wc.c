/* wc.c: guest that counts lines, words and bytes of stdin (like wc). */
#include <ctype.h>
#include <stdio.h>

int main(void)
{
	unsigned long lines = 0, words = 0, bytes = 0;
	int c, inword = 0;

	while ((c = getchar()) != EOF) {
		bytes++;
		if (c == '\n')
			lines++;
		if (isspace(c)) {
			inword = 0;
		} else if (!inword) {
			inword = 1;
			words++;
		}
	}
	printf("%lu %lu %lu\n", lines, words, bytes);
	return ferror(stdin) != 0;
}
