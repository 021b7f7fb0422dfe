/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm events --stats ID`: one statistics event, runc's shape, measured on the host: the
 * memory the container costs is its monitor's and hypervisor's. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "base/error.h"
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
	rss = rss_tree(st->pid, &pids, 0);
	printf("{\"type\":\"stats\",\"id\":\"%s\",\"data\":{\"cpu\":{},\"memory\":{\"usage\":{\"usage\":%llu}},"
	       "\"pids\":{\"current\":%u}}}\n",
	       st->id, rss, pids);
	rt_state_free(st);
	return 0;
}
