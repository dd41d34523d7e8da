/* wk_policy.c: the owner-activity state machine: samples in, Idle/Owner/Suspended/Vacating out (no I/O). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/wk_policy.h"

void wk_policy_cfg_default(struct wk_policy_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->desktop = 0;
	cfg->input_ms = 60000;
	cfg->load_max_pct = 25;
	cfg->battery_ok = 0;
	cfg->suspend_after_ms = 10000;
	cfg->suspend_load_ms = 0;
	cfg->vacate_after_ms = 300000;
	cfg->away_ms = 60000;
	cfg->tick_ms = 250;
}

const char *wk_pstate_name(enum wk_pstate st)
{
	switch (st) {
	case WK_P_IDLE:
		return "idle";
	case WK_P_OWNER:
		return "owner";
	case WK_P_SUSPENDED:
		return "suspended";
	case WK_P_VACATING:
		return "vacating";
	}
	return "?";
}

void wk_policy_init(struct wk_policy *p, const struct wk_policy_cfg *cfg,
		    int64_t now_ms)
{
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	p->state = WK_P_IDLE;
	p->state_since = now_ms;
	p->present = 0;
	p->flip_at = now_ms;
	p->load_at = -1;
}

int wk_policy_present(const struct wk_policy_cfg *cfg,
		      const struct wk_policy_sample *s, char *why, size_t cap)
{
	if (cap)
		why[0] = '\0';
	if (s->input_idle_ms >= 0 && s->input_idle_ms < cfg->input_ms) {
		snprintf(why, cap, "input %.1f s ago",
			 (double)s->input_idle_ms / 1000);
		return 1;
	}
	if (s->load_pct >= 0 && s->load_pct > cfg->load_max_pct) {
		snprintf(why, cap, "foreign CPU load %d %% > %d %%",
			 s->load_pct, cfg->load_max_pct);
		return 1;
	}
	if (s->on_battery > 0 && !cfg->battery_ok) {
		snprintf(why, cap, "on battery");
		return 1;
	}
	return 0;
}

static enum wk_pstate go(struct wk_policy *p, enum wk_pstate to, int64_t now_ms,
			 const char *why)
{
	snprintf(p->why, sizeof(p->why), "%s", why);
	p->state = to;
	p->state_since = now_ms;
	return to;
}

enum wk_pstate wk_policy_step(struct wk_policy *p,
			      const struct wk_policy_sample *s, int64_t now_ms)
{
	const struct wk_policy_cfg *c = &p->cfg;
	char why[96], msg[128];
	int present, loaded;
	int64_t held, in_state;

	if (!c->desktop)
		return p->state == WK_P_IDLE
			       ? WK_P_IDLE
			       : go(p, WK_P_IDLE, now_ms, "policy always");
	present = wk_policy_present(c, s, why, sizeof(why));
	loaded = s->load_pct >= 0 && s->load_pct > c->load_max_pct;
	if (!loaded)
		p->load_at = -1;
	else if (p->load_at < 0)
		p->load_at = now_ms;
	if (present != p->present) {
		p->present = present;
		p->flip_at = now_ms;
	}
	held = now_ms - p->flip_at;
	in_state = now_ms - p->state_since;

	switch (p->state) {
	case WK_P_IDLE:
		if (present) {
			snprintf(msg, sizeof(msg), "owner present (%s)", why);
			return go(p, WK_P_OWNER, now_ms, msg);
		}
		break;
	case WK_P_OWNER:
		if (present && in_state >= c->suspend_after_ms) {
			snprintf(msg, sizeof(msg),
				 "owner present for %.1f s (%s)",
				 (double)in_state / 1000, why);
			return go(p, WK_P_SUSPENDED, now_ms, msg);
		}
		/* The owner's processes want the CPU now: every moment a
		 * micro-VM still runs beside them slows them down. */
		if (loaded && now_ms - p->load_at >= c->suspend_load_ms) {
			snprintf(msg, sizeof(msg),
				 "owner's CPU load for %.1f s (foreign CPU "
				 "load %d %% > %d %%)",
				 (double)(now_ms - p->load_at) / 1000,
				 s->load_pct, c->load_max_pct);
			return go(p, WK_P_SUSPENDED, now_ms, msg);
		}
		/* fall through */
	case WK_P_SUSPENDED:
		if (p->state == WK_P_SUSPENDED && present &&
		    in_state >= c->vacate_after_ms) {
			snprintf(msg, sizeof(msg), "suspended for %.1f s",
				 (double)in_state / 1000);
			return go(p, WK_P_VACATING, now_ms, msg);
		}
		/* fall through */
	case WK_P_VACATING:
		if (!present && held >= c->away_ms) {
			snprintf(msg, sizeof(msg), "owner away for %.1f s",
				 (double)held / 1000);
			return go(p, WK_P_IDLE, now_ms, msg);
		}
		break;
	}
	return p->state;
}

/* Seconds (fractions allowed) into milliseconds, 0..1 day. */
static int secs(const char *s, int64_t *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0) || v > 86400)
		return -EINVAL;
	*ms = (int64_t)(v * 1000 + 0.5);
	return 0;
}

static int pct(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 0 || v > 100)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int wk_policy_getopt(struct wk_policy_cfg *cfg, int code, const char *arg,
		     char *err, size_t cap)
{
	static const char *const names[] = {
		"--policy",
		"--policy-source",
		"--input-idle",
		"--load-max",
		"--battery-ok",
		"--suspend-after",
		"--vacate-after",
		"--away",
		"--policy-tick",
		"--cpu-max",
		"--suspend-after-load",
	};
	int64_t *ms = NULL;
	int rc = 0;

	if (code < 0x700 || code > 0x70a)
		return 0;
	switch (code) {
	case 0x700:
		if (strcmp(arg, "always") == 0)
			cfg->desktop = 0;
		else if (strcmp(arg, "desktop") == 0)
			cfg->desktop = 1;
		else
			rc = -EINVAL;
		break;
	case 0x701:
		cfg->source = arg;
		break;
	case 0x702:
		ms = &cfg->input_ms;
		break;
	case 0x703:
		rc = pct(arg, &cfg->load_max_pct);
		break;
	case 0x704:
		cfg->battery_ok = 1;
		break;
	case 0x705:
		ms = &cfg->suspend_after_ms;
		break;
	case 0x706:
		ms = &cfg->vacate_after_ms;
		break;
	case 0x707:
		ms = &cfg->away_ms;
		break;
	case 0x708:
		ms = &cfg->tick_ms;
		break;
	case 0x709:
		rc = pct(arg, &cfg->cpu_max_pct);
		if (rc == 0 && cfg->cpu_max_pct == 0)
			rc = -EINVAL;
		break;
	case 0x70a:
		ms = &cfg->suspend_load_ms;
		break;
	}
	if (ms)
		rc = secs(arg, ms);
	if (rc == 0 && code == 0x708 &&
	    (cfg->tick_ms < 10 || cfg->tick_ms > 10000))
		rc = -EINVAL;
	if (rc)
		snprintf(err, cap, "bad %s '%s' (%s)", names[code - 0x700], arg,
			 code == 0x700	 ? "always or desktop"
			 : code == 0x703 ? "a percentage 0..100"
			 : code == 0x709 ? "a percentage 1..100"
			 : code == 0x708 ? "seconds, 0.01..10"
					 : "seconds");
	return rc ? rc : 1;
}
