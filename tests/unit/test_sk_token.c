/* test_sk_token.c: unit tests of gateway tokens (format, hashing, expiry, scopes) and NATS credentials files. */
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

#include "../../src/common/sk_tls.c"
#include "../../src/common/sk_token.c"
#include "../../src/common/sk_util.c"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_token_format(void **state)
{
	char tok[SK_TOKEN_LEN + 1], tok2[SK_TOKEN_LEN + 1];
	char id[SK_TOKEN_ID_LEN + 1], id2[SK_TOKEN_ID_LEN + 1];

	(void)state;
	assert_int_equal(sk_token_new(tok, id), 0);
	assert_int_equal(strlen(tok), SK_TOKEN_LEN);
	assert_int_equal(strncmp(tok, "skt_", 4), 0);
	assert_int_equal(sk_token_id(tok, id2), 0);
	assert_string_equal(id, id2);
	assert_int_equal(sk_token_new(tok2, id2), 0);
	assert_string_not_equal(tok, tok2); /* 256 random bits */
	/* Malformed tokens have no id. */
	assert_int_equal(sk_token_id("", id2), -EINVAL);
	assert_int_equal(sk_token_id(NULL, id2), -EINVAL);
	tok2[10] = 'G';
	assert_int_equal(sk_token_id(tok2, id2), -EINVAL);
	memcpy(tok2, tok, sizeof(tok));
	tok2[4 + SK_TOKEN_ID_LEN] = '-';
	assert_int_equal(sk_token_id(tok2, id2), -EINVAL);
	memcpy(tok2, tok, sizeof(tok));
	tok2[SK_TOKEN_LEN - 1] = '\0';
	assert_int_equal(sk_token_id(tok2, id2), -EINVAL);
}

static void test_token_verify(void **state)
{
	char tok[SK_TOKEN_LEN + 1], bad[SK_TOKEN_LEN + 1];
	struct sk_token t;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(sk_token_new(tok, t.id), 0);
	sk_token_hash(tok, t.hash);
	assert_int_equal(strlen(t.hash), 64);
	/* The stored hash is not the token, nor any part of it. */
	assert_null(strstr(tok, t.hash));
	assert_int_equal(sk_token_verify(&t, tok, 1000), 0);
	memcpy(bad, tok, sizeof(bad));
	bad[SK_TOKEN_LEN - 1] = bad[SK_TOKEN_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(sk_token_verify(&t, bad, 1000), -EACCES);
	assert_int_equal(sk_token_verify(&t, "", 1000), -EACCES);
	/* Expiry: valid before, refused at and after. */
	t.expires_us = 5000;
	assert_int_equal(sk_token_verify(&t, tok, 4999), 0);
	assert_int_equal(sk_token_verify(&t, tok, 5000), -EKEYEXPIRED);
	assert_int_equal(sk_token_verify(&t, bad, 4000), -EACCES);
	/* A record with a broken hash matches nothing. */
	t.expires_us = 0;
	t.hash[10] = '\0';
	assert_int_equal(sk_token_verify(&t, tok, 1), -EACCES);
}

static void test_scopes(void **state)
{
	char s[64];

	(void)state;
	assert_true(sk_scope_allows(SK_SCOPE_INVOKE, SK_SCOPE_INVOKE));
	assert_false(sk_scope_allows(SK_SCOPE_INVOKE, SK_SCOPE_DEPLOY));
	assert_false(sk_scope_allows(SK_SCOPE_DEPLOY, SK_SCOPE_INVOKE));
	assert_false(sk_scope_allows(SK_SCOPE_INVOKE | SK_SCOPE_DEPLOY,
				     SK_SCOPE_ADMIN));
	assert_false(sk_scope_allows(0, SK_SCOPE_INVOKE));
	assert_true(sk_scope_allows(0, 0));
	/* admin implies every scope */
	assert_true(sk_scope_allows(SK_SCOPE_ADMIN, SK_SCOPE_INVOKE));
	assert_true(sk_scope_allows(SK_SCOPE_ADMIN, SK_SCOPE_DEPLOY));
	assert_true(sk_scope_allows(SK_SCOPE_ADMIN, SK_SCOPE_ADMIN));
	assert_int_equal(sk_scope_parse("invoke"), SK_SCOPE_INVOKE);
	assert_int_equal(sk_scope_parse("deploy"), SK_SCOPE_DEPLOY);
	assert_int_equal(sk_scope_parse("admin"), SK_SCOPE_ADMIN);
	assert_int_equal(sk_scope_parse("Admin"), 0);
	assert_int_equal(sk_scope_parse(""), 0);
	sk_scope_str(SK_SCOPE_INVOKE | SK_SCOPE_ADMIN, s, sizeof(s));
	assert_string_equal(s, "invoke,admin");
	sk_scope_str(0, s, sizeof(s));
	assert_string_equal(s, "");
}

static void test_record_json(void **state)
{
	struct sk_token t, u;
	char *j;

	(void)state;
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "0123456789abcdef");
	sk_token_hash("x", t.hash);
	t.scopes = SK_SCOPE_DEPLOY | SK_SCOPE_INVOKE;
	t.expires_us = 123456789;
	t.rate = 2.5;
	t.created_us = 42;
	snprintf(t.name, sizeof(t.name), "ci");
	j = sk_token_json(&t);
	assert_non_null(j);
	assert_int_equal(sk_token_parse(&u, j, strlen(j)), 0);
	free(j);
	assert_string_equal(u.id, t.id);
	assert_string_equal(u.hash, t.hash);
	assert_int_equal(u.scopes, t.scopes);
	assert_int_equal(u.expires_us, t.expires_us);
	assert_true(u.rate == 2.5);
	assert_string_equal(u.name, "ci");
	/* Hostile or damaged records are refused, never half-read. */
	static const char *const bad[] = {
		"",
		"[]",
		"{\"id\":\"0123456789abcdef\"}",
		"{\"id\":\"short\",\"hash\":\"" D64 "\",\"scopes\":[]}",
		"{\"id\":\"0123456789abcdef\",\"hash\":\"xyz\",\"scopes\":[]}",
		"{\"id\":\"0123456789abcdef\",\"hash\":\"" D64
		"\",\"scopes\":[\"root\"]}",
		"{\"id\":\"0123456789abcdef\",\"hash\":\"" D64
		"\",\"scopes\":[1]}",
		"{\"id\":\"0123456789abcdef\",\"hash\":\"" D64
		"\",\"scopes\":[],\"rate\":-1}",
		"{\"id\":\"0123456789abcdef\",\"hash\":\"" D64
		"\",\"scopes\":[],\"expires_us\":-5}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sk_token_parse(&u, bad[i], strlen(bad[i])),
				 -EINVAL);
}

static void test_durations(void **state)
{
	int64_t us;

	(void)state;
	assert_int_equal(sk_parse_duration_us("30s", &us), 0);
	assert_int_equal(us, 30000000);
	assert_int_equal(sk_parse_duration_us("10m", &us), 0);
	assert_int_equal(us, 600000000);
	assert_int_equal(sk_parse_duration_us("2h", &us), 0);
	assert_int_equal(us, 7200000000LL);
	assert_int_equal(sk_parse_duration_us("1d", &us), 0);
	assert_int_equal(us, 86400000000LL);
	assert_int_equal(sk_parse_duration_us("500ms", &us), 0);
	assert_int_equal(us, 500000);
	assert_int_equal(sk_parse_duration_us("5", &us), 0);
	assert_int_equal(us, 5000000);
	assert_int_equal(sk_parse_duration_us("", &us), -EINVAL);
	assert_int_equal(sk_parse_duration_us("-1s", &us), -EINVAL);
	assert_int_equal(sk_parse_duration_us("1y", &us), -EINVAL);
	assert_int_equal(sk_parse_duration_us("1e30d", &us), -EINVAL);
}

static void test_creds_file(void **state)
{
	char path[] = "/tmp/sk_creds_XXXXXX", err[600];
	struct sk_sec sec;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "# comment\n\nuser worker-x\npassword  p4ss\nca ca.pem\n"
		   "id abc\ncert /abs/c.pem\n");
	fclose(f);
	memset(&sec, 0, sizeof(sec));
	assert_int_equal(sk_sec_load_creds(&sec, path, err, sizeof(err)), 0);
	assert_string_equal(sec.user, "worker-x");
	assert_string_equal(sec.password, "p4ss");
	assert_string_equal(sec.ca, "/tmp/ca.pem"); /* relative to the file */
	assert_string_equal(sec.cert, "/abs/c.pem");
	assert_string_equal(sec.id, "abc");
	assert_true(sk_sec_any(&sec));
	/* A line without a value, or an unknown key, is refused. */
	f = fopen(path, "w");
	fprintf(f, "user\n");
	fclose(f);
	assert_int_equal(sk_sec_load_creds(&sec, path, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":1: bad line"));
	f = fopen(path, "w");
	fprintf(f, "color blue\n");
	fclose(f);
	assert_int_equal(sk_sec_load_creds(&sec, path, err, sizeof(err)),
			 -EINVAL);
	unlink(path);
	assert_int_equal(sk_sec_load_creds(&sec, path, err, sizeof(err)),
			 -ENOENT);
	memset(&sec, 0, sizeof(sec));
	assert_false(sk_sec_any(&sec));
	assert_int_equal(sk_sec_option(&sec, "--user", "u", err, sizeof(err)),
			 1);
	assert_int_equal(sk_sec_option(&sec, "--nats", "u", err, sizeof(err)),
			 0);
	assert_int_equal(sk_sec_getopt(&sec, SK_SEC_OPT + 1, "/x/ca.pem", err,
				       sizeof(err)),
			 1);
	assert_string_equal(sec.ca, "/x/ca.pem");
	assert_int_equal(sk_sec_getopt(&sec, 'n', "x", err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_format),
		cmocka_unit_test(test_token_verify),
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_record_json),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_creds_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
