/* test_wk_replica.c: unit tests of the worker's replica bookkeeping (wk_replica_claim, wk_replica_bounce): one replica per call, its own count of handed-back deliveries. */
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
#include "../../src/worker/wk_replica.c"

static void test_claim_one_replica(void **state)
{
	assert_int_equal(wk_replica_claim("c1", 1), 0);
	/* The same replica again (a redelivery to us) is fine. */
	assert_int_equal(wk_replica_claim("c1", 1), 0);
	assert_int_equal(wk_replica_claim("c1", 2), -EALREADY);
	assert_int_equal(wk_replica_claim("c2", 2), 0);
}

/*
 * The count does not depend on the ack subject's delivery count, which
 * nats-server 2.9 may reset to 1 (wk_replica.h): each replica counts its
 * own deliveries, from 1.
 */
static void test_bounce_counts_per_replica(void **state)
{
	assert_int_equal(wk_replica_claim("b1", 1), 0);
	assert_int_equal(wk_replica_claim("b1", 2), -EALREADY);
	for (uint32_t i = 1; i <= 6; i++)
		assert_int_equal(wk_replica_bounce("b1", 2), i);
	assert_int_equal(wk_replica_bounce("b1", 3), 1);
	assert_int_equal(wk_replica_bounce("b1", 1), 1);
	assert_int_equal(wk_replica_bounce("b1", 2), 7);
}

static void test_bounce_unknown(void **state)
{
	assert_int_equal(wk_replica_bounce("never-claimed", 2), 0);
	assert_int_equal(wk_replica_claim("u1", 1), 0);
	assert_int_equal(wk_replica_bounce("u1", SK_REPLICAS_MAX + 1), 0);
}

/* A call pushed out of the bounded set starts again from nothing. */
static void test_bounce_forgotten(void **state)
{
	char id[32];

	assert_int_equal(wk_replica_claim("f1", 1), 0);
	assert_int_equal(wk_replica_bounce("f1", 2), 1);
	for (int i = 0; i < CLAIMS; i++) {
		snprintf(id, sizeof(id), "fill%d", i);
		assert_int_equal(wk_replica_claim(id, 1), 0);
	}
	assert_int_equal(wk_replica_bounce("f1", 2), 0);
	assert_int_equal(wk_replica_claim("f1", 2), 0);
	assert_int_equal(wk_replica_bounce("f1", 2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_one_replica),
		cmocka_unit_test(test_bounce_counts_per_replica),
		cmocka_unit_test(test_bounce_unknown),
		cmocka_unit_test(test_bounce_forgotten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
