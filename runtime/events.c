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

/* One table of runc's blkio statistics, its JSON name and what it holds. */
enum { BLK_BYTES, BLK_IOS, BLK_QUEUED, BLK_SVCTIME, BLK_WAIT, BLK_MERGED, BLK_TIME, BLK_SECTORS, BLK_N };
static const char *const blk_names[BLK_N] = {
	"ioServiceBytesRecursive", "ioServicedRecursive", "ioQueueRecursive", "ioServiceTimeRecursive",
	"ioWaitTimeRecursive",     "ioMergedRecursive",   "ioTimeRecursive",  "sectorsRecursive",
};

struct blk_entry {
	uint64_t major, minor, value;
	char op[16];
};

/* The entries of a v1 blkio file ("MAJ:MIN OP VALUE" or "MAJ:MIN VALUE" lines, the "Total N"
 * line left out), as runc's getBlkioStat reads them. Returns how many; 0 for a missing file, one
 * with no entries, or a malformed one. */
static guint blk_read(const struct cg *c, const char *file, GArray *out)
{
	g_autofree char *t = cg_read(c, file, NULL);
	g_auto(GStrv) lines = t ? g_strsplit(t, "\n", -1) : NULL;
	guint before = out->len;

	for (char **l = lines; l && *l; l++) {
		g_auto(GStrv) f = g_strsplit_set(*l, " :", -1);
		struct blk_entry e = { 0 };
		guint n = 0;
		char *w[4];

		for (char **x = f; *x && n < 5; x++)
			if (**x)
				w[n < 4 ? n : 3] = *x, n++;
		if (n == 2 && strcmp(w[0], "Total") == 0)
			continue;
		if (n != 3 && n != 4) {
			g_array_set_size(out, before); /* runc fails on it: nothing from this file */
			return 0;
		}
		e.major = g_ascii_strtoull(w[0], NULL, 10);
		e.minor = g_ascii_strtoull(w[1], NULL, 10);
		if (n == 4)
			g_strlcpy(e.op, w[2], sizeof(e.op));
		e.value = g_ascii_strtoull(w[n - 1], NULL, 10);
		g_array_append_val(out, e);
	}
	return out->len - before;
}

/* v2's io.stat in runc's v1 tables: rbytes and wbytes are service bytes Read and Write, rios
 * and wios serviced; the rest has no v1 table and is left out, as runc leaves it out. */
static void blk_read_v2(const struct cg *c, GArray **tables)
{
	g_autofree char *t = cg_read(c, "io.stat", NULL);
	g_auto(GStrv) lines = t ? g_strsplit(t, "\n", -1) : NULL;

	for (char **l = lines; l && *l; l++) {
		g_auto(GStrv) f = g_strsplit(*l, " ", -1);
		unsigned long long major = 0, minor = 0;

		if (!f[0] || sscanf(f[0], "%llu:%llu", &major, &minor) != 2)
			continue;
		for (char **kv = f + 1; *kv; kv++) {
			static const struct {
				const char *key, *op;
				int table;
			} map[] = { { "rbytes", "Read", BLK_BYTES },
				    { "wbytes", "Write", BLK_BYTES },
				    { "rios", "Read", BLK_IOS },
				    { "wios", "Write", BLK_IOS } };
			char *eq = strchr(*kv, '=');

			for (size_t i = 0; eq && i < G_N_ELEMENTS(map); i++) {
				struct blk_entry e = { .major = major, .minor = minor };

				if (strncmp(*kv, map[i].key, (size_t)(eq - *kv)) ||
				    strlen(map[i].key) != (size_t)(eq - *kv))
					continue;
				g_strlcpy(e.op, map[i].op, sizeof(e.op));
				e.value = g_ascii_strtoull(eq + 1, NULL, 10);
				g_array_append_val(tables[map[i].table], e);
			}
		}
	}
}

/*
 * runc 1.1's blkio statistics. v1: the first group of files whose first file has entries
 * (BFQ's debug files, BFQ's, CFQ's, the throttle's recursive ones, the throttle's own), each
 * file of it in turn until one has none; a table runc has no file for stays empty. Empty
 * tables are left out (omitempty), as are zero members of an entry.
 */
static void add_blkio(JsonBuilder *b, const struct cg *c)
{
	static const struct {
		const char *file;
		int table;
	} groups[][8] = {
		{ { "blkio.bfq.sectors_recursive", BLK_SECTORS },
		  { "blkio.bfq.io_service_time_recursive", BLK_SVCTIME },
		  { "blkio.bfq.io_wait_time_recursive", BLK_WAIT },
		  { "blkio.bfq.io_merged_recursive", BLK_MERGED },
		  { "blkio.bfq.io_queued_recursive", BLK_QUEUED },
		  { "blkio.bfq.time_recursive", BLK_TIME },
		  { "blkio.bfq.io_serviced_recursive", BLK_IOS },
		  { "blkio.bfq.io_service_bytes_recursive", BLK_BYTES } },
		{ { "blkio.bfq.io_serviced_recursive", BLK_IOS },
		  { "blkio.bfq.io_service_bytes_recursive", BLK_BYTES } },
		{ { "blkio.sectors_recursive", BLK_SECTORS },
		  { "blkio.io_service_time_recursive", BLK_SVCTIME },
		  { "blkio.io_wait_time_recursive", BLK_WAIT },
		  { "blkio.io_merged_recursive", BLK_MERGED },
		  { "blkio.io_queued_recursive", BLK_QUEUED },
		  { "blkio.time_recursive", BLK_TIME },
		  { "blkio.io_serviced_recursive", BLK_IOS },
		  { "blkio.io_service_bytes_recursive", BLK_BYTES } },
		{ { "blkio.throttle.io_serviced_recursive", BLK_IOS },
		  { "blkio.throttle.io_service_bytes_recursive", BLK_BYTES } },
		{ { "blkio.throttle.io_serviced", BLK_IOS }, { "blkio.throttle.io_service_bytes", BLK_BYTES } },
	};
	GArray *tables[BLK_N];
	bool v2 = false;
	g_autofree char *probe = cg_read(c, "io.stat", &v2);

	for (int i = 0; i < BLK_N; i++)
		tables[i] = g_array_new(FALSE, TRUE, sizeof(struct blk_entry));
	if (probe && v2) {
		blk_read_v2(c, tables);
	} else {
		for (size_t g = 0; g < G_N_ELEMENTS(groups); g++) {
			if (!groups[g][0].file || !blk_read(c, groups[g][0].file, tables[groups[g][0].table]))
				continue;
			for (size_t i = 1; i < G_N_ELEMENTS(groups[g]) && groups[g][i].file; i++)
				if (!blk_read(c, groups[g][i].file, tables[groups[g][i].table]))
					break;
			break;
		}
	}
	json_builder_set_member_name(b, "blkio");
	json_builder_begin_object(b);
	for (int i = 0; i < BLK_N; i++) {
		if (tables[i]->len) {
			json_builder_set_member_name(b, blk_names[i]);
			json_builder_begin_array(b);
			for (guint k = 0; k < tables[i]->len; k++) {
				const struct blk_entry *e = &g_array_index(tables[i], struct blk_entry, k);

				json_builder_begin_object(b);
				add_u64(b, "major", e->major, true);
				add_u64(b, "minor", e->minor, true);
				if (*e->op) {
					json_builder_set_member_name(b, "op");
					json_builder_add_string_value(b, e->op);
				}
				add_u64(b, "value", e->value, true);
				json_builder_end_object(b);
			}
			json_builder_end_array(b);
		}
		g_array_free(tables[i], TRUE);
	}
	json_builder_end_object(b);
}

/* runc's name of a huge page size of @kb KiB (the kernel's mem_fmt): "2MB", "1GB", "64KB". */
static char *hugepage_name(unsigned long long kb)
{
	if (kb >= 1ULL << 20)
		return g_strdup_printf("%lluGB", kb >> 20);
	if (kb >= 1ULL << 10)
		return g_strdup_printf("%lluMB", kb >> 10);
	return g_strdup_printf("%lluKB", kb);
}

/* g_ptr_array_sort's comparison: it passes pointers to the elements. */
static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* runc's hugetlb statistics: one entry per huge page size the host has (named as runc names
 * it, sorted as Go writes a map), where the container's cgroup has the hugetlb controller:
 * v1 usage_in_bytes, max_usage_in_bytes and failcnt; v2 current, and the "max" count of
 * hugetlb.SIZE.events as failcnt. usage and max are left out when zero, failcnt never. */
static void add_hugetlb(JsonBuilder *b, const struct cg *c)
{
	g_autoptr(GDir) d = g_dir_open("/sys/kernel/mm/hugepages", 0, NULL);
	g_autoptr(GPtrArray) sizes = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		char *end = NULL;
		unsigned long long kb;

		if (!g_str_has_prefix(name, "hugepages-"))
			continue;
		kb = g_ascii_strtoull(name + 10, &end, 10);
		if (end == name + 10 || strcmp(end, "kB") != 0)
			continue;
		g_ptr_array_add(sizes, hugepage_name(kb));
	}
	g_ptr_array_sort(sizes, by_name);
	json_builder_set_member_name(b, "hugetlb");
	json_builder_begin_object(b);
	for (guint i = 0; i < sizes->len; i++) {
		const char *size = sizes->pdata[i];
		g_autofree char *usage_f = g_strdup_printf("hugetlb.%s.usage_in_bytes", size);
		g_autofree char *max_f = g_strdup_printf("hugetlb.%s.max_usage_in_bytes", size);
		g_autofree char *fail_f = g_strdup_printf("hugetlb.%s.failcnt", size);
		g_autofree char *cur_f = g_strdup_printf("hugetlb.%s.current", size);
		g_autofree char *ev_f = g_strdup_printf("hugetlb.%s.events", size);
		uint64_t usage = 0, max = 0, failcnt = 0;
		bool v2 = false;
		g_autofree char *v1_probe = cg_read(c, usage_f, &v2);
		g_autofree char *v2_probe = v1_probe ? NULL : cg_read(c, cur_f, &v2);

		if (v1_probe) {
			cg_u64(c, usage_f, &usage);
			cg_u64(c, max_f, &max);
			cg_u64(c, fail_f, &failcnt);
		} else if (v2_probe) {
			g_autoptr(GHashTable) ev = cg_keyed(c, ev_f);

			cg_u64(c, cur_f, &usage);
			failcnt = keyed(ev, "max");
		} else {
			continue;
		}
		json_builder_set_member_name(b, size);
		json_builder_begin_object(b);
		add_u64(b, "usage", usage, true);
		add_u64(b, "max", max, true);
		add_u64(b, "failcnt", failcnt, false);
		json_builder_end_object(b);
	}
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
	add_blkio(b, &c);
	add_hugetlb(b, &c);
	/* Intel RDT is the host's resctrl, which runvm does not set: runc's empty object. */
	json_builder_set_member_name(b, "intel_rdt");
	json_builder_begin_object(b);
	json_builder_end_object(b);
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
