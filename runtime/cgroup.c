/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "hypervisor-backends/backend.h"
#include "runtime/cgroup.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

int rt_cgroup_path_supported(const char *path)
{
	return path && path[0] == '/' && !strchr(path, ':') && !strstr(path, "..");
}

static int write_file(const char *dir, const char *name, const char *value)
{
	g_autofree char *p = g_build_filename(dir, name, NULL);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* The hierarchies to join: every cgroup mount under /sys/fs/cgroup (v1 controllers, systemd's
 * named one, the hybrid "unified"), or /sys/fs/cgroup itself on a pure v2 host. Links such as
 * cpu -> cpu,cpuacct are the same hierarchy and skipped. */
static GPtrArray *hierarchies(void)
{
	GPtrArray *dirs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) d = NULL;
	const char *name;

	if (access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0) {
		g_ptr_array_add(dirs, g_strdup(CGROUP_ROOT));
		return dirs;
	}
	d = g_dir_open(CGROUP_ROOT, 0, NULL);
	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(CGROUP_ROOT, name, NULL);
		g_autofree char *procs = g_build_filename(p, "cgroup.procs", NULL);
		struct stat st;

		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && access(procs, F_OK) == 0)
			g_ptr_array_add(dirs, g_steal_pointer(&p));
	}
	return dirs;
}

/* mkdir -p @path below @root; cpuset needs cpus and mems filled in at every new level before
 * a process may join. */
static int make_path(const char *root, const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	g_autofree char *cur = g_strdup(root);
	bool cpuset = g_str_has_suffix(root, "/cpuset");

	for (char **p = parts; *p; p++) {
		char *next;

		if (!**p)
			continue;
		next = g_build_filename(cur, *p, NULL);
		if (mkdir(next, 0755) == 0 && cpuset) {
			for (const char *const *f = (const char *const[]){ "cpuset.cpus", "cpuset.mems", NULL }; *f;
			     f++) {
				g_autofree char *parent = g_build_filename(cur, *f, NULL);
				g_autofree char *val = NULL;

				if (g_file_get_contents(parent, &val, NULL, NULL))
					write_file(next, *f, val);
			}
		} else if (errno != EEXIST && access(next, F_OK) < 0) {
			int e = -errno;

			g_free(next);
			return e;
		}
		g_free(cur);
		cur = next;
	}
	return 0;
}

/* Returns < 0 when a limit that applies here could not be set. */
static int apply_limits(const char *dir, unsigned long long mem_mib, long long quota, unsigned long long period,
			bool v2)
{
	g_autofree char *mem = NULL;
	g_autofree char *cpu = NULL;
	int r = 0;

	/* A limit in MiB that would wrap in bytes is as good as none. */
	if (mem_mib)
		mem = mem_mib > (ULLONG_MAX >> 20) ? g_strdup("max") : g_strdup_printf("%llu", mem_mib << 20);
	if (quota > 0 && period > 0)
		cpu = g_strdup_printf("%lld", quota);
	/* Each limit lives in one v1 hierarchy (or in the v2 one): set it where its file is. */
	if (mem) {
		const char *file = v2 ? "memory.max" : "memory.limit_in_bytes";
		g_autofree char *p = g_build_filename(dir, file, NULL);

		if (access(p, F_OK) == 0 && write_file(dir, file, mem) < 0)
			r = -1;
	}
	if (cpu) {
		g_autofree char *p = g_build_filename(dir, v2 ? "cpu.max" : "cpu.cfs_quota_us", NULL);
		g_autofree char *per = g_strdup_printf("%llu", period);
		g_autofree char *max = g_strdup_printf("%s %s", cpu, per);

		if (access(p, F_OK) == 0 &&
		    (v2 ? write_file(dir, "cpu.max", max) < 0
			: write_file(dir, "cpu.cfs_period_us", per) < 0 ||
				     write_file(dir, "cpu.cfs_quota_us", cpu) < 0))
			r = -1;
	}
	return r;
}

int rt_cgroup_set_limits(const char *path, unsigned long long mem_mib, long long quota, unsigned long long period,
			 struct rt_error **err)
{
	g_autoptr(GPtrArray) dirs = hierarchies();
	bool v2 = dirs->len == 1 && strcmp(dirs->pdata[0], CGROUP_ROOT) == 0;

	for (guint i = 0; i < dirs->len; i++) {
		g_autofree char *dir = g_build_filename(dirs->pdata[i], path, NULL);

		if (apply_limits(dir, mem_mib, quota, period, v2) < 0)
			return rt_make_error(err, errno, "cgroup `%s`: cannot set the limits", dir);
	}
	return 0;
}

unsigned long long rt_cgroup_memory_mib(const struct hv_backend_ops *ops, unsigned long long guest_mib)
{
	return guest_mib > ULLONG_MAX - ops->host_overhead_mib ? ULLONG_MAX : guest_mib + ops->host_overhead_mib;
}

int rt_cgroup_enter(const char *path, const struct rt_spec *spec, unsigned long long mem_mib, struct rt_error **err)
{
	g_autoptr(GPtrArray) dirs = hierarchies();
	g_autofree char *pid = g_strdup_printf("%d", getpid());
	bool v2 = dirs->len == 1 && strcmp(dirs->pdata[0], CGROUP_ROOT) == 0;

	if (v2) /* let the leaf use the controllers whose limits we set */
		write_file(CGROUP_ROOT, "cgroup.subtree_control", "+memory +cpu +pids");
	for (guint i = 0; i < dirs->len; i++) {
		const char *root = dirs->pdata[i];
		g_autofree char *dir = g_build_filename(root, path, NULL);
		int r = make_path(root, path);

		if (r < 0)
			return rt_make_error(err, -r, "create cgroup `%s`", dir);
		if (apply_limits(dir, spec->memory_limit > 0 ? mem_mib : 0, spec->cpu_quota, spec->cpu_period, v2) < 0)
			rt_warn("cgroup %s: cannot set the limits, ignoring", dir);
		r = write_file(dir, "cgroup.procs", pid);
		if (r < 0)
			return rt_make_error(err, -r, "join cgroup `%s`", dir);
	}
	return 0;
}

void rt_cgroup_remove(const char *path, bool leave)
{
	g_autoptr(GPtrArray) dirs = NULL;
	g_autofree char *pid = g_strdup_printf("%d", getpid());

	if (!rt_cgroup_path_supported(path))
		return;
	dirs = hierarchies();
	for (guint i = 0; i < dirs->len; i++) {
		g_autofree char *dir = g_build_filename(dirs->pdata[i], path, NULL);

		if (leave)
			write_file(dirs->pdata[i], "cgroup.procs", pid);
		/* Only the leaf: its parents (/docker) are shared with other containers. The
		 * hypervisor dies with its monitor, a moment later: give it a second. */
		for (int tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 20; tries++)
			g_usleep(50 * 1000);
		if (access(dir, F_OK) == 0)
			rt_debug("cgroup %s: could not remove it", dir);
	}
}
