/* test_sk_model.c: unit tests of the cloud's JSON documents and their validation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/common/sk_model.c"
#include "../../src/common/sk_util.c"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_names(void **state)
{
	(void)state;
	assert_true(sk_valid_name("echo"));
	assert_true(sk_valid_name("a"));
	assert_true(sk_valid_name("my-func-2"));
	assert_false(sk_valid_name(""));
	assert_false(sk_valid_name("-lead"));
	assert_false(sk_valid_name("trail-"));
	assert_false(sk_valid_name("Upper"));
	assert_false(sk_valid_name("dot.name"));
	assert_false(sk_valid_name("sp ace"));
	assert_false(sk_valid_name(NULL));
	assert_true(sk_valid_name("a23456789012345678901234567890123456789012"
				  "345678901234567890123"));
	assert_false(sk_valid_name("a234567890123456789012345678901234567890"
				   "12345678901234567890123a"));
	assert_true(sk_valid_id("abc_DEF-123"));
	assert_false(sk_valid_id("a.b"));
	assert_false(sk_valid_id("a b"));
	assert_true(sk_valid_env_key("Http_Method"));
	assert_false(sk_valid_env_key("1X"));
	assert_false(sk_valid_env_key("A-B"));
}

static void test_function_roundtrip(void **state)
{
	struct sk_function f, g;
	char err[128], *json;

	(void)state;
	sk_function_init(&f);
	snprintf(f.name, sizeof(f.name), "upper");
	snprintf(f.digest, sizeof(f.digest), "%s", D64);
	f.version = 7;
	f.size = 12345;
	f.timeout_ms = 2500;
	sk_strv_push(&f.argv, "sha256sum");
	sk_strv_push(&f.argv, "two words");
	sk_strv_push(&f.env, "GREETING=hi=there");
	json = sk_function_json(&f);
	assert_non_null(json);
	assert_int_equal(
		sk_function_parse(&g, json, strlen(json), err, sizeof(err)), 0);
	assert_string_equal(g.name, "upper");
	assert_string_equal(g.digest, D64);
	assert_int_equal(g.version, 7);
	assert_int_equal(g.size, 12345);
	assert_int_equal(g.timeout_ms, 2500);
	assert_int_equal(g.mem_mib, SK_DEF_MEM_MIB);
	assert_string_equal(g.arch, "x86_64");
	assert_int_equal(g.argv.n, 2);
	assert_string_equal(g.argv.v[1], "two words");
	assert_int_equal(g.env.n, 1);
	assert_string_equal(g.env.v[0], "GREETING=hi=there");
	free(json);
	sk_function_free(&f);
	sk_function_free(&g);
}

/* Every hostile document is refused with a message, never a crash. */
static void test_function_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"\"str\"",
		"{",
		"{\"name\":\"echo\"}",
		"{\"name\":\"Echo\",\"digest\":\"" D64 "\"}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "0\"}",
		"{\"name\":\"echo\",\"digest\":\"XYZ\"}",
		"{\"name\":1,\"digest\":\"" D64 "\"}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "\",\"mem_mib\":0}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "\",\"mem_mib\":-5}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "\",\"mem_mib\":1.5}",
		"{\"name\":\"echo\",\"digest\":\"" D64
		"\",\"timeout_ms\":99999999999999}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "\",\"argv\":\"x\"}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "\",\"argv\":[1]}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "\",\"env\":[]}",
		"{\"name\":\"echo\",\"digest\":\"" D64
		"\",\"env\":{\"A B\":\"x\"}}",
		"{\"name\":\"echo\",\"digest\":\"" D64 "\",\"env\":{\"A\":1}}",
		"{\"name\":\"echo\",\"name\":\"echo\",\"digest\":\"" D64 "\"}",
		"{\"name\":\"ec\\u0000ho\",\"digest\":\"" D64 "\"}",
	};
	struct sk_function f;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(sk_function_parse(&f, bad[i], strlen(bad[i]),
						   err, sizeof(err)),
				 -EINVAL);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
	/* Deep nesting and a huge argv do not crash either. */
	{
		size_t n = 100000;
		char *deep = malloc(2 * n + 1);
		memset(deep, '[', n);
		memset(deep + n, ']', n);
		deep[2 * n] = '\0';
		assert_int_equal(
			sk_function_parse(&f, deep, 2 * n, err, sizeof(err)),
			-EINVAL);
		free(deep);
	}
	{
		size_t cap = 16 * 300 + 200, off;
		char *many = malloc(cap);
		off = (size_t)snprintf(many, cap,
				       "{\"name\":\"e\",\"digest\":\"" D64
				       "\",\"argv\":[");
		for (int i = 0; i < 300; i++)
			off += (size_t)snprintf(many + off, cap - off,
						"%s\"a\"", i ? "," : "");
		snprintf(many + off, cap - off, "]}");
		assert_int_equal(sk_function_parse(&f, many, strlen(many), err,
						   sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "entries"));
		free(many);
	}
}

static void test_call_roundtrip(void **state)
{
	struct sk_function f;
	struct sk_call c = {0}, d;
	char err[128], *json;

	(void)state;
	sk_function_init(&f);
	snprintf(f.name, sizeof(f.name), "hello");
	snprintf(f.digest, sizeof(f.digest), "%s", D64);
	f.version = 3;
	sk_strv_push(&f.env, "A=1");
	snprintf(c.id, sizeof(c.id), "call-1");
	assert_int_equal(sk_call_from_function(&c, &f), 0);
	sk_strv_push(&c.env, "Http_Method=POST");
	c.reply = strdup("sk.reply.gw1.call-1");
	c.callback = strdup("http://127.0.0.1:9/cb");
	c.queued_at_us = 1234567890123;
	json = sk_call_json(&c);
	assert_non_null(json);
	assert_int_equal(
		sk_call_parse(&d, json, strlen(json), err, sizeof(err)), 0);
	assert_string_equal(d.id, "call-1");
	assert_string_equal(d.function, "hello");
	assert_int_equal(d.version, 3);
	assert_int_equal(d.env.n, 2);
	assert_string_equal(d.reply, "sk.reply.gw1.call-1");
	assert_string_equal(d.callback, "http://127.0.0.1:9/cb");
	assert_int_equal(d.queued_at_us, 1234567890123);
	free(json);
	sk_call_free(&c);
	sk_call_free(&d);
	sk_function_free(&f);

	/* A reply subject with a space or an id with a dot is refused. */
	json = "{\"id\":\"x\",\"function\":\"f\",\"digest\":\"" D64
	       "\",\"reply\":\"a b\"}";
	assert_int_equal(
		sk_call_parse(&d, json, strlen(json), err, sizeof(err)),
		-EINVAL);
	json = "{\"id\":\"x.y\",\"function\":\"f\",\"digest\":\"" D64 "\"}";
	assert_int_equal(
		sk_call_parse(&d, json, strlen(json), err, sizeof(err)),
		-EINVAL);
	/* Absent optional members get the defaults. */
	json = "{\"id\":\"x\",\"function\":\"f\",\"digest\":\"" D64 "\"}";
	assert_int_equal(
		sk_call_parse(&d, json, strlen(json), err, sizeof(err)), 0);
	assert_int_equal(d.timeout_ms, SK_DEF_TIMEOUT_MS);
	assert_string_equal(d.reply, "");
	sk_call_free(&d);
}

static void test_result_roundtrip(void **state)
{
	struct sk_result r = {0}, s;
	unsigned char bin[300];
	char err[128], *json;

	(void)state;
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)i;
	snprintf(r.id, sizeof(r.id), "id1");
	snprintf(r.function, sizeof(r.function), "fn");
	snprintf(r.worker, sizeof(r.worker), "w1");
	r.status = SK_ST_TIMED_OUT;
	r.exit_code = 124;
	r.attempt = 2;
	r.reason = strdup("timed out after 1000 ms");
	r.output = malloc(sizeof(bin));
	memcpy(r.output, bin, sizeof(bin));
	r.output_len = sizeof(bin);
	/* stderr with invalid UTF-8 still serializes. */
	r.stderr_tail = strdup("bad \xff\xfe bytes");
	json = sk_result_json(&r);
	assert_non_null(json);
	assert_int_equal(
		sk_result_parse(&s, json, strlen(json), err, sizeof(err)), 0);
	assert_int_equal(s.status, SK_ST_TIMED_OUT);
	assert_int_equal(s.exit_code, 124);
	assert_int_equal(s.attempt, 2);
	assert_int_equal(s.output_len, sizeof(bin));
	assert_memory_equal(s.output, bin, sizeof(bin));
	assert_string_equal(s.reason, "timed out after 1000 ms");
	assert_non_null(strstr(s.stderr_tail, "bytes"));
	free(json);
	sk_result_free(&r);
	sk_result_free(&s);

	json = "{\"id\":\"a\",\"function\":\"f\",\"status\":\"done\"}";
	assert_int_equal(
		sk_result_parse(&s, json, strlen(json), err, sizeof(err)),
		-EINVAL);
	json = "{\"id\":\"a\",\"function\":\"f\",\"status\":\"failed\","
	       "\"output_b64\":\"!!!\"}";
	assert_int_equal(
		sk_result_parse(&s, json, strlen(json), err, sizeof(err)),
		-EINVAL);
}

static void test_callrec_and_worker(void **state)
{
	struct sk_callrec c = {0}, d;
	struct sk_worker w = {0}, v;
	char err[128], *json;

	(void)state;
	snprintf(c.id, sizeof(c.id), "id1");
	snprintf(c.function, sizeof(c.function), "fn");
	c.status = SK_ST_RUNNING;
	c.attempts = 2;
	sk_strv_push(&c.workers, "wa");
	sk_strv_push(&c.workers, "wb");
	c.callback = strdup("http://x/cb");
	json = sk_callrec_json(&c);
	assert_int_equal(
		sk_callrec_parse(&d, json, strlen(json), err, sizeof(err)), 0);
	assert_int_equal(d.status, SK_ST_RUNNING);
	assert_int_equal(d.attempts, 2);
	assert_int_equal(d.workers.n, 2);
	assert_string_equal(d.callback, "http://x/cb");
	free(json);
	sk_callrec_free(&c);
	sk_callrec_free(&d);
	/* The gateway's minimal record parses too. */
	json = "{\"id\":\"x\",\"function\":\"f\",\"status\":\"queued\"}";
	assert_int_equal(
		sk_callrec_parse(&d, json, strlen(json), err, sizeof(err)), 0);
	assert_int_equal(d.status, SK_ST_QUEUED);
	sk_callrec_free(&d);

	snprintf(w.id, sizeof(w.id), "w1");
	snprintf(w.arch, sizeof(w.arch), "x86_64");
	snprintf(w.state, sizeof(w.state), "draining");
	snprintf(w.flavour, sizeof(w.flavour), "pvm");
	w.slots = 4;
	w.load = 1.5;
	json = sk_worker_json(&w);
	assert_int_equal(
		sk_worker_parse(&v, json, strlen(json), err, sizeof(err)), 0);
	assert_string_equal(v.state, "draining");
	assert_int_equal(v.slots, 4);
	assert_true(v.load > 1.4 && v.load < 1.6);
	free(json);
}

static void test_status_names(void **state)
{
	enum sk_status s;

	(void)state;
	for (int i = SK_ST_QUEUED; i <= SK_ST_CANCELLED; i++) {
		assert_int_equal(sk_status_parse(sk_status_name(i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(sk_status_parse("nope", &s), -EINVAL);
	assert_true(sk_status_final(SK_ST_CANCELLED));
	assert_false(sk_status_final(SK_ST_RUNNING));
}

static void test_b64(void **state)
{
	static const struct {
		const char *in, *std, *url;
	} v[] = {
		{"", "", ""},
		{"f", "Zg==", "Zg=="},
		{"fo", "Zm8=", "Zm8="},
		{"foo", "Zm9v", "Zm9v"},
		{"\xfb\xff", "+/8=", "-_8="},
	};
	char out[32];
	unsigned char back[32];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].in);
		sk_b64_encode(out, v[i].in, n, 0);
		assert_string_equal(out, v[i].std);
		sk_b64_encode(out, v[i].in, n, 1);
		assert_string_equal(out, v[i].url);
		assert_int_equal(sk_b64_decode(back, sizeof(back), v[i].url,
					       strlen(v[i].url), 1),
				 (long)n);
		assert_memory_equal(back, v[i].in, n);
	}
	assert_int_equal(sk_b64_decode(back, sizeof(back), "Zg=", 3, 1), 1);
	assert_int_equal(sk_b64_decode(back, sizeof(back), "Z", 1, 1), -EINVAL);
	assert_int_equal(sk_b64_decode(back, sizeof(back), "+/8=", 4, 1),
			 -EINVAL);
	assert_int_equal(sk_b64_decode(back, 1, "Zm9v", 4, 0), -ENOSPC);
}

static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(sk_parse_size("64", &v), 0);
	assert_int_equal(v, 64);
	assert_int_equal(sk_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(sk_parse_size("512MiB", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(sk_parse_size("-1", &v), -EINVAL);
	assert_int_equal(sk_parse_size("1X", &v), -EINVAL);
	assert_int_equal(sk_parse_size("", &v), -EINVAL);
	assert_int_equal(sk_parse_size("99999999999999999999G", &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_function_roundtrip),
		cmocka_unit_test(test_function_rejects),
		cmocka_unit_test(test_call_roundtrip),
		cmocka_unit_test(test_result_roundtrip),
		cmocka_unit_test(test_callrec_and_worker),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
