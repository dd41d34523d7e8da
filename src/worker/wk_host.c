/* wk_host.c: facts about the PC a worker runs on (OS, arch, hypervisor flavour, load). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "worker/wk_host.h"

const char *wk_host_flavour(void)
{
	static const char *cached;
	struct stat st;
	char line[4096];
	FILE *f;

	if (cached)
		return cached;
	if (stat("/sys/module/kvm_pvm", &st) == 0)
		return cached = "pvm";
	cached = "none";
	f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return cached;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		if (strstr(line, " vmx"))
			cached = "vmx";
		else if (strstr(line, " svm"))
			cached = "svm";
		break;
	}
	fclose(f);
	return cached;
}

void wk_host_facts(char *hostname, size_t hcap, char *os, size_t ocap,
		   char *arch, size_t acap, char *flavour, size_t fcap)
{
	struct utsname u;

	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	if (gethostname(hostname, hcap) < 0 || !hostname[0])
		snprintf(hostname, hcap, "%s",
			 u.nodename[0] ? u.nodename : "?");
	hostname[hcap - 1] = '\0';
	snprintf(os, ocap, "%s %s", u.sysname, u.release);
	snprintf(arch, acap, "%s", u.machine[0] ? u.machine : "x86_64");
	snprintf(flavour, fcap, "%s", wk_host_flavour());
}

double wk_host_load(void)
{
	double l[1];

	return getloadavg(l, 1) == 1 ? l[0] : 0.0;
}

uint64_t wk_host_mem_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psz <= 0)
		return 0;
	return (uint64_t)pages * (uint64_t)psz >> 20;
}

int wk_host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}
