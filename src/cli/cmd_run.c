/* cmd_run.c: `sukima run`: runs a function in a protection domain on this host. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* Exit status of a monitor that could not be started (docs/guest-abi.md). */
#define RUN_STATUS_SETUP 125

/*
 * The monitor is a separate program (libc + libseccomp only, jailed per
 * micro-VM): $SUKIMA_VMM, else sukima-vmm beside this executable.  The
 * options and the exit status are the monitor's own.
 */
int cmd_run(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 16];
	const char *vmm = getenv("SUKIMA_VMM");
	char **args;
	ssize_t n;

	if (!vmm || !*vmm) {
		char *slash;

		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0) {
			fprintf(stderr, "sukima: /proc/self/exe: %s\n",
				strerror(errno));
			return RUN_STATUS_SETUP;
		}
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			slash[1] = '\0';
		else
			self[0] = '\0';
		snprintf(path, sizeof(path), "%ssukima-vmm", self);
		vmm = path;
	}
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args) {
		fprintf(stderr, "sukima: out of memory\n");
		return RUN_STATUS_SETUP;
	}
	args[0] = (char *)vmm;
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	execv(vmm, args);
	fprintf(stderr, "sukima: cannot run the monitor %s: %s\n", vmm,
		strerror(errno));
	free(args);
	return RUN_STATUS_SETUP;
}
