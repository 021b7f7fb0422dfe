/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host cgroup of a container (see cgroup.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

/* One mounted hierarchy. */
struct hier {
	char *mnt;  /* its mount point: /sys/fs/cgroup/cpu, /sys/fs/cgroup (a v2 host) */
	char *opts; /* its super options: "rw,cpu", "rw,name=systemd"; v2: "rw,nsdelegate" */
	char *root; /* the part of the hierarchy mounted there: "/" outside a cgroup namespace */
	bool v2;
};

static void hier_free(gpointer p)
{
	struct hier *h = p;

	g_free(h->mnt);
	g_free(h->opts);
	g_free(h->root);
	g_free(h);
}

/* --- pure translations (tests/unit/test_cgroup.c) ------------------------------------------ */

unsigned long long rt_cgroup_memory_mib(const struct hv_backend_ops *ops, unsigned long long guest_mib)
{
	return guest_mib > ULLONG_MAX - ops->host_overhead_mib ? ULLONG_MAX : guest_mib + ops->host_overhead_mib;
}

long long rt_cgroup_host_pids(long long limit)
{
	if (limit <= 0)
		return limit < 0 ? -1 : 0;
	return limit > LLONG_MAX - RT_CGROUP_PIDS_OVERHEAD ? -1 : limit + RT_CGROUP_PIDS_OVERHEAD;
}

void rt_cgroup_limits_from(const struct rt_resources *res, unsigned long long mem_mib, struct rt_cgroup_limits *ret)
{
	*ret = (struct rt_cgroup_limits){
		.mem_mib = res->memory_limit > 0 ? mem_mib
			: res->memory_limit < 0  ? ULLONG_MAX
						 : 0,
		.cpu_quota = res->cpu_quota,
		.cpu_period = res->cpu_period,
		.cpu_shares = res->cpu_shares,
		.cpuset_cpus = res->cpuset_cpus && *res->cpuset_cpus ? res->cpuset_cpus : NULL,
		.cpuset_mems = res->cpuset_mems && *res->cpuset_mems ? res->cpuset_mems : NULL,
		.pids = rt_cgroup_host_pids(res->pids_limit),
		.blkio_weight = res->blkio_weight,
		.hugetlb = res->hugetlb,
		.n_hugetlb = res->n_hugetlb,
	};
}

/* runc's arithmetic, unsigned and wrapping as in Go: a share of 0 or 1 gives a weight the
 * kernel refuses, so such a request fails on v2 as runc's does. */
uint64_t rt_cgroup_shares_to_weight(uint64_t shares)
{
	return shares ? 1 + ((shares - 2) * 9999) / 262142 : 0;
}

uint64_t rt_cgroup_blkio_to_io_weight(uint64_t weight)
{
	return weight ? 1 + ((weight - 10) * 9999) / 990 : 0;
}

char *rt_cgroup_cpu_max(long long quota, unsigned long long period)
{
	g_autofree char *q = NULL;

	if (quota == 0 && period == 0)
		return NULL;
	q = quota > 0 ? g_strdup_printf("%lld", quota) : g_strdup("max");
	return period ? g_strdup_printf("%s %llu", q, period) : g_steal_pointer(&q);
}

char *rt_cgroup_inner_path(const char *path, const char *own, bool v2_host)
{
	g_autofree char *base = NULL;

	if (path[0] == '/')
		return g_strdup(path);
	base = v2_host ? g_path_get_dirname(own) : g_strdup(own);
	return g_build_filename(base, path, NULL);
}

/* Is @word one of the comma-separated @list? */
static bool in_list(const char *list, const char *word)
{
	g_auto(GStrv) items = g_strsplit(list, ",", -1);

	return g_strv_contains((const char *const *)items, word);
}

char *rt_cgroup_own_in(const char *text, const char *opts, bool v2)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	for (char **l = lines; *l; l++) {
		char *c1 = strchr(*l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		g_autofree char *ctls = NULL;
		g_auto(GStrv) names = NULL;
		bool match = true;

		if (!c2)
			continue;
		ctls = g_strndup(c1 + 1, (gsize)(c2 - c1 - 1));
		if (v2 || !*ctls) {
			if (v2 && !*ctls)
				return g_strdup(c2 + 1);
			continue;
		}
		/* The kernel names every controller of a v1 hierarchy there, as its mount does. */
		names = g_strsplit(ctls, ",", -1);
		for (char **n = names; *n; n++)
			match = match && in_list(opts, *n);
		if (match)
			return g_strdup(c2 + 1);
	}
	return NULL;
}

int rt_cgroup_path_supported(const char *path)
{
	g_auto(GStrv) parts = NULL;

	if (!path || !*path || strchr(path, ':') || strchr(path, '\n'))
		return 0;
	parts = g_strsplit(path, "/", -1);
	for (char **p = parts; *p; p++)
		if (strcmp(*p, "..") == 0)
			return 0;
	return 1;
}

/* --- the host's hierarchies ---------------------------------------------------------------- */

/* Every cgroup mount on /sys/fs/cgroup (a v2 host) or directly below it (v1 controllers,
 * systemd's named one, a hybrid host's "unified"), from /proc/self/mountinfo. */
static GPtrArray *hierarchies(void)
{
	GPtrArray *hs = g_ptr_array_new_with_free_func(hier_free);
	g_autofree char *data = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/self/mountinfo", &data, NULL, NULL))
		return hs;
	lines = g_strsplit(data, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_auto(GStrv) f = g_strsplit(*l, " ", -1);
		guint n = g_strv_length(f), sep;
		g_autofree char *parent = NULL;
		struct hier *h;

		for (sep = 6; sep < n && strcmp(f[sep], "-") != 0; sep++)
			;
		if (sep + 3 >= n || (strcmp(f[sep + 1], "cgroup") != 0 && strcmp(f[sep + 1], "cgroup2") != 0))
			continue;
		parent = g_path_get_dirname(f[4]);
		if (strcmp(f[4], CGROUP_ROOT) != 0 && strcmp(parent, CGROUP_ROOT) != 0)
			continue;
		/* A later mount on the same point hides the earlier one. */
		for (guint i = 0; i < hs->len; i++)
			if (strcmp(((struct hier *)hs->pdata[i])->mnt, f[4]) == 0)
				g_ptr_array_remove_index(hs, i--);
		h = g_new0(struct hier, 1);
		h->mnt = g_strdup(f[4]);
		h->root = g_strdup(f[3]);
		h->opts = g_strdup(f[sep + 3]);
		h->v2 = strcmp(f[sep + 1], "cgroup2") == 0;
		g_ptr_array_add(hs, h);
	}
	return hs;
}

static bool v2_host(GPtrArray *hs)
{
	return hs->len == 1 && ((struct hier *)hs->pdata[0])->v2 &&
		strcmp(((struct hier *)hs->pdata[0])->mnt, CGROUP_ROOT) == 0;
}

/* Does @h hold controller @ctl: named in a v1 mount's options, or enabled in a v2 root. */
static bool has_controller(const struct hier *h, const char *ctl)
{
	g_autofree char *p = NULL;
	g_autofree char *list = NULL;
	g_auto(GStrv) names = NULL;

	if (!h->v2)
		return in_list(h->opts, ctl);
	/* A hybrid host's unified hierarchy gets the controllers no v1 one has (hugetlb here):
	 * runc's v1 manager sets no limit there, and neither does runvm, so that what runc
	 * refuses (a hugetlb limit without a v1 hugetlb hierarchy) is refused here too. */
	if (strcmp(h->mnt, CGROUP_ROOT) != 0)
		return false;
	p = g_build_filename(h->mnt, "cgroup.controllers", NULL);
	if (!g_file_get_contents(p, &list, NULL, NULL))
		return false;
	names = g_strsplit_set(g_strstrip(list), " ", -1);
	return g_strv_contains((const char *const *)names, ctl);
}

/* @pid's cgroup in @h, below the hierarchy's mounted root; NULL when /proc says nothing. */
static char *own_cgroup(pid_t pid, const struct hier *h)
{
	g_autofree char *file = pid ? g_strdup_printf("/proc/%d/cgroup", pid) : g_strdup("/proc/self/cgroup");
	g_autofree char *text = NULL;
	g_autofree char *own = NULL;
	size_t rl = strlen(h->root);

	if (!g_file_get_contents(file, &text, NULL, NULL) || !(own = rt_cgroup_own_in(text, h->opts, h->v2)))
		return NULL;
	/* Inside a cgroup namespace the mount's root is the namespace's, as is /proc's view. */
	if (strcmp(h->root, "/") != 0 && strncmp(own, h->root, rl) == 0 && (own[rl] == '/' || !own[rl]))
		return g_strdup(own[rl] ? own + rl : "/");
	return g_steal_pointer(&own);
}

/* The directory of cgroupsPath @path in @h, for the calling process. */
static char *path_in(const struct hier *h, const char *path, bool v2h)
{
	g_autofree char *own = path[0] == '/' ? NULL : own_cgroup(0, h);
	g_autofree char *inner = rt_cgroup_inner_path(path, own ? own : "/", v2h);

	return g_build_filename(h->mnt, inner, NULL);
}

/* --- writing ------------------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *value)
{
	g_autofree char *p = g_build_filename(dir, name, NULL);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	e = errno;
	close(fd);
	return n < 0 ? -e : 0;
}

static bool exists(const char *dir, const char *name)
{
	g_autofree char *p = g_build_filename(dir, name, NULL);

	return access(p, F_OK) == 0;
}

/* Write @value to @dir/@name; runc's wording when the kernel refuses it. */
static int set(const char *dir, const char *name, const char *value, struct rt_error **err)
{
	int r = write_file(dir, name, value);

	if (r < 0)
		return rt_make_error(err, -r, "cgroup: failed to write \"%s\" to %s/%s", value, dir, name);
	return 0;
}

/* mkdir -p @path below @h's mount. v1 cpuset: cpus and mems copied in at every new level (a
 * process may not join an empty cpuset). v2: each level above the leaf gives its children the
 * controllers whose limits runvm sets, as runc does. */
static int make_path(const struct hier *h, const char *dir, struct rt_error **err)
{
	g_auto(GStrv) parts = g_strsplit(dir + strlen(h->mnt), "/", -1);
	g_autofree char *cur = g_strdup(h->mnt);
	bool cpuset = !h->v2 && in_list(h->opts, "cpuset");

	for (char **p = parts; *p; p++) {
		char *next;

		if (!**p)
			continue;
		if (h->v2 && strcmp(h->mnt, CGROUP_ROOT) == 0)
			for (const char *const *c = (const char *const[]){ "+cpuset", "+cpu", "+io", "+memory", "+pids",
									   "+hugetlb", NULL };
			     *c; c++)
				write_file(cur, "cgroup.subtree_control", *c); /* absent or busy: not there */
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
			int e = errno;

			rt_make_error(err, e, "create cgroup `%s`", next);
			g_free(next);
			return -1;
		}
		g_free(cur);
		cur = next;
	}
	return 0;
}

/* The limits of @lim whose controller @h holds, set in @dir, in runc 1.1's order and files. */
static int apply(const struct hier *h, const char *dir, const struct rt_cgroup_limits *lim, struct rt_error **err)
{
	bool v2 = h->v2;

	if ((lim->cpuset_cpus || lim->cpuset_mems) && has_controller(h, "cpuset")) {
		if (lim->cpuset_cpus && set(dir, "cpuset.cpus", lim->cpuset_cpus, err) < 0)
			return -1;
		if (lim->cpuset_mems && set(dir, "cpuset.mems", lim->cpuset_mems, err) < 0)
			return -1;
	}
	if (lim->mem_mib && has_controller(h, "memory")) {
		/* A limit in MiB that would wrap in bytes is as good as none. */
		g_autofree char *mem = lim->mem_mib > (ULLONG_MAX >> 20) ? g_strdup(v2 ? "max" : "-1")
									 : g_strdup_printf("%llu", lim->mem_mib << 20);

		if (set(dir, v2 ? "memory.max" : "memory.limit_in_bytes", mem, err) < 0)
			return -1;
	}
	if (has_controller(h, "cpu")) {
		if (v2) {
			g_autofree char *max = rt_cgroup_cpu_max(lim->cpu_quota, lim->cpu_period);
			g_autofree char *w = lim->cpu_shares
				? g_strdup_printf("%" PRIu64, rt_cgroup_shares_to_weight(lim->cpu_shares))
				: NULL;

			if ((w && set(dir, "cpu.weight", w, err) < 0) || (max && set(dir, "cpu.max", max, err) < 0))
				return -1;
		} else {
			g_autofree char *period = lim->cpu_period ? g_strdup_printf("%llu", lim->cpu_period) : NULL;
			g_autofree char *quota = lim->cpu_quota ? g_strdup_printf("%lld", lim->cpu_quota) : NULL;
			int r;

			if (lim->cpu_shares) {
				g_autofree char *s = g_strdup_printf("%llu", lim->cpu_shares);
				g_autofree char *p = g_build_filename(dir, "cpu.shares", NULL);
				g_autofree char *back = NULL;
				unsigned long long got;

				/* The kernel clamps cpu.shares to [2, 262144]: runc reads it back and refuses
				 * a value that did not stick, in these words. */
				if (set(dir, "cpu.shares", s, err) < 0)
					return -1;
				if (g_file_get_contents(p, &back, NULL, NULL) &&
				    (got = g_ascii_strtoull(back, NULL, 10)) != lim->cpu_shares)
					return rt_make_error(err, 0, "cgroup: the %s allowed cpu-shares is %llu",
							     lim->cpu_shares > got ? "maximum" : "minimum", got);
			}
			/* The period first; a shorter period the kernel refuses under the old quota
			 * (EINVAL) goes in again after the quota, as runc does it. */
			if (period) {
				r = write_file(dir, "cpu.cfs_period_us", period);
				if (r < 0 && (r != -EINVAL || !quota))
					return set(dir, "cpu.cfs_period_us", period, err);
				if (r == 0)
					g_clear_pointer(&period, g_free);
			}
			if (quota &&
			    (set(dir, "cpu.cfs_quota_us", quota, err) < 0 ||
			     (period && set(dir, "cpu.cfs_period_us", period, err) < 0)))
				return -1;
		}
	}
	if (lim->pids && has_controller(h, "pids")) {
		g_autofree char *v = lim->pids < 0 ? g_strdup("max") : g_strdup_printf("%lld", lim->pids);

		if (set(dir, "pids.max", v, err) < 0)
			return -1;
	}
	if (lim->blkio_weight && has_controller(h, v2 ? "io" : "blkio")) {
		g_autofree char *w = g_strdup_printf("%u", lim->blkio_weight);

		if (v2) {
			/* io.bfq.weight where BFQ is there, else io.weight in its own range. */
			g_autofree char *iow = g_strdup_printf("%" PRIu64,
							       rt_cgroup_blkio_to_io_weight(lim->blkio_weight));
			int r = write_file(dir, "io.bfq.weight", w);

			if (r == -ENOENT ? set(dir, "io.weight", iow, err) < 0
					 : r < 0 && set(dir, "io.bfq.weight", w, err) < 0)
				return -1;
		} else if (set(dir,
			       !exists(dir, "blkio.weight") && exists(dir, "blkio.bfq.weight") ? "blkio.bfq.weight"
											       : "blkio.weight",
			       w, err) < 0) {
			return -1;
		}
	}
	for (size_t i = 0; i < lim->n_hugetlb && has_controller(h, "hugetlb"); i++) {
		g_autofree char *f = g_strdup_printf(v2 ? "hugetlb.%s.max" : "hugetlb.%s.limit_in_bytes",
						     lim->hugetlb[i].page_size);
		g_autofree char *v = g_strdup_printf("%" PRIu64, lim->hugetlb[i].limit);

		if (set(dir, f, v, err) < 0)
			return -1;
	}
	return 0;
}

/* A limit whose controller no hierarchy holds fails before anything is made, as runc's does
 * ("container could not join or create cgroup": it made no directory for that controller). */
static int check_controllers(GPtrArray *hs, const struct rt_cgroup_limits *lim, struct rt_error **err)
{
	bool v2 = v2_host(hs);
	const struct {
		bool asked;
		const char *v1, *v2, *name;
	} want[] = {
		{ lim->cpuset_cpus || lim->cpuset_mems, "cpuset", "cpuset", "cpuset" },
		{ lim->mem_mib != 0, "memory", "memory", "memory" },
		{ lim->cpu_shares || lim->cpu_quota || lim->cpu_period, "cpu", "cpu", "cpu" },
		{ lim->pids != 0, "pids", "pids", "pids" },
		{ lim->blkio_weight != 0, "blkio", "io", "blkio" },
		{ lim->n_hugetlb != 0, "hugetlb", "hugetlb", "hugetlb" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
		bool found = false;

		for (guint k = 0; want[i].asked && !found && k < hs->len; k++)
			found = has_controller(hs->pdata[k], v2 ? want[i].v2 : want[i].v1);
		if (want[i].asked && !found)
			return rt_make_error(err, 0,
					     "cannot set %s limit: container could not join or create cgroup (the host "
					     "has no %s controller)",
					     want[i].name, v2 ? want[i].v2 : want[i].v1);
	}
	return 0;
}

int rt_cgroup_enter(const char *path, const struct rt_cgroup_limits *lim, GPtrArray **ret_dirs, struct rt_error **err)
{
	g_autoptr(GPtrArray) hs = hierarchies();
	g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *pid = g_strdup_printf("%d", getpid());
	bool v2h = v2_host(hs);

	if (hs->len == 0)
		return rt_make_error(err, 0, "cgroupsPath `%s`: no cgroup hierarchy is mounted on " CGROUP_ROOT, path);
	if (check_controllers(hs, lim, err) < 0)
		return -1;
	for (guint i = 0; i < hs->len; i++) {
		const struct hier *h = hs->pdata[i];
		g_autofree char *dir = path_in(h, path, v2h);
		int r;

		if (make_path(h, dir, err) < 0 || apply(h, dir, lim, err) < 0)
			goto fail;
		r = write_file(dir, "cgroup.procs", pid);
		if (r < 0) {
			rt_make_error(err, -r, "join cgroup `%s`", dir);
			goto fail;
		}
		g_ptr_array_add(dirs, g_steal_pointer(&dir));
	}
	if (ret_dirs)
		*ret_dirs = g_steal_pointer(&dirs);
	return 0;
fail:
	/* Nothing of a refused create stays: the leaves made so far go, as runc's do. */
	rt_cgroup_remove(path, true);
	return -1;
}

int rt_cgroup_attach(const GPtrArray *dirs, pid_t pid, struct rt_error **err)
{
	g_autofree char *value = g_strdup_printf("%d", pid);

	for (guint i = 0; i < dirs->len; i++) {
		int r = write_file(dirs->pdata[i], "cgroup.procs", value);

		if (r < 0)
			return rt_make_error(err, -r, "move process %d into cgroup `%s`", pid, (char *)dirs->pdata[i]);
	}
	return 0;
}

int rt_cgroup_update(pid_t pid, const char *path, const struct rt_cgroup_limits *lim, struct rt_error **err)
{
	g_autoptr(GPtrArray) hs = hierarchies();

	if (check_controllers(hs, lim, err) < 0)
		return -1;
	for (guint i = 0; i < hs->len; i++) {
		const struct hier *h = hs->pdata[i];
		g_autofree char *own = own_cgroup(pid, h);
		g_autofree char *dir = NULL;

		/* Where the monitor is: what create resolved @path to, whoever asks now. */
		if (!own)
			return rt_make_error(err, ESRCH, "cgroupsPath `%s`: the container's monitor (pid %d) is gone",
					     path, pid);
		dir = g_build_filename(h->mnt, own, NULL);
		if (apply(h, dir, lim, err) < 0)
			return -1;
	}
	return 0;
}

char *rt_cgroup_dir_of(pid_t pid, const char *file, bool *v2)
{
	g_autoptr(GPtrArray) hs = hierarchies();

	/* v1 first: a hybrid host's unified hierarchy has files such as cpu.stat of its own. */
	for (guint i = 0; i < 2 * hs->len; i++) {
		const struct hier *h = hs->pdata[i % hs->len];
		g_autofree char *own = h->v2 == (i >= hs->len) ? own_cgroup(pid, h) : NULL;
		g_autofree char *dir = own ? g_build_filename(h->mnt, own, NULL) : NULL;

		if (dir && exists(dir, file)) {
			*v2 = h->v2;
			return g_steal_pointer(&dir);
		}
	}
	return NULL;
}

void rt_cgroup_remove(const char *path, bool leave)
{
	g_autoptr(GPtrArray) hs = NULL;
	g_autofree char *pid = g_strdup_printf("%d", getpid());
	bool v2h;

	if (!rt_cgroup_path_supported(path))
		return;
	hs = hierarchies();
	v2h = v2_host(hs);
	for (guint i = 0; i < hs->len; i++) {
		const struct hier *h = hs->pdata[i];
		/* Resolved before leaving: a relative path is the caller's own cgroup's child. */
		g_autofree char *dir = path_in(h, path, v2h);

		if (leave) {
			g_autofree char *own = path[0] == '/' ? NULL : own_cgroup(0, h);
			g_autofree char *here = own ? g_build_filename(h->mnt, own, NULL) : NULL;

			/* `run` is in the container's cgroup itself: that is the one to remove. */
			g_autofree char *back = NULL;

			if (here && g_str_has_suffix(here, path) && strcmp(here, h->mnt) != 0) {
				g_free(dir);
				dir = g_steal_pointer(&here);
			}
			/* Back where a relative path began (v1: the caller's own cgroup), else the root. */
			back = path[0] != '/' && !h->v2 ? g_path_get_dirname(dir) : g_strdup(h->mnt);
			if (write_file(back, "cgroup.procs", pid) < 0)
				write_file(h->mnt, "cgroup.procs", pid);
		}
		/* Only the leaf: its parents (/docker) are shared with other containers. The
		 * hypervisor dies with its monitor, a moment later: give it a second. */
		for (int tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 20; tries++)
			g_usleep(50 * 1000);
		if (access(dir, F_OK) == 0)
			rt_debug("cgroup %s: could not remove it", dir);
	}
}
