/* wk_host.h: facts about the PC a worker runs on (OS, arch, hypervisor flavour, load). */
#ifndef SUKIMA_WK_HOST_H
#define SUKIMA_WK_HOST_H

#include <stddef.h>
#include <stdint.h>

/* Fill hostname, os ("Linux 6.1.0-..."), arch ("x86_64") and flavour. */
void wk_host_facts(char *hostname, size_t hcap, char *os, size_t ocap,
		   char *arch, size_t acap, char *flavour, size_t fcap);

/*
 * The hypervisor flavour the monitor will use: "pvm" when the kvm_pvm
 * module is loaded (/sys/module/kvm_pvm), else "vmx"/"svm" from the CPU
 * flags in /proc/cpuinfo, else "none".
 */
const char *wk_host_flavour(void);

/* 1-minute load average (0 if unknown). */
double wk_host_load(void);

/* Physical memory in MiB (0 if unknown). */
uint64_t wk_host_mem_mib(void);

/* Online CPUs (at least 1). */
int wk_host_cpus(void);

#endif
