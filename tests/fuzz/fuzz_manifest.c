/* fuzz_manifest.c: libFuzzer driver for the sukima.yml reader (libyaml document walk and checks). */
/* FUZZ_SOURCES: src/cli/cli_manifest.c src/gateway/gw_parse.c src/common/sk_util.c -ljansson -lyaml -lcrypto */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The HTTP side of cli_manifest.c is not reached by cli_manifest_load. */
const char *cli_gateway(const char *opt)
{
	return opt ? opt : CLI_DEFAULT_GATEWAY;
}
int cli_request(const char *gw, const char *method, const char *path,
		const char *const *headers, const void *body, size_t len,
		long timeout_s, struct cli_resp *out)
{
	memset(out, 0, sizeof(*out));
	return -ECONNREFUSED;
}
void cli_resp_free(struct cli_resp *r)
{
}
int cli_fail(const char *cmd, const char *gw, int rc, const struct cli_resp *r)
{
	return 1;
}
json_t *cli_json(const char *cmd, const struct cli_resp *r)
{
	return NULL;
}
void cli_print_json(json_t *j)
{
}
int cli_read_all(int fd, size_t max, char **buf, size_t *len)
{
	return -EIO;
}
int cli_parse_duration_ms(const char *s, long long *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < 1 || v > 86400)
		return -EINVAL;
	*ms = (long long)(v * 1000);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_manifest m;
	char path[64], err[512];
	int fd = memfd_create("sukima.yml", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (cli_manifest_load(path, &m, err, sizeof(err)) == 0)
			cli_manifest_free(&m);
	}
	close(fd);
	return 0;
}
