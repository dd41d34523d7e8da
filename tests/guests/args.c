/* args.c: guest that prints argv, envp and the stable auxv entries. Values
 * that differ from run to run or host to host (AT_RANDOM bytes, AT_HWCAP,
 * addresses) are printed only as present/consistent. */
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;
extern char _start[];

int main(int argc, char **argv)
{
	const Elf64_Phdr *ph;
	const unsigned char *rnd;
	const char *execfn;
	unsigned long n, i, loads = 0;
	int k;

	printf("argc %d\n", argc);
	for (k = 0; k < argc; k++)
		printf("argv[%d] %s\n", k, argv[k]);
	printf("argv[argc] %s\n", argv[argc] ? "non-NULL" : "NULL");
	for (k = 0; environ[k]; k++)
		printf("env %s\n", environ[k]);
	printf("envc %d\n", k);

	printf("AT_PAGESZ %lu\n", getauxval(AT_PAGESZ));
	printf("AT_CLKTCK %lu\n", getauxval(AT_CLKTCK));
	printf("AT_SECURE %lu\n", getauxval(AT_SECURE));
	printf("AT_HWCAP %s\n", getauxval(AT_HWCAP) ? "present" : "absent");
	rnd = (const unsigned char *)getauxval(AT_RANDOM);
	if (rnd) {
		unsigned acc = 0;
		for (i = 0; i < 16; i++) /* must be readable */
			acc |= rnd[i];
		printf("AT_RANDOM present%s\n", acc ? "" : " (all zero)");
	} else {
		printf("AT_RANDOM absent\n");
	}
	ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
	n = getauxval(AT_PHNUM);
	printf("AT_PHENT %s\n",
	       getauxval(AT_PHENT) == sizeof(Elf64_Phdr) ? "ok" : "wrong");
	if (ph && n) {
		for (i = 0; i < n; i++)
			loads += ph[i].p_type == PT_LOAD;
		printf("AT_PHDR ok, %lu entries, %s\n", n,
		       loads ? "has PT_LOAD" : "NO PT_LOAD");
	} else {
		printf("AT_PHDR missing\n");
	}
	printf("AT_ENTRY %s\n", getauxval(AT_ENTRY) == (unsigned long)_start
					? "is _start"
					: "WRONG");
	execfn = (const char *)getauxval(AT_EXECFN);
	printf("AT_EXECFN %s\n", !execfn ? "absent"
				 : strcmp(execfn, argv[0])
					 ? "differs from argv[0]"
					 : "equals argv[0]");
	return 0;
}
