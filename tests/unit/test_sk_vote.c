/* test_sk_vote.c: unit tests of the replicas' vote count (sk_vote_same, sk_vote_majority): majority, ties, disputes, failed votes, a worker's repeated vote, bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/common/sk_log.c"
#include "../../src/common/sk_model.c"
#include "../../src/common/sk_nats.c"
#include "../../src/common/sk_objstore.c"
#include "../../src/common/sk_tls.c"
#include "../../src/common/sk_util.c"
#include "../../src/common/sk_vote.c"

/* A vote of (worker): (status), (code), stdout (out); NULL out: none. */
static struct sk_result vote(const char *worker, enum sk_status status,
			     int code, const char *out)
{
	struct sk_result r;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "call1");
	snprintf(r.worker, sizeof(r.worker), "%s", worker);
	r.status = status;
	r.exit_code = code;
	r.output = (unsigned char *)out;
	r.output_len = out ? strlen(out) : 0;
	r.reason = (char *)"";
	return r;
}

#define OK(w, out) vote(w, SK_ST_SUCCEEDED, 0, out)

static void test_same(void **state)
{
	struct sk_result a = OK("w1", "42\n"), b = OK("w2", "42\n");

	(void)state;
	/* The worker, timings and reason do not take part. */
	b.reason = (char *)"something else";
	b.started_at_us = 7;
	assert_true(sk_vote_same(&a, &b));
	/* Each of status, exit code and stdout bytes does. */
	b = OK("w2", "43\n");
	assert_false(sk_vote_same(&a, &b));
	b = OK("w2", "42");
	assert_false(sk_vote_same(&a, &b));
	b = vote("w2", SK_ST_FAILED, 0, "42\n");
	assert_false(sk_vote_same(&a, &b));
	b = vote("w2", SK_ST_SUCCEEDED, 1, "42\n");
	assert_false(sk_vote_same(&a, &b));
	/* Empty outputs agree whether the buffer is NULL or not. */
	a = OK("w1", NULL);
	b = OK("w2", "");
	assert_true(sk_vote_same(&a, &b));
	/* Output is bytes: what follows a NUL counts. */
	a.output = (unsigned char *)"a\0c";
	b.output = (unsigned char *)"a\0d";
	a.output_len = b.output_len = 3;
	assert_false(sk_vote_same(&a, &b));
	b.output = (unsigned char *)"a\0c";
	assert_true(sk_vote_same(&a, &b));
}

static void test_majority(void **state)
{
	struct sk_result v[3] = {OK("w1", "x"), OK("w2", "x"), OK("w3", "x")};

	(void)state;
	/* n = 3 needs 2 equal votes; n = 2 needs both. */
	assert_int_equal(sk_vote_majority(v, 3, 3), 0);
	assert_int_equal(sk_vote_majority(v, 2, 3), 0);
	assert_int_equal(sk_vote_majority(v, 1, 3), -1); /* not yet */
	assert_int_equal(sk_vote_majority(v, 2, 2), 0);
	assert_int_equal(sk_vote_majority(v, 1, 2), -1);
	/* A liar first is outvoted: the index is one of the majority's. */
	v[0] = OK("liar", "forged");
	assert_int_equal(sk_vote_majority(v, 3, 3), 1);
	v[0] = OK("w1", "x");
	v[2] = OK("liar", "forged");
	assert_int_equal(sk_vote_majority(v, 3, 3), 0);
	/* Under n = 2 one liar leaves no majority (detected, not outvoted). */
	v[1] = OK("liar", "forged");
	assert_int_equal(sk_vote_majority(v, 2, 2), -1);
}

static void test_ties_and_disputes(void **state)
{
	struct sk_result v[4] = {OK("w1", "a"), OK("w2", "b"), OK("w3", "c"),
				 OK("w4", "b")};

	(void)state;
	/* Three different outputs of three: disputed. */
	assert_int_equal(sk_vote_majority(v, 3, 3), -1);
	/* One each of two: a tie is no majority. */
	assert_int_equal(sk_vote_majority(v, 2, 2), -1);
	/* Two against two (n = 4 needs 3): still a tie. */
	v[2] = OK("w3", "a");
	assert_int_equal(sk_vote_majority(v, 4, 4), -1);
	/* A third "b" decides n = 4 (3 of 4). */
	v[2] = OK("w3", "b");
	assert_int_equal(sk_vote_majority(v, 4, 4), 1);
}

static void test_failed_votes(void **state)
{
	struct sk_result v[3] = {
		vote("w1", SK_ST_FAILED, 1, NULL),
		vote("w2", SK_ST_FAILED, 1, NULL),
		OK("w3", "x"),
	};

	(void)state;
	/* Failing the same way is an outcome like any other: it wins. */
	assert_int_equal(sk_vote_majority(v, 3, 3), 0);
	/* Failing with different exit codes does not agree. */
	v[1].exit_code = 2;
	assert_int_equal(sk_vote_majority(v, 3, 3), -1);
	/* A timeout is not a failure with the same code. */
	v[1] = vote("w2", SK_ST_TIMED_OUT, 1, NULL);
	assert_int_equal(sk_vote_majority(v, 3, 3), -1);
	v[1] = vote("w2", SK_ST_TIMED_OUT, -1, NULL);
	v[2] = vote("w3", SK_ST_TIMED_OUT, -1, NULL);
	assert_int_equal(sk_vote_majority(v, 3, 3), 1);
}

static void test_one_worker_one_vote(void **state)
{
	struct sk_result v[4] = {OK("liar", "forged"), OK("liar", "forged"),
				 OK("w2", "x"), OK("w3", "y")};

	(void)state;
	/* The same worker twice counts once: no majority of 3. */
	assert_int_equal(sk_vote_majority(v, 2, 3), -1);
	assert_int_equal(sk_vote_majority(v, 2, 2), -1);
	assert_int_equal(sk_vote_majority(v, 4, 3), -1);
	/* Nor can one worker count for each of two outcomes. */
	v[1] = OK("liar", "x");
	assert_int_equal(sk_vote_majority(v, 3, 3), -1);
	/* Its first vote is the one that counts. */
	v[3] = OK("w3", "forged");
	assert_int_equal(sk_vote_majority(v, 4, 3), 0);
	v[0] = OK("liar", "y");
	v[3] = OK("w3", "x");
	assert_int_equal(sk_vote_majority(v, 4, 3), 2);
}

static void test_bounds(void **state)
{
	struct sk_result v[SK_VOTES_MAX] = {0};
	char names[SK_VOTES_MAX][16];

	(void)state;
	assert_int_equal(sk_vote_majority(NULL, 0, 3), -1);
	assert_int_equal(sk_vote_majority(v, 0, 0), -1);
	for (int i = 0; i < SK_VOTES_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "w%d", i);
		v[i] = OK(names[i], i % 2 ? "odd" : "even");
	}
	/* n = 1 (a plain call) needs one vote. */
	assert_int_equal(sk_vote_majority(v, 1, 1), 0);
	/* All SK_VOTES_MAX read, 4 and 4: n = 3 needs 2, the first wins. */
	assert_int_equal(sk_vote_majority(v, SK_VOTES_MAX, 3), 0);
	/* The gateway's "no majority can back it" (gw_replicas_suspect):
	 * n = SK_REPLICAS_MAX + 1 needs 3 of the distinct votes. */
	assert_int_equal(sk_vote_majority(v, 4, SK_REPLICAS_MAX + 1), -1);
	assert_int_equal(sk_vote_majority(v, 5, SK_REPLICAS_MAX + 1), 0);
	/* More replicas than votes could ever be read: never a majority. */
	assert_int_equal(sk_vote_majority(v, SK_VOTES_MAX, 2 * SK_VOTES_MAX),
			 -1);
	assert_int_equal(sk_vote_majority(v, SK_VOTES_MAX, UINT32_MAX - 1), -1);
	/* UINT32_MAX / 2 + 1 does not wrap. */
	assert_int_equal(sk_vote_majority(v, SK_VOTES_MAX, UINT32_MAX), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same),
		cmocka_unit_test(test_majority),
		cmocka_unit_test(test_ties_and_disputes),
		cmocka_unit_test(test_failed_votes),
		cmocka_unit_test(test_one_worker_one_vote),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
