/* gw_replicas.c: publishing a call's work: one message, or one per replica of a redundant function. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/sk_model.h"
#include "gateway/gw_replicas.h"

int gw_publish_call(struct gw *g, const char *arch, const char *id,
		    const char *sk_call, uint32_t replicas, const void *body,
		    size_t len, int async_pub)
{
	json_t *o;
	int rc = 0;

	if (replicas <= 1)
		return async_pub ? gw_publish_work_async(g, arch, id, sk_call,
							 body, len)
				 : gw_publish_work(g, arch, id, sk_call, body,
						   len);
	if (replicas > SK_REPLICAS_MAX)
		return -EINVAL;
	o = json_loads(sk_call, 0, NULL);
	if (!o)
		return -ENOMEM;
	for (uint32_t k = 1; k <= replicas && rc == 0; k++) {
		char mid[SK_ID_MAX + 8], *txt;

		snprintf(mid, sizeof(mid), "%s.r%u", id, k);
		json_object_set_new(o, "replicas", json_integer(replicas));
		json_object_set_new(o, "replica", json_integer(k));
		txt = json_dumps(o, JSON_COMPACT);
		if (!txt) {
			rc = -ENOMEM;
			break;
		}
		rc = async_pub ? gw_publish_work_async(g, arch, mid, txt, body,
						       len)
			       : gw_publish_work(g, arch, mid, txt, body, len);
		free(txt);
	}
	json_decref(o);
	return rc;
}
