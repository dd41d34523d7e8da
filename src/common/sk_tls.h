/* sk_tls.h: how a process proves itself to NATS: TLS trust, client certificate, user and password. */
#ifndef SUKIMA_SK_TLS_H
#define SUKIMA_SK_TLS_H

#include <nats/nats.h>
#include <stddef.h>

#define SK_CRED_MAX 512

/*
 * Security options of one NATS connection.  Empty strings mean "not set".
 * With (ca) set the connection requires TLS and verifies the server
 * against that CA; (cert, key) add a client certificate; (user,
 * password) log in.  (id) is the worker id a worker credential is bound
 * to (its NATS permissions name $KV.sk_workers.<id>).
 */
struct sk_sec {
	char ca[SK_CRED_MAX];
	char cert[SK_CRED_MAX];
	char key[SK_CRED_MAX];
	char user[128];
	char password[128];
	char id[64];
	int tls; /* TLS even without a CA (system trust) */
};

/*
 * Read a credentials file written by `sukima init` (lines "key value":
 * user, password, id, ca, cert, key; relative paths are relative to the
 * file's folder; '#' comments).  Fields already set in (sec) are
 * overwritten.  Returns 0, -errno from open, or -EINVAL with a one-line
 * reason in (err).
 */
int sk_sec_load_creds(struct sk_sec *sec, const char *path, char *err,
		      size_t errlen);

/* True when (sec) asks for anything at all (TLS or a login). */
int sk_sec_any(const struct sk_sec *sec);

/*
 * Apply (sec) to cnats options: natsOptions_SetSecure,
 * LoadCATrustedCertificates, LoadCertificatesChain, SetUserInfo.
 * Returns 0 or -errno (-ENOENT: a file is missing, -EINVAL: unreadable
 * PEM), with the reason in (err).
 */
int sk_sec_apply(const struct sk_sec *sec, natsOptions *opts, char *err,
		 size_t errlen);

/*
 * Parse the command-line options shared by `sukima gateway`, `worker`,
 * `objstore`: --creds FILE, --tls-ca FILE, --cert FILE, --key FILE,
 * --user NAME, --password PW (or $SUKIMA_NATS_PASSWORD).  (opt, val) are
 * the option name (with dashes) and its value.  Returns 1 when consumed,
 * 0 when (opt) is not one of ours, -EINVAL with (err) on a bad value.
 */
int sk_sec_option(struct sk_sec *sec, const char *opt, const char *val,
		  char *err, size_t errlen);

/* getopt_long rows of the options above (val = SK_SEC_OPT + index). */
#define SK_SEC_OPT 0x5300
#define SK_SEC_LONGOPTS                                              \
	{"creds", required_argument, NULL, SK_SEC_OPT + 0},          \
		{"tls-ca", required_argument, NULL, SK_SEC_OPT + 1}, \
		{"cert", required_argument, NULL, SK_SEC_OPT + 2},   \
		{"key", required_argument, NULL, SK_SEC_OPT + 3},    \
		{"user", required_argument, NULL, SK_SEC_OPT + 4},   \
	{                                                            \
		"password", required_argument, NULL, SK_SEC_OPT + 5  \
	}

/*
 * getopt_long's (c, optarg) for one of SK_SEC_LONGOPTS: 1 consumed, 0 not
 * ours, -errno with a reason in (err).
 */
int sk_sec_getopt(struct sk_sec *sec, int c, const char *arg, char *err,
		  size_t errlen);

/* Help text of the options above, for usage messages. */
#define SK_SEC_USAGE                                                        \
	"  --creds FILE        NATS credentials written by `sukima init`\n" \
	"  --tls-ca FILE       require TLS to NATS, trust this CA\n"        \
	"  --cert FILE --key FILE  client certificate for NATS\n"           \
	"  --user NAME --password PW  NATS login ($SUKIMA_NATS_PASSWORD)\n"

#endif
