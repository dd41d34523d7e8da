/* wk_cgroup.c: the monitors' own cgroup v2 under the worker's, or one line saying why not. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sk_log.h"
#include "worker/wk_cgroup.h"
#include "worker/wk_host.h"

static char dir[3400];
static int procs_fd = -1;

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

/* Write (val) into (name) of our cgroup. */
static int put(const char *name, const char *val)
{
	char path[3600];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		rc = -errno;
	close(fd);
	return rc;
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
	char mnt[1024], rel[2048], parent[3200], path[3600], ctl[512], val[64];
	const char *why;
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
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
	if (read_line(path, ctl, sizeof(ctl)) || !has_word(ctl, "cpu") ||
	    !has_word(ctl, "memory")) {
		why = "the worker's cgroup v2 does not delegate the cpu and "
		      "memory controllers (cgroup.subtree_control)";
		goto fallback;
	}
	remove_stale(parent);
	snprintf(dir, sizeof(dir), "%.3200s/sukima-monitors-%d", parent,
		 (int)getpid());
	if (mkdir(dir, 0755)) {
		why = errno == EEXIST
			      ? "a cgroup of that name exists"
			      : "the worker's cgroup v2 is not writable";
		dir[0] = '\0';
		goto fallback;
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
	sk_info("cgroup v2: monitors in %s (cpu.idle, memory.max %llu MiB%s)",
		dir, (unsigned long long)(mem_bytes >> 20),
		cpu_max_pct > 0 ? ", cpu.max" : "");
	return 0;
undo:
	rc = rmdir(dir);
	(void)rc;
	dir[0] = '\0';
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
