/* test_wk_policy.c: unit tests of the owner-activity state machine (transitions and timings on a fake clock). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/worker/wk_policy.c"

static const struct wk_policy_sample away = {-1, 0, 0};
static const struct wk_policy_sample typing = {0, 0, 0};

static struct wk_policy_cfg desk(void)
{
	struct wk_policy_cfg c;

	wk_policy_cfg_default(&c);
	c.desktop = 1;
	c.input_ms = 5000;
	c.load_max_pct = 30;
	c.suspend_after_ms = 2000;
	c.vacate_after_ms = 10000;
	c.away_ms = 3000;
	return c;
}

/* Feed (s) every 250 ms from (*t) to (until); returns the last state. */
static enum wk_pstate run(struct wk_policy *p, const struct wk_policy_sample *s,
			  int64_t *t, int64_t until)
{
	enum wk_pstate st = p->state;

	for (; *t <= until; *t += 250)
		st = wk_policy_step(p, s, *t);
	return st;
}

static void test_always_stays_idle(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy p;
	int64_t t = 0;

	c.desktop = 0;
	wk_policy_init(&p, &c, 0);
	assert_int_equal(run(&p, &typing, &t, 60000), WK_P_IDLE);
}

static void test_full_cycle_with_timings(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy p;
	int64_t t = 1000;

	wk_policy_init(&p, &c, 1000);
	assert_int_equal(run(&p, &away, &t, 5000), WK_P_IDLE);
	/* Owner back: Owner on the very first sample. */
	assert_int_equal(wk_policy_step(&p, &typing, 5250), WK_P_OWNER);
	assert_non_null(strstr(p.why, "input"));
	/* Still Owner just before suspend_after, Suspended at it. */
	assert_int_equal(wk_policy_step(&p, &typing, 7249), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &typing, 7250), WK_P_SUSPENDED);
	/* Suspended until vacate_after, then Vacating. */
	assert_int_equal(wk_policy_step(&p, &typing, 17249), WK_P_SUSPENDED);
	assert_int_equal(wk_policy_step(&p, &typing, 17250), WK_P_VACATING);
	assert_non_null(strstr(p.why, "suspended for 10.0 s"));
	/* Owner leaves: Idle only after away_ms of absence. */
	assert_int_equal(wk_policy_step(&p, &away, 20000), WK_P_VACATING);
	assert_int_equal(wk_policy_step(&p, &away, 22999), WK_P_VACATING);
	assert_int_equal(wk_policy_step(&p, &away, 23000), WK_P_IDLE);
	assert_non_null(strstr(p.why, "away for 3.0 s"));
}

static void test_suspended_resumes_when_owner_leaves(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy p;
	int64_t t = 0;

	wk_policy_init(&p, &c, 0);
	assert_int_equal(run(&p, &typing, &t, 2500), WK_P_SUSPENDED);
	t = 3000;
	assert_int_equal(run(&p, &away, &t, 5750), WK_P_SUSPENDED);
	assert_int_equal(wk_policy_step(&p, &away, 6000), WK_P_IDLE);
}

static void test_owner_goes_back_to_idle(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy p;

	wk_policy_init(&p, &c, 0);
	assert_int_equal(wk_policy_step(&p, &typing, 0), WK_P_OWNER);
	/* A brief absence is not enough; presence again resets it. */
	assert_int_equal(wk_policy_step(&p, &away, 1000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &away, 3000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &away, 4000), WK_P_IDLE);
}

static void test_flicker_resets_away_time(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy p;

	c.suspend_after_ms = 100000;
	wk_policy_init(&p, &c, 0);
	assert_int_equal(wk_policy_step(&p, &typing, 0), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &away, 1000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &typing, 3500), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &away, 4000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &away, 6999), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &away, 7000), WK_P_IDLE);
}

static void test_presence_inputs(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy_sample s;
	char why[96];

	s = (struct wk_policy_sample){4999, -1, -1};
	assert_true(wk_policy_present(&c, &s, why, sizeof(why)));
	s = (struct wk_policy_sample){5000, -1, -1};
	assert_false(wk_policy_present(&c, &s, why, sizeof(why)));
	assert_string_equal(why, "");
	s = (struct wk_policy_sample){-1, 31, -1};
	assert_true(wk_policy_present(&c, &s, why, sizeof(why)));
	assert_string_equal(why, "foreign CPU load 31 % > 30 %");
	s = (struct wk_policy_sample){-1, 30, 0};
	assert_false(wk_policy_present(&c, &s, why, sizeof(why)));
	s = (struct wk_policy_sample){-1, -1, 1};
	assert_true(wk_policy_present(&c, &s, why, sizeof(why)));
	assert_string_equal(why, "on battery");
	c.battery_ok = 1;
	assert_false(wk_policy_present(&c, &s, why, sizeof(why)));
	/* Everything unknown: nobody is there. */
	s = (struct wk_policy_sample){-1, -1, -1};
	assert_false(wk_policy_present(&c, &s, why, sizeof(why)));
}

static void test_load_drives_the_cycle(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy_sample busy = {-1, 80, -1}, quiet = {-1, 5, -1};
	struct wk_policy p;
	int64_t t = 0;

	c.suspend_after_ms = 0;
	c.vacate_after_ms = 1000;
	wk_policy_init(&p, &c, 0);
	assert_int_equal(wk_policy_step(&p, &busy, 0), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &busy, 250), WK_P_SUSPENDED);
	assert_int_equal(wk_policy_step(&p, &busy, 1249), WK_P_SUSPENDED);
	assert_int_equal(wk_policy_step(&p, &busy, 1250), WK_P_VACATING);
	t = 1500;
	assert_int_equal(run(&p, &quiet, &t, 4250), WK_P_VACATING);
	assert_int_equal(wk_policy_step(&p, &quiet, 4500), WK_P_IDLE);
}

static void test_load_suspends_at_once(void **state)
{
	struct wk_policy_cfg c = desk();
	struct wk_policy_sample busy = {-1, 80, -1}, both = {0, 80, -1};
	struct wk_policy p;

	/* By load: Owner on the first sample, Suspended on the next. */
	wk_policy_init(&p, &c, 0);
	assert_int_equal(wk_policy_step(&p, &busy, 1000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &busy, 1250), WK_P_SUSPENDED);
	assert_non_null(strstr(p.why, "owner's CPU load for 0.2 s"));
	/* By input, the load coming later: --suspend-after-load counts
	 * from the load, --suspend-after from the owner's arrival. */
	c.suspend_load_ms = 1000;
	wk_policy_init(&p, &c, 0);
	assert_int_equal(wk_policy_step(&p, &typing, 1000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &both, 1500), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &both, 2499), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &both, 2500), WK_P_SUSPENDED);
	/* A load that drops and comes back starts again. */
	wk_policy_init(&p, &c, 0);
	assert_int_equal(wk_policy_step(&p, &busy, 1000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &typing, 1750), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &busy, 2000), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &busy, 2999), WK_P_OWNER);
	assert_int_equal(wk_policy_step(&p, &busy, 3000), WK_P_SUSPENDED);
}

static void test_getopt(void **state)
{
	struct wk_policy_cfg c;
	char err[160];

	wk_policy_cfg_default(&c);
	assert_int_equal(c.desktop, 0);
	assert_int_equal(wk_policy_getopt(&c, 'x', "1", err, sizeof(err)), 0);
	assert_int_equal(
		wk_policy_getopt(&c, 0x700, "desktop", err, sizeof(err)), 1);
	assert_int_equal(c.desktop, 1);
	assert_int_equal(
		wk_policy_getopt(&c, 0x700, "sometimes", err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err,
			    "bad --policy 'sometimes' (always or desktop)");
	assert_int_equal(wk_policy_getopt(&c, 0x705, "1.5", err, sizeof(err)),
			 1);
	assert_int_equal(c.suspend_after_ms, 1500);
	assert_int_equal(wk_policy_getopt(&c, 0x707, "-1", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(wk_policy_getopt(&c, 0x703, "101", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(wk_policy_getopt(&c, 0x709, "0", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(wk_policy_getopt(&c, 0x709, "50", err, sizeof(err)),
			 1);
	assert_int_equal(c.cpu_max_pct, 50);
	assert_int_equal(wk_policy_getopt(&c, 0x708, "0.001", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(c.suspend_load_ms, 0);
	assert_int_equal(wk_policy_getopt(&c, 0x70a, "2", err, sizeof(err)), 1);
	assert_int_equal(c.suspend_load_ms, 2000);
	assert_int_equal(wk_policy_getopt(&c, 0x70a, "x", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "bad --suspend-after-load 'x' (seconds)");
	assert_string_equal(wk_pstate_name(WK_P_SUSPENDED), "suspended");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_always_stays_idle),
		cmocka_unit_test(test_full_cycle_with_timings),
		cmocka_unit_test(test_suspended_resumes_when_owner_leaves),
		cmocka_unit_test(test_owner_goes_back_to_idle),
		cmocka_unit_test(test_flicker_resets_away_time),
		cmocka_unit_test(test_presence_inputs),
		cmocka_unit_test(test_load_drives_the_cycle),
		cmocka_unit_test(test_load_suspends_at_once),
		cmocka_unit_test(test_getopt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
