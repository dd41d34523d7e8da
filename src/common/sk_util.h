/* sk_util.h: small helpers shared by the cloud side: time, ids, base64, SHA-256. */
#ifndef SUKIMA_SK_UTIL_H
#define SUKIMA_SK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The version every component reports (membership, /system/info). */
#define SK_VERSION "0.1.0"

/* Wall-clock time in microseconds since the epoch (CLOCK_REALTIME). */
int64_t sk_now_us(void);

/* Monotonic time in milliseconds, for deadlines (CLOCK_MONOTONIC). */
int64_t sk_mono_ms(void);

/* (ts) = CLOCK_REALTIME now + (ms): the deadline pthread_cond_timedwait takes. */
struct timespec;
void sk_abstime(struct timespec *ts, int64_t ms);

/* An invocation or worker id: 26 characters [0-9a-z], random (getrandom). */
#define SK_ID_LEN 26
void sk_new_id(char out[SK_ID_LEN + 1]);

/*
 * Base64 with padding.  (url) selects the URL alphabet (-_) of RFC 4648 §5,
 * else the standard one (+/).  sk_b64_encode writes a NUL-terminated string
 * into (out) of sk_b64_len(n) + 1 bytes.  sk_b64_decode accepts padded or
 * unpadded input in the chosen alphabet, writes at most (cap) bytes into
 * (out), and returns the decoded length or -EINVAL (bad character or
 * length) / -ENOSPC (cap too small).
 */
size_t sk_b64_len(size_t n);
void sk_b64_encode(char *out, const void *in, size_t n, int url);
long sk_b64_decode(void *out, size_t cap, const char *in, size_t n, int url);

/* Lowercase hex of (n) bytes into (out) of 2n+1 bytes. */
void sk_hex(char *out, const void *in, size_t n);

/* True when (s) is exactly 64 lowercase hex digits (a SHA-256 name). */
int sk_is_sha256_hex(const char *s);

/*
 * SHA-256 of a file: hex into (hex) (65 bytes), size into (*size).
 * Returns 0, or -errno from open/read.
 */
int sk_sha256_file(const char *path, char hex[65], uint64_t *size);

/* Parse a size "64", "64k", "64M", "1G" (powers of 1024) into bytes. */
int sk_parse_size(const char *s, uint64_t *out);

/*
 * mkdir -p: creates (dir) and its missing parents with (mode); existing
 * ones are left as they are.  Returns 0 or -errno.
 */
int sk_mkdir_p(const char *dir, mode_t mode);

#endif
