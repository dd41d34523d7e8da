/* test_sk_objstore.c: unit tests of the object store's ADR-20 encoding and the ack-subject parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/common/sk_log.c"
#include "../../src/common/sk_nats.c"
#include "../../src/common/sk_objstore.c"
#include "../../src/common/sk_tls.c"
#include "../../src/common/sk_util.c"

static void test_meta_subject(void **state)
{
	char s[128];

	(void)state;
	/* base64url with padding of the name, as ADR-20 clients write it. */
	assert_int_equal(sk_obj_meta_subject(s, sizeof(s), "sk_artifacts", "a"),
			 0);
	assert_string_equal(s, "$O.sk_artifacts.M.YQ==");
	assert_int_equal(sk_obj_meta_subject(s, sizeof(s), "b", "\xfb\xff"), 0);
	assert_string_equal(s, "$O.b.M.-_8=");
	assert_int_equal(sk_obj_meta_subject(s, sizeof(s), "b", ""), -EINVAL);
	assert_int_equal(sk_obj_meta_subject(s, sizeof(s), "bad.bucket", "a"),
			 -EINVAL);
	assert_int_equal(sk_obj_meta_subject(s, 10, "b", "long name here"),
			 -ENAMETOOLONG);
}

static void test_chunks_for(void **state)
{
	(void)state;
	assert_int_equal(sk_obj_chunks_for(0), 0);
	assert_int_equal(sk_obj_chunks_for(1), 1);
	assert_int_equal(sk_obj_chunks_for(SK_OBJ_CHUNK), 1);
	assert_int_equal(sk_obj_chunks_for(SK_OBJ_CHUNK + 1), 2);
	assert_int_equal(sk_obj_chunks_for(64ULL << 20), 512);
}

static void test_meta_roundtrip(void **state)
{
	struct sk_obj_info a, b;
	char err[128], *json;

	(void)state;
	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "abc");
	snprintf(a.bucket, sizeof(a.bucket), "sk_artifacts");
	snprintf(a.nuid, sizeof(a.nuid), "nuid1");
	snprintf(a.mtime, sizeof(a.mtime), "2026-01-01T00:00:00.000000000Z");
	a.size = 300 * 1024;
	a.chunks = 3;
	for (int i = 0; i < 32; i++)
		a.sha256[i] = (unsigned char)(i * 7);
	json = sk_obj_meta_json(&a);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"digest\":\"SHA-256="));
	assert_non_null(strstr(json, "\"max_chunk_size\":131072"));
	assert_null(strstr(json, "deleted"));
	assert_int_equal(
		sk_obj_meta_parse(&b, json, strlen(json), err, sizeof(err)), 0);
	assert_string_equal(b.name, "abc");
	assert_string_equal(b.nuid, "nuid1");
	assert_int_equal(b.size, 300 * 1024);
	assert_int_equal(b.chunks, 3);
	assert_memory_equal(b.sha256, a.sha256, 32);
	free(json);
}

/* The digest of the empty object, as the Go client writes it. */
static void test_meta_known_digest(void **state)
{
	static const char doc[] =
		"{\"name\":\"empty\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":"
		"0,"
		"\"chunks\":0,\"digest\":\"SHA-256="
		"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\"}";
	static const unsigned char empty_sha[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
		0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
		0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
	struct sk_obj_info i;
	char err[128];

	(void)state;
	assert_int_equal(
		sk_obj_meta_parse(&i, doc, strlen(doc), err, sizeof(err)), 0);
	assert_memory_equal(i.sha256, empty_sha, 32);
}

static void test_meta_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"nuid\":\"n\"}",
		"{\"name\":\"a\",\"nuid\":\"n\",\"size\":1,\"chunks\":1,"
		"\"digest\":\"MD5=abc\"}",
		"{\"name\":\"a\",\"nuid\":\"n\",\"size\":1,\"chunks\":1,"
		"\"digest\":\"SHA-256=short\"}",
		"{\"name\":\"a\",\"nuid\":\"n\",\"size\":-1,\"chunks\":1,"
		"\"digest\":\"SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSu"
		"FU=\"}",
		/* 1 chunk cannot hold 1 MiB. */
		"{\"name\":\"a\",\"nuid\":\"n\",\"size\":1048576,\"chunks\":1,"
		"\"digest\":\"SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSu"
		"FU=\"}",
	};
	struct sk_obj_info i;
	char err[128];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		err[0] = '\0';
		assert_int_equal(sk_obj_meta_parse(&i, bad[k], strlen(bad[k]),
						   err, sizeof(err)),
				 -EINVAL);
		assert_true(err[0] != '\0');
	}
	/* A deleted marker needs no digest. */
	{
		static const char del[] = "{\"name\":\"a\",\"nuid\":\"n\","
					  "\"deleted\":true}";
		assert_int_equal(sk_obj_meta_parse(&i, del, strlen(del), err,
						   sizeof(err)),
				 0);
		assert_true(i.deleted);
	}
}

static void test_ack_meta(void **state)
{
	uint64_t d = 0, s = 0;
	int64_t ts = 0;

	(void)state;
	assert_int_equal(sk_js_ack_meta("$JS.ACK.SUKIMA_WORK.workers-x86_64.3."
					"41.40.1700000000000000000.7",
					&d, &s, &ts),
			 0);
	assert_int_equal(d, 3);
	assert_int_equal(s, 41);
	assert_true(ts == 1700000000000000000LL);
	/* v2 form with domain and account hash (and a trailing token). */
	assert_int_equal(sk_js_ack_meta("$JS.ACK.dom.hash.S.C.2.9.8.123.0.rnd",
					&d, &s, NULL),
			 0);
	assert_int_equal(d, 2);
	assert_int_equal(s, 9);
	assert_int_equal(sk_js_ack_meta("_INBOX.x", &d, NULL, NULL), -EINVAL);
	assert_int_equal(
		sk_js_ack_meta("$JS.ACK.S.C.x.1.1.1.1", &d, NULL, NULL),
		-EINVAL);
	assert_int_equal(sk_js_ack_meta("$JS.ACK.S.C.1.1", &d, NULL, NULL),
			 -EINVAL);
	assert_int_equal(sk_js_ack_meta(NULL, &d, NULL, NULL), -EINVAL);
}

static void test_errno_map(void **state)
{
	(void)state;
	assert_int_equal(sk_nats_errno(NATS_OK), 0);
	assert_int_equal(sk_nats_errno(NATS_NOT_FOUND), -ENOENT);
	assert_int_equal(sk_nats_errno(NATS_TIMEOUT), -ETIMEDOUT);
	assert_int_equal(sk_nats_errno(NATS_CONNECTION_CLOSED), -ENOTCONN);
	assert_int_equal(sk_nats_errno(NATS_ERR), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_subject),
		cmocka_unit_test(test_chunks_for),
		cmocka_unit_test(test_meta_roundtrip),
		cmocka_unit_test(test_meta_known_digest),
		cmocka_unit_test(test_meta_rejects),
		cmocka_unit_test(test_ack_meta),
		cmocka_unit_test(test_errno_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
