/* sk_pull.h: pull requests on a subscription we own (cnats' Fetch is avoided). */
#ifndef SUKIMA_SK_PULL_H
#define SUKIMA_SK_PULL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/sk_nats.h"

/*
 * Why not js_PullSubscribe + natsSubscription_Fetch: in cnats 3.4.1 Fetch
 * can ignore its timeout and `_fetch` has a heap overflow (see
 * docs/architecture.md, "Living with cnats 3.4.1").  Instead, one plain
 * synchronous subscription on a private inbox receives the messages of the
 * pull requests we publish to $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>.
 * At most one pull request is outstanding; its end is detected from the
 * server's status messages (404/408/409) or, if those are lost (a
 * reconnect), from its own deadline.  Messages of a request we already
 * gave up on can still arrive: callers must cope with more messages than
 * they asked for (hand them back with SK_ACK_NAK).
 *
 * One thread at a time drives an sk_pull (sk_pull_request, sk_pull_next,
 * sk_pull_outstanding; the worker's slots take turns, under their lock);
 * sk_pull_wake may be called from any thread.
 */
struct sk_pull;

/*
 * Subscribe a private inbox for (stream, consumer).  The subscription lives
 * until sk_pull_close().  Returns 0 or -errno.
 */
int sk_pull_open(struct sk_nats *n, const char *stream, const char *consumer,
		 struct sk_pull **out);

/*
 * Ask for up to (batch) messages, the server holding the request open for
 * (expires_ms).  Returns 0, -EBUSY when a request is still outstanding, or
 * -errno from the publish.
 */
int sk_pull_request(struct sk_pull *p, int batch, int64_t expires_ms);

/* Messages still expected from the outstanding request (0: none). */
int sk_pull_outstanding(struct sk_pull *p);

enum sk_pull_event {
	SK_PULL_MSG = 0, /* (*msg) is a work message: caller owns it */
	SK_PULL_TIMEOUT, /* nothing within (timeout_ms) */
	SK_PULL_WAKE,	 /* sk_pull_wake() was called */
	SK_PULL_DONE,	 /* the outstanding request ended (expired, 409...) */
};

/*
 * Wait up to (timeout_ms) for the next event.  Returns an sk_pull_event
 * (>= 0) or -errno (-ENOTCONN when the connection is closed).
 */
int sk_pull_next(struct sk_pull *p, int64_t timeout_ms, natsMsg **msg);

/*
 * Status code that ended the last request (408 expired, 409 limits or
 * leadership, 503 no responders; 0 when its batch was filled; -1 when it
 * ended by its own deadline without any answer: lost in a reconnect, or
 * the consumer is gone, since JetStream then stays silent).  After a 409 the
 * caller should pause before asking again: the server would refuse a
 * tight loop of requests the same way.
 */
int sk_pull_last_status(struct sk_pull *p);

/*
 * Internal, for the fuzz driver: the status code of a server status
 * message (no body, header Status), 0 when its Status header is not three
 * digits (treated as an end of the request), -1 for a message with data.
 */
int sk_pull__status(natsMsg *m);

/* Make a blocked sk_pull_next() return SK_PULL_WAKE soon (thread-safe). */
void sk_pull_wake(struct sk_pull *p);

/*
 * Unsubscribe and free.  Call only when no request is outstanding (or its
 * deadline passed) so no message races the subscription's destruction.
 */
void sk_pull_close(struct sk_pull *p);

/* Acknowledgements of a JetStream message, by its reply subject. */
enum sk_ack {
	SK_ACK_ACK = 0, /* +ACK: done, remove from the work queue */
	SK_ACK_NAK,	/* -NAK: hand back for immediate redelivery */
	SK_ACK_WPI,	/* +WPI: still working, restart the AckWait */
	SK_ACK_TERM,	/* +TERM: never redeliver */
};

/*
 * Send (kind) for the message whose reply subject is (ack_subject).  With
 * (sync) wait up to 2 s for the server's confirmation (the AckSync of the
 * final ack).  Returns 0, -ETIMEDOUT, -ENOTCONN or -EINVAL.
 */
int sk_js_ack(struct sk_nats *n, const char *ack_subject, enum sk_ack kind,
	      bool sync);
/* The synchronous form of sk_js_ack with its round trip through (ib). */
int sk_js_ack_in(struct sk_nats *n, struct sk_inbox *ib,
		 const char *ack_subject, enum sk_ack kind);

#endif
