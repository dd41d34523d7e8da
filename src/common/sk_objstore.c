/* sk_objstore.c: JetStream object store (nats ADR-20 layout), written by us. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "common/sk_objstore.h"
#include "common/sk_util.h"

#define DIGEST_PREFIX "SHA-256="

uint32_t sk_obj_chunks_for(uint64_t size)
{
	return (uint32_t)((size + SK_OBJ_CHUNK - 1) / SK_OBJ_CHUNK);
}

static int valid_bucket(const char *b)
{
	size_t n = 0;

	if (!b)
		return 0;
	for (; b[n]; n++)
		if (!((b[n] >= 'a' && b[n] <= 'z') ||
		      (b[n] >= 'A' && b[n] <= 'Z') ||
		      (b[n] >= '0' && b[n] <= '9') || b[n] == '_' ||
		      b[n] == '-'))
			return 0;
	return n > 0 && n < 64;
}

int sk_obj_meta_subject(char *out, size_t cap, const char *bucket,
			const char *name)
{
	size_t nl = strlen(name), need;

	if (!valid_bucket(bucket) || nl == 0 || nl > SK_OBJ_NAME_MAX)
		return -EINVAL;
	need = 3 + strlen(bucket) + 3 + sk_b64_len(nl) + 1;
	if (need > cap)
		return -ENAMETOOLONG;
	/* "$O." + bucket + ".M." + base64url(name), padded as ADR-20 says. */
	int off = snprintf(out, cap, "$O.%s.M.", bucket);
	sk_b64_encode(out + off, name, nl, 1);
	return 0;
}

static void rfc3339_now(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%09ldZ", ts.tv_nsec);
}

char *sk_obj_meta_json(const struct sk_obj_info *info)
{
	char digest[sizeof(DIGEST_PREFIX) + 48];
	json_t *o;
	char *s;

	memcpy(digest, DIGEST_PREFIX, sizeof(DIGEST_PREFIX) - 1);
	sk_b64_encode(digest + sizeof(DIGEST_PREFIX) - 1, info->sha256, 32, 1);
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:{s:i}}", "name",
		      info->name, "bucket", info->bucket, "nuid", info->nuid,
		      "size", (json_int_t)info->size, "mtime", info->mtime,
		      "chunks", (int)info->chunks, "digest", digest, "options",
		      "max_chunk_size", SK_OBJ_CHUNK);
	if (!o)
		return NULL;
	if (info->deleted)
		json_object_set_new(o, "deleted", json_true());
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

__attribute__((format(printf, 3, 4))) static int obj_fail(char *err,
							  size_t errlen,
							  const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int copy_str(json_t *o, const char *key, char *dst, size_t cap,
		    int required)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return required ? -1 : 0;
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int sk_obj_meta_parse(struct sk_obj_info *info, const char *json, size_t len,
		      char *err, size_t errlen)
{
	json_error_t je;
	json_t *o, *v;
	const char *d;
	unsigned char raw[40];
	int rc = -EINVAL;

	memset(info, 0, sizeof(*info));
	if (!json || len == 0 || len > 65536)
		return obj_fail(err, errlen,
				"object metadata empty or too large");
	o = json_loadb(json, len, 0, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return obj_fail(err, errlen,
				"object metadata is not a JSON object");
	}
	if (copy_str(o, "name", info->name, sizeof(info->name), 1) ||
	    copy_str(o, "bucket", info->bucket, sizeof(info->bucket), 0) ||
	    copy_str(o, "nuid", info->nuid, sizeof(info->nuid), 1) ||
	    copy_str(o, "mtime", info->mtime, sizeof(info->mtime), 0)) {
		obj_fail(err, errlen, "object metadata: bad name/nuid/mtime");
		goto out;
	}
	v = json_object_get(o, "deleted");
	info->deleted = v && json_is_true(v);
	v = json_object_get(o, "size");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
		  (uint64_t)json_integer_value(v) > SK_OBJ_MAX)) {
		obj_fail(err, errlen, "object metadata: bad size");
		goto out;
	}
	info->size = v ? (uint64_t)json_integer_value(v) : 0;
	v = json_object_get(o, "chunks");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
		  json_integer_value(v) > (json_int_t)UINT32_MAX)) {
		obj_fail(err, errlen, "object metadata: bad chunks");
		goto out;
	}
	info->chunks = v ? (uint32_t)json_integer_value(v) : 0;
	if (!info->deleted) {
		v = json_object_get(o, "digest");
		d = v && json_is_string(v) ? json_string_value(v) : "";
		if (strncmp(d, DIGEST_PREFIX, sizeof(DIGEST_PREFIX) - 1) != 0 ||
		    sk_b64_decode(
			    raw, sizeof(raw), d + sizeof(DIGEST_PREFIX) - 1,
			    strlen(d + sizeof(DIGEST_PREFIX) - 1), 1) != 32) {
			obj_fail(err, errlen,
				 "object metadata: digest is not "
				 "SHA-256=<base64url>");
			goto out;
		}
		memcpy(info->sha256, raw, 32);
		if (info->chunks != sk_obj_chunks_for(info->size) &&
		    info->chunks < sk_obj_chunks_for(info->size)) {
			obj_fail(err, errlen,
				 "object metadata: %u chunks cannot hold %llu "
				 "bytes",
				 info->chunks, (unsigned long long)info->size);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* --- operations -------------------------------------------------------------- */

static void stream_name(char *out, size_t cap, const char *bucket)
{
	snprintf(out, cap, "OBJ_%s", bucket);
}

int sk_obj_bucket_create(struct sk_nats *n, const char *bucket)
{
	char name[80], chunks[96], meta[96];
	const char *subjects[2] = {chunks, meta};
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus s;

	if (!valid_bucket(bucket))
		return -EINVAL;
	stream_name(name, sizeof(name), bucket);
	snprintf(chunks, sizeof(chunks), "$O.%s.C.>", bucket);
	snprintf(meta, sizeof(meta), "$O.%s.M.>", bucket);
	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 2;
	sc.Retention = js_LimitsPolicy;
	sc.Storage = js_FileStorage;
	sc.Discard = js_DiscardNew;
	sc.AllowRollup = true;
	sc.AllowDirect = true;
	s = js_AddStream(&si, n->js, &sc, NULL, &ec);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (ec == JSStreamNameExistErr)
		return 0; /* exists with another config: keep it */
	sk_error("objstore: cannot create stream %s: %s", name,
		 nats_GetLastError(NULL));
	return sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
}

int sk_obj_info(struct sk_nats *n, const char *bucket, const char *name,
		struct sk_obj_info *info)
{
	char subj[512], stream[80], err[160];
	natsMsg *m = NULL;
	natsStatus s;
	int rc;

	rc = sk_obj_meta_subject(subj, sizeof(subj), bucket, name);
	if (rc)
		return rc;
	stream_name(stream, sizeof(stream), bucket);
	s = js_GetLastMsg(&m, n->js, stream, subj, NULL, NULL);
	if (s != NATS_OK)
		return s == NATS_NOT_FOUND ? -ENOENT : sk_nats_errno(s);
	rc = sk_obj_meta_parse(info, natsMsg_GetData(m),
			       (size_t)natsMsg_GetDataLength(m), err,
			       sizeof(err));
	natsMsg_Destroy(m);
	if (rc) {
		sk_warn("objstore: %s/%s: %s", bucket, name, err);
		return -EBADMSG;
	}
	if (info->deleted)
		return -ENOENT;
	return 0;
}

static int purge_chunks(struct sk_nats *n, const char *bucket, const char *nuid)
{
	char stream[80], subj[160];
	jsOptions jo;
	natsStatus s;

	stream_name(stream, sizeof(stream), bucket);
	snprintf(subj, sizeof(subj), "$O.%s.C.%s", bucket, nuid);
	jsOptions_Init(&jo);
	jo.Stream.Purge.Subject = subj;
	s = js_PurgeStream(n->js, stream, &jo, NULL);
	return sk_nats_errno(s);
}

/* Reader callback for put: fills (buf) with up to (cap) bytes. */
typedef long (*put_reader)(void *ctx, void *buf, size_t cap);

static long read_fd(void *ctx, void *buf, size_t cap)
{
	int fd = *(int *)ctx;
	size_t got = 0;

	/* Fill whole chunks: only the last one may be short. */
	while (got < cap) {
		ssize_t r = read(fd, (char *)buf + got, cap - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

struct mem_src {
	const char *p;
	size_t left;
};

static long read_mem(void *ctx, void *buf, size_t cap)
{
	struct mem_src *m = ctx;
	size_t n = m->left < cap ? m->left : cap;

	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (long)n;
}

static int put_common(struct sk_nats *n, const char *bucket, const char *name,
		      put_reader rd, void *ctx, struct sk_obj_info *out)
{
	char meta_subj[512], chunk_subj[160];
	struct sk_obj_info info, old;
	unsigned char *buf = NULL;
	EVP_MD_CTX *md = NULL;
	natsMsg *m = NULL;
	jsPubAck *pa = NULL;
	char *json = NULL;
	int rc, have_old;
	natsStatus s;

	rc = sk_obj_meta_subject(meta_subj, sizeof(meta_subj), bucket, name);
	if (rc)
		return rc;
	have_old = sk_obj_info(n, bucket, name, &old) == 0;
	memset(&info, 0, sizeof(info));
	snprintf(info.name, sizeof(info.name), "%s", name);
	snprintf(info.bucket, sizeof(info.bucket), "%s", bucket);
	sk_new_id(info.nuid);
	snprintf(chunk_subj, sizeof(chunk_subj), "$O.%s.C.%s", bucket,
		 info.nuid);
	buf = malloc(SK_OBJ_CHUNK);
	md = EVP_MD_CTX_new();
	if (!buf || !md) {
		rc = -ENOMEM;
		goto fail;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (;;) {
		long got = rd(ctx, buf, SK_OBJ_CHUNK);

		if (got < 0) {
			rc = (int)got;
			goto fail;
		}
		if (got == 0)
			break;
		if (info.size + (uint64_t)got > SK_OBJ_MAX) {
			rc = -EFBIG;
			goto fail;
		}
		EVP_DigestUpdate(md, buf, (size_t)got);
		s = js_Publish(&pa, n->js, chunk_subj, buf, (int)got, NULL,
			       NULL);
		if (s != NATS_OK) {
			rc = sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
			goto fail;
		}
		jsPubAck_Destroy(pa);
		pa = NULL;
		info.size += (uint64_t)got;
		info.chunks++;
		if ((size_t)got < SK_OBJ_CHUNK)
			break;
	}
	EVP_DigestFinal_ex(md, info.sha256, NULL);
	rfc3339_now(info.mtime, sizeof(info.mtime));
	json = sk_obj_meta_json(&info);
	if (!json) {
		rc = -ENOMEM;
		goto fail;
	}
	s = natsMsg_Create(&m, meta_subj, NULL, json, (int)strlen(json));
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Rollup", "sub");
	if (s == NATS_OK)
		s = js_PublishMsg(&pa, n->js, m, NULL, NULL);
	natsMsg_Destroy(m);
	if (s != NATS_OK) {
		rc = sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
		goto fail;
	}
	jsPubAck_Destroy(pa);
	/* The replaced object's chunks are garbage now. */
	if (have_old && strcmp(old.nuid, info.nuid) != 0)
		purge_chunks(n, bucket, old.nuid);
	if (out)
		*out = info;
	free(json);
	EVP_MD_CTX_free(md);
	free(buf);
	return 0;
fail:
	if (info.chunks)
		purge_chunks(n, bucket, info.nuid);
	free(json);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

int sk_obj_put_file(struct sk_nats *n, const char *bucket, const char *name,
		    const char *path, struct sk_obj_info *info)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = put_common(n, bucket, name, read_fd, &fd, info);
	close(fd);
	return rc;
}

int sk_obj_put_buf(struct sk_nats *n, const char *bucket, const char *name,
		   const void *buf, size_t len, struct sk_obj_info *info)
{
	struct mem_src src = {buf, len};

	if (len > SK_OBJ_MAX)
		return -EFBIG;
	return put_common(n, bucket, name, read_mem, &src, info);
}

static int write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sink for get: write (data,len) somewhere.  0 or -errno. */
typedef int (*get_sink)(void *ctx, const void *data, size_t len);

static int sink_fd(void *ctx, const void *data, size_t len)
{
	return write_all(*(int *)ctx, data, len);
}

struct mem_sink {
	unsigned char *buf;
	size_t len, cap;
};

static int sink_mem(void *ctx, const void *data, size_t len)
{
	struct mem_sink *m = ctx;

	if (m->len + len > m->cap)
		return -EBADMSG; /* more bytes than the metadata said */
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	return 0;
}

static int get_common(struct sk_nats *n, const char *bucket, const char *name,
		      struct sk_obj_info *info, get_sink sink, void *ctx,
		      int have_info)
{
	char stream[80], subj[160];
	unsigned char md_out[32];
	jsDirectGetMsgOptions dg;
	EVP_MD_CTX *md = NULL;
	uint64_t seq = 1, total = 0;
	uint32_t got = 0;
	int rc;

	if (!have_info && (rc = sk_obj_info(n, bucket, name, info)))
		return rc;
	stream_name(stream, sizeof(stream), bucket);
	snprintf(subj, sizeof(subj), "$O.%s.C.%s", bucket, info->nuid);
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	/*
	 * Walk the chunks with direct gets (next message on the chunk
	 * subject from a sequence): no consumer, no subscription, so none
	 * of cnats 3.4.1's subscription bugs, and a bounded wait each.
	 */
	while (got < info->chunks) {
		const char *sq = NULL;
		natsMsg *m = NULL;
		natsStatus s;
		int len;

		jsDirectGetMsgOptions_Init(&dg);
		dg.Sequence = seq;
		dg.NextBySubject = subj;
		s = js_DirectGetMsg(&m, n->js, stream, NULL, &dg);
		if (s != NATS_OK) {
			/* Chunks gone although metadata is there: corrupt. */
			rc = s == NATS_NOT_FOUND ? -EBADMSG : sk_nats_errno(s);
			goto out;
		}
		len = natsMsg_GetDataLength(m);
		if (natsMsgHeader_Get(m, "Nats-Sequence", &sq) != NATS_OK ||
		    !sq || len < 0 || total + (uint64_t)len > info->size) {
			natsMsg_Destroy(m);
			rc = -EBADMSG;
			goto out;
		}
		seq = strtoull(sq, NULL, 10) + 1;
		EVP_DigestUpdate(md, natsMsg_GetData(m), (size_t)len);
		rc = sink(ctx, natsMsg_GetData(m), (size_t)len);
		natsMsg_Destroy(m);
		if (rc)
			goto out;
		total += (uint64_t)len;
		got++;
	}
	EVP_DigestFinal_ex(md, md_out, NULL);
	rc = 0;
	if (total != info->size || memcmp(md_out, info->sha256, 32) != 0)
		rc = -EBADMSG;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int sk_obj_get_fd(struct sk_nats *n, const char *bucket, const char *name,
		  int fd, struct sk_obj_info *info)
{
	struct sk_obj_info local;

	return get_common(n, bucket, name, info ? info : &local, sink_fd, &fd,
			  0);
}

int sk_obj_get_file(struct sk_nats *n, const char *bucket, const char *name,
		    const char *path, unsigned mode, struct sk_obj_info *info)
{
	char tmp[4096];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = sk_obj_get_fd(n, bucket, name, fd, info);
	if (rc == 0 && fchmod(fd, mode) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int sk_obj_get_buf(struct sk_nats *n, const char *bucket, const char *name,
		   void **buf, size_t *len)
{
	struct sk_obj_info info;
	struct mem_sink m = {0};
	int rc;

	rc = sk_obj_info(n, bucket, name, &info);
	if (rc)
		return rc;
	m.cap = (size_t)info.size;
	m.buf = malloc(m.cap ? m.cap : 1);
	if (!m.buf)
		return -ENOMEM;
	rc = get_common(n, bucket, name, &info, sink_mem, &m, 1);
	if (rc) {
		free(m.buf);
		return rc;
	}
	*buf = m.buf;
	*len = m.len;
	return 0;
}

int sk_obj_delete(struct sk_nats *n, const char *bucket, const char *name)
{
	char meta_subj[512];
	struct sk_obj_info info;
	jsPubAck *pa = NULL;
	natsMsg *m = NULL;
	natsStatus s;
	char *json;
	int rc;

	rc = sk_obj_info(n, bucket, name, &info);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	sk_obj_meta_subject(meta_subj, sizeof(meta_subj), bucket, name);
	info.deleted = 1;
	info.size = 0;
	info.chunks = 0;
	memset(info.sha256, 0, sizeof(info.sha256));
	rfc3339_now(info.mtime, sizeof(info.mtime));
	json = sk_obj_meta_json(&info);
	if (!json)
		return -ENOMEM;
	s = natsMsg_Create(&m, meta_subj, NULL, json, (int)strlen(json));
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Rollup", "sub");
	if (s == NATS_OK)
		s = js_PublishMsg(&pa, n->js, m, NULL, NULL);
	natsMsg_Destroy(m);
	free(json);
	if (s != NATS_OK)
		return sk_nats_errno(s) ? sk_nats_errno(s) : -EIO;
	jsPubAck_Destroy(pa);
	return purge_chunks(n, bucket, info.nuid);
}
