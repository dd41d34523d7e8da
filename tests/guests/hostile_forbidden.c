/* hostile_forbidden.c: system calls a function must not make. The VMM
 * answers -EACCES (open/openat, socket, clone/fork, execve, ptrace, kill)
 * or -ENOSYS (anything else not allowlisted) and never touches the host.
 * argv[1], if given, is a host path the tests check is never created.
 * Prints what it got; exits 0 when every answer was as documented.
 * Never run natively (it would fork and exec). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rawsys.h"

static int failures;

/* want2 = 0 when a single answer is documented */
static void expect(const char *what, long r, int want, int want2)
{
	int got = r < 0 ? (int)-r : 0;

	printf("%-22s -> %ld (%s)\n", what, r,
	       r < 0 ? strerror(got) : "success");
	if (got != want && (!want2 || got != want2)) {
		printf("  MISMATCH: want -%d\n", want);
		failures++;
	}
}

int main(int argc, char **argv)
{
	const char *probe = argc > 1 ? argv[1] : "/tmp/sukima-forbidden-probe";
	char *const av[] = {"/bin/sh", "-c", "echo escaped", NULL};
	char *const ev[] = {NULL};
	char buf[64];

	expect("open /etc/passwd", RS(SYS_open, "/etc/passwd", O_RDONLY),
	       EACCES, 0);
	expect("openat /etc/passwd",
	       RS(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY), EACCES, 0);
	expect("open O_CREAT probe",
	       RS(SYS_open, probe, O_CREAT | O_WRONLY, 0644), EACCES, 0);
	expect("openat O_CREAT probe",
	       RS(SYS_openat, AT_FDCWD, probe, O_CREAT | O_WRONLY, 0644),
	       EACCES, 0);
	expect("socket inet", RS(SYS_socket, AF_INET, SOCK_STREAM, 0), EACCES,
	       0);
	expect("socket unix", RS(SYS_socket, AF_UNIX, SOCK_STREAM, 0), EACCES,
	       0);
	expect("fork", RS(SYS_fork), EACCES, 0);
	expect("clone", RS(SYS_clone, SIGCHLD, 0, 0, 0, 0), EACCES, 0);
	expect("vfork", RS(SYS_vfork), EACCES, ENOSYS);
	expect("clone3", RS(435, buf, 64), EACCES, ENOSYS);
	expect("execve /bin/sh", RS(SYS_execve, av[0], av, ev), EACCES, 0);
	expect("execveat", RS(SYS_execveat, AT_FDCWD, av[0], av, ev, 0), EACCES,
	       ENOSYS);
	expect("ptrace TRACEME", RS(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0),
	       EACCES, 0);
	expect("kill 1 0", RS(SYS_kill, 1, 0), EACCES, 0);
	expect("tgkill", RS(SYS_tgkill, 1, 1, 0), EACCES, ENOSYS);

	expect("mkdir probe", RS(SYS_mkdir, probe, 0755), ENOSYS, 0);
	expect("unlink probe", RS(SYS_unlink, probe), ENOSYS, 0);
	expect("chdir /", RS(SYS_chdir, "/"), ENOSYS, 0);
	/* a fixed "/" answer is as harmless as ENOSYS */
	{
		long r = RS(SYS_getcwd, buf, sizeof(buf));

		if (r == 2 && !strcmp(buf, "/"))
			printf("%-22s -> 2 (\"/\")\n", "getcwd");
		else
			expect("getcwd", r, ENOSYS, 0);
	}
	expect("connect", RS(SYS_connect, 0, buf, 16), ENOSYS, EACCES);
	expect("pipe", RS(SYS_pipe, buf), ENOSYS, 0);
	expect("dup 1", RS(SYS_dup, 1), ENOSYS, 0);
	expect("setuid 0", RS(SYS_setuid, 0), ENOSYS, 0);
	expect("iopl 3", RS(SYS_iopl, 3), ENOSYS, 0);
	expect("ioperm", RS(SYS_ioperm, 0x80, 1, 1), ENOSYS, 0);
	expect("modify_ldt", RS(SYS_modify_ldt, 1, buf, 16), ENOSYS, 0);
	expect("mount", RS(SYS_mount, "none", "/mnt", "tmpfs", 0, 0), ENOSYS,
	       0);
	expect("bpf", RS(SYS_bpf, 0, buf, 16), ENOSYS, 0);
	expect("io_uring_setup", RS(425, 1, buf), ENOSYS, 0);
	expect("memfd_create", RS(SYS_memfd_create, "x", 0), ENOSYS, 0);
	expect("syscall 1000", RS(1000), ENOSYS, 0);
	expect("syscall -1", RS(-1L), ENOSYS, 0);
	expect("syscall 1<<40", RS(1L << 40), ENOSYS, 0);
	/* file-backed mmap is not "anonymous only": any error will do */
	{
		long r = RS(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 0, 0);
		printf("%-22s -> %ld\n", "mmap fd 0", r);
		if (r >= 0 || r < -4095) {
			printf("  MISMATCH: want an error\n");
			failures++;
		}
	}
	printf("%d mismatches\n", failures);
	return failures != 0;
}
