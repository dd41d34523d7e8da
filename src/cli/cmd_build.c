/* cmd_build.c: `sukima build [DIR|FILE.yml]`: build the C functions of a manifest (make), check each is a static ELF. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_manifest.h"
#include "common/sk_util.h"

int cmd_build(int argc, char **argv)
{
	static const struct option lo[] = {
		{"filter", required_argument, NULL, 'F'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *arg = ".", *filter = NULL;
	char path[4096], err[512], hex[65];
	struct cli_manifest m;
	struct stat st;
	json_t *all;
	int c, json = 0, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'F':
			filter = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: sukima build [DIR|FILE.yml] [--filter "
				"NAME] [--json]\n  builds the functions with "
				"'lang: c' of DIR/sukima.yml (default: .)\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "usage: sukima build [DIR|FILE.yml] "
				"[--filter NAME] [--json]\n");
		return 2;
	}
	if (argc - optind == 1)
		arg = argv[optind];
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(path, sizeof(path), "%s/%s", arg,
			 CLI_MANIFEST_DEFAULT);
	else
		snprintf(path, sizeof(path), "%s", arg);
	if (cli_manifest_load(path, &m, err, sizeof(err))) {
		fprintf(stderr, "sukima build: %s\n", err);
		return 2;
	}
	all = json_array();
	ret = cli_manifest_filter("build", &m, filter);
	for (size_t i = 0; i < m.n && !ret; i++) {
		struct cli_fn *f = &m.fns[i];
		uint64_t size = 0;

		if (cli_fn_build("build", f) ||
		    sk_sha256_file(f->artifact, hex, &size)) {
			ret = 1;
			break;
		}
		if (json)
			json_array_append_new(
				all,
				json_pack("{s:s, s:s, s:I, s:s, s:b}", "name",
					  f->name, "artifact", f->artifact,
					  "size", (json_int_t)size, "sha256",
					  hex, "built", f->lang != NULL));
		else
			printf("%s %s: %s (%llu bytes, sha256 %.12s, static "
			       "x86-64 ELF)\n",
			       f->lang ? "built" : "checked", f->name,
			       f->artifact, (unsigned long long)size, hex);
	}
	if (!ret && json)
		cli_print_json(all);
	json_decref(all);
	cli_manifest_free(&m);
	return ret;
}
