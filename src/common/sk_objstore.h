/* sk_objstore.h: JetStream object store (nats ADR-20 layout), written by us. */
#ifndef SUKIMA_SK_OBJSTORE_H
#define SUKIMA_SK_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/sk_nats.h"

/*
 * Layout (ADR-20), for bucket B (stream OBJ_B, created by sk_nats_setup()
 * for sk_artifacts):
 *   chunks   $O.B.C.<nuid>                 raw bytes, SK_OBJ_CHUNK each
 *   metadata $O.B.M.<base64url(name)>      JSON, header Nats-Rollup: sub
 * metadata JSON: {"name","bucket","nuid","size","mtime","chunks",
 *                 "digest":"SHA-256=<base64url of the 32-byte digest>",
 *                 "options":{"max_chunk_size":131072}}
 * A put writes every chunk first and the metadata last, so a reader never
 * sees metadata whose chunks are missing; a replaced object's old chunks
 * are purged afterwards.  Objects of any size up to SK_OBJ_MAX.
 */
#define SK_OBJ_CHUNK	(128 * 1024)
#define SK_OBJ_MAX	(1ULL << 30) /* 1 GiB; 64 MiB ELFs are the target */
#define SK_OBJ_NAME_MAX 255

struct sk_obj_info {
	char name[SK_OBJ_NAME_MAX + 1];
	char bucket[64];
	char nuid[64];
	uint64_t size;
	uint32_t chunks;
	unsigned char sha256[32]; /* the raw digest */
	char mtime[40];		  /* RFC 3339 UTC */
	int deleted;
};

/* --- pure encoding (no NATS; unit-tested) ------------------------------------ */

/* Metadata subject of (name) in (bucket) into (out).  0 or -ENAMETOOLONG. */
int sk_obj_meta_subject(char *out, size_t cap, const char *bucket,
			const char *name);
/* Metadata JSON of (info) (malloc'd), or NULL on ENOMEM. */
char *sk_obj_meta_json(const struct sk_obj_info *info);
/* Parse metadata JSON (untrusted).  0 or -EINVAL with (err) filled. */
int sk_obj_meta_parse(struct sk_obj_info *info, const char *json, size_t len,
		      char *err, size_t errlen);
/* Number of chunks for (size) bytes. */
uint32_t sk_obj_chunks_for(uint64_t size);

/* --- operations -------------------------------------------------------------- */

/*
 * Create the stream OBJ_<bucket> if absent (file storage, rollup and direct
 * get allowed, as ADR-20 says).  sk_nats_setup() does it for sk_artifacts.
 */
int sk_obj_bucket_create(struct sk_nats *n, const char *bucket);

/*
 * Store the file at (path) as object (name).  Fills (info) when non-NULL.
 * Returns 0, -ENOENT/-EACCES (file), -EFBIG (> SK_OBJ_MAX), -ENOTCONN,
 * -ETIMEDOUT, -EIO.
 */
int sk_obj_put_file(struct sk_nats *n, const char *bucket, const char *name,
		    const char *path, struct sk_obj_info *info);
/* The same from memory. */
int sk_obj_put_buf(struct sk_nats *n, const char *bucket, const char *name,
		   const void *buf, size_t len, struct sk_obj_info *info);

/* Metadata of (name).  Returns 0, -ENOENT (absent or deleted), -errno. */
int sk_obj_info(struct sk_nats *n, const char *bucket, const char *name,
		struct sk_obj_info *info);

/*
 * Stream object (name) into the file descriptor (fd), chunk by chunk,
 * verifying sizes, chunk count and the SHA-256 digest.  Returns 0,
 * -ENOENT, -EBADMSG (digest, size or chunk count mismatch: the bytes
 * written to fd must be discarded), -EIO/-ENOSPC (write), -errno.
 */
int sk_obj_get_fd(struct sk_nats *n, const char *bucket, const char *name,
		  int fd, struct sk_obj_info *info);
/*
 * Fetch (name) into (path) atomically: written to path.tmp.<pid>, verified,
 * chmod (mode), renamed.  Nothing is left at (path) on failure.
 */
int sk_obj_get_file(struct sk_nats *n, const char *bucket, const char *name,
		    const char *path, unsigned mode, struct sk_obj_info *info);
/* Fetch (name) into a malloc'd buffer (verified). */
int sk_obj_get_buf(struct sk_nats *n, const char *bucket, const char *name,
		   void **buf, size_t *len);

/* Mark (name) deleted and purge its chunks.  Absent is fine (0). */
int sk_obj_delete(struct sk_nats *n, const char *bucket, const char *name);

#endif
