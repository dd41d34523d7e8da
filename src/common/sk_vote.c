/* sk_vote.c: the votes of a redundant call in sk_results and their majority. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "common/sk_vote.h"

int sk_vote_same(const struct sk_result *a, const struct sk_result *b)
{
	return a->status == b->status && a->exit_code == b->exit_code &&
	       a->output_len == b->output_len &&
	       (a->output_len == 0 ||
		memcmp(a->output, b->output, a->output_len) == 0);
}

/*
 * Is v[j] its worker's first vote in (v)?  sk_vote_read gives one vote per
 * worker (one key each), but the count must not rest on that: a worker
 * listed twice would otherwise count twice, or once for each of two
 * outcomes.
 */
static int first_of_worker(const struct sk_result *v, size_t j)
{
	for (size_t k = 0; k < j; k++)
		if (strcmp(v[k].worker, v[j].worker) == 0)
			return 0;
	return 1;
}

int sk_vote_majority(const struct sk_result *v, size_t nv, uint32_t n)
{
	uint32_t need = n / 2 + 1;

	for (size_t i = 0; i < nv; i++) {
		uint32_t same = 0;

		if (!first_of_worker(v, i))
			continue;
		for (size_t j = 0; j < nv; j++)
			same += (uint32_t)(sk_vote_same(&v[i], &v[j]) &&
					   first_of_worker(v, j));
		if (same >= need)
			return (int)i;
	}
	return -1;
}

int sk_vote_read(struct sk_nats *n, const char *id, struct sk_result *v,
		 size_t *count)
{
	char stream[64], filter[300], err[160];
	jsStreamInfo *si = NULL;
	jsOptions jo;
	natsStatus s;
	size_t prefix;

	*count = 0;
	snprintf(stream, sizeof(stream), "KV_%s", sk_bucket_name(SK_B_RESULTS));
	snprintf(filter, sizeof(filter), "$KV.%s.%s.*",
		 sk_bucket_name(SK_B_RESULTS), id);
	prefix = strlen(filter) - strlen(id) - 2;
	jsOptions_Init(&jo);
	jo.Stream.Info.SubjectsFilter = filter;
	s = js_GetStreamInfo(&si, n->js, stream, &jo, NULL);
	if (s != NATS_OK)
		return sk_nats_errno(s);
	for (int i = 0; si->State.Subjects && i < si->State.Subjects->Count &&
			*count < SK_VOTES_MAX;
	     i++) {
		const char *key = si->State.Subjects->List[i].Subject + prefix;
		char *val = NULL;
		size_t len = 0;

		int rc = sk_kv_get(n, SK_B_RESULTS, key, &val, &len, NULL);

		/* Listed by the stream's leader but not yet readable: in a
		 * cluster a direct get may come from a lagging replica. */
		for (int t = 0; rc == -ENOENT && t < 3; t++) {
			usleep(50 * 1000);
			rc = sk_kv_get(n, SK_B_RESULTS, key, &val, &len, NULL);
		}
		if (rc)
			continue; /* deleted meanwhile */
		if (sk_result_parse(&v[*count], val, len, err, sizeof(err)) ==
			    0 &&
		    strcmp(v[*count].id, id) == 0 &&
		    strcmp(key + strlen(id) + 1, v[*count].worker) == 0)
			(*count)++;
		else
			sk_warn("call %s: vote %s ignored (unreadable, or not "
				"the key's own worker)",
				id, key);
		free(val);
	}
	jsStreamInfo_Destroy(si);
	return 0;
}
