/* cli_init.h: secrets of a deployment (cmd_init.c), shared with `sukima up`. */
#ifndef SUKIMA_CLI_INIT_H
#define SUKIMA_CLI_INIT_H

#include <stddef.h>

#define CLI_INIT_MAX_WORKERS 64

/*
 * Write every secret into (dir) (created 0700 if absent; files 0600):
 * ca.pem/ca.key, nats.pem/nats.key, gateway.pem/gateway.key,
 * nats-auth.conf, admin.creds, gateway.creds, worker-1..N.creds,
 * admin.token.  (hosts) adds comma-separated SANs (may be NULL).
 * Returns 0 or -errno.
 */
int cli_init_secrets(const char *dir, int workers, const char *hosts,
		     int quiet);

/* `sukima up`'s data dir: ${XDG_DATA_HOME:-$HOME/.local/share}/sukima. */
int cli_init_default_dir(char *out, size_t cap);

struct sk_nats;
/*
 * Store token (tok)'s record (hash, scopes, name) in sk_tokens (created
 * if absent) through (n).  0, -EINVAL (not a token), -EIO.
 */
int cli_token_seed(struct sk_nats *n, const char *tok, unsigned scopes,
		   const char *name);

#endif
