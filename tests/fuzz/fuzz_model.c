/* fuzz_model.c: libFuzzer driver for the cloud's JSON documents (sk_model.c: function, call, result, record, worker). */
/* FUZZ_SOURCES: src/common/sk_model.c src/common/sk_util.c -ljansson -lcrypto */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks the document, the rest is the JSON: every one of
 * them is read from NATS, where a stolen worker credential can write.  What
 * a parser accepts must serialize and parse again (the worker and gateway
 * re-serialize what they read), so each accepted input is round-tripped.
 */
#define ROUND_TRIP(type, v, parse, json, fr)                            \
	do {                                                            \
		type again;                                             \
		char *s = json(&v);                                     \
		if (!s)                                                 \
			break;                                          \
		if (parse(&again, s, strlen(s), err, sizeof(err)) != 0) \
			__builtin_trap();                               \
		fr(&again);                                             \
		free(s);                                                \
	} while (0)

static void worker_free(struct sk_worker *w)
{
	(void)w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *js = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	char err[256];

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: {
		struct sk_function f;

		if (sk_function_parse(&f, js, len, err, sizeof(err)) == 0)
			ROUND_TRIP(struct sk_function, f, sk_function_parse,
				   sk_function_json, sk_function_free);
		sk_function_free(&f);
		break;
	}
	case 1: {
		struct sk_call c;

		if (sk_call_parse(&c, js, len, err, sizeof(err)) == 0)
			ROUND_TRIP(struct sk_call, c, sk_call_parse,
				   sk_call_json, sk_call_free);
		sk_call_free(&c);
		break;
	}
	case 2: {
		struct sk_result r;

		if (sk_result_parse(&r, js, len, err, sizeof(err)) == 0)
			ROUND_TRIP(struct sk_result, r, sk_result_parse,
				   sk_result_json, sk_result_free);
		sk_result_free(&r);
		break;
	}
	case 3: {
		struct sk_callrec c;

		if (sk_callrec_parse(&c, js, len, err, sizeof(err)) == 0)
			ROUND_TRIP(struct sk_callrec, c, sk_callrec_parse,
				   sk_callrec_json, sk_callrec_free);
		sk_callrec_free(&c);
		break;
	}
	default: {
		struct sk_worker w;

		if (sk_worker_parse(&w, js, len, err, sizeof(err)) == 0)
			ROUND_TRIP(struct sk_worker, w, sk_worker_parse,
				   sk_worker_json, worker_free);
		break;
	}
	}
	return 0;
}
