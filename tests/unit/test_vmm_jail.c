/* test_vmm_jail.c: the monitor's jail, entered by forked children (no KVM needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/vmm_jail.c"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

enum act {
	ACT_WAIT,	 /* report the mask, block on stdin until told */
	ACT_OPEN,	 /* open /etc/passwd */
	ACT_SOCKET,	 /* socket(AF_INET) */
	ACT_FORK,	 /* fork() */
	ACT_EXEC,	 /* execve /bin/true */
	ACT_MMAP_EXEC,	 /* an executable mapping */
	ACT_IOCTL_OTHER, /* ioctl on a descriptor that is not a KVM one */
	ACT_MEMORY,	 /* malloc/free big and small, then exit 0 */
	ACT_THREAD,	 /* pthread_create + join (VMM_JAIL_F_THREADS) */
	ACT_READ_OTHER,	 /* readv from the output pipe's read end, kept */
	ACT_READ,	 /* read (not readv) from stdin */
};

struct child {
	pid_t pid;
	int to_child;	/* our end of the child's stdin */
	int from_child; /* our end of the child's output */
};

static void *thread_main(void *arg)
{
	return arg;
}

/* Runs in the child: returns its exit status, or gets killed. */
static int child_body(enum act act, unsigned flags, int unpriv, int in, int out,
		      int spare)
{
	struct vmm_jail_cfg cfg = {
		.prio = VMM_JAIL_PRIO_IDLE,
		.flags = flags,
		.in_fds = &in,
		.n_in_fds = 1,
		.out_fds = &out,
		.n_out_fds = 1,
		.keep_fds = &spare,
		.n_keep_fds = 1,
		.as_limit = 1ull << 30,
	};
	unsigned mask;
	char c;

	if (unpriv && (setgid(65534) < 0 || setuid(65534) < 0))
		return 40;
	if (vmm_jail_enter(&cfg) < 0)
		return 41;
	mask = vmm_jail_applied();
	switch (act) {
	case ACT_WAIT:
		if (write(out, &mask, sizeof(mask)) != sizeof(mask))
			return 42;
		return readv(in, &(struct iovec){&c, 1}, 1) == 1 ? 0 : 43;
	case ACT_OPEN:
		return open("/etc/passwd", O_RDONLY) < 0 ? 3 : 99;
	case ACT_SOCKET:
		return socket(AF_INET, SOCK_STREAM, 0) < 0 ? 3 : 99;
	case ACT_FORK: {
		pid_t p = fork();

		if (p == 0)
			_exit(0);
		return p < 0 ? 3 : 99;
	}
	case ACT_EXEC: {
		char *const argv[] = {"/bin/true", NULL};

		execve(argv[0], argv, NULL);
		return 3;
	}
	case ACT_MMAP_EXEC:
		return mmap(NULL, 4096, PROT_READ | PROT_EXEC,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED
			       ? 3
			       : 99;
	case ACT_IOCTL_OTHER: {
		int v = 0;

		return ioctl(in, FIONREAD, &v) < 0 ? 3 : 99;
	}
	case ACT_MEMORY: {
		char *big = malloc(8u << 20), *small = malloc(100), *bigger;

		if (!big || !small)
			return 44;
		memset(big, 1, 8u << 20);
		bigger = realloc(big, 16u << 20); /* mremap */
		if (!bigger)
			return 45;
		free(bigger);
		free(small);
		return write(out, "ok", 2) == 2 ? 0 : 46;
	}
	case ACT_THREAD: {
		pthread_t t;
		void *r = NULL;

		if (pthread_create(&t, NULL, thread_main, &c) != 0)
			return 47;
		if (pthread_join(t, &r) != 0 || r != &c)
			return 48;
		return 0;
	}
	case ACT_READ_OTHER:
		return readv(spare, &(struct iovec){&c, 1}, 1) < 0 ? 3 : 99;
	case ACT_READ:
		return read(in, &c, 1) < 0 ? 3 : 99;
	}
	return 50;
}

static struct child spawn(enum act act, unsigned flags, int unpriv)
{
	struct child ch;
	int p_in[2], p_out[2];

	assert_int_equal(pipe(p_in), 0);
	assert_int_equal(pipe(p_out), 0);
	ch.pid = fork();
	assert_true(ch.pid >= 0);
	if (ch.pid == 0) {
		close(p_in[1]);
		/* p_out[0] stays open as the spare kept descriptor. */
		_exit(child_body(act, flags, unpriv, p_in[0], p_out[1],
				 p_out[0]));
	}
	close(p_in[0]);
	close(p_out[1]);
	ch.to_child = p_in[1];
	ch.from_child = p_out[0];
	return ch;
}

/* Wait for the child (bounded: it either exits or blocks on ACT_WAIT). */
static int reap(struct child *ch)
{
	int st = 0;

	close(ch->to_child);
	assert_int_equal(waitpid(ch->pid, &st, 0), ch->pid);
	close(ch->from_child);
	return st;
}

static void expect_killed(enum act act, unsigned flags)
{
	struct child ch = spawn(act, flags, 0);
	int st = reap(&ch);

#ifdef VMM_JAIL_ASAN
	/* Sanitizer builds refuse file lookups with EACCES (vmm_jail.c). */
	if (act == ACT_OPEN && WIFEXITED(st) && WEXITSTATUS(st) == 3)
		return;
#endif
	if (!WIFSIGNALED(st))
		fail_msg("act %d: not killed, exit status %d", act,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void expect_exit(enum act act, unsigned flags, int code)
{
	struct child ch = spawn(act, flags, 0);
	int st = reap(&ch);

	if (!WIFEXITED(st))
		fail_msg("act %d: killed by signal %d", act, WTERMSIG(st));
	assert_int_equal(WEXITSTATUS(st), code);
}

static void test_describe(void **state)
{
	char buf[128], tiny[8];

	assert_string_equal(vmm_jail_describe(0, buf, sizeof(buf)), "");
	assert_string_equal(vmm_jail_describe(VMM_JAIL_DID_PRIO |
						      VMM_JAIL_DID_ROOT |
						      VMM_JAIL_DID_SECCOMP,
					      buf, sizeof(buf)),
			    "prio root seccomp");
	/* Truncation keeps whole words. */
	assert_string_equal(
		vmm_jail_describe(VMM_JAIL_DID_PRIO | VMM_JAIL_DID_SECCOMP,
				  tiny, sizeof(tiny)),
		"prio");
}

static void test_forbidden_acts_are_killed(void **state)
{
	expect_killed(ACT_OPEN, 0);
	expect_killed(ACT_SOCKET, 0);
	expect_killed(ACT_FORK, 0);
	expect_killed(ACT_EXEC, 0);
	expect_killed(ACT_MMAP_EXEC, 0);
	expect_killed(ACT_IOCTL_OTHER, 0);
	expect_killed(ACT_READ_OTHER, 0);
	expect_killed(ACT_READ, 0);
	/* Threads allowed still means no process. */
	expect_killed(ACT_FORK, VMM_JAIL_F_THREADS);
}

static void test_allowed_work_goes_on(void **state)
{
	expect_exit(ACT_MEMORY, 0, 0);
	expect_exit(ACT_THREAD, VMM_JAIL_F_THREADS, 0);
}

static void test_threads_need_the_flag(void **state)
{
	struct child ch = spawn(ACT_THREAD, 0, 0);
	int st = reap(&ch);

	/* clone3 or clone without the flag: killed. */
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static long status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return v;
}

/* The jailed child, seen from outside while it blocks on its stdin. */
static void check_waiting_child(int unpriv)
{
	struct child ch = spawn(ACT_WAIT, 0, unpriv);
	unsigned mask = 0;
	char path[64];
	int st;

	assert_int_equal(read(ch.from_child, &mask, sizeof(mask)),
			 sizeof(mask));
	assert_true(mask & VMM_JAIL_DID_SECCOMP);
	assert_true(mask & VMM_JAIL_DID_NNP);
	assert_true(mask & VMM_JAIL_DID_PRIO);
	assert_int_equal(sched_getscheduler(ch.pid), SCHED_IDLE);
	errno = 0;
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)ch.pid), 19);
	assert_int_equal(status_field(ch.pid, "NoNewPrivs"), 1);
	assert_int_equal(status_field(ch.pid, "Seccomp"), 2);
	assert_int_equal(status_field(ch.pid, "CapEff"), 0);
	/* stdin, our pipe ends, the spare: nothing else is open. */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)ch.pid);
	assert_int_equal(count_dir(path), 3);
	if (mask & VMM_JAIL_DID_ROOT) {
		snprintf(path, sizeof(path), "/proc/%d/root", (int)ch.pid);
		assert_int_equal(count_dir(path), 0);
	}
	if (unpriv && (mask & VMM_JAIL_DID_NS))
		assert_true(mask & VMM_JAIL_DID_USERNS);
	if (!unpriv)
		assert_true((mask & (VMM_JAIL_DID_NS | VMM_JAIL_DID_ROOT)) ==
			    (VMM_JAIL_DID_NS | VMM_JAIL_DID_ROOT));
	assert_int_equal(write(ch.to_child, "x", 1), 1);
	st = reap(&ch);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_jailed_child_as_root(void **state)
{
	if (geteuid() != 0)
		skip();
	check_waiting_child(0);
}

static void test_jailed_child_unprivileged(void **state)
{
	if (geteuid() != 0)
		skip(); /* we need root to become someone else */
	check_waiting_child(1);
}

static void test_find_kvm_fds(void **state)
{
	int sys, vm, vcpu, fds[8], n;

	sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (sys < 0)
		skip();
	vm = ioctl(sys, KVM_CREATE_VM, 0);
	assert_true(vm >= 0);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	assert_true(vcpu >= 0);
	/* By kind, never /dev/kvm itself. */
	assert_int_equal(vmm_jail_find_fds("anon_inode:kvm-vcpu", fds, 8), 1);
	assert_int_equal(fds[0], vcpu);
	assert_int_equal(vmm_jail_find_fds("anon_inode:kvm-vm", fds, 8), 1);
	assert_int_equal(fds[0], vm);
	n = vmm_jail_find_fds("anon_inode:kvm-", fds, 8);
	assert_int_equal(n, 2);
	assert_int_equal(vmm_jail_find_fds("anon_inode:kvm-", fds, 1), 1);
	close(vcpu);
	close(vm);
	close(sys);
}

/* Child: a VM and a vCPU, the jail, an allowed request, then (what). */
static int kvm_child(int what)
{
	struct kvm_sregs sr;
	struct kvm_regs r;
	int sys, vm, vcpu, out = 2;
	struct vmm_jail_cfg cfg = {.out_fds = &out, .n_out_fds = 1};

	sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vm = sys < 0 ? -1 : ioctl(sys, KVM_CREATE_VM, 0);
	vcpu = vm < 0 ? -1 : ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return 40;
	cfg.kvm_fds = &vcpu;
	cfg.n_kvm_fds = 1;
	cfg.keep_fds = &vm;
	cfg.n_keep_fds = 1;
	if (vmm_jail_enter(&cfg) < 0)
		return 41;
	if (ioctl(vcpu, KVM_GET_SREGS, &sr) < 0)
		return 42;
	switch (what) {
	case 0:
		return 0;
	case 1: /* not a run-path request */
		return ioctl(vcpu, KVM_GET_REGS, &r) < 0 ? 3 : 99;
	case 2: /* a run-path request, on the VM */
		return ioctl(vm, KVM_GET_SREGS, &sr) < 0 ? 3 : 99;
	case 3: /* the system descriptor was closed: EBADF or killed */
		return ioctl(sys, KVM_GET_API_VERSION, 0) < 0 ? 3 : 99;
	}
	return 50;
}

static void test_kvm_requests(void **state)
{
	int what, st;

	if (access("/dev/kvm", R_OK | W_OK) != 0)
		skip();
	for (what = 0; what < 4; what++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			_exit(kvm_child(what));
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (what == 0) {
			assert_true(WIFEXITED(st));
			assert_int_equal(WEXITSTATUS(st), 0);
		} else {
			if (!WIFSIGNALED(st))
				fail_msg("kvm case %d: exit %d", what,
					 WEXITSTATUS(st));
			assert_int_equal(WTERMSIG(st), SIGSYS);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_find_kvm_fds),
		cmocka_unit_test(test_kvm_requests),
		cmocka_unit_test(test_forbidden_acts_are_killed),
		cmocka_unit_test(test_allowed_work_goes_on),
		cmocka_unit_test(test_threads_need_the_flag),
		cmocka_unit_test(test_jailed_child_as_root),
		cmocka_unit_test(test_jailed_child_unprivileged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
