/* test_wk_cgroup.c: unit tests of the rule that decides where the monitors' cgroup goes (wk_cgroup.c) and of the parsing it relies on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/worker/wk_cgroup.c"

/* The rest of the worker, never reached here. */
void sk_log(enum sk_log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}
int wk_host_cpus(void)
{
	return 2;
}

/* A cgroup delegated the way systemd's Delegate=yes leaves it. */
static const struct cg_facts delegated = {
	.ctl_avail = 1, .marked = 1, .writable = 0, .alone = 1};

static void plan_is(const struct cg_facts *f, enum cg_mode want,
		    const char *why_has)
{
	const char *why = "";

	assert_int_equal(cg_plan(f, &why), want);
	if (why_has)
		assert_non_null(strstr(why, why_has));
}

static void test_plan_root(void **state)
{
	struct cg_facts f = {.root = 1, .ctl_on = 1};

	(void)state;
	plan_is(&f, CG_CHILD, NULL);
	f.ctl_on = 0;
	/* Root but the controllers not handed down: never enabled by us. */
	f.ctl_avail = f.marked = f.alone = 1;
	plan_is(&f, CG_NONE, "does not delegate the cpu and memory");
}

static void test_plan_delegated(void **state)
{
	struct cg_facts f = delegated;

	(void)state;
	plan_is(&f, CG_DELEGATED, NULL);
	/* An odd cgroup that already hands them down: used as it is. */
	f.ctl_on = 1;
	plan_is(&f, CG_CHILD, NULL);
}

static void test_plan_not_delegated(void **state)
{
	struct cg_facts f = delegated;

	(void)state;
	/* Root in a session scope or a test harness's cgroup: writable,
	 * alone, controllers offered, but nobody delegated it. */
	f.marked = 0;
	plan_is(&f, CG_NONE, "not delegated");
}

static void test_plan_refusals(void **state)
{
	struct cg_facts f = delegated;

	(void)state;
	f.ctl_avail = 0;
	plan_is(&f, CG_NONE, "cgroup.controllers");
	f = delegated;
	f.writable = -EROFS;
	plan_is(&f, CG_NONE, "ProtectControlGroups");
	f.writable = -EACCES;
	plan_is(&f, CG_NONE, "not writable");
	f = delegated;
	f.alone = 0;
	plan_is(&f, CG_NONE, "other processes");
}

static void test_only_pid(void **state)
{
	(void)state;
	assert_true(only_pid("42\n", 42));
	assert_true(only_pid("42", 42));
	assert_false(only_pid("", 42));
	assert_false(only_pid("42\n43\n", 42));
	assert_false(only_pid("43\n42\n", 42));
	assert_false(only_pid("4\n", 42));
	assert_false(only_pid("421\n", 42));
	assert_false(only_pid("42x\n", 42));
	assert_false(only_pid("\n", 42));
}

static void test_has_word(void **state)
{
	(void)state;
	assert_true(has_word("cpuset cpu io memory pids", "cpu"));
	assert_false(has_word("cpuset io memory pids", "cpu"));
	assert_true(has_word("memory", "memory"));
	assert_false(has_word("", "memory"));
}

static void put_file(const char *d, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* own_facts reads a directory laid out like a cgroup. */
static void test_own_facts(void **state)
{
	char d[] = "/tmp/test_wk_cgroup.XXXXXX", me[32], path[600];
	struct cg_facts f;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(me, sizeof(me), "%ld\n", (long)getpid());
	put_file(d, "cgroup.subtree_control", "");
	put_file(d, "cgroup.controllers", "cpuset cpu io memory pids\n");
	put_file(d, "cgroup.procs", me);
	own_facts(d, 0, &f);
	assert_false(f.ctl_on);
	assert_true(f.ctl_avail);
	assert_int_equal(f.writable, 0);
	assert_true(f.alone);
	/* No delegation marker on a plain directory. */
	assert_false(f.marked);

	put_file(d, "cgroup.procs", "1\n");
	own_facts(d, 0, &f);
	assert_false(f.alone);

	/* The root: only its cgroup.subtree_control counts. */
	put_file(d, "cgroup.subtree_control", "cpu io memory\n");
	own_facts(d, 1, &f);
	assert_true(f.root);
	assert_true(f.ctl_on);

	put_file(d, "cgroup.controllers", "cpu io pids\n");
	put_file(d, "cgroup.subtree_control", "\n");
	own_facts(d, 0, &f);
	assert_false(f.ctl_avail);

	for (const char *const *n =
		     (const char *const[]){"cgroup.subtree_control",
					   "cgroup.controllers", "cgroup.procs",
					   NULL};
	     *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", d, *n);
		unlink(path);
	}
	assert_int_equal(rmdir(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_root),
		cmocka_unit_test(test_plan_delegated),
		cmocka_unit_test(test_plan_not_delegated),
		cmocka_unit_test(test_plan_refusals),
		cmocka_unit_test(test_only_pid),
		cmocka_unit_test(test_has_word),
		cmocka_unit_test(test_own_facts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
