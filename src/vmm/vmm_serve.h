/* vmm_serve.h: the monitor's serve mode: framed invocations of one warm function. */
#ifndef SUKIMA_VMM_SERVE_H
#define SUKIMA_VMM_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

/*
 * The protocol (docs/guest-abi.md, "Serve protocol"), little-endian:
 *
 *   monitor -> client, once:  hello    "SKH1" u32 abi  u32 warm  u32 0
 *                                      u64 init_us  u64 0            (32 B)
 *   client -> monitor:        request  "SKQ1" u32 flags(0)
 *                                      u64 timeout_us (0: --timeout)
 *                                      u64 max_output (0: --max-output)
 *                                      u64 len, then len bytes of stdin (32 B)
 *   monitor -> client:        response "SKR1" i32 status  u32 reason
 *                                      u32 msg_len  u64 out_len  u64 err_len
 *                                      u64 duration_ns  u32 exits  u32 0
 *                                      (48 B), then stdout, stderr, msg
 */
#define VMM_SERVE_HELLO_SIZE 32
#define VMM_SERVE_REQ_SIZE   32
#define VMM_SERVE_RESP_SIZE  48
#define VMM_SERVE_MAX_REQ    (64ULL << 20)

struct vmm_serve_req {
	uint64_t timeout_us;
	uint64_t max_output;
	uint64_t len;
};

struct vmm_serve_resp {
	int32_t status;
	uint32_t reason;
	uint32_t msg_len;
	uint64_t out_len, err_len, duration_ns;
	uint32_t exits;
};

/*
 * vmm_serve_parse_req(hdr, out, why): decodes a request header.  Returns 0,
 * or -EINVAL / -E2BIG with *why set (bad magic, flags, sizes).
 */
int vmm_serve_parse_req(const uint8_t hdr[VMM_SERVE_REQ_SIZE],
			struct vmm_serve_req *out, const char **why);
void vmm_serve_put_hello(uint8_t hdr[VMM_SERVE_HELLO_SIZE], int warm,
			 uint64_t init_us);
void vmm_serve_put_resp(uint8_t hdr[VMM_SERVE_RESP_SIZE],
			const struct vmm_serve_resp *r);

/*
 * vmm_serve(vm, in_fd, out_fd): initialises the loaded function (snapshot
 * at its first read of stdin), sends the hello, then answers requests until
 * in_fd reaches EOF.  Returns the monitor's exit status: 0 after a clean
 * EOF, 122 for a malformed frame, 125 if the host failed; when the function
 * has no warm path (it ended before reading stdin) the hello says warm = 0
 * and the monitor exits 0 at once.
 */
int vmm_serve(struct vmm *vm, int in_fd, int out_fd);

/*
 * vmm_repeat(vm, req, len, n, res, lat_us): n invocations of the loaded
 * function with stdin = req, through the warm path.  Fills res with the
 * last result (its output stays in vm->out / vm->err_out) and lat_us[n]
 * with each latency.  Returns the number of invocations made (1 when the
 * function has no warm path: the start-up run is the result), or -errno.
 */
long vmm_repeat(struct vmm *vm, const uint8_t *req, size_t len, long n,
		struct vmm_result *res, double *lat_us);

#endif
