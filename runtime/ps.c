/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm ps [--format table|json] ID [PS_ARGS...]`: the container's host processes. The
 * container's own processes live in the guest; on the host the container is its monitor and
 * the hypervisor under it, which is what `docker top` then shows (as with Kata Containers).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "base/error.h"
#include "runtime/lib/state.h"

/* @pid and its children (/proc/PID/task/TID/children), depth first. */
static void collect(pid_t pid, GArray *pids, int depth)
{
	g_autofree char *taskdir = g_strdup_printf("/proc/%d/task", pid);
	g_autoptr(GDir) d = g_dir_open(taskdir, 0, NULL);
	const char *tid;

	g_array_append_val(pids, pid);
	if (depth > 4)
		return;
	while (d && (tid = g_dir_read_name(d))) {
		g_autofree char *path = g_strdup_printf("%s/%s/children", taskdir, tid);
		g_autofree char *data = NULL;
		g_auto(GStrv) kids = NULL;

		if (!g_file_get_contents(path, &data, NULL, NULL))
			continue;
		kids = g_strsplit(g_strstrip(data), " ", -1);
		for (char **k = kids; *k; k++)
			if (**k)
				collect((pid_t)g_ascii_strtoll(*k, NULL, 10), pids, depth + 1);
	}
}

int rt_cmd_ps(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { 0 } };
	g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	g_autofree char *dir = NULL;
	struct rt_state *st = NULL;
	const char *format = "table";
	int c;

	while ((c = rt_getopt(argc, argv, "+f:", opts, "ps", err)) != -1) {
		if (c == -2)
			return -1;
		format = optarg;
	}
	if (strcmp(format, "table") && strcmp(format, "json"))
		return rt_make_error(err, 0, "ps: invalid format `%s` (table or json)", format);
	if (optind >= argc)
		return rt_make_error(err, 0, "ps: expected a container ID");
	if (rt_state_open(g->root, argv[optind], &dir, &st, NULL, err) < 0)
		return -1;
	if (strcmp(rt_state_status(st), "stopped") != 0)
		collect(st->pid, pids, 0);
	rt_state_free(st);

	if (strcmp(format, "json") == 0) {
		printf("[");
		for (guint i = 0; i < pids->len; i++)
			printf("%s%d", i ? "," : "", g_array_index(pids, pid_t, i));
		printf("]\n");
		return 0;
	}
	{
		/* runc runs the host's ps with the caller's arguments and keeps the header and
		 * the rows of the container's pids. */
		g_autoptr(GPtrArray) cmd = g_ptr_array_new();
		g_autofree char *out = NULL;
		g_auto(GStrv) lines = NULL;
		g_autoptr(GError) gerr = NULL;
		int pid_col = -1, wstatus;

		g_ptr_array_add(cmd, "ps");
		if (optind + 1 >= argc)
			g_ptr_array_add(cmd, "-ef");
		for (int i = optind + 1; i < argc; i++)
			g_ptr_array_add(cmd, argv[i]);
		g_ptr_array_add(cmd, NULL);
		if (!g_spawn_sync(NULL, (char **)cmd->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL,
				  &wstatus, &gerr))
			return rt_make_error(err, 0, "ps: %s", gerr->message);
		lines = g_strsplit(out, "\n", -1);
		if (!lines[0])
			return 0;
		{
			g_auto(GStrv) head = g_strsplit_set(lines[0], " \t", -1);
			int col = 0;

			for (char **h = head; *h; h++) {
				if (!**h)
					continue;
				if (strcmp(*h, "PID") == 0)
					pid_col = col;
				col++;
			}
		}
		if (pid_col < 0)
			return rt_make_error(err, 0, "ps: no PID column in the output of ps");
		printf("%s\n", lines[0]);
		for (char **l = lines + 1; *l; l++) {
			g_auto(GStrv) f = g_strsplit_set(*l, " \t", -1);
			int col = 0;

			for (char **x = f; *x; x++) {
				if (!**x)
					continue;
				if (col++ != pid_col)
					continue;
				for (guint i = 0; i < pids->len; i++)
					if (g_ascii_strtoll(*x, NULL, 10) == g_array_index(pids, pid_t, i))
						printf("%s\n", *l);
				break;
			}
		}
	}
	return 0;
}
