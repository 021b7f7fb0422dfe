/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "state.h"

int rt_check_id(const char *id, struct rt_error **err)
{
	if (!*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		goto bad;
	for (const char *p = id; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("_+.-", *p))
			goto bad;
	return 0;
bad:
	return rt_make_error(err, 0, "invalid container id `%s`", id);
}

int rt_root_prepare(const char *root, char **ret, struct rt_error **err)
{
	g_autofree char *abs = g_canonicalize_filename(root, NULL);

	if (strcmp(abs, "/") == 0)
		return rt_make_error(err, 0, "refusing `/` as --root");
	if (g_mkdir_with_parents(abs, 0700) < 0)
		return rt_make_error(err, errno, "create root directory `%s`", abs);
	*ret = g_steal_pointer(&abs);
	return 0;
}

int rt_state_dir_create(const char *root, const char *id, char **ret_dir, struct rt_error **err)
{
	g_autofree char *dir = g_build_filename(root, id, NULL);

	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return rt_make_error(err, 0, "container with given ID already exists");
		return rt_make_error(err, errno, "create state directory `%s`", dir);
	}
	*ret_dir = g_steal_pointer(&dir);
	return 0;
}

void rt_state_dir_remove(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	/* Flat by construction: runvm only puts plain files in it. */
	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(dir, name, NULL);

		unlink(p);
	}
	rmdir(dir);
}

int rt_state_write(const char *dir, const struct rt_state *st, struct rt_error **err)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) gerr = NULL;
	g_autofree char *path = g_build_filename(dir, "state.json", NULL);
	g_autofree char *data = NULL;

	json_builder_begin_object(b);
#define MEMBER_STR(k, v) do { json_builder_set_member_name(b, k); json_builder_add_string_value(b, v); } while (0)
	MEMBER_STR("ociVersion", st->oci_version);
	MEMBER_STR("id", st->id);
	MEMBER_STR("status", st->status);
	json_builder_set_member_name(b, "pid");
	json_builder_add_int_value(b, st->pid);
	MEMBER_STR("bundle", st->bundle);
	MEMBER_STR("rootfs", st->rootfs);
	MEMBER_STR("backend", st->backend);
	MEMBER_STR("accel", st->accel);
#undef MEMBER_STR
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	data = json_generator_to_data(gen, NULL);
	/* g_file_set_contents writes a temporary file and renames it: readers never see half. */
	if (!g_file_set_contents_full(path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &gerr))
		return rt_make_error(err, 0, "write `%s`: %s", path, gerr->message);
	return 0;
}
