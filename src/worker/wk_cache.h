/* wk_cache.h: the worker's on-disk artifact cache, content-addressed by SHA-256. */
#ifndef SUKIMA_WK_CACHE_H
#define SUKIMA_WK_CACHE_H

#include <stddef.h>

#include "common/sk_nats.h"

/* Create (dir) (and parents) and remember it.  0 or -errno. */
int wk_cache_init(const char *dir);

/*
 * Make the artifact (digest) (64 lowercase hex) available as a file and
 * write its path into (path).  A cache miss fetches it from the object
 * store (sk_artifacts); either way its SHA-256 is checked against
 * (digest) before the first use in this process (and again if the file
 * changes).  Thread-safe.  Returns 0, -ENOENT (no such artifact),
 * -EBADMSG (content does not match the digest: refused and removed),
 * or -errno.
 */
int wk_cache_get(struct sk_nats *n, const char *digest, char *path, size_t cap);

/*
 * The artifact at (path) (from wk_cache_get) under a name whose last
 * component is (argv0): a hard link <cache>/<digest>.d/<argv0>, so a
 * multi-call binary (busybox) sees the program name it dispatches on.
 * (argv0) must pass sk_valid_argv0().  Writes the path into (out).
 */
int wk_cache_named(const char *path, const char *digest, const char *argv0,
		   char *out, size_t cap);

#endif
