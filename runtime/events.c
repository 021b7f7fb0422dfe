/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm events --stats ID`: one statistics event in runc 1.1's shape (its types/events.go:
 * the same members, zero values left out where runc leaves them out), read from the host
 * cgroup the monitor and its hypervisor are in: what the container costs the host. Without a
 * cgroupsPath there is no such cgroup: memory is the resident size of the monitor and its
 * children, pids their count. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "runtime/cli.h"
#include "base/error.h"
#include "runtime/cgroup.h"
#include "runtime/lib/state.h"

/* VmRSS of @pid and its children, in bytes. */
static unsigned long long rss_tree(pid_t pid, unsigned *ret_pids, int depth)
{
	g_autofree char *status = g_strdup_printf("/proc/%d/status", pid);
	g_autofree char *children = g_strdup_printf("/proc/%d/task/%d/children", pid, pid);
	g_autofree char *data = NULL;
	unsigned long long total = 0;
	char *p;

	if (!g_file_get_contents(status, &data, NULL, NULL))
		return 0;
	(*ret_pids)++;
	p = strstr(data, "VmRSS:");
	if (p)
		total = g_ascii_strtoull(p + 6, NULL, 10) * 1024;
	g_clear_pointer(&data, g_free);
	if (depth < 4 && g_file_get_contents(children, &data, NULL, NULL)) {
		g_auto(GStrv) kids = g_strsplit(g_strstrip(data), " ", -1);

		for (char **k = kids; *k; k++)
			if (**k)
				total += rss_tree((pid_t)g_ascii_strtoll(*k, NULL, 10), ret_pids, depth + 1);
	}
	return total;
}

/* The monitor's cgroup files, found by the hierarchy that has them. */
struct cg {
	pid_t pid;
};

/* The text of @file in @pid's cgroup that has it, or NULL; *@v2 says which version. */
static char *cg_read(const struct cg *c, const char *file, bool *v2)
{
	bool dummy;
	g_autofree char *dir = rt_cgroup_dir_of(c->pid, file, v2 ? v2 : &dummy);
	g_autofree char *p = dir ? g_build_filename(dir, file, NULL) : NULL;
	char *text = NULL;

	if (p && !g_file_get_contents(p, &text, NULL, NULL))
		return NULL;
	return text ? g_strstrip(text) : NULL;
}

/* A number file; "max" (no limit) is runc's math.MaxUint64 for v2, as it reports it. */
static bool cg_u64(const struct cg *c, const char *file, uint64_t *ret)
{
	g_autofree char *t = cg_read(c, file, NULL);

	if (!t)
		return false;
	*ret = strcmp(t, "max") == 0 ? UINT64_MAX : g_ascii_strtoull(t, NULL, 10);
	return true;
}

/* "KEY VALUE" lines (cpu.stat, memory.stat, cpuacct.stat) into a table of numbers. */
static GHashTable *cg_keyed(const struct cg *c, const char *file)
{
	g_autofree char *t = cg_read(c, file, NULL);
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_auto(GStrv) lines = t ? g_strsplit(t, "\n", -1) : NULL;

	for (char **l = lines; l && *l; l++) {
		char *sp = strchr(*l, ' ');
		uint64_t *v;

		if (!sp)
			continue;
		v = g_new(uint64_t, 1);
		*v = g_ascii_strtoull(sp + 1, NULL, 10);
		g_hash_table_insert(h, g_strndup(*l, (gsize)(sp - *l)), v);
	}
	return h;
}

static uint64_t keyed(GHashTable *h, const char *key)
{
	uint64_t *v = g_hash_table_lookup(h, key);

	return v ? *v : 0;
}

/* Go's omitempty: a zero number is left out. */
static void add_u64(JsonBuilder *b, const char *name, uint64_t v, bool omitempty)
{
	if (omitempty && !v)
		return;
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, (gint64)v);
}

/* A list of numbers ("123 456", "0-2,5" for a cpuset) as a JSON array; NULL: left out. */
static void add_list(JsonBuilder *b, const char *name, const char *text, bool ranges)
{
	g_auto(GStrv) items = NULL;

	if (!text || !*text)
		return;
	items = g_strsplit_set(text, ranges ? "," : " ", -1);
	json_builder_set_member_name(b, name);
	json_builder_begin_array(b);
	for (char **i = items; *i; i++) {
		char *dash = ranges ? strchr(*i, '-') : NULL;
		uint64_t lo, hi;

		if (!**i)
			continue;
		lo = g_ascii_strtoull(*i, NULL, 10);
		hi = dash ? g_ascii_strtoull(dash + 1, NULL, 10) : lo;
		for (uint64_t v = lo; v <= hi && v - lo < 4096; v++)
			json_builder_add_int_value(b, (gint64)v);
	}
	json_builder_end_array(b);
}

static void add_cpu(JsonBuilder *b, const struct cg *c)
{
	bool v2 = false;
	g_autofree char *probe = cg_read(c, "cpu.stat", &v2);
	g_autoptr(GHashTable) stat = cg_keyed(c, "cpu.stat");
	uint64_t total = 0;

	json_builder_set_member_name(b, "cpu");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "usage");
	json_builder_begin_object(b);
	if (v2) {
		/* cgroup v2 counts microseconds; runc reports nanoseconds */
		add_u64(b, "total", keyed(stat, "usage_usec") * 1000, true);
		add_u64(b, "kernel", keyed(stat, "system_usec") * 1000, false);
		add_u64(b, "user", keyed(stat, "user_usec") * 1000, false);
	} else {
		g_autofree char *percpu = cg_read(c, "cpuacct.usage_percpu", NULL);
		g_autofree char *psys = cg_read(c, "cpuacct.usage_percpu_sys", NULL);
		g_autofree char *puser = cg_read(c, "cpuacct.usage_percpu_user", NULL);
		g_autoptr(GHashTable) acct = cg_keyed(c, "cpuacct.stat");
		long hz = sysconf(_SC_CLK_TCK);
		uint64_t ns_per_tick = hz > 0 ? 1000000000ULL / (uint64_t)hz : 10000000ULL;

		if (cg_u64(c, "cpuacct.usage", &total))
			add_u64(b, "total", total, true);
		add_list(b, "percpu", percpu, false);
		add_list(b, "percpu_kernel", psys, false);
		add_list(b, "percpu_user", puser, false);
		/* cpuacct.stat is in clock ticks; runc converts to nanoseconds */
		add_u64(b, "kernel", keyed(acct, "system") * ns_per_tick, false);
		add_u64(b, "user", keyed(acct, "user") * ns_per_tick, false);
	}
	json_builder_end_object(b);
	json_builder_set_member_name(b, "throttling");
	json_builder_begin_object(b);
	add_u64(b, "periods", keyed(stat, "nr_periods"), true);
	add_u64(b, "throttled_periods", keyed(stat, "nr_throttled"), true);
	add_u64(b, "throttled_time", v2 ? keyed(stat, "throttled_usec") * 1000 : keyed(stat, "throttled_time"), true);
	json_builder_end_object(b);
	json_builder_end_object(b);
}

static void add_cpuset(JsonBuilder *b, const struct cg *c)
{
	bool v2 = false;
	g_autofree char *cpus = cg_read(c, "cpuset.cpus", &v2);
	g_autofree char *mems = cg_read(c, "cpuset.mems", NULL);
	g_autofree char *ecpus = v2 ? cg_read(c, "cpuset.cpus.effective", NULL) : NULL;
	g_autofree char *emems = v2 ? cg_read(c, "cpuset.mems.effective", NULL) : NULL;

	json_builder_set_member_name(b, "cpuset");
	json_builder_begin_object(b);
	/* v2 leaves cpuset.cpus empty when unset: what applies is the effective set */
	add_list(b, "cpus", cpus && *cpus ? cpus : ecpus, true);
	add_list(b, "mems", mems && *mems ? mems : emems, true);
	json_builder_end_object(b);
}

/* runc's MemoryEntry: limit and failcnt always, usage and max when not zero. */
static void add_mem_entry(JsonBuilder *b, const char *name, uint64_t limit, uint64_t usage, uint64_t max,
			  uint64_t failcnt)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_object(b);
	add_u64(b, "limit", limit, false);
	add_u64(b, "usage", usage, true);
	add_u64(b, "max", max, true);
	add_u64(b, "failcnt", failcnt, false);
	json_builder_end_object(b);
}

static void add_memory(JsonBuilder *b, const struct cg *c)
{
	bool v2 = false;
	g_autofree char *probe = cg_read(c, "memory.stat", &v2);
	g_autoptr(GHashTable) stat = cg_keyed(c, "memory.stat");
	uint64_t limit = 0, usage = 0, max = 0, failcnt = 0;

	json_builder_set_member_name(b, "memory");
	json_builder_begin_object(b);
	add_u64(b, "cache", v2 ? keyed(stat, "file") : keyed(stat, "cache"), true);
	if (v2) {
		uint64_t events_max = 0;
		g_autoptr(GHashTable) events = cg_keyed(c, "memory.events");

		cg_u64(c, "memory.max", &limit);
		cg_u64(c, "memory.current", &usage);
		cg_u64(c, "memory.peak", &max);
		events_max = keyed(events, "max");
		add_mem_entry(b, "usage", limit, usage, max, events_max);
	} else {
		cg_u64(c, "memory.limit_in_bytes", &limit);
		cg_u64(c, "memory.usage_in_bytes", &usage);
		cg_u64(c, "memory.max_usage_in_bytes", &max);
		cg_u64(c, "memory.failcnt", &failcnt);
		add_mem_entry(b, "usage", limit, usage, max, failcnt);
		limit = usage = max = failcnt = 0;
		cg_u64(c, "memory.memsw.limit_in_bytes", &limit);
		cg_u64(c, "memory.memsw.usage_in_bytes", &usage);
		cg_u64(c, "memory.memsw.max_usage_in_bytes", &max);
		cg_u64(c, "memory.memsw.failcnt", &failcnt);
		add_mem_entry(b, "swap", limit, usage, max, failcnt);
		limit = usage = max = failcnt = 0;
		cg_u64(c, "memory.kmem.limit_in_bytes", &limit);
		cg_u64(c, "memory.kmem.usage_in_bytes", &usage);
		cg_u64(c, "memory.kmem.max_usage_in_bytes", &max);
		cg_u64(c, "memory.kmem.failcnt", &failcnt);
		add_mem_entry(b, "kernel", limit, usage, max, failcnt);
	}
	if (g_hash_table_size(stat)) {
		g_autoptr(GList) keys = g_hash_table_get_keys(stat);

		json_builder_set_member_name(b, "raw");
		json_builder_begin_object(b);
		/* sorted, as Go prints a map */
		keys = g_list_sort(keys, (GCompareFunc)strcmp);
		for (GList *l = keys; l; l = l->next)
			add_u64(b, l->data, keyed(stat, l->data), false);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
}

static void add_pids(JsonBuilder *b, const struct cg *c)
{
	uint64_t cur = 0, max = 0;

	cg_u64(c, "pids.current", &cur);
	/* "max" is no limit: runc reports 0, so leaves it out */
	if (cg_u64(c, "pids.max", &max) && max == UINT64_MAX)
		max = 0;
	json_builder_set_member_name(b, "pids");
	json_builder_begin_object(b);
	add_u64(b, "current", cur, true);
	add_u64(b, "limit", max, true);
	json_builder_end_object(b);
}

/* The cgroup's statistics, runc's "data". */
static char *cgroup_stats(const char *id, pid_t pid)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	struct cg c = { .pid = pid };

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "type");
	json_builder_add_string_value(b, "stats");
	json_builder_set_member_name(b, "id");
	json_builder_add_string_value(b, id);
	json_builder_set_member_name(b, "data");
	json_builder_begin_object(b);
	add_cpu(b, &c);
	add_cpuset(b, &c);
	add_memory(b, &c);
	add_pids(b, &c);
	/* Not read yet: runc's empty objects, so that a consumer finds the members. */
	for (const char *const *e = (const char *const[]){ "blkio", "hugetlb", "intel_rdt", NULL }; *e; e++) {
		json_builder_set_member_name(b, *e);
		json_builder_begin_object(b);
		json_builder_end_object(b);
	}
	json_builder_set_member_name(b, "network_interfaces");
	json_builder_add_null_value(b);
	json_builder_end_object(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

int rt_cmd_events(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "stats", no_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ 0 },
	};
	g_autofree char *dir = NULL;
	struct rt_state *st = NULL;
	bool stats = false;
	unsigned pids = 0;
	unsigned long long rss;
	int c;

	while ((c = rt_getopt(argc, argv, "", opts, "events", err)) != -1) {
		if (c == -2)
			return -1;
		stats = stats || c == 's';
	}
	if (argc - optind != 1)
		return rt_make_error(err, 0, "events: expected exactly one container ID");
	if (!stats)
		return rt_make_error(err, EOPNOTSUPP, "events: only --stats is supported");
	if (rt_state_open(g->root, argv[optind], &dir, &st, NULL, err) < 0)
		return -1;
	if (strcmp(rt_state_status(st), "stopped") == 0) {
		rt_state_free(st);
		return rt_make_error(err, 0, "container not running");
	}
	if (*st->cgroups_path) {
		g_autofree char *json = cgroup_stats(st->id, st->pid);

		printf("%s\n", json);
		rt_state_free(st);
		return 0;
	}
	rss = rss_tree(st->pid, &pids, 0);
	printf("{\"type\":\"stats\",\"id\":\"%s\",\"data\":{\"cpu\":{},\"memory\":{\"usage\":{\"usage\":%llu}},"
	       "\"pids\":{\"current\":%u}}}\n",
	       st->id, rss, pids);
	rt_state_free(st);
	return 0;
}
