/* gw_auth.h: the gateway's bearer tokens (scopes, expiry, revocation, rate limits) and its HTTPS files. */
#ifndef SUKIMA_GW_AUTH_H
#define SUKIMA_GW_AUTH_H

#include <stddef.h>

struct gw;
struct gw_req;

/*
 * Open (create if absent) the sk_tokens bucket, unless g->o.insecure.
 * Must be called after gw_nats_open().  0 or -errno.
 */
int gw_auth_open(struct gw *g);
void gw_auth_close(void);

/*
 * Check the bearer token of (r) against its route's scope.  Returns 0 to
 * go on, or 1 with the response (401, 403, 429, 503) already queued and
 * its MHD result code in (*ret).
 */
int gw_auth_check(struct gw_req *r, int *ret);

/* GET|POST /system/tokens, DELETE /system/tokens/{id}. */
int gw_auth_h_tokens(struct gw_req *r);

/*
 * The whole of a PEM file (NUL-terminated, malloc'd) for libmicrohttpd's
 * HTTPS options, or NULL with errno set.
 */
char *gw_auth_read_pem(const char *path);

#endif
