/* test_wk_stats.c: unit tests of the worker's figures (sk_hist buckets, the "stats" key) and the activation-record helpers of gw_logs.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/common/sk_util.c"
#include "../../src/gateway/gw_logs.c"
#include "../../src/gateway/gw_parse.c"
#include "../../src/worker/wk_stats.c"

/* gw_logs.c's calls into the rest of the gateway, never reached here. */
json_t *gw_js_api(struct gw *g, const char *api, const char *req)
{
	return NULL;
}
int gw_respond_json(struct gw_req *r, int status, json_t *j)
{
	json_decref(j);
	return 0;
}
int gw_respond_error(struct gw_req *r, int status, const char *fmt, ...)
{
	return 0;
}

static void test_hist_buckets(void **state)
{
	struct sk_hist h = {0};

	(void)state;
	sk_hist_add(&h, 0);	 /* first bucket */
	sk_hist_add(&h, 0.0005); /* le is inclusive */
	sk_hist_add(&h, 0.0006);
	sk_hist_add(&h, 10);
	sk_hist_add(&h, 10.5); /* +Inf */
	sk_hist_add(&h, -1);   /* clock step: counted as 0 */
	assert_int_equal(h.b[0], 3);
	assert_int_equal(h.b[1], 1);
	assert_int_equal(h.b[SK_HIST_N - 1], 1);
	assert_int_equal(h.b[SK_HIST_N], 1);
	assert_int_equal(h.count, 6);
	assert_true(h.sum > 20.5 && h.sum < 20.6);
	for (int i = 1; i < SK_HIST_N; i++)
		assert_true(sk_hist_le[i] > sk_hist_le[i - 1]);
}

static void test_decorate(void **state)
{
	char *s;
	json_t *j, *st, *b;

	(void)state;
	wk_stats_redelivery();
	wk_stats_redelivery();
	wk_stats_run(1, 300);	    /* 0.3 ms warm */
	wk_stats_run(0, 20000);	    /* 20 ms cold */
	wk_stats_vm_start(3000000); /* 3 s */
	s = wk_stats_decorate(strdup("{\"id\":\"w1\",\"done\":2}"));
	j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "w1");
	st = json_object_get(j, "stats");
	assert_int_equal(
		json_integer_value(json_object_get(st, "redeliveries")), 2);
	b = json_object_get(json_object_get(st, "warm"), "b");
	assert_int_equal(json_array_size(b), SK_HIST_N + 1);
	assert_int_equal(json_integer_value(json_array_get(b, 0)), 1);
	b = json_object_get(json_object_get(st, "cold"), "b");
	assert_int_equal(json_integer_value(json_array_get(b, 5)), 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(st, "vm_start"), "count")),
			 1);
	json_decref(j);

	/* Not an object: handed back untouched; NULL stays NULL. */
	s = strdup("[1,2]");
	assert_ptr_equal(wk_stats_decorate(s), s);
	free(s);
	assert_null(wk_stats_decorate(NULL));
}

static void test_durations(void **state)
{
	(void)state;
	assert_int_equal(parse_dur_us("30s"), 30000000);
	assert_int_equal(parse_dur_us("30"), 30000000);
	assert_int_equal(parse_dur_us("500ms"), 500000);
	assert_int_equal(parse_dur_us("10m"), 600000000);
	assert_int_equal(parse_dur_us("2h"), 7200000000LL);
	assert_int_equal(parse_dur_us("1d"), 86400000000LL);
	assert_int_equal(parse_dur_us("1.5s"), 1500000);
	assert_int_equal(parse_dur_us(""), -1);
	assert_int_equal(parse_dur_us(NULL), -1);
	assert_int_equal(parse_dur_us("5y"), -1);
	assert_int_equal(parse_dur_us("-1s"), -1);
	assert_int_equal(parse_dur_us("1e99"), -1);
	assert_int_equal(parse_dur_us("s"), -1);
}

static void test_stderr_lines(void **state)
{
	char big[SK_STDERR_MAX + 1], many[4096] = "";
	json_t *a;
	int t;

	(void)state;
	a = stderr_lines(NULL, &t);
	assert_int_equal(json_array_size(a), 0);
	assert_int_equal(t, 0);
	json_decref(a);

	a = stderr_lines("one\ntwo\n", &t);
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 1)), "two");
	assert_int_equal(t, 0);
	json_decref(a);

	a = stderr_lines("no newline", &t);
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);

	a = stderr_lines("\n\nx", &t);
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "");
	json_decref(a);

	/* 60 lines: the oldest 10 go, a marker says so. */
	for (int i = 0; i < 60; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 "line %d\n", i);
	a = stderr_lines(many, &t);
	assert_int_equal(t, 1);
	assert_int_equal(json_array_size(a), LOGS_LINES_MAX + 1);
	assert_string_equal(json_string_value(json_array_get(a, 0)),
			    "[... earlier stderr truncated]");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "line 10");
	json_decref(a);

	/* A tail at the worker's bound was cut: marked even on one line. */
	memset(big, 'x', SK_STDERR_MAX);
	big[SK_STDERR_MAX] = '\0';
	a = stderr_lines(big, &t);
	assert_int_equal(t, 1);
	assert_int_equal(json_array_size(a), 2);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_decorate),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_stderr_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
