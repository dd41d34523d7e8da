/* sk_model.h: the cloud's JSON documents (function, call, result, invocation record, worker). */
#ifndef SUKIMA_SK_MODEL_H
#define SUKIMA_SK_MODEL_H

#include <stddef.h>
#include <stdint.h>

/*
 * The shapes are documented in docs/architecture.md ("Cloud data model").
 * Every parser takes untrusted bytes (anything read from NATS or HTTP),
 * validates every field, fills (err) (may be NULL) with one line saying
 * what is wrong, and returns 0 or -EINVAL (-ENOMEM on allocation failure).
 * A parsed struct owns its heap strings: release it with the matching
 * _free(), which also accepts a zeroed or half-filled struct.  Unknown
 * members are ignored (newer writers may add fields).  Serializers return
 * a malloc'd NUL-terminated compact JSON string, or NULL on ENOMEM.
 */

#define SK_NAME_MAX	  63	/* function name: a DNS label */
#define SK_ID_MAX	  64	/* invocation / worker ids: [A-Za-z0-9_-] */
#define SK_ARCH_MAX	  15	/* "x86_64", "aarch64" */
#define SK_ARGV_MAX	  256	/* argv entries */
#define SK_ARGV0_MAX	  64	/* program name a function sees as argv[0] */
#define SK_ARG_MAX	  4096	/* bytes per argv entry */
#define SK_ENV_MAX	  512	/* env entries */
#define SK_ENV_KEY_MAX	  256	/* bytes per env name */
#define SK_ENV_VAL_MAX	  8192	/* bytes per env value */
#define SK_SUBJECT_MAX	  255	/* reply subjects */
#define SK_URL_MAX	  2048	/* callback URLs */
#define SK_REASON_MAX	  512	/* one-line reasons */
#define SK_STDERR_MAX	  4096	/* stderr tail kept in results */
#define SK_MEM_MIB_MAX	  65536 /* 64 GiB guest memory */
#define SK_TIMEOUT_MS_MAX (24 * 3600 * 1000)
#define SK_OUTPUT_MAX	  (64ULL << 20)
#define SK_REPLICAS_MAX	  3 /* redundant execution: 1..3 workers per call */

/* Defaults a deploy gets when it does not say. */
#define SK_DEF_MEM_MIB	  64
#define SK_DEF_TIMEOUT_MS 10000
#define SK_DEF_MAX_OUTPUT (1ULL << 20)
#define SK_DEF_ARCH	  "x86_64"

/* Lifecycle of an invocation (sk_calls.status, sk_results.status). */
enum sk_status {
	SK_ST_QUEUED = 0,
	SK_ST_RUNNING,
	SK_ST_SUCCEEDED,
	SK_ST_FAILED,
	SK_ST_TIMED_OUT,
	SK_ST_CANCELLED,
	SK_ST_DISPUTED, /* replicas disagreed: no majority (issue 8) */
};

/* "queued", "running", "succeeded", "failed", "timed_out", "cancelled",
 * "disputed". */
const char *sk_status_name(enum sk_status s);
/* Returns 0 and sets (*s), or -EINVAL for an unknown name. */
int sk_status_parse(const char *name, enum sk_status *s);
/* True for succeeded, failed, timed_out, cancelled and disputed. */
int sk_status_final(enum sk_status s);

/* A vector of strings; env entries are stored as "KEY=VALUE". */
struct sk_strv {
	size_t n;
	char **v;
};
void sk_strv_free(struct sk_strv *sv);
/* Append a copy of (s); returns 0 or -ENOMEM. */
int sk_strv_push(struct sk_strv *sv, const char *s);

/* Validators (1 = valid). */
int sk_valid_name(const char *s); /* DNS label: [a-z0-9-]{1,63}, no edge '-' */
int sk_valid_id(const char *s);	  /* [A-Za-z0-9_-]{1,64} */
int sk_valid_arch(const char *s); /* [a-z0-9_]{1,15} */
int sk_valid_env_key(const char *s); /* [A-Za-z_][A-Za-z0-9_]* up to 256 */
int sk_valid_argv0(const char *s);   /* [A-Za-z0-9._+-]{1,64}, not . or .. */

/* Function registry entry (sk_functions, key = name). */
struct sk_function {
	char name[SK_NAME_MAX + 1];
	uint64_t version; /* bumped by each deploy of the name */
	char digest[65];  /* lowercase hex SHA-256 of the ELF */
	char arch[SK_ARCH_MAX + 1];
	uint64_t size; /* ELF bytes */
	uint32_t mem_mib;
	uint32_t timeout_ms;
	uint64_t max_output;
	struct sk_strv argv;	      /* extra arguments after the ELF */
	struct sk_strv env;	      /* "KEY=VALUE" */
	char argv0[SK_ARGV0_MAX + 1]; /* "" = run under its digest */
	uint32_t replicas;
	char created[40]; /* RFC 3339, may be empty */
	char sig[129];	 /* Ed25519 signature, hex, "" = unsigned (sk_sign.h) */
	char signer[65]; /* its public key, hex */
};
/* Fill (f) with the defaults above (name, digest empty). */
void sk_function_init(struct sk_function *f);
int sk_function_parse(struct sk_function *f, const char *json, size_t len,
		      char *err, size_t errlen);
char *sk_function_json(const struct sk_function *f);
void sk_function_free(struct sk_function *f);

/*
 * The Sk-Call header of a work message: the whole spec of one invocation,
 * copied from the function at enqueue time (so a redeploy does not change
 * an invocation in flight).
 */
struct sk_call {
	char id[SK_ID_MAX + 1];
	char function[SK_NAME_MAX + 1];
	uint64_t version;
	char digest[65];
	uint32_t mem_mib;
	uint32_t timeout_ms;
	uint64_t max_output;
	struct sk_strv argv;
	struct sk_strv env; /* "KEY=VALUE", includes the Http_* variables */
	char argv0[SK_ARGV0_MAX + 1]; /* "" = run under its digest */
	char *reply;	/* subject for the sync reply, "" for async */
	char *callback; /* X-Callback-Url, "" when none */
	int64_t queued_at_us;
	char sig[129];	   /* the function's signature, "" = unsigned */
	char signer[65];   /* its public key, hex */
	uint32_t replicas; /* 0/1: plain call; 2..3: redundant (replica 1..n) */
	uint32_t replica;
};
int sk_call_parse(struct sk_call *c, const char *json, size_t len, char *err,
		  size_t errlen);
char *sk_call_json(const struct sk_call *c);
void sk_call_free(struct sk_call *c);
/* Copy the function's spec into (c) (id, reply, callback, replica
 * untouched; replicas copied). */
int sk_call_from_function(struct sk_call *c, const struct sk_function *f);

/* Outcome of one invocation (sk_results, the sync reply, sk.done.<id>). */
struct sk_result {
	char id[SK_ID_MAX + 1];
	char function[SK_NAME_MAX + 1];
	uint64_t version;
	char worker[SK_ID_MAX + 1];
	uint32_t attempt;
	enum sk_status status; /* succeeded, failed or timed_out */
	int exit_code;	       /* the monitor's exit status, -1 if none */
	char *reason;	       /* one line, "" on success */
	unsigned char *output; /* stdout bytes (output_b64 on the wire) */
	size_t output_len;
	char *stderr_tail; /* last SK_STDERR_MAX bytes of stderr, UTF-8 safe */
	int64_t queued_at_us;
	int64_t started_at_us;
	int64_t ended_at_us;
};
int sk_result_parse(struct sk_result *r, const char *json, size_t len,
		    char *err, size_t errlen);
char *sk_result_json(const struct sk_result *r);
void sk_result_free(struct sk_result *r);

/*
 * Invocation record (sk_calls, key = id); protocol in docs/architecture.md.
 * The gateway creates it (queued) for async calls; a worker creates it
 * (sync calls) or moves it to running, then to the final status; a cancel
 * moves a queued one to cancelled.  Writers use sk_kv_create() /
 * sk_kv_update() with the revision they read, so exactly one wins.
 * Members after "callback" are optional extras (absent = zero).
 */
struct sk_callrec {
	char id[SK_ID_MAX + 1];
	char function[SK_NAME_MAX + 1];
	uint64_t version;
	enum sk_status status;
	uint32_t attempts;	    /* deliveries that started running */
	char worker[SK_ID_MAX + 1]; /* the latest worker, "" if none */
	struct sk_strv workers;	    /* every worker that started an attempt */
	char *callback;		    /* X-Callback-Url or "" */
	char *reason;		    /* one line, may be empty */
	int async;
	uint32_t duplicates; /* late results dropped (first one won) */
	int64_t queued_at_us;
	int64_t started_at_us;
	int64_t ended_at_us;
};
int sk_callrec_parse(struct sk_callrec *c, const char *json, size_t len,
		     char *err, size_t errlen);
char *sk_callrec_json(const struct sk_callrec *c);
void sk_callrec_free(struct sk_callrec *c);

/* Membership entry (sk_workers, key = worker id). */
struct sk_worker {
	char id[SK_ID_MAX + 1];
	char name[SK_NAME_MAX + 1];
	char hostname[256];
	char os[64];
	char arch[SK_ARCH_MAX + 1];
	char flavour[8]; /* pvm, vmx, svm, none */
	uint32_t slots;
	uint32_t busy;
	uint64_t mem_mib;
	char state[16]; /* idle, owner, suspended, vacating, draining */
	double load;	/* 1-minute load average */
	char version[32];
	int64_t seen_us;
	uint64_t done;	     /* invocations completed by this worker */
	uint64_t duplicates; /* our results dropped because another won */
};
int sk_worker_parse(struct sk_worker *w, const char *json, size_t len,
		    char *err, size_t errlen);
char *sk_worker_json(const struct sk_worker *w);

#endif
