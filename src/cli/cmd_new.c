/* cmd_new.c: `sukima new NAME`: a function skeleton in C (handler, Makefile building it static, sukima.yml). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "gateway/gw_parse.h"

static const char handler_c[] =
	"/* handler.c: the function %s: request on stdin, response on stdout. "
	"*/\n"
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"\n"
	"/*\n"
	" * Runs once per invocation inside a micro-VM: no files, no sockets,\n"
	" * no threads (docs/guest-abi.md).  The HTTP request's body is "
	"stdin;\n"
	" * what it writes on stdout is the response; a non-zero exit is a\n"
	" * 502 with the tail of stderr.  Request headers are in the\n"
	" * environment: Http_Method, Http_Path, Http_Query, "
	"Http_Content_Type...\n"
	" */\n"
	"int main(void)\n"
	"{\n"
	"\tstatic char buf[1 << 16];\n"
	"\tconst char *greeting = getenv(\"GREETING\"); /* sukima.yml */\n"
	"\tsize_t n = fread(buf, 1, sizeof(buf), stdin);\n"
	"\n"
	"\tif (ferror(stdin)) {\n"
	"\t\tfprintf(stderr, \"%s: cannot read the request\\n\");\n"
	"\t\treturn 1;\n"
	"\t}\n"
	"\tprintf(\"%%s from %s! You sent %%zu bytes: \",\n"
	"\t       greeting ? greeting : \"Hello\", n);\n"
	"\tfwrite(buf, 1, n, stdout);\n"
	"\tputchar('\\n');\n"
	"\treturn 0;\n"
	"}\n";

static const char makefile[] =
	"# Makefile: builds the function %s as a static x86-64 ELF (musl when "
	"available).\n"
	"CC := $(shell command -v musl-gcc 2>/dev/null || echo cc)\n"
	"CFLAGS ?= -O2 -Wall -Wextra\n"
	"LDFLAGS += -static\n"
	"\n"
	"build/%s: handler.c\n"
	"\t@mkdir -p build\n"
	"\t$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)\n"
	"\n"
	"clean:\n"
	"\trm -rf build\n"
	"\n"
	".PHONY: clean\n";

static const char manifest[] =
	"# sukima.yml: what `sukima deploy -f sukima.yml` deploys (like "
	"OpenFaaS's stack.yml).\n"
	"version: 1.0\n"
	"provider:\n"
	"  name: sukima\n"
	"  gateway: http://127.0.0.1:8080\n"
	"functions:\n"
	"  %s:\n"
	"    lang: c\n"
	"    handler: .          # folder with the Makefile; builds "
	"build/%s\n"
	"    memory: 64M\n"
	"    timeout: 10s\n"
	"    environment:\n"
	"      GREETING: hello\n"
	"    # args: [--verbose]\n"
	"    # replicas: 1\n";

static const char gitignore[] = "build/\n";

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wx");
	if (!f) {
		fprintf(stderr, "sukima new: cannot create %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	fputs(text, f);
	if (fclose(f)) {
		fprintf(stderr, "sukima new: cannot write %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int cmd_new(int argc, char **argv)
{
	static const struct option lo[] = {
		{"dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *parent = ".", *name;
	char dir[4096], *text = NULL;
	int c, json = 0, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			parent = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: sukima new NAME [--dir PARENT] "
				"[--json]\n  creates PARENT/NAME/ with "
				"handler.c, a Makefile (static build) and "
				"sukima.yml\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: sukima new NAME [--dir PARENT] "
				"[--json]\n");
		return 2;
	}
	name = argv[optind];
	if (!gw_name_valid(name)) {
		fprintf(stderr,
			"sukima new: '%s' is not a function name (a DNS "
			"label: 1-63 of a-z, 0-9, '-')\n",
			name);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/%s", parent, name);
	if (mkdir(dir, 0777)) {
		fprintf(stderr, "sukima new: cannot create %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	if (asprintf(&text, handler_c, name, name, name) < 0 ||
	    write_file(dir, "handler.c", text))
		rc = 1;
	free(text);
	text = NULL;
	if (!rc && (asprintf(&text, makefile, name, name) < 0 ||
		    write_file(dir, "Makefile", text)))
		rc = 1;
	free(text);
	text = NULL;
	if (!rc && (asprintf(&text, manifest, name, name) < 0 ||
		    write_file(dir, "sukima.yml", text)))
		rc = 1;
	free(text);
	if (!rc && write_file(dir, ".gitignore", gitignore))
		rc = 1;
	if (rc)
		return rc;
	if (json) {
		json_t *j = json_pack("{s:s, s:s, s:[s, s, s, s], s:s}", "name",
				      name, "dir", dir, "files", "handler.c",
				      "Makefile", "sukima.yml", ".gitignore",
				      "artifact", "build/");
		json_object_set_new(j, "artifact",
				    json_sprintf("%s/build/%s", dir, name));
		cli_print_json(j);
		json_decref(j);
		return 0;
	}
	printf("created %s/ (handler.c, Makefile, sukima.yml)\n\n"
	       "  cd %s\n"
	       "  sukima build                 # make: a static ELF in "
	       "build/%s\n"
	       "  sukima deploy -f sukima.yml\n"
	       "  echo hi | sukima invoke %s\n",
	       dir, dir, name, name);
	return 0;
}
