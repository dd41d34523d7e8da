/* test_vmm_serve.c: unit tests of the serve protocol's frames (vmm_serve.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vmm/vmm_serve.c"

/* The warm path is not under test: vmm_serve.c links against these. */
int vmm_warm_init(struct vmm *vm, struct vmm_result *res)
{
	return -ENOSYS;
}

int vmm_invoke(struct vmm *vm, const uint8_t *req, size_t len, double timeout,
	       uint64_t max_output, struct vmm_result *res)
{
	return -ENOSYS;
}

static void req(uint8_t *h, const char *magic, uint32_t flags, uint64_t t,
		uint64_t max, uint64_t len)
{
	memcpy(h, magic, 4);
	put32(h + 4, flags);
	put64(h + 8, t);
	put64(h + 16, max);
	put64(h + 24, len);
}

static void test_parse(void **s)
{
	uint8_t h[VMM_SERVE_REQ_SIZE];
	struct vmm_serve_req q;
	const char *why = NULL;

	req(h, "SKQ1", 0, 250000, 4096, 12);
	assert_int_equal(vmm_serve_parse_req(h, &q, &why), 0);
	assert_int_equal(q.timeout_us, 250000);
	assert_int_equal(q.max_output, 4096);
	assert_int_equal(q.len, 12);
	req(h, "SKQ2", 0, 0, 0, 0);
	assert_int_equal(vmm_serve_parse_req(h, &q, &why), -EINVAL);
	assert_non_null(strstr(why, "magic"));
	req(h, "SKQ1", 1, 0, 0, 0);
	assert_int_equal(vmm_serve_parse_req(h, &q, &why), -EINVAL);
	req(h, "SKQ1", 0, 0, 0, VMM_SERVE_MAX_REQ + 1);
	assert_int_equal(vmm_serve_parse_req(h, &q, &why), -E2BIG);
	req(h, "SKQ1", 0, ~0ULL, 0, 0);
	assert_int_equal(vmm_serve_parse_req(h, &q, &why), -EINVAL);
	req(h, "SKQ1", 0, 0, 0, VMM_SERVE_MAX_REQ);
	assert_int_equal(vmm_serve_parse_req(h, &q, &why), 0);
}

static void test_put(void **s)
{
	uint8_t h[VMM_SERVE_RESP_SIZE], hello[VMM_SERVE_HELLO_SIZE];
	struct vmm_serve_resp r = {.status = 139,
				   .reason = VMM_FAULT,
				   .msg_len = 30,
				   .out_len = 5,
				   .err_len = 1ULL << 33,
				   .duration_ns = 42,
				   .exits = 2};

	vmm_serve_put_resp(h, &r);
	assert_memory_equal(h, "SKR1", 4);
	assert_int_equal(get32(h + 4), 139);
	assert_int_equal(get32(h + 8), VMM_FAULT);
	assert_int_equal(get32(h + 12), 30);
	assert_int_equal(get64(h + 16), 5);
	assert_int_equal(get64(h + 24), 1ULL << 33);
	assert_int_equal(get64(h + 32), 42);
	assert_int_equal(get32(h + 40), 2);
	assert_int_equal(get32(h + 44), 0);
	vmm_serve_put_hello(hello, 1, 1234);
	assert_memory_equal(hello, "SKH1", 4);
	assert_int_equal(get32(hello + 4), VMM_ABI_VERSION);
	assert_int_equal(get32(hello + 8), 1);
	assert_int_equal(get64(hello + 16), 1234);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_put),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
