/* cmd_token.c: `sukima token create|ls|revoke`: gateway tokens through the admin API. */
#include "cli/cli.h"

int cmd_token(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 2;
}
