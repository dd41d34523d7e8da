/* sk_token.c: gateway bearer tokens: format, hashing, scopes and the sk_tokens records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/sk_token.h"
#include "common/sk_util.h"

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int sk_token_new(char tok[SK_TOKEN_LEN + 1], char id[SK_TOKEN_ID_LEN + 1])
{
	unsigned char r[SK_TOKEN_ID_LEN / 2 + 32];
	char hex[2 * sizeof(r) + 1];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	sk_hex(hex, r, sizeof(r));
	snprintf(id, SK_TOKEN_ID_LEN + 1, "%.*s", SK_TOKEN_ID_LEN, hex);
	snprintf(tok, SK_TOKEN_LEN + 1, "skt_%s_%s", id, hex + SK_TOKEN_ID_LEN);
	return 0;
}

int sk_token_id(const char *tok, char id[SK_TOKEN_ID_LEN + 1])
{
	if (!tok || strlen(tok) != SK_TOKEN_LEN || strncmp(tok, "skt_", 4) ||
	    tok[4 + SK_TOKEN_ID_LEN] != '_' ||
	    !is_hex(tok + 4, SK_TOKEN_ID_LEN) ||
	    !is_hex(tok + 5 + SK_TOKEN_ID_LEN, 64))
		return -EINVAL;
	memcpy(id, tok + 4, SK_TOKEN_ID_LEN);
	id[SK_TOKEN_ID_LEN] = '\0';
	return 0;
}

void sk_token_hash(const char *tok, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)tok, strlen(tok), md);
	sk_hex(hex, md, sizeof(md));
}

int sk_token_verify(const struct sk_token *t, const char *tok, int64_t now_us)
{
	char hex[65];

	sk_token_hash(tok, hex);
	/* Constant time: the stored hash leaks nothing through timing. */
	if (strlen(t->hash) != 64 || CRYPTO_memcmp(hex, t->hash, 64) != 0)
		return -EACCES;
	if (t->expires_us && now_us >= t->expires_us)
		return -EKEYEXPIRED;
	return 0;
}

int sk_scope_allows(unsigned have, unsigned need)
{
	if (have & SK_SCOPE_ADMIN)
		return 1;
	return (have & need) == need;
}

unsigned sk_scope_parse(const char *name)
{
	if (!strcmp(name, "invoke"))
		return SK_SCOPE_INVOKE;
	if (!strcmp(name, "deploy"))
		return SK_SCOPE_DEPLOY;
	if (!strcmp(name, "admin"))
		return SK_SCOPE_ADMIN;
	return 0;
}

void sk_scope_str(unsigned scopes, char *out, size_t cap)
{
	static const char *const names[] = {"invoke", "deploy", "admin"};
	size_t off = 0;

	if (cap)
		out[0] = '\0';
	for (int i = 0; i < 3; i++) {
		int n;

		if (!(scopes & (1u << i)))
			continue;
		n = snprintf(out + off, cap - off, "%s%s", off ? "," : "",
			     names[i]);
		if (n < 0 || (size_t)n >= cap - off)
			return;
		off += (size_t)n;
	}
}

char *sk_token_json(const struct sk_token *t)
{
	json_t *j = json_object(), *sc = json_array();
	char *s = NULL;

	if (!j || !sc)
		goto out;
	for (int i = 0; i < 3; i++)
		if (t->scopes & (1u << i)) {
			static const char *const names[] = {"invoke", "deploy",
							    "admin"};
			json_array_append_new(sc, json_string(names[i]));
		}
	json_object_set_new(j, "id", json_string(t->id));
	json_object_set_new(j, "hash", json_string(t->hash));
	json_object_set(j, "scopes", sc);
	json_object_set_new(j, "expires_us", json_integer(t->expires_us));
	json_object_set_new(j, "rate", json_real(t->rate));
	json_object_set_new(j, "created_us", json_integer(t->created_us));
	json_object_set_new(j, "name", json_string(t->name));
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
out:
	json_decref(sc);
	json_decref(j);
	return s;
}

int sk_token_parse(struct sk_token *t, const char *json, size_t len)
{
	json_t *j = json_loadb(json, len, 0, NULL), *v, *sc;
	const char *id, *hash;
	size_t i;
	int rc = -EINVAL;

	memset(t, 0, sizeof(*t));
	if (!j || !json_is_object(j))
		goto out;
	id = json_string_value(json_object_get(j, "id"));
	hash = json_string_value(json_object_get(j, "hash"));
	sc = json_object_get(j, "scopes");
	if (!id || strlen(id) != SK_TOKEN_ID_LEN ||
	    !is_hex(id, SK_TOKEN_ID_LEN) || !hash || strlen(hash) != 64 ||
	    !is_hex(hash, 64) || !json_is_array(sc))
		goto out;
	memcpy(t->id, id, SK_TOKEN_ID_LEN + 1);
	memcpy(t->hash, hash, 65);
	json_array_foreach(sc, i, v)
	{
		const char *name = json_string_value(v);
		unsigned bit = name ? sk_scope_parse(name) : 0;

		if (!bit)
			goto out;
		t->scopes |= bit;
	}
	v = json_object_get(j, "expires_us");
	t->expires_us = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(j, "created_us");
	t->created_us = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(j, "rate");
	t->rate = json_is_number(v) ? json_number_value(v) : 0;
	if (t->rate < 0 || t->expires_us < 0)
		goto out;
	v = json_object_get(j, "name");
	if (json_is_string(v))
		snprintf(t->name, sizeof(t->name), "%s", json_string_value(v));
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int sk_parse_duration_us(const char *s, int64_t *us)
{
	char *end;
	double v;
	double mul;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1e3;
	else if (!strcmp(end, "s") || !*end)
		mul = 1e6;
	else if (!strcmp(end, "m"))
		mul = 60e6;
	else if (!strcmp(end, "h"))
		mul = 3600e6;
	else if (!strcmp(end, "d"))
		mul = 86400e6;
	else
		return -EINVAL;
	if (v * mul > 9e18 / 2)
		return -EINVAL;
	*us = (int64_t)(v * mul);
	return *us > 0 ? 0 : -EINVAL;
}
