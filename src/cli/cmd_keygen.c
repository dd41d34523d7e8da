/* cmd_keygen.c: `sukima keygen PREFIX`: an Ed25519 key pair for signing deployed code. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/sk_sign.h"

int cmd_keygen(int argc, char **argv)
{
	char err[512];

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: sukima keygen PREFIX\n"
		       "  writes PREFIX.key (secret, mode 0600: for sukima "
		       "deploy --sign)\n"
		       "  and PREFIX.pub (for sukima worker --trusted-keys)\n");
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: sukima keygen PREFIX\n");
		return 2;
	}
	if (sk_sign_keygen(argv[1], err, sizeof(err))) {
		fprintf(stderr, "sukima keygen: %s\n", err);
		return 1;
	}
	printf("wrote %s.key (secret) and %s.pub (public)\n", argv[1], argv[1]);
	return 0;
}
