/* fuzz_natsproto.c: libFuzzer driver for what we parse of the NATS protocol (ack subjects, pull status messages). */
/* FUZZ_SOURCES: src/common/sk_*.c -lnats -ljansson -lssl -lcrypto -lsodium -lcrypt */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_nats.h"
#include "common/sk_pull.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Byte 0 picks the parser.  Ack subjects come from the server on every
 * work message; a status message's Status header ends a pull request.
 * For the status message, byte 1 splits the rest into header value and
 * body.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t delivered, sseq;
	int64_t ts;
	natsMsg *m = NULL;
	char *s;
	size_t split;
	int code;

	static int opened;

	if (!opened) /* cnats' messages need its library state */
		opened = nats_Open(-1) == NATS_OK;
	if (size < 2)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1) {
		if (sk_js_ack_meta(s, &delivered, &sseq, &ts) == 0 &&
		    strncmp(s, "$JS.ACK.", 8) != 0)
			__builtin_trap();
		free(s);
		return 0;
	}
	split = 2 + data[1] % (size - 1); /* 2..size */
	/* Header value: bytes 2..split (a C string), body: the rest. */
	memcpy(s, data + 2, split - 2);
	s[split - 2] = '\0';
	if (natsMsg_Create(&m, "_INBOX.x.p", NULL, (const char *)data + split,
			   (int)(size - split)) == NATS_OK &&
	    natsMsgHeader_Set(m, "Status", s) == NATS_OK) {
		code = sk_pull__status(m);
		if (code > 999 || (code >= 0 && size != split))
			__builtin_trap();
	}
	natsMsg_Destroy(m);
	free(s);
	return 0;
}
