/* vmm_serve.c: the monitor's serve mode: framed invocations of one warm function. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vmm/vmm_serve.h"
#include "vmm/vmm_warm.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int vmm_serve_parse_req(const uint8_t hdr[VMM_SERVE_REQ_SIZE],
			struct vmm_serve_req *out, const char **why)
{
	if (memcmp(hdr, "SKQ1", 4) != 0) {
		*why = "bad request magic (want SKQ1)";
		return -EINVAL;
	}
	if (get32(hdr + 4) != 0) {
		*why = "unknown request flags";
		return -EINVAL;
	}
	out->timeout_us = get64(hdr + 8);
	out->max_output = get64(hdr + 16);
	out->len = get64(hdr + 24);
	if (out->timeout_us > 1000000ULL * 1000000ULL) {
		*why = "request timeout too large";
		return -EINVAL;
	}
	if (out->len > VMM_SERVE_MAX_REQ) {
		*why = "request larger than 64 MiB";
		return -E2BIG;
	}
	return 0;
}

void vmm_serve_put_hello(uint8_t hdr[VMM_SERVE_HELLO_SIZE], int warm,
			 uint64_t init_us)
{
	memset(hdr, 0, VMM_SERVE_HELLO_SIZE);
	memcpy(hdr, "SKH1", 4);
	put32(hdr + 4, VMM_ABI_VERSION);
	put32(hdr + 8, warm ? 1 : 0);
	put64(hdr + 16, init_us);
}

void vmm_serve_put_resp(uint8_t hdr[VMM_SERVE_RESP_SIZE],
			const struct vmm_serve_resp *r)
{
	memset(hdr, 0, VMM_SERVE_RESP_SIZE);
	memcpy(hdr, "SKR1", 4);
	put32(hdr + 4, (uint32_t)r->status);
	put32(hdr + 8, r->reason);
	put32(hdr + 12, r->msg_len);
	put64(hdr + 16, r->out_len);
	put64(hdr + 24, r->err_len);
	put64(hdr + 32, r->duration_ns);
	put32(hdr + 40, r->exits);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Reads exactly n bytes (readv: what the jail allows).  1 = done, 0 = EOF
 * before the first byte, -errno otherwise (-EPIPE: EOF midway). */
static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct iovec iov = {(uint8_t *)buf + got, n - got};
		ssize_t r = readv(fd, &iov, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return got ? -EPIPE : 0;
		got += (size_t)r;
	}
	return 1;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, (const uint8_t *)buf + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		done += (size_t)w;
	}
	return 0;
}

static int send_resp(struct vmm *vm, int fd, const struct vmm_result *res,
		     uint64_t ns)
{
	struct vmm_serve_resp r = {
		.status = res->status,
		.reason = (uint32_t)res->reason,
		.msg_len = res->reason == VMM_EXITED
				   ? 0
				   : (uint32_t)strlen(res->msg),
		.out_len = vm->out.len,
		.err_len = vm->err_out.len,
		.duration_ns = ns,
		.exits = (uint32_t)vm->exits,
	};
	uint8_t hdr[VMM_SERVE_RESP_SIZE];

	vmm_serve_put_resp(hdr, &r);
	if (write_full(fd, hdr, sizeof(hdr)) ||
	    write_full(fd, vm->out.p, vm->out.len) ||
	    write_full(fd, vm->err_out.p, vm->err_out.len) ||
	    write_full(fd, res->msg, r.msg_len))
		return -EPIPE;
	return 0;
}

int vmm_serve(struct vmm *vm, int in_fd, int out_fd)
{
	uint8_t hello[VMM_SERVE_HELLO_SIZE], hdr[VMM_SERVE_REQ_SIZE];
	struct vmm_result res;
	uint8_t *body = NULL;
	uint64_t t0 = now_ns();
	int r, warm, status = 0;

	warm = vmm_warm_init(vm, &res);
	if (warm < 0)
		return VMM_STATUS_SETUP;
	vmm_serve_put_hello(hello, warm, (now_ns() - t0) / 1000);
	if (write_full(out_fd, hello, sizeof(hello)))
		return VMM_STATUS_SETUP;
	if (!warm)
		return 0;
	for (;;) {
		struct vmm_serve_req q;
		const char *why;
		double timeout;
		uint64_t t;

		r = read_full(in_fd, hdr, sizeof(hdr));
		if (r == 0)
			break;
		if (r < 0 || vmm_serve_parse_req(hdr, &q, &why)) {
			status = VMM_STATUS_USAGE;
			break;
		}
		free(body);
		body = malloc(q.len ? q.len : 1);
		if (!body) {
			status = VMM_STATUS_SETUP;
			break;
		}
		if (q.len && read_full(in_fd, body, q.len) != 1) {
			status = VMM_STATUS_USAGE;
			break;
		}
		timeout = q.timeout_us ? (double)q.timeout_us / 1e6
				       : vm->cfg.timeout;
		t = now_ns();
		r = vmm_invoke(vm, body, q.len, timeout,
			       q.max_output ? q.max_output : vm->cfg.max_output,
			       &res);
		if (send_resp(vm, out_fd, &res, now_ns() - t)) {
			status = VMM_STATUS_SETUP;
			break;
		}
		if (r < 0 || res.reason == VMM_ABI || res.reason == VMM_HOST) {
			/* A wedged vCPU is not reused: the client starts a new
			 * monitor (docs/guest-abi.md). */
			status = res.status;
			break;
		}
	}
	free(body);
	return status;
}

long vmm_repeat(struct vmm *vm, const uint8_t *req, size_t len, long n,
		struct vmm_result *res, double *lat_us)
{
	double timeout = vm->cfg.timeout;
	uint64_t max_output = vm->cfg.max_output, t = now_ns();
	int r = vmm_warm_init(vm, res);

	if (r < 0)
		return r;
	if (r == 0) {
		lat_us[0] = (double)(now_ns() - t) / 1e3;
		return 1;
	}
	for (long i = 0; i < n; i++) {
		t = now_ns();
		r = vmm_invoke(vm, req, len, timeout, max_output, res);
		lat_us[i] = (double)(now_ns() - t) / 1e3;
		if (r < 0)
			return r;
		if (res->reason == VMM_ABI || res->reason == VMM_HOST)
			return i + 1;
	}
	return n;
}
