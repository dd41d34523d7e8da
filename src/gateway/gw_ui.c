/* gw_ui.c: the /ui dashboard: static files compiled into the binary; the page polls the JSON API itself. */
#include <string.h>

#include "gateway/gw_obs.h"

int gw_ui_serve(struct gw_req *r)
{
	const char *p = r->path, *want = "index.html";

	if (strncmp(p, "/ui/", 4) == 0 && p[4])
		want = p + 4;
	for (const struct gw_asset *a = gw_ui_assets; a->name; a++) {
		if (strcmp(a->name, want) != 0)
			continue;
		/* Small and versioned with the binary: revalidate often. */
		gw_resp_header(r, "Cache-Control", "no-cache");
		gw_resp_header(r, "X-Content-Type-Options", "nosniff");
		return gw_respond(r, 200, a->type, a->data, a->len);
	}
	return gw_respond_error(r, 404, "no such file in /ui");
}
