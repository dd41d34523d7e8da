/* wk_replica.h: redundant execution: distinct workers per call, the majority vote, disputed calls. */
#ifndef SUKIMA_WK_REPLICA_H
#define SUKIMA_WK_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "common/sk_model.h"
#include "common/sk_nats.h"

/*
 * Protocol (docs/architecture.md, "Redundant execution"): the gateway
 * publishes one work message per replica (Nats-Msg-Id <id>.r<k>, Sk-Call
 * "replicas":n, "replica":k).  A worker stores its outcome create-only
 * in sk_results under <id>.<worker id>, so one worker holds at most one
 * vote per call, then counts the votes under <id>.*: a majority (n/2 + 1)
 * agreeing byte for byte on (status, exit code, stdout) becomes the final
 * result <id> (create-only: whoever sees the majority first commits it);
 * n votes without a majority end the call as "disputed" with every
 * outcome recorded.
 */

/* sk_results key of (worker)'s vote on call (id) into (out). */
int wk_replica_key(char *out, size_t cap, const char *id, const char *worker);

/*
 * Remember that this worker serves call (id) (an in-memory set of the
 * last calls, bounded).  Returns 0, or -EALREADY when it served or is
 * serving another replica of (id): hand that one to another worker.
 */
int wk_replica_claim(const char *id, uint32_t replica);

/*
 * Count one more delivery of replica (replica) of call (id) that this
 * worker does not run (it hands it back or ends the count); call after
 * wk_replica_claim.  Returns how many it has seen, this one included, or
 * 0 when (id) is no longer remembered.  The delivery count in the ack
 * subject is not enough: nats-server 2.9 loses a pull request that
 * expires just as a -NAK delay ends (no 408, no message) and then sends
 * the message again saying "delivery 1" while it counts it as the next
 * delivery; a worker that believed it would -NAK the last delivery, which
 * the server never sends again, and nobody would end the count.  This
 * worker saw at least this many deliveries, so the real count is not
 * lower.
 */
uint32_t wk_replica_bounce(const char *id, uint32_t replica);

/*
 * Store (r) as (worker)'s vote on (c) (create-only; an earlier vote of
 * ours stays), then count.  (force) (the replica's last delivery, when no
 * distinct worker took it) ends a vote without a majority as failed
 * instead of waiting for more.  When this call decides, the final result
 * was committed create-only by us: (*final) is set (caller frees with
 * sk_result_free) and (*json) is its JSON (malloc'd) and 0 is returned.
 * Returns 1 when nothing is for us to publish (no decision yet, or
 * another worker decided), -errno when the vote could not be stored.
 */
int wk_replica_vote(struct sk_nats *n, const struct sk_call *c,
		    const struct sk_result *r, int force,
		    struct sk_result *final, char **json);

/* The agreement key of a vote: equal outcomes compare equal. */
int wk_replica_same(const struct sk_result *a, const struct sk_result *b);

#endif
