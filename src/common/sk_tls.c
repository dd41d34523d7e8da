/* sk_tls.c: how a process proves itself to NATS: TLS trust, client certificate, user and password. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sk_tls.h"

__attribute__((format(printf, 3, 4))) static void set_err(char *err,
							  size_t errlen,
							  const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int sk_sec_any(const struct sk_sec *sec)
{
	return sec && (sec->ca[0] || sec->cert[0] || sec->user[0] || sec->tls);
}

/* (dst) = (val), or dir/(val) when (val) is relative and (dir) given. */
static int set_path(char *dst, size_t cap, const char *dir, const char *val)
{
	int n;

	if (val[0] == '/' || !dir)
		n = snprintf(dst, cap, "%s", val);
	else
		n = snprintf(dst, cap, "%s/%s", dir, val);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int set_field(struct sk_sec *sec, const char *dir, const char *k,
		     const char *v)
{
	size_t n = strlen(v);

	if (!strcmp(k, "ca"))
		return set_path(sec->ca, sizeof(sec->ca), dir, v);
	if (!strcmp(k, "cert"))
		return set_path(sec->cert, sizeof(sec->cert), dir, v);
	if (!strcmp(k, "key"))
		return set_path(sec->key, sizeof(sec->key), dir, v);
	if (!strcmp(k, "user") && n < sizeof(sec->user))
		memcpy(sec->user, v, n + 1);
	else if (!strcmp(k, "password") && n < sizeof(sec->password))
		memcpy(sec->password, v, n + 1);
	else if (!strcmp(k, "id") && n < sizeof(sec->id))
		memcpy(sec->id, v, n + 1);
	else if (!strcmp(k, "tls"))
		sec->tls = strcmp(v, "0") != 0;
	else
		return -EINVAL;
	return 0;
}

int sk_sec_load_creds(struct sk_sec *sec, const char *path, char *err,
		      size_t errlen)
{
	char line[1024], dir[SK_CRED_MAX];
	const char *slash = strrchr(path, '/');
	FILE *f;
	int rc = 0, lineno = 0;

	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof(dir), ".");
	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		set_err(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		while (*k == ' ' || *k == '\t')
			k++;
		if (!*k || *k == '#')
			continue;
		v = k + strcspn(k, " \t");
		if (*v)
			*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (!*v || set_field(sec, dir, k, v)) {
			set_err(err, errlen,
				"%s:%d: bad line (want 'key value')", path,
				lineno);
			rc = -EINVAL;
			break;
		}
	}
	fclose(f);
	return rc;
}

int sk_sec_option(struct sk_sec *sec, const char *opt, const char *val,
		  char *err, size_t errlen)
{
	int rc;

	if (!strcmp(opt, "--creds"))
		return (rc = sk_sec_load_creds(sec, val, err, errlen)) ? rc : 1;
	if (!strcmp(opt, "--tls-ca"))
		rc = set_field(sec, NULL, "ca", val);
	else if (!strcmp(opt, "--cert"))
		rc = set_field(sec, NULL, "cert", val);
	else if (!strcmp(opt, "--key"))
		rc = set_field(sec, NULL, "key", val);
	else if (!strcmp(opt, "--user"))
		rc = set_field(sec, NULL, "user", val);
	else if (!strcmp(opt, "--password"))
		rc = set_field(sec, NULL, "password", val);
	else
		return 0;
	if (rc) {
		set_err(err, errlen, "%s: value too long: %s", opt, val);
		return -EINVAL;
	}
	return 1;
}

int sk_sec_apply(const struct sk_sec *sec, natsOptions *opts, char *err,
		 size_t errlen)
{
	natsStatus s;

	if (!sk_sec_any(sec))
		return 0;
	if (sec->ca[0] || sec->tls || sec->cert[0]) {
		s = natsOptions_SetSecure(opts, true);
		if (s != NATS_OK) {
			set_err(err, errlen, "TLS unavailable in cnats: %s",
				natsStatus_GetText(s));
			return -ENOTSUP;
		}
	}
	if (sec->ca[0]) {
		if (access(sec->ca, R_OK)) {
			set_err(err, errlen, "cannot read CA %s: %s", sec->ca,
				strerror(errno));
			return -ENOENT;
		}
		s = natsOptions_LoadCATrustedCertificates(opts, sec->ca);
		if (s != NATS_OK) {
			set_err(err, errlen, "bad CA certificate %s: %s",
				sec->ca, nats_GetLastError(NULL));
			return -EINVAL;
		}
	}
	if (sec->cert[0] || sec->key[0]) {
		if (!sec->cert[0] || !sec->key[0]) {
			set_err(err, errlen,
				"a client certificate needs "
				"both --cert and --key");
			return -EINVAL;
		}
		s = natsOptions_LoadCertificatesChain(opts, sec->cert,
						      sec->key);
		if (s != NATS_OK) {
			set_err(err, errlen,
				"bad client certificate or key %s: %s",
				sec->cert, nats_GetLastError(NULL));
			return -EINVAL;
		}
	}
	if (sec->user[0]) {
		const char *pw = sec->password;

		if (!pw[0] && getenv("SUKIMA_NATS_PASSWORD"))
			pw = getenv("SUKIMA_NATS_PASSWORD");
		s = natsOptions_SetUserInfo(opts, sec->user, pw);
		if (s != NATS_OK) {
			set_err(err, errlen, "cannot set NATS user %s: %s",
				sec->user, natsStatus_GetText(s));
			return -EINVAL;
		}
	}
	return 0;
}

int sk_sec_getopt(struct sk_sec *sec, int c, const char *arg, char *err,
		  size_t errlen)
{
	static const char *const names[] = {"--creds", "--tls-ca",
					    "--cert",  "--key",
					    "--user",  "--password"};

	if (c < SK_SEC_OPT || c >= SK_SEC_OPT + 6)
		return 0;
	return sk_sec_option(sec, names[c - SK_SEC_OPT], arg, err, errlen);
}
