/* gw_obs.h: what the gateway shows about the cloud: /metrics, /system/logs, the /ui dashboard. */
#ifndef SUKIMA_GW_OBS_H
#define SUKIMA_GW_OBS_H

#include <jansson.h>

#include "gateway/gw.h"

/* Answer GW_R_METRICS, GW_R_LOGS and GW_R_UI. */
int gw_obs_dispatch(struct gw_req *r);

/* Count a response on an invocation route (called by gw_respond). */
void gw_metrics_response(struct gw_req *r, int status);

/* gw_metrics.c: GET /metrics (Prometheus text format 0.0.4). */
int gw_metrics_serve(struct gw_req *r);
/* gw_logs.c: GET /system/logs. */
int gw_logs_serve(struct gw_req *r);
/* gw_ui.c: GET /ui, /ui/app.js, /ui/style.css. */
int gw_ui_serve(struct gw_req *r);

/* The dashboard's files, compiled in (scripts/embed.sh); NULL name ends. */
struct gw_asset {
	const char *name; /* "index.html" */
	const char *type; /* Content-Type */
	const unsigned char *data;
	unsigned long len;
};
extern const struct gw_asset gw_ui_assets[];

/*
 * One JetStream API request ($JS.API.<api>, body (req) or empty), 2 s
 * bound.  The parsed answer, or NULL (no answer, not JSON, or an "error"
 * member).
 */
json_t *gw_js_api(struct gw *g, const char *api, const char *req);

#endif
