/* sk_sign.h: Ed25519 signatures of deployed code (libsodium): keys, signing, trusted-key sets. */
#ifndef SUKIMA_SK_SIGN_H
#define SUKIMA_SK_SIGN_H

#include <stddef.h>

/*
 * What is signed: the bytes "sukima-code-v1\n<function name>\n<digest>\n",
 * so a signature says "this key holder lets this ELF (by SHA-256) run as
 * this function".  The name is bound so a signed artifact cannot be
 * redeployed under another name by someone holding only a deploy token;
 * argv, env and argv0 are not covered (docs/security.md).
 *
 * Key files are one text line each:
 *   public: "sukima-ed25519-pub <64 hex>"
 *   secret: "sukima-ed25519-key <128 hex>"  (libsodium's 64-byte form)
 * A signature is 128 lowercase hex; a signer is the public key's 64 hex.
 */
#define SK_SIG_HEX    128
#define SK_SIGNER_HEX 64
#define SK_TRUST_MAX  64 /* keys in one trusted set */

/* Write a new key pair to (prefix).key (mode 0600) and (prefix).pub.
 * Refuses to overwrite.  0, -EEXIST, -errno. */
int sk_sign_keygen(const char *prefix, char *err, size_t errlen);

/* Sign (name, digest) with the secret key file (keyfile): fills (sig)
 * (SK_SIG_HEX + 1) and (signer) (SK_SIGNER_HEX + 1).  0 or -errno. */
int sk_sign_code(const char *keyfile, const char *name, const char *digest,
		 char *sig, char *signer, char *err, size_t errlen);

struct sk_trust {
	size_t n;
	unsigned char pk[SK_TRUST_MAX][32];
};

/* Load public keys from (path): one key file, a file of several key lines,
 * or a directory of *.pub files.  At least one key.  0 or -errno. */
int sk_trust_load(struct sk_trust *t, const char *path, char *err,
		  size_t errlen);

/*
 * Check a call's signature against (t).  (sig) and (signer) may be NULL or
 * "" (unsigned).  Returns 0 when a trusted key signed (name, digest), else
 * -EPERM with one line in (why): unsigned, untrusted signer, or a
 * signature that does not verify.
 */
int sk_trust_check(const struct sk_trust *t, const char *name,
		   const char *digest, const char *sig, const char *signer,
		   char *why, size_t whylen);

/* Does (sig) by (signer) verify for (name, digest), whoever the signer
 * is?  The gateway's check at deploy time.  0 or -EPERM with (why). */
int sk_sign_verify(const char *name, const char *digest, const char *sig,
		   const char *signer, char *why, size_t whylen);

/* True when (s) is exactly (n) lowercase hex digits. */
int sk_sign_hex_valid(const char *s, size_t n);

#endif
