/* test_wk_stats.c: unit tests of the worker's figures (sk_hist buckets, the "stats" key), the Prometheus text of gw_metrics.c and the activation-record helpers of gw_logs.c. */
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
#include "../../src/gateway/gw_metrics.c"
#include "../../src/gateway/gw_parse.c"
#include "../../src/worker/wk_stats.c"

/* Calls into the rest of the gateway, never reached here. */
json_t *gw_kv_list(struct gw *g, enum sk_bucket b)
{
	return NULL;
}
int gw_respond(struct gw_req *r, int status, const char *ctype,
	       const void *body, size_t len)
{
	return 0;
}
int gw_ui_serve(struct gw_req *r)
{
	return 0;
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

static void test_label_escaping(void **state)
{
	char out[160], long_utf8[200];
	size_t n = 0;

	(void)state;
	label_value(out, sizeof(out), "Linux 6.1 \"x\"\\y\nz");
	assert_string_equal(out, "Linux 6.1 \\\"x\\\"\\\\y\\nz");
	label_value(out, sizeof(out), NULL);
	assert_string_equal(out, "");
	/* 63 ASCII bytes then "é" (2 bytes): cut after it, not inside. */
	memset(long_utf8, 'a', 63);
	n = 63;
	memcpy(long_utf8 + n, "\xc3\xa9tail", 7);
	long_utf8[n + 7] = '\0';
	label_value(out, sizeof(out), long_utf8);
	assert_int_equal(strlen(out), 65);
	assert_memory_equal(out + 63, "\xc3\xa9", 2);

	clean_label(out, sizeof(out), "draining");
	assert_string_equal(out, "draining");
	clean_label(out, sizeof(out), "Idle");
	assert_string_equal(out, "other");
	clean_label(out, sizeof(out), "");
	assert_string_equal(out, "other");
	clean_label(out, sizeof(out), NULL);
	assert_string_equal(out, "other");
}

static void test_hist_text(void **state)
{
	struct sk_hist h = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	sk_hist_add(&h, 0.002);
	sk_hist_add(&h, 20);
	hist_out(f, "x_seconds", "mode=\"warm\"", &h);
	hist_out(f, "y_seconds", "", &h);
	fclose(f);
	assert_non_null(strstr(
		buf, "x_seconds_bucket{mode=\"warm\",le=\"0.001\"} 0\n"));
	assert_non_null(strstr(
		buf, "x_seconds_bucket{mode=\"warm\",le=\"0.0025\"} 1\n"));
	assert_non_null(
		strstr(buf, "x_seconds_bucket{mode=\"warm\",le=\"10\"} 1\n"));
	assert_non_null(
		strstr(buf, "x_seconds_bucket{mode=\"warm\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(buf, "x_seconds_count{mode=\"warm\"} 2\n"));
	assert_non_null(strstr(buf, "y_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(buf, "y_seconds_sum 20.002000\n"));
	assert_non_null(strstr(buf, "y_seconds_count 2\n"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_decorate),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_stderr_lines),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_hist_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
