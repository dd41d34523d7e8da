/* fuzz_serve.c: libFuzzer driver for the serve protocol's request parser (vmm_serve.c). */
/* FUZZ_SOURCES: src/vmm/vmm_serve.c */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmm/vmm_serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The warm path is not under test: vmm_serve.c links against these. */
int vmm_warm_init(struct vmm *vm, struct vmm_result *res)
{
	(void)vm;
	(void)res;
	return -1;
}

int vmm_invoke(struct vmm *vm, const uint8_t *req, size_t len, double timeout,
	       uint64_t max_output, struct vmm_result *res)
{
	(void)vm;
	(void)req;
	(void)len;
	(void)timeout;
	(void)max_output;
	(void)res;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[VMM_SERVE_REQ_SIZE] = {0}, out[VMM_SERVE_RESP_SIZE];
	struct vmm_serve_req q;
	struct vmm_serve_resp r;
	const char *why = NULL;

	memcpy(hdr, data, size < sizeof(hdr) ? size : sizeof(hdr));
	if (vmm_serve_parse_req(hdr, &q, &why)) {
		if (!why || !*why)
			__builtin_trap();
		return 0;
	}
	if (q.len > VMM_SERVE_MAX_REQ || memcmp(hdr, "SKQ1", 4) != 0)
		__builtin_trap();
	memset(&r, 0, sizeof(r));
	r.out_len = q.len;
	r.duration_ns = q.timeout_us;
	vmm_serve_put_resp(out, &r);
	if (memcmp(out, "SKR1", 4) != 0)
		__builtin_trap();
	return 0;
}
