/* wk_policy_linux.c: the owner-activity sources on Linux: input devices or interrupts, /proc/stat, power supplies, or a file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "common/sk_util.h"
#include "worker/wk_pause.h"
#include "worker/wk_policy.h"

#define MAX_INPUTS    32
#define RESCAN_MS     10000 /* input devices come and go */
#define LOAD_MIN_MS   900   /* shortest window a load figure is taken over */
#define LOAD_POINTS   128   /* > LOAD_MIN_MS / the shortest tick (10 ms) */
#define BITS_PER_LONG (8 * sizeof(unsigned long))

struct wk_policy_src {
	const char *file; /* --policy-source */
	uint64_t (*own_cpu)(void);

	int inputs[MAX_INPUTS];
	dev_t input_dev[MAX_INPUTS]; /* what each of (inputs) is open on */
	int ninputs;
	int64_t next_scan;
	unsigned long long irqs; /* i8042 interrupt count (fallback) */
	int use_irqs;
	int64_t last_input; /* CLOCK_MONOTONIC ms, or -1 */
	int said_no_input;

	/* /proc/stat busy/total jiffies and own CPU at each tick of the
	 * last LOAD_MIN_MS and more (a ring, oldest at (first)) */
	struct load_point {
		int64_t t;
		unsigned long long busy, total;
		uint64_t own;
	} pts[LOAD_POINTS];
	int first, npts;
	int load_pct;
};

/* Whether event device (fd) has keys or relative axes: a keyboard or a
 * mouse (a touchpad reports keys too); not an accelerometer or a lid. */
static int is_human_input(int fd)
{
	unsigned long ev[(EV_MAX + BITS_PER_LONG) / BITS_PER_LONG];

	memset(ev, 0, sizeof(ev));
	if (ioctl(fd, EVIOCGBIT(0, sizeof(ev)), ev) < 0)
		return 0;
	return ((ev[EV_KEY / BITS_PER_LONG] >> (EV_KEY % BITS_PER_LONG)) & 1) ||
	       ((ev[EV_REL / BITS_PER_LONG] >> (EV_REL % BITS_PER_LONG)) & 1);
}

static int watched(const struct wk_policy_src *s, dev_t dev)
{
	for (int i = 0; i < s->ninputs; i++)
		if (s->input_dev[i] == dev)
			return 1;
	return 0;
}

/* Open the keyboards and mice that appeared since the last scan.  The
 * ones already open stay open: what they queued since the last tick is
 * input too (closing them dropped it). */
static void scan_inputs(struct wk_policy_src *s)
{
	DIR *d = opendir("/dev/input");
	struct dirent *e;

	while (d && (e = readdir(d)) && s->ninputs < MAX_INPUTS) {
		char path[300];
		struct stat st;
		int fd;

		if (strncmp(e->d_name, "event", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
		if (stat(path, &st) || !S_ISCHR(st.st_mode) ||
		    watched(s, st.st_rdev))
			continue;
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (is_human_input(fd)) {
			s->input_dev[s->ninputs] = st.st_rdev;
			s->inputs[s->ninputs++] = fd;
		} else {
			close(fd);
		}
	}
	if (d)
		closedir(d);
	s->next_scan = sk_mono_ms() + RESCAN_MS;
}

/* Interrupts of the PS/2 controller (i8042: laptop keyboards, touchpads). */
static int read_irqs(unsigned long long *out)
{
	FILE *f = fopen("/proc/interrupts", "re");
	char line[1024];
	unsigned long long sum = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (!p || !strstr(line, "i8042"))
			continue;
		found = 1;
		for (p++;;) {
			char *end;
			unsigned long long v = strtoull(p, &end, 10);
			if (end == p)
				break;
			sum += v;
			p = end;
		}
	}
	fclose(f);
	*out = sum;
	return found ? 0 : -ENOENT;
}

static int64_t input_idle(struct wk_policy_src *s)
{
	int64_t now = sk_mono_ms();
	int seen = 0, had = s->ninputs;

	if (now >= s->next_scan)
		scan_inputs(s);
	for (int i = 0; i < s->ninputs;) {
		struct input_event ev[64];
		ssize_t n;

		while ((n = read(s->inputs[i], ev, sizeof(ev))) > 0)
			seen = 1;
		if (n < 0 && errno == ENODEV) { /* unplugged */
			close(s->inputs[i]);
			s->ninputs--;
			s->inputs[i] = s->inputs[s->ninputs];
			s->input_dev[i] = s->input_dev[s->ninputs];
			continue;
		}
		i++;
	}
	if (s->ninputs != had)
		sk_info("policy: watching %d input device(s) now", s->ninputs);
	if (s->use_irqs) {
		unsigned long long n;

		if (read_irqs(&n) == 0 && n != s->irqs) {
			s->irqs = n;
			seen = 1;
		}
	}
	if (seen)
		s->last_input = now;
	if (!s->ninputs && !s->use_irqs) {
		if (!s->said_no_input)
			sk_info("policy: no keyboard or mouse readable "
				"(/dev/input/event*, i8042 interrupts): the "
				"owner's input is not watched");
		s->said_no_input = 1;
		return -1;
	}
	/* Never seen any: idle since the worker started watching. */
	return now - s->last_input;
}

static int read_stat(unsigned long long *busy, unsigned long long *total)
{
	FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = {0};
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return -EIO;
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4]; /* minus idle and iowait */
	return 0;
}

/*
 * The foreign load over a window sliding with the ticks: from the newest
 * point at least LOAD_MIN_MS old to now.  Recomputed every tick, so an
 * owner's load shows as soon as it fills a quarter of the last window
 * (a fixed window recomputed every LOAD_MIN_MS saw it up to a window
 * later).  Unknown (-1) until the first window is full.
 */
static int foreign_load(struct wk_policy_src *s)
{
	struct load_point now, *from = NULL;

	now.t = sk_mono_ms();
	if (read_stat(&now.busy, &now.total))
		return -1;
	now.own = s->own_cpu ? s->own_cpu() : 0;
	/* Drop the points a newer one already makes old enough. */
	while (s->npts > 1) {
		const struct load_point *next =
			&s->pts[(s->first + 1) % LOAD_POINTS];

		if (now.t - next->t < LOAD_MIN_MS)
			break;
		s->first = (s->first + 1) % LOAD_POINTS;
		s->npts--;
	}
	if (s->npts && now.t - s->pts[s->first].t >= LOAD_MIN_MS)
		from = &s->pts[s->first];
	if (from && now.total > from->total) {
		long long foreign = (long long)(now.busy - from->busy) -
				    (long long)(now.own - from->own);
		if (foreign < 0)
			foreign = 0;
		s->load_pct = (int)(100 * foreign /
				    (long long)(now.total - from->total));
	}
	if (s->npts == LOAD_POINTS) { /* ticks faster than the ring */
		s->first = (s->first + 1) % LOAD_POINTS;
		s->npts--;
	}
	s->pts[(s->first + s->npts) % LOAD_POINTS] = now;
	s->npts++;
	return s->load_pct;
}

static int read_word(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/class/power_supply/%s/%s", dir,
		 name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* 1: on battery (mains offline, or a battery discharging), 0, -1: none. */
static int on_battery(void)
{
	DIR *d = opendir("/sys/class/power_supply");
	struct dirent *e;
	int mains = 0, mains_online = 0, discharging = 0, any = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char type[32], v[32];

		if (e->d_name[0] == '.' ||
		    read_word(e->d_name, "type", type, sizeof(type)))
			continue;
		if (strcmp(type, "Mains") == 0) {
			any = mains = 1;
			if (read_word(e->d_name, "online", v, sizeof(v)) == 0 &&
			    strcmp(v, "1") == 0)
				mains_online = 1;
		} else if (strcmp(type, "Battery") == 0) {
			any = 1;
			if (read_word(e->d_name, "status", v, sizeof(v)) == 0 &&
			    strcmp(v, "Discharging") == 0)
				discharging = 1;
		}
	}
	closedir(d);
	if (!any)
		return -1;
	return (mains && !mains_online) || (!mains_online && discharging);
}

/* --policy-source FILE: "key=value" lines; what is missing is unknown. */
static void read_file(const char *path, struct wk_policy_sample *out)
{
	FILE *f = fopen(path, "re");
	char line[128];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		double v;

		if (sscanf(line, "input_idle=%lf", &v) == 1 && v >= 0)
			out->input_idle_ms = (int64_t)(v * 1000);
		else if (sscanf(line, "load=%lf", &v) == 1 && v >= 0)
			out->load_pct = v > 100 ? 100 : (int)v;
		else if (sscanf(line, "battery=%lf", &v) == 1)
			out->on_battery = v != 0;
	}
	fclose(f);
}

int wk_policy_src_open(struct wk_policy_src **out,
		       const struct wk_policy_cfg *cfg,
		       uint64_t (*own_cpu)(void))
{
	struct wk_policy_src *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->file = cfg->source;
	s->own_cpu = own_cpu;
	s->last_input = sk_mono_ms();
	s->load_pct = -1;
	if (!s->file) {
		scan_inputs(s);
		s->use_irqs = read_irqs(&s->irqs) == 0;
		sk_info("policy desktop: watching %d input device(s)%s, "
			"/proc/stat, /sys/class/power_supply",
			s->ninputs, s->use_irqs ? " and i8042 interrupts" : "");
	} else {
		sk_info("policy desktop: samples from %s", s->file);
	}
	*out = s;
	return 0;
}

void wk_policy_src_read(struct wk_policy_src *s, struct wk_policy_sample *out)
{
	out->input_idle_ms = -1;
	out->load_pct = -1;
	out->on_battery = -1;
	if (s->file) {
		read_file(s->file, out);
		return;
	}
	out->input_idle_ms = input_idle(s);
	out->load_pct = foreign_load(s);
	out->on_battery = on_battery();
}

void wk_policy_src_close(struct wk_policy_src *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->ninputs; i++)
		close(s->inputs[i]);
	free(s);
}

/* --- the policy's thread ---------------------------------------------- */

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running, quit;
	struct wk_policy p;
	struct wk_policy_src *src;
	void (*changed)(void *ctx, enum wk_pstate st, const char *why);
	void *ctx;
} pol = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *policy_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pol.lock);
	while (!pol.quit) {
		struct wk_policy_sample smp;
		enum wk_pstate from = pol.p.state, to;
		struct timespec ts;

		pthread_mutex_unlock(&pol.lock);
		wk_policy_src_read(pol.src, &smp);
		to = wk_policy_step(&pol.p, &smp, sk_mono_ms());
		if (to != from) {
			sk_info("policy: %s -> %s (%s)", wk_pstate_name(from),
				wk_pstate_name(to), pol.p.why);
			if (to == WK_P_SUSPENDED)
				wk_pause_all();
			else if (to == WK_P_IDLE)
				wk_resume_all();
			pol.changed(pol.ctx, to, pol.p.why);
		}
		sk_abstime(&ts, pol.p.cfg.tick_ms);
		pthread_mutex_lock(&pol.lock);
		if (!pol.quit)
			pthread_cond_timedwait(&pol.cond, &pol.lock, &ts);
	}
	pthread_mutex_unlock(&pol.lock);
	return NULL;
}

int wk_policy_start(const struct wk_policy_cfg *cfg,
		    void (*changed)(void *ctx, enum wk_pstate st,
				    const char *why),
		    void *ctx)
{
	int rc;

	if (!cfg->desktop)
		return 0;
	rc = wk_policy_src_open(&pol.src, cfg, wk_pause_own_cpu);
	if (rc)
		return rc;
	wk_policy_init(&pol.p, cfg, sk_mono_ms());
	pol.changed = changed;
	pol.ctx = ctx;
	pol.quit = 0;
	{
		/* The first sample now: an owner already there when the
		 * worker starts sees no pull request at all. */
		struct wk_policy_sample smp;

		wk_policy_src_read(pol.src, &smp);
		if (wk_policy_step(&pol.p, &smp, sk_mono_ms()) != WK_P_IDLE) {
			sk_info("policy: idle -> %s (%s)",
				wk_pstate_name(pol.p.state), pol.p.why);
			changed(ctx, pol.p.state, pol.p.why);
		}
	}
	if (pthread_create(&pol.thread, NULL, policy_main, NULL)) {
		wk_policy_src_close(pol.src);
		pol.src = NULL;
		return -EAGAIN;
	}
	pol.running = 1;
	return 0;
}

void wk_policy_stop(void)
{
	if (!pol.running)
		return;
	pthread_mutex_lock(&pol.lock);
	pol.quit = 1;
	pthread_cond_signal(&pol.cond);
	pthread_mutex_unlock(&pol.lock);
	pthread_join(pol.thread, NULL);
	pol.running = 0;
	wk_policy_src_close(pol.src);
	pol.src = NULL;
	wk_resume_all();
}
