/* sk_token.h: gateway bearer tokens: format, hashing, scopes and the sk_tokens records. */
#ifndef SUKIMA_SK_TOKEN_H
#define SUKIMA_SK_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/*
 * A token is "skt_<id>_<secret>": <id> 16 lowercase hex (the key of its
 * record in the sk_tokens bucket, not secret), <secret> 64 lowercase hex
 * (256 random bits).  Only the SHA-256 of the whole token is stored.
 */
#define SK_TOKEN_BUCKET "sk_tokens"
#define SK_TOKEN_ID_LEN 16
#define SK_TOKEN_LEN	(4 + SK_TOKEN_ID_LEN + 1 + 64)

/* Scopes as a bit set; admin implies deploy and invoke. */
enum {
	SK_SCOPE_INVOKE = 1 << 0,
	SK_SCOPE_DEPLOY = 1 << 1,
	SK_SCOPE_ADMIN = 1 << 2,
};

struct sk_token {
	char id[SK_TOKEN_ID_LEN + 1];
	char hash[65];	    /* hex SHA-256 of the token */
	unsigned scopes;    /* SK_SCOPE_* */
	int64_t expires_us; /* 0: never */
	double rate;	    /* requests per second per gateway; 0: unlimited */
	int64_t created_us;
	char name[64]; /* a free label ("admin", "ci") */
};

/* A new random token (SK_TOKEN_LEN + 1 bytes) and its id.  0 or -errno. */
int sk_token_new(char tok[SK_TOKEN_LEN + 1], char id[SK_TOKEN_ID_LEN + 1]);

/* The id inside (tok) if it is well-formed (0), else -EINVAL. */
int sk_token_id(const char *tok, char id[SK_TOKEN_ID_LEN + 1]);

/* Hex SHA-256 of (tok). */
void sk_token_hash(const char *tok, char hex[65]);

/*
 * Whether (tok) matches (t) at time (now_us): 0; -EACCES bad token (hash
 * differs, compared in constant time); -EKEYEXPIRED expired.
 */
int sk_token_verify(const struct sk_token *t, const char *tok, int64_t now_us);

/* Whether scopes (have) grant (need) (a single SK_SCOPE_* or 0). */
int sk_scope_allows(unsigned have, unsigned need);

/* "invoke" -> SK_SCOPE_INVOKE...; 0 for an unknown name. */
unsigned sk_scope_parse(const char *name);
/* "invoke,deploy" into (out). */
void sk_scope_str(unsigned scopes, char *out, size_t cap);

/* Record JSON (malloc'd, or NULL) and its parser (0 or -EINVAL). */
char *sk_token_json(const struct sk_token *t);
int sk_token_parse(struct sk_token *t, const char *json, size_t len);

/* "30s", "10m", "12h", "30d" -> microseconds; 0 or -EINVAL. */
int sk_parse_duration_us(const char *s, int64_t *us);

#endif
