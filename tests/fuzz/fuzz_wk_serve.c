/* fuzz_wk_serve.c: libFuzzer driver for the worker's side of the serve protocol: response frames from a (possibly subverted) monitor. */
/* FUZZ_SOURCES: src/common/sk_log.c src/common/sk_util.c src/worker/wk_stats.c src/worker/wk_pause.c src/worker/wk_exec.c src/worker/wk_exec_cold.c src/worker/wk_cgroup.c src/worker/wk_host.c -ljansson -lcrypto -lpthread */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/wk_exec_warm.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A monitor is jailed, but one a guest took over speaks for the guest:
 * what it writes back (SKR1 header, lengths, stdout, stderr, message) is
 * hostile input to the worker.  The bytes go through a pipe to vm_call,
 * as they would from a live monitor; byte 0 picks the output limit.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_call c;
	struct wk_exec_req req;
	struct wk_exec_res res;
	struct vm v;
	int in[2], rc;

	if (size < 1 || size > 60000) /* one pipe buffer: no writer thread */
		return 0;
	if (pipe(in))
		return 0;
	if (write(in[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(in[0]);
		close(in[1]);
		return 0;
	}
	close(in[1]);
	memset(&c, 0, sizeof(c));
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	memset(&v, 0, sizeof(v));
	c.timeout_ms = 1000;
	c.max_output = data[0] < 128 ? data[0] : (1u << 20);
	req.call = &c;
	req.input = "x";
	req.input_len = 1;
	v.from = in[0];
	v.to = open("/dev/null", O_WRONLY | O_CLOEXEC);
	v.err = -1;
	rc = vm_call(&v, &req, &res);
	if (rc == 0 && (res.out_len > c.max_output ||
			strlen(res.reason) >= sizeof(res.reason)))
		__builtin_trap();
	free(res.out);
	free(res.err);
	close(v.to);
	close(in[0]);
	return 0;
}
