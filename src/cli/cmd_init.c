/* cmd_init.c: `sukima init`: a deployment's secrets (CA, certificates, NATS users and permissions, the first gateway token). */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"
#include "cli/cli_init.h"
#include "common/sk_token.h"
#include "common/sk_nats.h"
#include "common/sk_util.h"

#define CA_DAYS	    3650
#define LEAF_DAYS   825
#define BCRYPT_COST 10

/* Create (dir)/(name) with mode 0600 (replacing it) and open it for writing. */
static FILE *open_secret(const char *dir, const char *name)
{
	char path[PATH_MAX];
	FILE *f;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

static int close_secret(FILE *f)
{
	int bad = ferror(f);

	if (fclose(f) || bad)
		return -EIO;
	return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *val)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, val);
	int ok;

	if (!e)
		return -EINVAL;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -EINVAL;
}

/*
 * A certificate for (key) named (cn), signed by (issuer, ikey), or
 * self-signed when (issuer) is NULL (the CA).  (san) is a subjectAltName
 * value for server certificates.
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
		       EVP_PKEY *ikey, const char *san, int days)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_new();
	X509_NAME *nm;
	X509V3_CTX ctx;
	int ca = issuer == NULL;

	if (!x || !bn ||
	    !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) ||
	    !X509_set_pubkey(x, key))
		goto fail;
	nm = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
					(const unsigned char *)"Sukima", -1, -1,
					0) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, ca ? nm : X509_get_subject_name(issuer)))
		goto fail;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca ? x : issuer, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints,
		    ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") ||
	    add_ext(x, &ctx, NID_key_usage,
		    ca ? "critical,keyCertSign,cRLSign"
		       : "critical,digitalSignature,keyEncipherment") ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash"))
		goto fail;
	if (!ca &&
	    (add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") ||
	     add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") ||
	     (san && add_ext(x, &ctx, NID_subject_alt_name, san))))
		goto fail;
	if (!X509_sign(x, ca ? key : ikey, EVP_sha256()))
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

static int write_key(const char *dir, const char *name, EVP_PKEY *k)
{
	FILE *f = open_secret(dir, name);

	if (!f)
		return -errno;
	if (!PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)) {
		fclose(f);
		return -EIO;
	}
	return close_secret(f);
}

static int write_cert(const char *dir, const char *name, X509 *x)
{
	FILE *f = open_secret(dir, name);

	if (!f)
		return -errno;
	if (!PEM_write_X509(f, x)) {
		fclose(f);
		return -EIO;
	}
	return close_secret(f);
}

/* A server key and certificate (name.key, name.pem) signed by the CA. */
static int server_cert(const char *dir, const char *name, const char *san,
		       X509 *ca, EVP_PKEY *cakey)
{
	char kn[64], cn[64];
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = k ? make_cert(k, name, ca, cakey, san, LEAF_DAYS) : NULL;
	int rc = -EIO;

	snprintf(kn, sizeof(kn), "%s.key", name);
	snprintf(cn, sizeof(cn), "%s.pem", name);
	if (x && !(rc = write_key(dir, kn, k)))
		rc = write_cert(dir, cn, x);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* A random password (32 base64url characters = 192 bits). */
static int new_password(char out[33])
{
	unsigned char r[24];
	char b[40];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	sk_b64_encode(b, r, sizeof(r), 1);
	snprintf(out, 33, "%.32s", b);
	return 0;
}

/* bcrypt of (pw) ($2b$, libxcrypt), as nats-server checks it. */
static int bcrypt_hash(const char *pw, char *out, size_t cap)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;
	int rc = -EIO;

	if (!cd)
		return -ENOMEM;
	if (crypt_gensalt_rn("$2b$", BCRYPT_COST, NULL, 0, salt,
			     sizeof(salt)) &&
	    (h = crypt_rn(pw, salt, cd, sizeof(*cd))) && h[0] == '$' &&
	    strlen(h) < cap) {
		snprintf(out, cap, "%s", h);
		rc = 0;
	}
	free(cd);
	return rc;
}

static int write_creds(const char *dir, const char *name, const char *user,
		       const char *pw, const char *id)
{
	FILE *f = open_secret(dir, name);

	if (!f)
		return -errno;
	fprintf(f,
		"# NATS login written by `sukima init`: pass it with --creds "
		"(keep it 0600)\nuser %s\npassword %s\nca ca.pem\n",
		user, pw);
	if (id)
		fprintf(f, "id %s\n", id);
	return close_secret(f);
}

/*
 * The worker role: pull and ack its arch's work, read functions, call
 * records and artifacts, write call records, results, completion events
 * and sync replies, and its own membership key; nothing else.
 */
static void worker_perms(FILE *f, const char *id)
{
	static const char *const pub[] = {
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO.*",
		"$JS.API.CONSUMER.INFO.SUKIMA_WORK.*",
		"$JS.API.CONSUMER.INFO.SUKIMA_DONE.callbacks",
		"$JS.API.CONSUMER.MSG.NEXT.SUKIMA_WORK.*",
		"$JS.ACK.SUKIMA_WORK.>",
		"$JS.API.DIRECT.GET.KV_sk_functions",
		"$JS.API.DIRECT.GET.KV_sk_functions.>",
		"$JS.API.STREAM.MSG.GET.KV_sk_functions",
		"$JS.API.DIRECT.GET.KV_sk_calls",
		"$JS.API.DIRECT.GET.KV_sk_calls.>",
		"$JS.API.STREAM.MSG.GET.KV_sk_calls",
		"$JS.API.DIRECT.GET.OBJ_sk_artifacts",
		"$JS.API.DIRECT.GET.OBJ_sk_artifacts.>",
		"$JS.API.STREAM.MSG.GET.OBJ_sk_artifacts",
		"$KV.sk_calls.>",
		"$KV.sk_results.*", /* final results <id> */
		/* Replica votes <id>.<worker id> (wk_replica.h): readable to
		 * count them (subject-form direct get: finals stay unread),
		 * writable only under the worker's own id (below). */
		"$JS.API.DIRECT.GET.KV_sk_results.$KV.sk_results.*.*",
		"sk.done.>",
		"sk.reply.>",
	};

	fprintf(f, "    permissions: {\n      publish: {allow: [");
	for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++)
		fprintf(f, "\"%s\", ", pub[i]);
	/* Callback URLs ("<id>.cb" in sk_calls) are the gateway's alone: a
	 * worker writing one could aim the gateway's POST anywhere. */
	fprintf(f,
		"\"$KV.sk_results.*.%s\", \"$KV.sk_workers.%s\", "
		"\"_INBOX_worker-%s.>\"], "
		"deny: [\"$KV.sk_calls.*.cb\"]}\n",
		id, id, id);
	/*
	 * Replies only under its own prefix (sk_nats.c sets it from the
	 * login), so it cannot watch or race others' replies (JetStream API
	 * answers carry results); drain requests for this worker only
	 * (sk.ctl.<id>.drain), answered through allow_responses.
	 */
	fprintf(f,
		"      subscribe: {allow: [\"_INBOX_worker-%s.>\", \"sk.ctl."
		"%s.drain\"]}\n      allow_responses: true\n    }\n",
		id, id);
}

/* The gateway role: the API, functions, calls, tokens, artifacts, work. */
static void gateway_perms(FILE *f)
{
	fprintf(f, "    permissions: {\n"
		   "      publish: {allow: [\"$JS.API.>\", "
		   "\"$JS.ACK.SUKIMA_DONE.>\", \"$KV.sk_functions.>\", "
		   "\"$KV.sk_calls.>\", \"$KV." SK_TOKEN_BUCKET ".>\", "
		   "\"$O.sk_artifacts.>\", \"sk.work.>\", \"sk.ctl."
		   "*.drain\", \"_INBOX_gateway.>\"]}\n"
		   "      subscribe: {allow: [\"_INBOX_gateway.>\", "
		   "\"sk.reply.>\", \"" SK_SUBJ_RESULT ">\"]}\n"
		   "    }\n");
}

/*
 * Where nats-auth.conf says the NATS certificates are: the secrets dir,
 * or --conf-dir when they are copied elsewhere (e.g. /etc/sukima).
 */
static const char *conf_dir;

static int write_nats_conf(const char *dir, const char *hashes[],
			   const char *users[], char ids[][SK_ID_LEN + 1],
			   int workers)
{
	FILE *f = open_secret(dir, "nats-auth.conf");

	if (!f)
		return -errno;
	fprintf(f,
		"# nats-server TLS and authorization written by `sukima "
		"init`; `sukima up` includes it.\n"
		"tls {\n  cert_file: \"%s/nats.pem\"\n  key_file: "
		"\"%s/nats.key\"\n  ca_file: \"%s/ca.pem\"\n  timeout: 5\n}\n"
		"authorization {\n  users = [\n",
		conf_dir ? conf_dir : dir, conf_dir ? conf_dir : dir,
		conf_dir ? conf_dir : dir);
	fprintf(f,
		"  {\n    user: \"%s\"\n    password: \"%s\"\n"
		"    permissions: {publish: {allow: [\">\"]}, subscribe: "
		"{allow: [\">\"]}}\n  }\n",
		users[0], hashes[0]);
	fprintf(f, "  {\n    user: \"%s\"\n    password: \"%s\"\n", users[1],
		hashes[1]);
	gateway_perms(f);
	fprintf(f, "  }\n");
	for (int i = 0; i < workers; i++) {
		fprintf(f, "  {\n    user: \"%s\"\n    password: \"%s\"\n",
			users[2 + i], hashes[2 + i]);
		worker_perms(f, ids[i]);
		fprintf(f, "  }\n");
	}
	fprintf(f, "  ]\n}\n");
	return close_secret(f);
}

/* Append ",IP:a" or ",DNS:name" to (san) for each of (hosts) "a,b". */
static int add_hosts(char *san, size_t cap, size_t n, const char *hosts)
{
	char *h = strdup(hosts), *save = NULL;
	int rc = 0;

	if (!h)
		return -ENOMEM;
	for (char *t = strtok_r(h, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int w = snprintf(san + n, cap - n, ",%s:%s",
				 strspn(t, "0123456789.") == strlen(t) ? "IP"
								       : "DNS",
				 t);

		if (w < 0 || (size_t)w >= cap - n) {
			rc = -E2BIG;
			break;
		}
		n += (size_t)w;
	}
	free(h);
	return rc;
}

int cli_init_secrets(const char *dir, int workers, const char *hosts, int quiet)
{
	char host[256] = "localhost", san[1024], path[PATH_MAX];
	char pw[2 + CLI_INIT_MAX_WORKERS][33];
	char hash[2 + CLI_INIT_MAX_WORKERS][128];
	char user[2 + CLI_INIT_MAX_WORKERS][64];
	char ids[CLI_INIT_MAX_WORKERS][SK_ID_LEN + 1];
	const char *hashes[2 + CLI_INIT_MAX_WORKERS],
		*users[2 + CLI_INIT_MAX_WORKERS];
	char tok[SK_TOKEN_LEN + 1], tid[SK_TOKEN_ID_LEN + 1];
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL;
	FILE *f;
	int rc = -EIO, n;

	/* (dir) is written into nats-auth.conf between quotes. */
	if (workers < 1 || workers > CLI_INIT_MAX_WORKERS ||
	    strpbrk(dir, "\"\\\n"))
		return -EINVAL;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	gethostname(host, sizeof(host) - 1);
	n = snprintf(san, sizeof(san), "IP:127.0.0.1,DNS:localhost%s%s",
		     strcmp(host, "localhost") ? ",DNS:" : "",
		     strcmp(host, "localhost") ? host : "");
	if (hosts && (rc = add_hosts(san, sizeof(san), (size_t)n, hosts)))
		return rc;
	cakey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ca = cakey ? make_cert(cakey, "Sukima CA", NULL, NULL, NULL, CA_DAYS)
		   : NULL;
	if (!ca)
		goto out;
	if ((rc = write_key(dir, "ca.key", cakey)) ||
	    (rc = write_cert(dir, "ca.pem", ca)) ||
	    (rc = server_cert(dir, "nats", san, ca, cakey)) ||
	    (rc = server_cert(dir, "gateway", san, ca, cakey)))
		goto out;
	snprintf(user[0], sizeof(user[0]), "admin");
	snprintf(user[1], sizeof(user[1]), "gateway");
	for (int i = 0; i < workers; i++) {
		sk_new_id(ids[i]);
		snprintf(user[2 + i], sizeof(user[2 + i]), "worker-%.26s",
			 ids[i]);
	}
	for (int i = 0; i < 2 + workers; i++) {
		if ((rc = new_password(pw[i])) ||
		    (rc = bcrypt_hash(pw[i], hash[i], sizeof(hash[i]))))
			goto out;
		hashes[i] = hash[i];
		users[i] = user[i];
	}
	if ((rc = write_nats_conf(dir, hashes, users, ids, workers)) ||
	    (rc = write_creds(dir, "admin.creds", user[0], pw[0], NULL)) ||
	    (rc = write_creds(dir, "gateway.creds", user[1], pw[1], NULL)))
		goto out;
	for (int i = 0; i < workers; i++) {
		char name[64];

		snprintf(name, sizeof(name), "worker-%d.creds", i + 1);
		if ((rc = write_creds(dir, name, user[2 + i], pw[2 + i],
				      ids[i])))
			goto out;
	}
	/* The first admin token; `sukima up` stores its hash in sk_tokens. */
	if ((rc = sk_token_new(tok, tid)))
		goto out;
	f = open_secret(dir, "admin.token");
	if (!f) {
		rc = -errno;
		goto out;
	}
	fprintf(f, "%s\n", tok);
	if ((rc = close_secret(f)))
		goto out;
	if (!quiet) {
		snprintf(path, sizeof(path), "%s", dir);
		printf("sukima init: secrets in %s (mode 0600):\n"
		       "  ca.pem ca.key            private CA (EC P-256, %d "
		       "days)\n"
		       "  nats.pem nats.key        NATS server certificate "
		       "(%s)\n"
		       "  gateway.pem gateway.key  gateway HTTPS certificate\n"
		       "  nats-auth.conf           nats-server tls + users "
		       "(bcrypt) + permissions\n"
		       "  admin.creds gateway.creds worker-1..%d.creds  NATS "
		       "logins (--creds FILE)\n"
		       "  admin.token              the first gateway token "
		       "(scope admin)\n",
		       path, CA_DAYS, san, workers);
	}
	rc = 0;
out:
	X509_free(ca);
	EVP_PKEY_free(cakey);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(tok, sizeof(tok));
	return rc;
}

int cli_init_default_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && *xdg)
		n = snprintf(out, cap, "%s/sukima", xdg);
	else
		n = snprintf(out, cap, "%s/.local/share/sukima",
			     home ? home : ".");
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sukima init [--dir DIR] [--workers N] [--host NAME]... "
		"[--conf-dir PATH] [--force]\n"
		"  Creates a deployment's secrets in DIR (default: `sukima "
		"up`'s data dir):\n"
		"  a private CA, NATS and gateway certificates, NATS users "
		"per role (admin,\n"
		"  gateway, N workers; default 8) with subject permissions, "
		"and the first\n"
		"  gateway token (admin.token).  --host adds a name or "
		"address to the\n"
		"  server certificates (besides 127.0.0.1, localhost and "
		"this hostname).\n"
		"  --conf-dir PATH: where nats-auth.conf will find nats.pem, "
		"nats.key and\n"
		"  ca.pem on the NATS host (default: DIR).\n");
}

int cmd_init(int argc, char **argv)
{
	static const struct option lo[] = {
		{"dir", required_argument, NULL, 'd'},
		{"workers", required_argument, NULL, 'w'},
		{"host", required_argument, NULL, 'H'},
		{"conf-dir", required_argument, NULL, 'C'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char dir[PATH_MAX - 64], probe[PATH_MAX], hosts[1024] = "";
	const char *d = NULL;
	int c, workers = 8, force = 0, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			d = optarg;
			break;
		case 'w': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > CLI_INIT_MAX_WORKERS) {
				fprintf(stderr,
					"sukima init: --workers wants 1..%d\n",
					CLI_INIT_MAX_WORKERS);
				return 2;
			}
			workers = (int)v;
			break;
		}
		case 'H':
			if (strlen(hosts) + strlen(optarg) + 2 >
				    sizeof(hosts) ||
			    strpbrk(optarg, ", \"\\")) {
				fprintf(stderr, "sukima init: bad --host %s\n",
					optarg);
				return 2;
			}
			if (hosts[0])
				strcat(hosts, ",");
			strcat(hosts, optarg);
			break;
		case 'f':
			force = 1;
			break;
		case 'C':
			if (optarg[0] != '/' || strpbrk(optarg, "\"\\\n")) {
				fprintf(stderr,
					"sukima init: --conf-dir wants an "
					"absolute path\n");
				return 2;
			}
			conf_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sukima init: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (d)
		snprintf(dir, sizeof(dir), "%s", d);
	else if (cli_init_default_dir(dir, sizeof(dir))) {
		fprintf(stderr, "sukima init: data dir path too long\n");
		return 1;
	}
	if (dir[0] != '/') {
		char cwd[PATH_MAX / 2];
		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(probe, sizeof(probe), "%s/%s", cwd, dir) >=
			    (int)sizeof(dir)) {
			fprintf(stderr, "sukima init: path too long\n");
			return 1;
		}
		memcpy(dir, probe, strlen(probe) + 1);
	}
	snprintf(probe, sizeof(probe), "%s/ca.key", dir);
	if (!force && access(probe, F_OK) == 0) {
		fprintf(stderr,
			"sukima init: %s already holds secrets (--force "
			"replaces them all: every credential and token "
			"changes)\n",
			dir);
		return 1;
	}
	rc = sk_mkdir_p(dir, 0700);
	if (rc) {
		fprintf(stderr, "sukima init: cannot create %s: %s\n", dir,
			strerror(-rc));
		return 1;
	}
	rc = cli_init_secrets(dir, workers, hosts[0] ? hosts : NULL, 0);
	if (rc) {
		fprintf(stderr, "sukima init: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
