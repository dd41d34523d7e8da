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

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int wk_cache_init(const char *dir)
{
	int rc = mkdir_p(dir);

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

int wk_cache_get(struct sk_nats *n, const char *digest, char *path, size_t cap)
{
	struct sk_obj_info info;
	struct stat st;
	char hex[65];
	int rc;

	if (!sk_is_sha256_hex(digest))
		return -EINVAL;
	if (snprintf(path, cap, "%s/%s", cache_dir, digest) >= (int)cap)
		return -ENAMETOOLONG;
	/* One fetch at a time: misses are rare, and two slots wanting the
	 * same new artifact then share one download. */
	pthread_mutex_lock(&cache_lock);
	if (stat(path, &st) == 0) {
		if (find_verified(digest, &st)) {
			rc = 0;
			goto out;
		}
		rc = verify(path, digest);
		if (rc == 0) {
			remember(digest, &st);
			goto out;
		}
		sk_warn("cache: %s does not match its digest, fetching again",
			path);
		unlink(path);
	}
	rc = sk_obj_get_file(n, SK_OBJ_ARTIFACTS, digest, path, 0500, &info);
	if (rc)
		goto out;
	/* The object's own digest must be the name we asked for. */
	sk_hex(hex, info.sha256, 32);
	if (strcmp(hex, digest) != 0) {
		sk_error("cache: object %s holds content with digest %s: "
			 "refused",
			 digest, hex);
		unlink(path);
		rc = -EBADMSG;
		goto out;
	}
	rc = verify(path, digest);
	if (rc) {
		unlink(path);
		goto out;
	}
	if (stat(path, &st) == 0)
		remember(digest, &st);
	sk_info("cache: fetched %s (%llu bytes, %u chunks)", digest,
		(unsigned long long)info.size, info.chunks);
out:
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
