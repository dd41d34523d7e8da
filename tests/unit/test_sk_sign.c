/* test_sk_sign.c: Ed25519 code signatures (sk_sign.c) and how the signed and redundant fields ride in the model (sk_model.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/common/sk_model.c"
#include "../../src/common/sk_sign.c"
#include "../../src/common/sk_util.c"

#define D1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D2 "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_sk_sign.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path(char *out, const char *name)
{
	snprintf(out, 256, "%s/%s", dir, name);
}

static void test_keygen_files(void **state)
{
	char p[256], k[256], err[256];
	struct stat st;

	(void)state;
	path(p, "a");
	assert_int_equal(sk_sign_keygen(p, err, sizeof(err)), 0);
	path(k, "a.key");
	assert_int_equal(stat(k, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	path(k, "a.pub");
	assert_int_equal(stat(k, &st), 0);
	assert_int_equal(st.st_size, 19 + 64 + 1);
	/* Never overwritten. */
	assert_int_equal(sk_sign_keygen(p, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not overwritten"));
}

static void test_sign_and_check(void **state)
{
	char p[256], k[256], pub[256], err[256], why[512];
	char sig[SK_SIG_HEX + 1], signer[SK_SIGNER_HEX + 1],
		bad[SK_SIG_HEX + 1];
	struct sk_trust t;

	(void)state;
	path(p, "b");
	assert_int_equal(sk_sign_keygen(p, err, sizeof(err)), 0);
	path(k, "b.key");
	path(pub, "b.pub");
	assert_int_equal(
		sk_sign_code(k, "echo", D1, sig, signer, err, sizeof(err)), 0);
	assert_true(sk_sign_hex_valid(sig, SK_SIG_HEX));
	assert_true(sk_sign_hex_valid(signer, SK_SIGNER_HEX));
	assert_int_equal(sk_trust_load(&t, pub, err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(
		sk_trust_check(&t, "echo", D1, sig, signer, why, sizeof(why)),
		0);
	assert_int_equal(
		sk_sign_verify("echo", D1, sig, signer, why, sizeof(why)), 0);
	/* Another digest, another name: the signature binds both. */
	assert_int_equal(
		sk_trust_check(&t, "echo", D2, sig, signer, why, sizeof(why)),
		-EPERM);
	assert_non_null(strstr(why, "does not verify"));
	assert_int_equal(
		sk_trust_check(&t, "other", D1, sig, signer, why, sizeof(why)),
		-EPERM);
	assert_int_equal(
		sk_sign_verify("other", D1, sig, signer, why, sizeof(why)),
		-EPERM);
	/* A flipped bit. */
	memcpy(bad, sig, sizeof(bad));
	bad[0] = bad[0] == '0' ? '1' : '0';
	assert_int_equal(
		sk_trust_check(&t, "echo", D1, bad, signer, why, sizeof(why)),
		-EPERM);
	/* Unsigned, malformed. */
	assert_int_equal(
		sk_trust_check(&t, "echo", D1, "", "", why, sizeof(why)),
		-EPERM);
	assert_non_null(strstr(why, "unsigned"));
	assert_int_equal(
		sk_trust_check(&t, "echo", D1, NULL, NULL, why, sizeof(why)),
		-EPERM);
	assert_int_equal(
		sk_trust_check(&t, "echo", D1, "abc", signer, why, sizeof(why)),
		-EPERM);
	assert_non_null(strstr(why, "malformed"));
	/* A public key file is no secret key. */
	assert_int_equal(
		sk_sign_code(pub, "echo", D1, sig, signer, err, sizeof(err)),
		-EINVAL);
}

static void test_untrusted_and_dirs(void **state)
{
	char p[256], k[256], err[256], why[512], f[256];
	char sig[SK_SIG_HEX + 1], signer[SK_SIGNER_HEX + 1];
	struct sk_trust t;
	FILE *fp;

	(void)state;
	path(p, "keys");
	assert_int_equal(mkdir(p, 0700), 0);
	path(p, "keys/c");
	assert_int_equal(sk_sign_keygen(p, err, sizeof(err)), 0);
	path(p, "keys/d");
	assert_int_equal(sk_sign_keygen(p, err, sizeof(err)), 0);
	path(p, "e");
	assert_int_equal(sk_sign_keygen(p, err, sizeof(err)), 0);
	/* A directory: its *.pub only (the .key files are skipped). */
	path(p, "keys");
	assert_int_equal(sk_trust_load(&t, p, err, sizeof(err)), 0);
	assert_int_equal(t.n, 2);
	path(k, "keys/c.key");
	assert_int_equal(
		sk_sign_code(k, "echo", D1, sig, signer, err, sizeof(err)), 0);
	assert_int_equal(
		sk_trust_check(&t, "echo", D1, sig, signer, why, sizeof(why)),
		0);
	path(k, "e.key");
	assert_int_equal(
		sk_sign_code(k, "echo", D1, sig, signer, err, sizeof(err)), 0);
	assert_int_equal(
		sk_trust_check(&t, "echo", D1, sig, signer, why, sizeof(why)),
		-EPERM);
	assert_non_null(strstr(why, "does not trust"));
	/* Bad files: a clear line, never a partial set. */
	path(f, "bad.pub");
	fp = fopen(f, "w");
	assert_non_null(fp);
	fprintf(fp, "# comment\n\nsukima-ed25519-pub 12\n");
	fclose(fp);
	assert_int_equal(sk_trust_load(&t, f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad.pub:3"));
	path(f, "empty");
	assert_int_equal(mkdir(f, 0700), 0);
	assert_int_equal(sk_trust_load(&t, f, err, sizeof(err)), -ENOENT);
	path(f, "absent");
	assert_int_equal(sk_trust_load(&t, f, err, sizeof(err)), -ENOENT);
}

static void test_model_fields(void **state)
{
	const char *sig128 = D1
		D1; /* any 128 hex digits parse; verifying is not the model's */
	char json[1024], err[256], *s;
	struct sk_function f;
	struct sk_call c;

	(void)state;
	snprintf(json, sizeof(json),
		 "{\"name\":\"e\",\"digest\":\"%s\",\"sig\":\"%s\","
		 "\"signer\":\"%s\",\"replicas\":3}",
		 D1, sig128, D2);
	assert_int_equal(
		sk_function_parse(&f, json, strlen(json), err, sizeof(err)), 0);
	assert_string_equal(f.sig, sig128);
	assert_string_equal(f.signer, D2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(sk_call_from_function(&c, &f), 0);
	snprintf(c.id, sizeof(c.id), "x1");
	/* A call without a replica index is a plain call on the wire. */
	s = sk_call_json(&c);
	assert_non_null(s);
	assert_null(strstr(s, "\"replica"));
	assert_non_null(strstr(s, sig128));
	free(s);
	c.replica = 2;
	s = sk_call_json(&c);
	sk_call_free(&c);
	assert_int_equal(sk_call_parse(&c, s, strlen(s), err, sizeof(err)), 0);
	assert_int_equal(c.replicas, 3);
	assert_int_equal(c.replica, 2);
	assert_string_equal(c.signer, D2);
	free(s);
	sk_call_free(&c);
	sk_function_free(&f);
	/* Unsigned documents stay as they were. */
	snprintf(json, sizeof(json), "{\"name\":\"e\",\"digest\":\"%s\"}", D1);
	assert_int_equal(
		sk_function_parse(&f, json, strlen(json), err, sizeof(err)), 0);
	s = sk_function_json(&f);
	assert_null(strstr(s, "sig"));
	free(s);
	sk_function_free(&f);
	/* Refused: half a signature, bad hex, replica out of range. */
	snprintf(json, sizeof(json),
		 "{\"name\":\"e\",\"digest\":\"%s\",\"sig\":\"%s\"}", D1,
		 sig128);
	assert_int_equal(
		sk_function_parse(&f, json, strlen(json), err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "go together"));
	snprintf(json, sizeof(json),
		 "{\"name\":\"e\",\"digest\":\"%s\",\"sig\":\"%s\","
		 "\"signer\":\"%.63sX\"}",
		 D1, sig128, D2);
	assert_int_equal(
		sk_function_parse(&f, json, strlen(json), err, sizeof(err)),
		-EINVAL);
	static const char *const calls[] = {
		"\"replicas\":2,\"replica\":0",
		"\"replicas\":2,\"replica\":3",
		"\"replicas\":1,\"replica\":1",
		"\"replicas\":4,\"replica\":1",
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"id\":\"x\",\"function\":\"e\",\"digest\":\"%s\","
			 "%s}",
			 D1, calls[i]);
		assert_int_equal(
			sk_call_parse(&c, json, strlen(json), err, sizeof(err)),
			-EINVAL);
	}
	assert_string_equal(sk_status_name(SK_ST_DISPUTED), "disputed");
	assert_true(sk_status_final(SK_ST_DISPUTED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keygen_files),
		cmocka_unit_test(test_sign_and_check),
		cmocka_unit_test(test_untrusted_and_dirs),
		cmocka_unit_test(test_model_fields),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
