/* sk_sign.c: Ed25519 signatures of deployed code (libsodium). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sk_sign.h"
#include "common/sk_util.h"

#define PUB_TAG "sukima-ed25519-pub "
#define KEY_TAG "sukima-ed25519-key "

static int sign_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int sign_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int sk_sign_hex_valid(const char *s, size_t n)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

static int unhex(unsigned char *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return -EINVAL;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* The signed message; (out) holds at least 16 + 64 + 64 + 3 bytes. */
static size_t message(char *out, size_t cap, const char *name,
		      const char *digest)
{
	int n = snprintf(out, cap, "sukima-code-v1\n%s\n%s\n", name, digest);

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static int init_sodium(char *err, size_t errlen)
{
	if (sodium_init() < 0)
		return sign_fail(err, errlen, -EIO,
				 "libsodium did not initialise");
	return 0;
}

static int write_line(const char *path, mode_t mode, const char *tag,
		      const unsigned char *b, size_t n)
{
	char hex[2 * 64 + 1];
	int fd, rc = 0;
	FILE *f;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		return rc;
	}
	sk_hex(hex, b, n);
	if (fprintf(f, "%s%s\n", tag, hex) < 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

int sk_sign_keygen(const char *prefix, char *err, size_t errlen)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	char kpath[4096], ppath[4096];
	int rc;

	if ((rc = init_sodium(err, errlen)))
		return rc;
	if (snprintf(kpath, sizeof(kpath), "%s.key", prefix) >=
		    (int)sizeof(kpath) ||
	    snprintf(ppath, sizeof(ppath), "%s.pub", prefix) >=
		    (int)sizeof(ppath))
		return sign_fail(err, errlen, -ENAMETOOLONG,
				 "key path too long");
	if (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0)
		return sign_fail(err, errlen, -EEXIST,
				 "%s or %s exists: not overwritten", kpath,
				 ppath);
	crypto_sign_keypair(pk, sk);
	rc = write_line(kpath, 0600, KEY_TAG, sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	if (rc)
		return sign_fail(err, errlen, rc, "%s: %s", kpath,
				 strerror(-rc));
	rc = write_line(ppath, 0644, PUB_TAG, pk, sizeof(pk));
	if (rc) {
		unlink(kpath);
		return sign_fail(err, errlen, rc, "%s: %s", ppath,
				 strerror(-rc));
	}
	return 0;
}

/* The hex after (tag) on the first line of (path) into (out) (n bytes). */
static int read_key(const char *path, const char *tag, unsigned char *out,
		    size_t n, char *err, size_t errlen)
{
	char line[512];
	size_t tl = strlen(tag), l;
	FILE *f = fopen(path, "re");
	int rc;

	if (!f)
		return sign_fail(err, errlen, -errno, "%s: %s", path,
				 strerror(errno));
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	l = strcspn(line, "\r\n");
	line[l] = '\0';
	rc = strncmp(line, tag, tl) == 0 && l == tl + 2 * n &&
			     sk_sign_hex_valid(line + tl, 2 * n)
		     ? unhex(out, line + tl, n)
		     : -EINVAL;
	sodium_memzero(line, sizeof(line));
	if (rc)
		return sign_fail(err, errlen, rc, "%s: not a %s key file", path,
				 tag[15] == 'k' ? "sukima secret"
						: "sukima public");
	return 0;
}

int sk_sign_code(const char *keyfile, const char *name, const char *digest,
		 char *sig, char *signer, char *err, size_t errlen)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES], s[crypto_sign_BYTES];
	char msg[256];
	size_t mlen;
	int rc;

	if ((rc = init_sodium(err, errlen)))
		return rc;
	mlen = message(msg, sizeof(msg), name, digest);
	if (!mlen || !sk_is_sha256_hex(digest))
		return sign_fail(err, errlen, -EINVAL,
				 "bad name or digest to sign");
	rc = read_key(keyfile, KEY_TAG, sk, sizeof(sk), err, errlen);
	if (rc)
		return rc;
	crypto_sign_detached(s, NULL, (const unsigned char *)msg, mlen, sk);
	sk_hex(sig, s, sizeof(s));
	/* The public key is the second half of libsodium's secret key. */
	sk_hex(signer, sk + 32, 32);
	sodium_memzero(sk, sizeof(sk));
	return 0;
}

/* Add every key line of (path) to (t). */
static int load_file(struct sk_trust *t, const char *path, char *err,
		     size_t errlen)
{
	size_t tl = strlen(PUB_TAG);
	char line[512];
	int lineno = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return sign_fail(err, errlen, -errno, "%s: %s", path,
				 strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		size_t l = strcspn(line, "\r\n");

		lineno++;
		line[l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;
		if (strncmp(line, PUB_TAG, tl) != 0 || l != tl + 64 ||
		    !sk_sign_hex_valid(line + tl, 64)) {
			fclose(f);
			return sign_fail(err, errlen, -EINVAL,
					 "%s:%d: not a \"" PUB_TAG
					 "<64 hex>\" line",
					 path, lineno);
		}
		if (t->n == SK_TRUST_MAX) {
			fclose(f);
			return sign_fail(err, errlen, -E2BIG,
					 "more than %d trusted keys",
					 SK_TRUST_MAX);
		}
		unhex(t->pk[t->n++], line + tl, 32);
	}
	fclose(f);
	return 0;
}

int sk_trust_load(struct sk_trust *t, const char *path, char *err,
		  size_t errlen)
{
	struct stat st;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = init_sodium(err, errlen)))
		return rc;
	if (stat(path, &st) != 0)
		return sign_fail(err, errlen, -errno, "%s: %s", path,
				 strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;

		if (!d)
			return sign_fail(err, errlen, -errno, "%s: %s", path,
					 strerror(errno));
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			char p[4096];

			if (l < 5 || strcmp(e->d_name + l - 4, ".pub") != 0)
				continue;
			if (snprintf(p, sizeof(p), "%s/%s", path, e->d_name) >=
			    (int)sizeof(p))
				continue;
			if ((rc = load_file(t, p, err, errlen))) {
				closedir(d);
				return rc;
			}
		}
		closedir(d);
	} else if ((rc = load_file(t, path, err, errlen))) {
		return rc;
	}
	if (t->n == 0)
		return sign_fail(err, errlen, -ENOENT, "%s: no public keys",
				 path);
	return 0;
}

int sk_trust_check(const struct sk_trust *t, const char *name,
		   const char *digest, const char *sig, const char *signer,
		   char *why, size_t whylen)
{
	unsigned char s[crypto_sign_BYTES], pk[32];
	char msg[256];
	size_t mlen;

	if (!sig || !sig[0])
		return sign_fail(
			why, whylen, -EPERM,
			"code is unsigned and this worker runs only code "
			"signed by a trusted key: refused");
	if (!sk_sign_hex_valid(sig, SK_SIG_HEX) || !signer ||
	    !sk_sign_hex_valid(signer, SK_SIGNER_HEX))
		return sign_fail(why, whylen, -EPERM,
				 "code signature is malformed: refused");
	unhex(s, sig, sizeof(s));
	unhex(pk, signer, sizeof(pk));
	for (size_t i = 0; i < t->n; i++) {
		if (sodium_memcmp(t->pk[i], pk, 32) != 0)
			continue;
		mlen = message(msg, sizeof(msg), name, digest);
		if (mlen &&
		    crypto_sign_verify_detached(s, (const unsigned char *)msg,
						mlen, pk) == 0)
			return 0;
		return sign_fail(
			why, whylen, -EPERM,
			"code signature by key %.16s... does not verify "
			"for %s/%.16s...: refused",
			signer, name, digest);
	}
	return sign_fail(
		why, whylen, -EPERM,
		"code is signed by key %.16s..., which this worker does "
		"not trust: refused",
		signer);
}

int sk_sign_verify(const char *name, const char *digest, const char *sig,
		   const char *signer, char *why, size_t whylen)
{
	struct sk_trust t = {.n = 1};
	int rc;

	if ((rc = init_sodium(why, whylen)))
		return rc;
	if (!signer || !sk_sign_hex_valid(signer, SK_SIGNER_HEX))
		return sign_fail(why, whylen, -EPERM,
				 "signer must be 64 hex digits (a public key)");
	unhex(t.pk[0], signer, 32);
	return sk_trust_check(&t, name, digest, sig, signer, why, whylen);
}
