/* fuzz_gw_parse.c: libFuzzer driver for the gateway's parsers (routes, header names, ELF check, deploy JSON). */
/* FUZZ_SOURCES: src/gateway/gw_parse.c -ljansson */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks the parser, the rest is its input: every parser
 * takes bytes an HTTP client controls.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_match m;
	unsigned allowed;
	char out[256], err[256];
	const char *why;
	char *s;
	json_t *j;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0'; /* paths and header names are C strings */
	switch (data[0] % 5) {
	case 0:
		if (gw_route_match(1u << (data[0] % 6), s, &m, &allowed) == 0 &&
		    (strlen(m.name) > GW_ID_MAX || !m.route))
			__builtin_trap();
		break;
	case 1:
		if (gw_header_env_name(s, out, sizeof(out)) == 0 &&
		    strncmp(out, "Http_", 5) != 0)
			__builtin_trap();
		break;
	case 2:
		gw_elf_check(data + 1, size - 1, &why);
		break;
	case 3:
		j = gw_deploy_parse((const char *)data + 1, size - 1, err,
				    sizeof(err));
		if (j && !gw_name_valid(
				 json_string_value(json_object_get(j, "name"))))
			__builtin_trap();
		json_decref(j);
		break;
	default:
		gw_argv0_valid(s);
		gw_digest_valid(s);
		gw_id_valid(s);
		gw_methods_str(data[0], out, sizeof(out));
		break;
	}
	free(s);
	return 0;
}
