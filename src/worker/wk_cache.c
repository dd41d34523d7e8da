/* wk_cache.c: the worker's on-disk artifact cache, content-addressed by SHA-256. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "common/sk_model.h"
#include "common/sk_objstore.h"
#include "common/sk_util.h"
#include "worker/wk_cache.h"

/* Digests verified by this process, with the file identity they had. */
struct verified {
	char digest[65];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct verified *next;
};

static char cache_dir[PATH_MAX];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct verified *verified_list;

int wk_cache_init(const char *dir)
{
	int rc = sk_mkdir_p(dir, 0700);

	if (rc)
		return rc;
	snprintf(cache_dir, sizeof(cache_dir), "%s", dir);
	return 0;
}

static struct verified *find_verified(const char *digest, const struct stat *st)
{
	for (struct verified *v = verified_list; v; v = v->next)
		if (strcmp(v->digest, digest) == 0 && v->dev == st->st_dev &&
		    v->ino == st->st_ino && v->size == st->st_size &&
		    v->mtime.tv_sec == st->st_mtim.tv_sec &&
		    v->mtime.tv_nsec == st->st_mtim.tv_nsec)
			return v;
	return NULL;
}

static void remember(const char *digest, const struct stat *st)
{
	struct verified *v = calloc(1, sizeof(*v));

	if (!v)
		return; /* verified again next time: only slower */
	memcpy(v->digest, digest, 65);
	v->dev = st->st_dev;
	v->ino = st->st_ino;
	v->size = st->st_size;
	v->mtime = st->st_mtim;
	v->next = verified_list;
	verified_list = v;
}

/* Is the file at (path) the artifact (digest)?  0, -EBADMSG, -errno. */
static int verify(const char *path, const char *digest)
{
	char hex[65];
	int rc = sk_sha256_file(path, hex, NULL);

	if (rc)
		return rc;
	return strcmp(hex, digest) == 0 ? 0 : -EBADMSG;
}

/* Digests being verified or fetched right now (one thread each). */
struct busy {
	char digest[65];
	struct busy *next;
};
static struct busy *busy_list;
static pthread_cond_t cache_cond = PTHREAD_COND_INITIALIZER;

static int is_busy(const char *digest)
{
	for (struct busy *b = busy_list; b; b = b->next)
		if (strcmp(b->digest, digest) == 0)
			return 1;
	return 0;
}

/* Verify a present file or fetch it; no lock held (slow). */
static int obtain(struct sk_nats *n, const char *digest, const char *path)
{
	struct sk_obj_info info;
	struct stat st;
	char hex[65];
	int rc;

	if (stat(path, &st) == 0) {
		rc = verify(path, digest);
		if (rc == 0)
			return 0;
		sk_warn("cache: %s does not match its digest, fetching again",
			path);
		unlink(path);
	}
	rc = sk_obj_get_file(n, SK_OBJ_ARTIFACTS, digest, path, 0500, &info);
	if (rc)
		return rc;
	/* The object's own digest must be the name we asked for. */
	sk_hex(hex, info.sha256, 32);
	if (strcmp(hex, digest) != 0) {
		sk_error("cache: object %s holds content with digest %s: "
			 "refused",
			 digest, hex);
		unlink(path);
		return -EBADMSG;
	}
	rc = verify(path, digest);
	if (rc) {
		unlink(path);
		return rc;
	}
	sk_info("cache: fetched %s (%llu bytes, %u chunks)", digest,
		(unsigned long long)info.size, info.chunks);
	return 0;
}

int wk_cache_get(struct sk_nats *n, const char *digest, char *path, size_t cap)
{
	struct busy me, **pp;
	struct stat st;
	int rc;

	if (!sk_is_sha256_hex(digest))
		return -EINVAL;
	if (snprintf(path, cap, "%s/%s", cache_dir, digest) >= (int)cap)
		return -ENAMETOOLONG;
	/*
	 * A verified hit costs a stat.  A miss is fetched by one thread
	 * while other slots wanting the same artifact wait for it, and slots
	 * wanting other artifacts go on: a 64 MiB download stalls nobody
	 * else.
	 */
	pthread_mutex_lock(&cache_lock);
	for (;;) {
		if (stat(path, &st) == 0 && find_verified(digest, &st)) {
			pthread_mutex_unlock(&cache_lock);
			return 0;
		}
		if (!is_busy(digest))
			break;
		pthread_cond_wait(&cache_cond, &cache_lock);
	}
	memcpy(me.digest, digest, 65);
	me.next = busy_list;
	busy_list = &me;
	pthread_mutex_unlock(&cache_lock);

	rc = obtain(n, digest, path);

	pthread_mutex_lock(&cache_lock);
	if (rc == 0 && stat(path, &st) == 0)
		remember(digest, &st);
	for (pp = &busy_list; *pp; pp = &(*pp)->next)
		if (*pp == &me) {
			*pp = me.next;
			break;
		}
	pthread_cond_broadcast(&cache_cond);
	pthread_mutex_unlock(&cache_lock);
	return rc;
}

int wk_cache_named(const char *path, const char *digest, const char *argv0,
		   char *out, size_t cap)
{
	char dir[PATH_MAX];
	struct stat a, b;
	int rc = 0;

	if (!sk_valid_argv0(argv0) || !sk_is_sha256_hex(digest))
		return -EINVAL;
	if (snprintf(dir, sizeof(dir), "%s/%s.d", cache_dir, digest) >=
		    (int)sizeof(dir) ||
	    snprintf(out, cap, "%s/%s", dir, argv0) >= (int)cap)
		return -ENAMETOOLONG;
	if (stat(path, &a) < 0)
		return -errno;
	pthread_mutex_lock(&cache_lock);
	if (stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		goto out; /* already the verified file */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	unlink(out); /* stale link to an older copy */
	if (link(path, out) < 0)
		rc = -errno;
out:
	pthread_mutex_unlock(&cache_lock);
	return rc;
}
