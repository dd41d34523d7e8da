/* sk_vote.h: the votes of a redundant call in sk_results (<id>.<worker id>) and their majority. */
#ifndef SUKIMA_SK_VOTE_H
#define SUKIMA_SK_VOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/sk_model.h"
#include "common/sk_nats.h"

#define SK_VOTES_MAX 8 /* votes read per call (more: a forger's noise) */

/* Equal outcomes: status, exit code and stdout bytes. */
int sk_vote_same(const struct sk_result *a, const struct sk_result *b);

/* Index in (v) of an outcome shared by at least (n)/2 + 1 of the (nv)
 * votes, or -1.  A worker has one vote: only its first in (v) counts. */
int sk_vote_majority(const struct sk_result *v, size_t nv, uint32_t n);

/*
 * Read the votes stored for call (id): keys <id>.*, each parsed, its "id"
 * the call's and its "worker" the key's own; others are skipped with a
 * warning.  At most SK_VOTES_MAX into (v) (caller frees each with
 * sk_result_free).  0 or -errno.
 */
int sk_vote_read(struct sk_nats *n, const char *id, struct sk_result *v,
		 size_t *count);

#endif
