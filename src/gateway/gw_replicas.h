/* gw_replicas.h: publishing a call's work: one message, or one per replica of a redundant function. */
#ifndef SUKIMA_GW_REPLICAS_H
#define SUKIMA_GW_REPLICAS_H

#include <stddef.h>
#include <stdint.h>

#include "common/sk_model.h"
#include "gateway/gw.h"

/*
 * Publish call (id) whose Sk-Call JSON is (sk_call).  (replicas) <= 1:
 * one message, Nats-Msg-Id (id).  2..3: one message per replica k, with
 * Nats-Msg-Id "<id>.r<k>" and "replicas"/"replica" added to its Sk-Call,
 * so distinct workers can serve them (wk_replica.h has the vote).
 * (async_pub) picks gw_publish_work_async (sync calls) over the acked
 * gw_publish_work.  Returns 0 or -errno (some replicas may be queued).
 */
int gw_publish_call(struct gw *g, const char *arch, const char *id,
		    const char *sk_call, uint32_t replicas, const void *body,
		    size_t len, int async_pub);

/*
 * Is (final), the committed result of a call run on (replicas) workers,
 * what its stored votes say?  A worker credential can write a final
 * result directly; this is the gateway's own count (sk_vote.h).  Returns
 * 0, or -EPERM (or -errno when the votes cannot be read) with one line in
 * (why).
 */
int gw_replicas_check(struct gw *g, const struct sk_result *final,
		      uint32_t replicas, char *why, size_t whylen);

/*
 * The same for a result JSON read back (a record, a completion event):
 * checked when it says "votes" or the function's version that ran has
 * replicas > 1.  0 (not redundant, or backed), or -errno with (why).
 */
int gw_replicas_suspect(struct gw *g, const char *json, size_t len, char *why,
			size_t whylen);

#endif
