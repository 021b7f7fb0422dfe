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
#include "runtime/lib/spec.h"
#include "runtime/lib/state.h"

/* The bundle's config.json annotations, or NULL when it has none (or cannot be read now: the
 * state is shown all the same). The spec's parser took strings only. */
static JsonObject *bundle_annotations(const char *bundle)
{
	struct rt_spec *spec = NULL;
	struct rt_error *ignored = NULL;
	g_autoptr(JsonNode) n = NULL;

	if (!bundle || !*bundle || rt_spec_load(bundle, &spec, &ignored) < 0) {
		rt_error_free(&ignored);
		return NULL;
	}
	if (spec->annotations_json)
		n = json_from_string(spec->annotations_json, NULL);
	rt_spec_free(spec);
	if (!n || !JSON_NODE_HOLDS_OBJECT(n) || json_object_get_size(json_node_get_object(n)) == 0)
		return NULL;
	return json_object_ref(json_node_get_object(n));
}

static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(a, b);
}

/*
 * The state as runc prints it (containerState): rt_state_to_oci_json's members, with
 * `annotations` before `owner`, as an object of config.json's annotations with the keys sorted
 * (Go writes a map so), and left out when there are none (omitempty). runc keeps the
 * annotations of create in its state; runvm's state.json holds none, so they are the bundle's
 * config.json's now (what create read, unless it was changed since). `list` says @owner
 * where `state` says "".
 */
static char *state_json(const struct rt_state *st, const char *owner, bool pretty)
{
	g_autofree char *base = rt_state_to_oci_json(st);
	g_autoptr(JsonNode) parsed = json_from_string(base, NULL);
	g_autoptr(JsonObject) annotations = bundle_annotations(st->bundle);
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GList) names = NULL;
	JsonObject *o;

	if (!parsed || !JSON_NODE_HOLDS_OBJECT(parsed))
		return g_steal_pointer(&base);
	o = json_node_get_object(parsed);
	json_builder_begin_object(b);
	names = json_object_get_members(o); /* in the order they were added */
	for (GList *l = names; l; l = l->next) {
		const char *name = l->data;

		if (strcmp(name, "owner") == 0 && annotations) {
			g_autoptr(GList) keys = g_list_sort(json_object_get_members(annotations), by_name);

			json_builder_set_member_name(b, "annotations");
			json_builder_begin_object(b);
			for (GList *k = keys; k; k = k->next) {
				json_builder_set_member_name(b, k->data);
				json_builder_add_string_value(b, json_object_get_string_member(annotations, k->data));
			}
			json_builder_end_object(b);
		}
		json_builder_set_member_name(b, name);
		if (strcmp(name, "owner") == 0)
			json_builder_add_string_value(b, owner);
		else
			json_builder_add_value(b, json_node_copy(json_object_get_member(o, name)));
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, pretty);
	json_generator_set_indent(gen, 2);
	return json_generator_to_data(gen, NULL);
}

int rt_cmd_state(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	g_autofree char *dir = NULL;
	g_autofree char *json = NULL;
	struct rt_state *st = NULL;

	/* No lock: state is read-only, and the shim may ask while another command runs. */
	if (rt_verb_open(g, argc, argv, &dir, &st, NULL, err) < 0)
		return -1;
	json = state_json(st, "", true);
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
			g_autofree char *json = state_json(states->pdata[i], "root", false);

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
