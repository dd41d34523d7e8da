/* fuzz_objmeta.c: libFuzzer driver for the object store's metadata parser (sk_objstore.c). */
/* FUZZ_SOURCES: src/common/sk_*.c -lnats -ljansson -lssl -lcrypto -lsodium -lcrypt */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_objstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Object metadata is read from NATS before any chunk: whoever can publish
 * on $O.sk_artifacts.M.* controls it.  Accepted metadata must serialize
 * and parse again to the same size, chunk count and digest.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_obj_info a, b;
	char err[256], subj[512];
	char *s;

	if (sk_obj_meta_parse(&a, (const char *)data, size, err, sizeof(err)) !=
	    0)
		return 0;
	sk_obj_meta_subject(subj, sizeof(subj), "sk_artifacts", a.name);
	if (a.deleted)
		return 0;
	s = sk_obj_meta_json(&a);
	if (!s)
		return 0;
	if (sk_obj_meta_parse(&b, s, strlen(s), err, sizeof(err)) != 0 ||
	    b.size != a.size || b.chunks != a.chunks ||
	    memcmp(a.sha256, b.sha256, 32) != 0)
		__builtin_trap();
	free(s);
	return 0;
}
