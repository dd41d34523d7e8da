/* test_gw_parse.c: unit tests of the gateway's parsers (routes, header names, ELF check, deploy JSON). */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/gateway/gw_parse.c"

static void test_routes_exact(void **state)
{
	struct gw_match m;
	unsigned allowed;

	(void)state;
	assert_int_equal(gw_route_match(GW_GET, "/healthz", &m, &allowed), 0);
	assert_int_equal(m.route->id, GW_R_HEALTHZ);
	assert_int_equal(
		gw_route_match(GW_GET, "/system/functions/", &m, &allowed), 0);
	assert_int_equal(m.route->id, GW_R_FUNCTIONS);
	assert_int_equal(
		gw_route_match(GW_POST, "/system/functions", &m, &allowed), 0);
	assert_int_equal(m.route->scope, GW_SCOPE_DEPLOY);
	assert_int_equal(
		gw_route_match(GW_GET, "/system/functionsx", &m, &allowed),
		-ENOENT);
	assert_int_equal(gw_route_match(GW_GET, "/", &m, &allowed), -ENOENT);
	assert_int_equal(gw_route_match(GW_GET, "", &m, &allowed), -ENOENT);
}

static void test_routes_params(void **state)
{
	struct gw_match m;
	unsigned allowed;

	(void)state;
	assert_int_equal(
		gw_route_match(GW_POST, "/function/echo", &m, &allowed), 0);
	assert_int_equal(m.route->id, GW_R_INVOKE);
	assert_string_equal(m.name, "echo");
	assert_string_equal(m.rest, "");
	assert_int_equal(
		gw_route_match(GW_GET, "/function/echo/a/b?x", &m, &allowed),
		0);
	assert_string_equal(m.name, "echo");
	assert_string_equal(m.rest, "/a/b?x");
	assert_int_equal(
		gw_route_match(GW_POST, "/async-function/fn-1", &m, &allowed),
		0);
	assert_int_equal(m.route->id, GW_R_ASYNC);
	assert_int_equal(
		gw_route_match(GW_GET, "/system/function/echo", &m, &allowed),
		0);
	assert_int_equal(m.route->id, GW_R_FUNCTION);
	/* {name} routes take no sub-path. */
	assert_int_equal(
		gw_route_match(GW_GET, "/system/function/echo/x", &m, &allowed),
		-ENOENT);
	assert_int_equal(gw_route_match(GW_GET, "/system/invocations/Ab_9-z",
					&m, &allowed),
			 0);
	assert_int_equal(m.route->id, GW_R_INVOCATION);
	assert_string_equal(m.name, "Ab_9-z");
	assert_int_equal(gw_route_match(GW_GET, "/function/", &m, &allowed),
			 -ENOENT);
	/* A drain request names the worker; the handler checks "/drain". */
	assert_int_equal(gw_route_match(GW_POST, "/system/nodes/w1x/drain", &m,
					&allowed),
			 0);
	assert_int_equal(m.route->id, GW_R_NODE);
	assert_string_equal(m.name, "w1x");
	assert_string_equal(m.rest, "/drain");
	assert_int_equal(
		gw_route_match(GW_GET, "/system/nodes/w1x/drain", &m, &allowed),
		-EPERM);
	assert_int_equal(gw_route_match(GW_GET, "/system/nodes/", &m, &allowed),
			 0);
	assert_int_equal(m.route->id, GW_R_NODES);
}

static void test_routes_bad_names(void **state)
{
	struct gw_match m;
	unsigned allowed;
	char longp[200];

	(void)state;
	assert_int_equal(
		gw_route_match(GW_POST, "/function/Echo", &m, &allowed),
		-EMSGSIZE);
	assert_int_equal(gw_route_match(GW_POST, "/function/-x", &m, &allowed),
			 -EMSGSIZE);
	assert_int_equal(
		gw_route_match(GW_POST, "/function/a..b", &m, &allowed),
		-EMSGSIZE);
	assert_int_equal(
		gw_route_match(GW_GET, "/system/invocations/a.b", &m, &allowed),
		-EMSGSIZE);
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "/function/", 10);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(gw_route_match(GW_POST, longp, &m, &allowed),
			 -EMSGSIZE);
}

static void test_routes_methods(void **state)
{
	struct gw_match m;
	unsigned allowed = 0;
	char s[64];

	(void)state;
	assert_int_equal(
		gw_route_match(GW_GET, "/async-function/x", &m, &allowed),
		-EPERM);
	assert_int_equal(allowed, GW_POST);
	assert_int_equal(
		gw_route_match(GW_OTHER, "/system/functions", &m, &allowed),
		-EPERM);
	gw_methods_str(allowed, s, sizeof(s));
	assert_string_equal(s, "GET, POST, PUT, DELETE");
	assert_int_equal(gw_method_bit("PATCH"), GW_OTHER);
	assert_int_equal(gw_method_bit("DELETE"), GW_DELETE);
	assert_int_equal(gw_method_bit(NULL), GW_OTHER);
}

static void test_env_names(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(gw_header_env_name("content-type", out, sizeof(out)),
			 0);
	assert_string_equal(out, "Http_Content_Type");
	assert_int_equal(gw_header_env_name("X-CALL-id", out, sizeof(out)), 0);
	assert_string_equal(out, "Http_X_Call_Id");
	assert_int_equal(gw_header_env_name("x-b3-traceid", out, sizeof(out)),
			 0);
	assert_string_equal(out, "Http_X_B3_Traceid");
	assert_int_equal(gw_header_env_name("Accept", out, sizeof(out)), 0);
	assert_string_equal(out, "Http_Accept");
	assert_int_equal(gw_header_env_name("bad header", out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(gw_header_env_name("a=b", out, sizeof(out)), -EINVAL);
	assert_int_equal(gw_header_env_name("", out, sizeof(out)), -EINVAL);
	assert_int_equal(gw_header_env_name("abcdef", out, 8), -ENOSPC);
}

static void test_names_ids(void **state)
{
	(void)state;
	assert_true(gw_name_valid("a"));
	assert_true(gw_name_valid("echo-2"));
	assert_false(gw_name_valid(""));
	assert_false(gw_name_valid("Echo"));
	assert_false(gw_name_valid("a-"));
	assert_false(gw_name_valid("a_b"));
	assert_false(gw_name_valid(
		"a123456789012345678901234567890123456789012345678901234567890"
		"123"));
	assert_true(gw_id_valid("0aZ_-"));
	assert_false(gw_id_valid("a/b"));
	assert_true(gw_digest_valid("3d9f2889d6782537624a4e1a10e68a2ddd53e0ee8b"
				    "ac02676f27308f42ec6bf6"));
	assert_false(gw_digest_valid("3D9F"));
}

/* A minimal ELF: header + (n) program headers of (types). */
static size_t make_elf(unsigned char *buf, size_t cap, int machine,
		       const uint32_t *types, int n)
{
	Elf64_Ehdr eh;
	size_t len = sizeof(eh) + (size_t)n * sizeof(Elf64_Phdr);

	assert_true(len <= cap);
	memset(buf, 0, len);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = (Elf64_Half)machine;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (Elf64_Half)n;
	memcpy(buf, &eh, sizeof(eh));
	for (int i = 0; i < n; i++) {
		Elf64_Phdr ph;
		memset(&ph, 0, sizeof(ph));
		ph.p_type = types[i];
		ph.p_filesz = 16;
		memcpy(buf + sizeof(eh) + (size_t)i * sizeof(ph), &ph,
		       sizeof(ph));
	}
	return len;
}

static void test_elf(void **state)
{
	unsigned char buf[1024];
	const char *why = NULL;
	uint32_t load[] = {PT_LOAD};
	uint32_t interp[] = {PT_LOAD, PT_INTERP};
	uint32_t note[] = {PT_NOTE};
	size_t n;

	(void)state;
	n = make_elf(buf, sizeof(buf), EM_X86_64, load, 1);
	assert_int_equal(gw_elf_check(buf, n, &why), 0);
	/* Truncated program headers. */
	assert_int_equal(gw_elf_check(buf, n - 1, &why), -ENOEXEC);
	n = make_elf(buf, sizeof(buf), EM_AARCH64, load, 1);
	assert_int_equal(gw_elf_check(buf, n, &why), -ENOEXEC);
	assert_non_null(strstr(why, "x86-64"));
	n = make_elf(buf, sizeof(buf), EM_X86_64, interp, 2);
	assert_int_equal(gw_elf_check(buf, n, &why), -ENOEXEC);
	assert_non_null(strstr(why, "dynamic"));
	n = make_elf(buf, sizeof(buf), EM_X86_64, note, 1);
	assert_int_equal(gw_elf_check(buf, n, &why), -ENOEXEC);
	assert_int_equal(gw_elf_check("hello", 5, &why), -ENOEXEC);
	assert_int_equal(gw_elf_check("", 0, &why), -ENOEXEC);
	/* A segment that claims bytes past the end of the file. */
	n = make_elf(buf, sizeof(buf), EM_X86_64, load, 1);
	Elf64_Phdr ph;
	memcpy(&ph, buf + sizeof(Elf64_Ehdr), sizeof(ph));
	ph.p_offset = 1u << 30;
	memcpy(buf + sizeof(Elf64_Ehdr), &ph, sizeof(ph));
	assert_int_equal(gw_elf_check(buf, n, &why), -ENOEXEC);
}

static const char *D =
	"3d9f2889d6782537624a4e1a10e68a2ddd53e0ee8bac02676f27308f42ec6bf6";

static json_t *deploy(const char *fmt, char *err)
{
	char body[1024];
	const char *pct = strstr(fmt, "%s");
	size_t n = 0;

	/* Splice the digest in by hand: fmt is data, not a format. */
	if (pct) {
		n = (size_t)(pct - fmt);
		memcpy(body, fmt, n);
		memcpy(body + n, D, strlen(D));
		n += strlen(D);
		fmt = pct + 2;
	}
	snprintf(body + n, sizeof(body) - n, "%s", fmt);
	return gw_deploy_parse(body, strlen(body), err, 256);
}

static void test_deploy_ok(void **state)
{
	char err[256] = "";
	json_t *f;

	(void)state;
	f = deploy(
		"{\"name\":\"bb\",\"digest\":\"%s\",\"argv\":[\"sha256sum\"],"
		"\"env\":{\"A_1\":\"x\"},\"mem_mib\":32,\"timeout_ms\":500}",
		err);
	assert_non_null(f);
	assert_string_equal(json_string_value(json_object_get(f, "name")),
			    "bb");
	assert_int_equal(json_integer_value(json_object_get(f, "mem_mib")), 32);
	assert_int_equal(json_integer_value(json_object_get(f, "timeout_ms")),
			 500);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(f, "argv"), 0)),
			    "sha256sum");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(f, "env"), "A_1")),
			    "x");
	json_decref(f);
	/* OpenFaaS spellings and defaults. */
	f = deploy("{\"service\":\"bb\",\"digest\":\"%s\",\"envVars\":{}}",
		   err);
	assert_non_null(f);
	assert_int_equal(json_integer_value(json_object_get(f, "mem_mib")),
			 SK_DEF_MEM_MIB);
	assert_int_equal(json_integer_value(json_object_get(f, "timeout_ms")),
			 SK_DEF_TIMEOUT_MS);
	json_decref(f);
}

static void test_deploy_bad(void **state)
{
	char err[256];
	static const char *bad[] = {
		"[1,2]",
		"{\"name\":\"Bad\",\"digest\":\"%s\"}",
		"{\"name\":\"ok\"}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"mem_mib\":0}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"mem_mib\":\"64\"}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"timeout_ms\":-1}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"argv\":\"x\"}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"argv\":[1]}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"env\":{\"1A\":\"x\"}}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"env\":{\"A\":1}}",
		"{\"name\":\"ok\",\"digest\":\"%s\",\"arch\":\"arm\"}",
		"{\"name\":\"ok\",\"name\":\"ok\",\"digest\":\"%s\"}",
		"{\"name\":\"ok\",\"digest\":\"%s\"",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		json_t *f = deploy(bad[i], err);
		if (f)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_exact),
		cmocka_unit_test(test_routes_params),
		cmocka_unit_test(test_routes_bad_names),
		cmocka_unit_test(test_routes_methods),
		cmocka_unit_test(test_env_names),
		cmocka_unit_test(test_names_ids),
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_deploy_ok),
		cmocka_unit_test(test_deploy_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
