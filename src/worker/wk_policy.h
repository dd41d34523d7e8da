/* wk_policy.h: the owner-activity policy: when a worker on someone's PC may run work (docs/worker-policy.md). */
#ifndef SUKIMA_WK_POLICY_H
#define SUKIMA_WK_POLICY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Idle: pulls work.  Owner: the owner is at the PC: pulls nothing new,
 * running work goes on (at idle priority).  Suspended: running micro-VMs
 * are paused (their vCPUs are not run; their leases are still renewed).
 * Vacating: suspended too long: running work is ended and handed back for
 * immediate redelivery elsewhere.  Any of the last three goes back to Idle
 * once the owner has been away long enough.
 */
enum wk_pstate {
	WK_P_IDLE = 0,
	WK_P_OWNER,
	WK_P_SUSPENDED,
	WK_P_VACATING,
};

struct wk_policy_cfg {
	int desktop;	  /* 0: --policy always (stays Idle) */
	int64_t input_ms; /* owner present: input more recent than this */
	int load_max_pct; /* owner present: foreign CPU load above this */
	int battery_ok;	  /* 1: running on battery is not "present" */
	int64_t suspend_after_ms; /* Owner this long -> Suspended */
	int64_t suspend_load_ms;  /* the same, by foreign CPU load */
	int64_t vacate_after_ms;  /* Suspended this long -> Vacating */
	int64_t away_ms;	  /* owner absent this long -> Idle */
	int64_t tick_ms;	  /* sampling period of the sources */
	const char *source; /* --policy-source FILE, or NULL: the PC's own */
	int cpu_max_pct;    /* --cpu-max (cgroup v2 only), 0 = none */
};

/* One reading of the sources; a negative field is "unknown". */
struct wk_policy_sample {
	int64_t input_idle_ms; /* time since the last keyboard/mouse input */
	int load_pct;	       /* CPU load not caused by Sukima, % of the PC */
	int on_battery;	       /* 1: the PC runs on battery */
};

struct wk_policy {
	struct wk_policy_cfg cfg;
	enum wk_pstate state;
	int64_t state_since; /* entered (state) at */
	int present;	     /* the owner's presence at the last step */
	int64_t flip_at;     /* (present) has held since */
	int64_t load_at;     /* foreign load above the limit since, or -1 */
	char why[128];	     /* what made the last transition */
};

/* Defaults of docs/worker-policy.md (policy always). */
void wk_policy_cfg_default(struct wk_policy_cfg *cfg);

/* Start in Idle at (now_ms). */
void wk_policy_init(struct wk_policy *p, const struct wk_policy_cfg *cfg,
		    int64_t now_ms);

/*
 * Whether (s) says the owner is at the PC under (cfg); (why) gets the
 * reason ("input 2.0 s ago", "foreign load 63 %", "on battery") or "".
 */
int wk_policy_present(const struct wk_policy_cfg *cfg,
		      const struct wk_policy_sample *s, char *why, size_t cap);

/*
 * Feed one sample taken at (now_ms) (non-decreasing).  Makes at most one
 * transition and returns the state after it; p->why says why it changed.
 */
enum wk_pstate wk_policy_step(struct wk_policy *p,
			      const struct wk_policy_sample *s, int64_t now_ms);

/* "idle", "owner", "suspended", "vacating" (the sk_workers state). */
const char *wk_pstate_name(enum wk_pstate st);

/*
 * Options of `sukima worker` the policy owns (getopt_long rows, codes
 * 0x700..): --policy, --policy-source, --input-idle, --load-max,
 * --battery-ok, --suspend-after, --vacate-after, --away, --policy-tick,
 * --cpu-max, --suspend-after-load.
 */
#define WK_POLICY_LONGOPTS                                           \
	{"policy", required_argument, NULL, 0x700},                  \
		{"policy-source", required_argument, NULL, 0x701},   \
		{"input-idle", required_argument, NULL, 0x702},      \
		{"load-max", required_argument, NULL, 0x703},        \
		{"battery-ok", no_argument, NULL, 0x704},            \
		{"suspend-after", required_argument, NULL, 0x705},   \
		{"vacate-after", required_argument, NULL, 0x706},    \
		{"away", required_argument, NULL, 0x707},            \
		{"policy-tick", required_argument, NULL, 0x708},     \
		{"cpu-max", required_argument, NULL, 0x709},         \
	{                                                            \
		"suspend-after-load", required_argument, NULL, 0x70a \
	}

#define WK_POLICY_USAGE                                                        \
	"  --policy always|desktop  desktop: yield to the PC's owner "         \
	"(docs/worker-policy.md)\n"                                            \
	"  --input-idle S       owner present: keyboard/mouse input within S " \
	"s (60)\n"                                                             \
	"  --load-max PCT       owner present: other CPU load above PCT %% "   \
	"(25)\n"                                                               \
	"  --battery-ok         running on battery does not count as "         \
	"present\n"                                                            \
	"  --suspend-after S    owner present S s: pause running micro-VMs "   \
	"(10)\n"                                                               \
	"  --suspend-after-load S  owner's CPU load S s: pause them (0)\n"     \
	"  --vacate-after S     paused S s: hand the work back (300)\n"        \
	"  --away S             owner absent S s: take work again (60)\n"      \
	"  --policy-tick S      sampling period (0.25)\n"                      \
	"  --policy-source FILE read input_idle=, load=, battery= from FILE "  \
	"each tick\n"                                                          \
	"  --cpu-max PCT        cap the monitors' CPU (cgroup v2 only)\n"

/*
 * Handle option (code) with (arg): 1 = handled, 0 = not a policy option,
 * -EINVAL with a one-line (err).
 */
int wk_policy_getopt(struct wk_policy_cfg *cfg, int code, const char *arg,
		     char *err, size_t cap);

/* --- the PC's sources (wk_policy_linux.c) ------------------------------- */

struct wk_policy_src;

/*
 * Open the sources: (cfg->source) when set, else the input devices (or
 * the interrupt counts), /proc/stat and the power supplies.  (own_cpu)
 * returns the CPU time (clock ticks) used so far by Sukima itself (the
 * worker and its monitors).  Logs once what cannot be read.
 */
int wk_policy_src_open(struct wk_policy_src **out,
		       const struct wk_policy_cfg *cfg,
		       uint64_t (*own_cpu)(void));
/* Take a sample now. */
void wk_policy_src_read(struct wk_policy_src *s, struct wk_policy_sample *out);
void wk_policy_src_close(struct wk_policy_src *s);

/*
 * Run the policy (cfg->desktop): a thread samples the sources every tick,
 * steps the state machine, pauses the monitors on entering Suspended and
 * resumes them on going back to Idle (wk_pause.h), logs each transition
 * and calls (changed) with the new state and why (from that thread).
 * Returns 0, or -errno.  With the policy "always" nothing is started.
 */
int wk_policy_start(const struct wk_policy_cfg *cfg,
		    void (*changed)(void *ctx, enum wk_pstate st,
				    const char *why),
		    void *ctx);
/* Stop the thread (the monitors are resumed). */
void wk_policy_stop(void);

#endif
