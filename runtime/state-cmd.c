/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm state ID` and `runvm list`: what runc prints, status derived as runc does. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "runtime/cli.h"
#include "base/error.h"
#include "runtime/lib/state.h"

int rt_cmd_state(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	g_autofree char *dir = NULL;
	g_autofree char *json = NULL;
	struct rt_state *st = NULL;

	/* No lock: state is read-only, and the shim may ask while another command runs. */
	if (rt_verb_open(g, argc, argv, &dir, &st, NULL, err) < 0)
		return -1;
	json = rt_state_to_oci_json(st, "", true);
	printf("%s", json);
	rt_state_free(st);
	return 0;
}

int rt_cmd_list(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	g_autofree char *root = g_canonicalize_filename(g->root, NULL);
	g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
	g_autoptr(GPtrArray) states = g_ptr_array_new_with_free_func((GDestroyNotify)rt_state_free);
	const char *format = "table", *name;
	bool quiet = false;
	int c;

	while ((c = rt_getopt(argc, argv, "f:q", opts, "list", err)) != -1) {
		if (c == -2)
			return -1;
		if (c == 'f')
			format = optarg;
		else if (c == 'q')
			quiet = true;
	}
	if (strcmp(format, "table") && strcmp(format, "json"))
		return rt_make_error(err, 0, "list: invalid format `%s` (table or json)", format);
	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *dir = g_build_filename(root, name, NULL);
		struct rt_state *st = NULL;
		struct rt_error *ignored = NULL;

		if (rt_state_load(dir, &st, &ignored) < 0) {
			rt_error_free(&ignored); /* being created or deleted right now */
			continue;
		}
		g_ptr_array_add(states, st);
	}
	if (quiet) {
		for (guint i = 0; i < states->len; i++)
			printf("%s\n", ((struct rt_state *)states->pdata[i])->id);
	} else if (strcmp(format, "json") == 0) {
		printf("[");
		for (guint i = 0; i < states->len; i++) {
			/* runc's list names the owner (the state directory's user: root here). */
			g_autofree char *json = rt_state_to_oci_json(states->pdata[i], "root", false);

			printf("%s%s", i ? "," : "", json);
		}
		printf("]\n");
	} else {
		printf("%-12s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
		for (guint i = 0; i < states->len; i++) {
			const struct rt_state *st = states->pdata[i];
			const char *status = rt_state_status(st);

			printf("%-12s %-8d %-10s %-40s %-30s %s\n", st->id, strcmp(status, "stopped") ? st->pid : 0,
			       status, st->bundle, st->created, "root");
		}
	}
	return 0;
}
