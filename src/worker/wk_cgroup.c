/* wk_cgroup.c: the monitors' own cgroup v2 under the worker's, or one line saying why not. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "worker/wk_cgroup.h"
#include "worker/wk_host.h"

/* The worker's own leaf in a cgroup delegated to it. */
#define WK_CG_LEAF "sukima-worker"

static char dir[3400];
static int procs_fd = -1;
static int leaf_made; /* enter_leaf made the leaf (not a stale one) */

/*
 * What the worker's own cgroup allows, from facts read once (own_facts):
 * kept apart from the reading so that the rule is unit-tested
 * (tests/unit/test_wk_cgroup.c).
 */
enum cg_mode {
	CG_NONE,      /* priorities only */
	CG_CHILD,     /* a child of the worker's cgroup, which is left as is */
	CG_DELEGATED, /* the worker moves into a leaf of its own first */
};

struct cg_facts {
	int root;      /* the worker is in the root cgroup */
	int ctl_on;    /* its cgroup.subtree_control lists cpu and memory */
	int ctl_avail; /* its cgroup.controllers lists cpu and memory */
	int marked;    /* user.delegate or trusted.delegate is "1" */
	int writable;  /* 0, or -errno: the directory, its cgroup.procs and
			  cgroup.subtree_control, for this process */
	int alone;     /* its cgroup.procs lists this process only */
};

static enum cg_mode cg_plan(const struct cg_facts *f, const char **why)
{
	if (f->ctl_on)
		return CG_CHILD; /* mkdir tells whether it is writable */
	if (f->root) {
		*why = "the worker's cgroup v2 does not delegate the cpu and "
		       "memory controllers (cgroup.subtree_control)";
		return CG_NONE;
	}
	if (!f->marked) {
		*why = "the worker's cgroup is not delegated to it (no "
		       "user.delegate xattr: Delegate=yes in its systemd "
		       "unit sets one)";
		return CG_NONE;
	}
	if (!f->ctl_avail) {
		*why = "its delegated cgroup does not offer the cpu and memory "
		       "controllers (cgroup.controllers)";
		return CG_NONE;
	}
	if (f->writable == -EROFS) {
		*why = "its delegated cgroup is mounted read-only "
		       "(ProtectControlGroups=yes?)";
		return CG_NONE;
	}
	if (f->writable) {
		*why = "its delegated cgroup is not writable by the worker";
		return CG_NONE;
	}
	if (!f->alone) {
		*why = "other processes are in its delegated cgroup";
		return CG_NONE;
	}
	return CG_DELEGATED;
}

/* The cgroup2 mount point, from /proc/self/mountinfo. */
static int cgroup2_mount(char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char mnt[1024], *sep = strstr(line, " - ");

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - FSTYPE ... */
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1) {
			snprintf(out, cap, "%s", mnt);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

/* The worker's cgroup v2 path ("0::/path" in /proc/self/cgroup). */
static int own_cgroup(char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[2048];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, cap, "%.2000s", line + 3);
			found = 0;
			break;
		}
	fclose(f);
	return found;
}

static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (!ok)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Whether the space-separated list (list) holds (word). */
static int has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return 1;
	return 0;
}

/* Whether (path)'s first line lists both cpu and memory. */
static int cpu_and_memory(const char *path)
{
	char ctl[512];

	return read_line(path, ctl, sizeof(ctl)) == 0 && has_word(ctl, "cpu") &&
	       has_word(ctl, "memory");
}

/*
 * Whether the cgroup.procs text (text) lists process (pid) and no other:
 * one decimal pid per line.
 */
static int only_pid(const char *text, long pid)
{
	int seen = 0;

	for (const char *p = text; *p;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p || (*end && *end != '\n') || v != pid)
			return 0;
		seen = 1;
		p = *end ? end + 1 : end;
	}
	return seen;
}

/* Whether (path) (a cgroup.procs) lists this process only. */
static int alone_in(const char *path)
{
	char text[256];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	/* More than fits is more than one process. */
	if (n == sizeof(text) - 1 && fgetc(f) != EOF)
		n = 0;
	fclose(f);
	text[n] = '\0';
	return only_pid(text, (long)getpid());
}

/*
 * The delegation marker systemd (251 and later) sets on the cgroup of a
 * unit with Delegate=: "1" in user.delegate (readable by anyone) and in
 * trusted.delegate (readable with CAP_SYS_ADMIN only).
 */
static int marked_delegated(const char *path)
{
	static const char *const names[] = {"user.delegate",
					    "trusted.delegate"};
	char v[8];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ssize_t n = getxattr(path, names[i], v, sizeof(v));

		if (n == 1 && v[0] == '1')
			return 1;
	}
	return 0;
}

/* 0 or -errno: whether this process may write (path) (effective ids). */
static int may_write(const char *path)
{
	return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) ? -errno : 0;
}

/* The facts cg_plan decides on, for the cgroup at (own). */
static void own_facts(const char *own, int root, struct cg_facts *f)
{
	char path[3600];
	int rc;

	memset(f, 0, sizeof(*f));
	f->root = root;
	snprintf(path, sizeof(path), "%.3200s/cgroup.subtree_control", own);
	f->ctl_on = cpu_and_memory(path);
	if (f->ctl_on || root)
		return;
	snprintf(path, sizeof(path), "%.3200s/cgroup.controllers", own);
	f->ctl_avail = cpu_and_memory(path);
	f->marked = marked_delegated(own);
	f->writable = may_write(own);
	snprintf(path, sizeof(path), "%.3200s/cgroup.subtree_control", own);
	if (!f->writable && (rc = may_write(path)))
		f->writable = rc;
	snprintf(path, sizeof(path), "%.3200s/cgroup.procs", own);
	if (!f->writable && (rc = may_write(path)))
		f->writable = rc;
	f->alone = alone_in(path);
}

/* Write (val) into file (name) of cgroup (cg). */
static int put_in(const char *cg, const char *name, const char *val)
{
	char path[3600];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%.3400s/%s", cg, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Write (val) into (name) of the monitors' cgroup. */
static int put(const char *name, const char *val)
{
	return put_in(dir, name, val);
}

/*
 * In the delegated cgroup (own), which holds this process alone: move
 * this process (all its threads) into the leaf own/sukima-worker (made if
 * missing), then hand cpu and memory down (own's cgroup.subtree_control;
 * the kernel allows it now that own holds no process).  On failure
 * everything is put back as it was and (*why) says what failed.  Returns
 * 0 or -errno.
 */
static int enter_leaf(const char *own, const char **why)
{
	char leaf[3400], pid[24];
	int made, rc;

	snprintf(leaf, sizeof(leaf), "%.3200s/" WK_CG_LEAF, own);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	made = leaf_made = mkdir(leaf, 0755) == 0;
	if (!made && errno != EEXIST) {
		rc = -errno;
		*why = "the worker's leaf cgroup could not be made";
		return rc;
	}
	rc = put_in(leaf, "cgroup.procs", pid);
	if (rc) {
		*why = "the worker could not move into its leaf cgroup";
		goto unmake;
	}
	rc = put_in(own, "cgroup.subtree_control", "+cpu +memory");
	if (rc) {
		*why = "cpu and memory could not be handed down in its "
		       "delegated cgroup (cgroup.subtree_control)";
		goto move_back;
	}
	return 0;
move_back:
	if (put_in(own, "cgroup.procs", pid)) {
		sk_warn("cgroup v2: the worker stays in %s", leaf);
		return rc;
	}
unmake:
	if (made && rmdir(leaf))
		errno = 0;
	return rc;
}

/* Undo enter_leaf (a later step failed). */
static void leave_leaf(const char *own)
{
	char leaf[3400], pid[24];

	snprintf(leaf, sizeof(leaf), "%.3200s/" WK_CG_LEAF, own);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (put_in(own, "cgroup.subtree_control", "-cpu -memory") ||
	    put_in(own, "cgroup.procs", pid) || (leaf_made && rmdir(leaf)))
		sk_warn("cgroup v2: %s not put back as it was", own);
}

/*
 * Remove the monitors' cgroups under (parent) that workers which died
 * without removing theirs (SIGKILL, OOM) left behind: the pid in the name
 * no longer exists (in our pid namespace).  rmdir refuses a cgroup that
 * still holds a process or a child, so nothing in use is touched.
 */
static void remove_stale(const char *parent)
{
	static const char prefix[] = "sukima-monitors-";
	DIR *d = opendir(parent);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[3600], *end;
		long pid;

		if (strncmp(e->d_name, prefix, sizeof(prefix) - 1) != 0)
			continue;
		pid = strtol(e->d_name + sizeof(prefix) - 1, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%.3200s/%s", parent, e->d_name);
		if (rmdir(path) == 0)
			sk_info("cgroup v2: removed %s (its worker is gone)",
				path);
	}
	if (d)
		closedir(d);
}

int wk_cgroup_open(uint64_t mem_bytes, int cpu_max_pct)
{
	char mnt[1024], rel[2048], parent[3200], path[3600], val[64];
	char moved[3300] = "";
	struct cg_facts facts;
	enum cg_mode mode;
	const char *why = "";
	int rc;

	if (cgroup2_mount(mnt, sizeof(mnt))) {
		why = "no cgroup v2 mounted";
		goto fallback;
	}
	if (own_cgroup(rel, sizeof(rel))) {
		why = "this process is in no cgroup v2";
		goto fallback;
	}
	snprintf(parent, sizeof(parent), "%.1023s%.2047s", mnt,
		 strcmp(rel, "/") == 0 ? "" : rel);
	own_facts(parent, strcmp(rel, "/") == 0, &facts);
	mode = cg_plan(&facts, &why);
	if (mode == CG_NONE)
		goto fallback;
	if (mode == CG_DELEGATED) {
		if (enter_leaf(parent, &why))
			goto fallback;
		snprintf(moved, sizeof(moved),
			 "; the worker in %.3200s/" WK_CG_LEAF, parent);
	}
	remove_stale(parent);
	snprintf(dir, sizeof(dir), "%.3200s/sukima-monitors-%d", parent,
		 (int)getpid());
	if (mkdir(dir, 0755)) {
		why = errno == EEXIST
			      ? "a cgroup of that name exists"
			      : "the worker's cgroup v2 is not writable";
		dir[0] = '\0';
		goto unleaf;
	}
	/* From here on the cgroup is ours: undo it on any failure. */
	if (put("cpu.idle", "1") && put("cpu.weight", "1")) {
		why = "neither cpu.idle nor cpu.weight could be set";
		goto undo;
	}
	snprintf(val, sizeof(val), "%llu", (unsigned long long)mem_bytes);
	if (put("memory.max", val)) {
		why = "memory.max could not be set";
		goto undo;
	}
	if (cpu_max_pct > 0) {
		/* The quota is per period over all CPUs. */
		snprintf(val, sizeof(val), "%lld 100000",
			 (long long)cpu_max_pct * 1000 * wk_host_cpus());
		if (put("cpu.max", val)) {
			why = "cpu.max could not be set";
			goto undo;
		}
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	procs_fd = open(path, O_WRONLY | O_CLOEXEC);
	if (procs_fd < 0) {
		why = "its cgroup.procs could not be opened";
		goto undo;
	}
	sk_info("cgroup v2: monitors in %s (cpu.idle, memory.max %llu MiB%s)%s",
		dir, (unsigned long long)(mem_bytes >> 20),
		cpu_max_pct > 0 ? ", cpu.max" : "", moved);
	return 0;
undo:
	rc = rmdir(dir);
	(void)rc;
	dir[0] = '\0';
unleaf:
	if (moved[0])
		leave_leaf(parent);
fallback:
	sk_info("cgroup v2 not used (%s): monitors run at SCHED_IDLE and "
		"nice 19 only, without a memory cap%s",
		why, cpu_max_pct > 0 ? "; --cpu-max not applied" : "");
	return -ENOTSUP;
}

int wk_cgroup_procs_fd(void)
{
	return procs_fd;
}

void wk_cgroup_close(void)
{
	if (procs_fd >= 0)
		close(procs_fd);
	procs_fd = -1;
	if (dir[0] && rmdir(dir))
		sk_warn("cgroup %s not removed: %s", dir, strerror(errno));
	dir[0] = '\0';
}
