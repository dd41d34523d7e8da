/* sk_pull.c: pull requests on a subscription we own (cnats' Fetch is avoided). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sk_log.h"
#include "common/sk_pull.h"
#include "common/sk_util.h"

/* After its expiry a request is forgotten this much later (lost status). */
#define PULL_GRACE_MS 1000

struct sk_pull {
	struct sk_nats *n;
	natsSubscription *sub;
	char inbox[128];     /* <n->inbox>.<id>.* */
	char reply[128];     /* <n->inbox>.<id>.p : pull deliveries */
	char wake[128];	     /* <n->inbox>.<id>.w : wake-ups */
	char next_subj[192]; /* $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> */
	int left;	     /* messages still expected */
	int last_status;     /* status that ended the last request */
	int64_t deadline;    /* monotonic ms when the request is forgotten */
};

int sk_pull_open(struct sk_nats *n, const char *stream, const char *consumer,
		 struct sk_pull **out)
{
	struct sk_pull *p = calloc(1, sizeof(*p));
	char id[SK_ID_LEN + 1];
	natsStatus s;

	if (!p)
		return -ENOMEM;
	sk_new_id(id);
	p->n = n;
	snprintf(p->inbox, sizeof(p->inbox), "%s.%s.*", n->inbox, id);
	snprintf(p->reply, sizeof(p->reply), "%s.%s.p", n->inbox, id);
	snprintf(p->wake, sizeof(p->wake), "%s.%s.w", n->inbox, id);
	if (snprintf(p->next_subj, sizeof(p->next_subj),
		     "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream,
		     consumer) >= (int)sizeof(p->next_subj)) {
		free(p);
		return -EINVAL;
	}
	s = natsConnection_SubscribeSync(&p->sub, n->nc, p->inbox);
	if (s != NATS_OK) {
		free(p);
		return sk_nats_errno(s);
	}
	/* Bounded queue: a batch is at most the slots of one worker. */
	natsSubscription_SetPendingLimits(p->sub, 65536, 512 * 1024 * 1024);
	*out = p;
	return 0;
}

int sk_pull_request(struct sk_pull *p, int batch, int64_t expires_ms)
{
	char req[96];
	natsStatus s;

	if (p->left > 0 && sk_mono_ms() < p->deadline)
		return -EBUSY;
	if (batch < 1 || expires_ms < 1)
		return -EINVAL;
	snprintf(req, sizeof(req), "{\"batch\":%d,\"expires\":%lld}", batch,
		 (long long)expires_ms * 1000000LL);
	s = natsConnection_PublishRequestString(p->n->nc, p->next_subj,
						p->reply, req);
	if (s != NATS_OK) {
		p->left = 0;
		return sk_nats_errno(s);
	}
	p->left = batch;
	p->last_status = 0;
	p->deadline = sk_mono_ms() + expires_ms + PULL_GRACE_MS;
	return 0;
}

int sk_pull_outstanding(struct sk_pull *p)
{
	if (p->left > 0 && sk_mono_ms() >= p->deadline) {
		p->left = 0;
		p->last_status = -1; /* no answer at all: lost */
	}
	return p->left;
}

int sk_pull__status(natsMsg *m)
{
	const char *status = NULL;
	int code = 0;

	/* A status message has no body and a 3-digit Status header. */
	if (natsMsg_GetDataLength(m) != 0 ||
	    natsMsgHeader_Get(m, "Status", &status) != NATS_OK || !status)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (status[i] < '0' || status[i] > '9')
			return 0;
		code = code * 10 + (status[i] - '0');
	}
	return status[3] == '\0' ? code : 0;
}

int sk_pull_next(struct sk_pull *p, int64_t timeout_ms, natsMsg **msg)
{
	const char *subj;
	natsMsg *m = NULL;
	natsStatus s;
	int code;

	*msg = NULL;
	if (timeout_ms < 1)
		timeout_ms = 1;
	s = natsSubscription_NextMsg(&m, p->sub, timeout_ms);
	if (s == NATS_TIMEOUT) {
		if (p->left > 0 && sk_mono_ms() >= p->deadline) {
			p->left = 0;
			p->last_status = -1; /* no answer at all: lost */
			return SK_PULL_DONE;
		}
		return SK_PULL_TIMEOUT;
	}
	if (s == NATS_SLOW_CONSUMER)
		return SK_PULL_TIMEOUT; /* dropped ones get redelivered */
	if (s != NATS_OK)
		return sk_nats_errno(s);
	subj = natsMsg_GetSubject(m);
	if (subj && strcmp(subj, p->wake) == 0) {
		sk_msg_free(m);
		return SK_PULL_WAKE;
	}
	code = sk_pull__status(m);
	if (code >= 0) {
		sk_msg_free(m);
		if (code == 100)
			return SK_PULL_TIMEOUT; /* idle heartbeat */
		if (code == 409)
			sk_debug("pull: request ended with status 409");
		/* 404 no messages, 408 expired, 409 limits/leadership. */
		p->left = 0;
		p->last_status = code;
		return SK_PULL_DONE;
	}
	if (p->left > 0)
		p->left--;
	*msg = m;
	return SK_PULL_MSG;
}

int sk_pull_last_status(struct sk_pull *p)
{
	return p->last_status;
}

void sk_pull_wake(struct sk_pull *p)
{
	natsConnection_Publish(p->n->nc, p->wake, "", 0);
}

void sk_pull_close(struct sk_pull *p)
{
	if (!p)
		return;
	natsSubscription_Unsubscribe(p->sub);
	natsSubscription_Destroy(p->sub);
	free(p);
}

static const char *const ack_body[] = {
	[SK_ACK_ACK] = "+ACK",
	[SK_ACK_NAK] = "-NAK",
	[SK_ACK_WPI] = "+WPI",
	[SK_ACK_TERM] = "+TERM",
};

int sk_js_ack_in(struct sk_nats *n, struct sk_inbox *ib,
		 const char *ack_subject, enum sk_ack kind)
{
	natsMsg *r = NULL;
	int rc;

	if (!ack_subject || strncmp(ack_subject, "$JS.ACK.", 8) != 0 ||
	    (unsigned)kind > SK_ACK_TERM)
		return -EINVAL;
	rc = sk_inbox_request(n, ib, ack_subject, NULL, ack_body[kind],
			      strlen(ack_body[kind]), 2000, &r);
	sk_msg_free(r);
	return rc;
}

int sk_js_ack(struct sk_nats *n, const char *ack_subject, enum sk_ack kind,
	      bool sync)
{
	natsMsg *r = NULL;
	natsStatus s;

	if (!ack_subject || strncmp(ack_subject, "$JS.ACK.", 8) != 0 ||
	    (unsigned)kind > SK_ACK_TERM)
		return -EINVAL;
	if (!sync)
		return sk_nats_errno(natsConnection_PublishString(
			n->nc, ack_subject, ack_body[kind]));
	/* The server answers an ack that has a reply subject: AckSync. */
	s = natsConnection_RequestString(&r, n->nc, ack_subject, ack_body[kind],
					 2000);
	natsMsg_Destroy(r);
	return sk_nats_errno(s);
}
