/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "runtime/lib/state.h"

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

static void remove_tree(const char *dir, int depth)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(dir, name, NULL);

		/* Only what runvm made: files, sockets, and mounts/N, the empty targets of bind
		 * mounts that live in the monitor's own mount namespace. Never descend into a
		 * mounts/N: where it is still a mount it is a user's directory (rmdir and unlink
		 * then fail with EBUSY, which is what we want). */
		if (unlink(p) < 0 && errno == EISDIR) {
			if (depth == 0)
				remove_tree(p, 1);
			else
				rmdir(p);
		}
	}
	rmdir(dir);
}

void rt_state_dir_remove(const char *dir)
{
	remove_tree(dir, 0);
}

int rt_state_lock(const char *dir, int *ret_fd, struct rt_error **err)
{
	g_autofree char *path = g_build_filename(dir, "lock", NULL);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return rt_make_error(err, errno == ENOENT ? 0 : errno,
				     errno == ENOENT ? "container does not exist" : "lock `%s`", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return rt_make_error(err, errno, "lock `%s`", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

void rt_state_free(struct rt_state *st)
{
	if (!st)
		return;
	g_free(st->oci_version);
	g_free(st->id);
	g_free(st->status);
	g_free(st->bundle);
	g_free(st->rootfs);
	g_free(st->created);
	g_free(st->backend);
	g_free(st->accel);
	g_free(st->cgroups_path);
	g_free(st);
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
#define MEMBER_STR(k, v)                                          \
	do {                                                      \
		json_builder_set_member_name(b, k);               \
		json_builder_add_string_value(b, (v) ? (v) : ""); \
	} while (0)
	MEMBER_STR("ociVersion", st->oci_version);
	MEMBER_STR("id", st->id);
	MEMBER_STR("status", st->status);
	json_builder_set_member_name(b, "pid");
	json_builder_add_int_value(b, st->pid);
	json_builder_set_member_name(b, "pidStart");
	json_builder_add_int_value(b, (gint64)st->pid_start);
	MEMBER_STR("bundle", st->bundle);
	MEMBER_STR("rootfs", st->rootfs);
	MEMBER_STR("created", st->created);
	MEMBER_STR("backend", st->backend);
	MEMBER_STR("accel", st->accel);
	MEMBER_STR("cgroupsPath", st->cgroups_path);
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

/* A member of state.json: absent is empty (or 0), another type makes the file invalid (json-glib's
 * typed getters would print a GLib critical, and a NULL string would reach strcmp()). */
static char *state_str(JsonObject *o, const char *k, bool *bad)
{
	JsonNode *n = json_object_get_member(o, k);

	if (n && (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING))
		*bad = true;
	return g_strdup(n && !*bad ? json_node_get_string(n) : "");
}

static gint64 state_int(JsonObject *o, const char *k, bool *bad)
{
	JsonNode *n = json_object_get_member(o, k);

	if (n && (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64))
		*bad = true;
	return n && !*bad ? json_node_get_int(n) : 0;
}

int rt_state_load(const char *dir, struct rt_state **ret, struct rt_error **err)
{
	g_autofree char *path = g_build_filename(dir, "state.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) gerr = NULL;
	struct rt_state *st;
	JsonObject *o;
	JsonNode *root;
	bool bad = false;

	if (!json_parser_load_from_file(parser, path, &gerr)) {
		if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return rt_make_error(err, 0, "container does not exist");
		return rt_make_error(err, 0, "read `%s`: %s", path, gerr->message);
	}
	root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "`%s` is not a state file", path);
	o = json_node_get_object(root);
	st = g_new0(struct rt_state, 1);
#define GET_STR(k) state_str(o, k, &bad)
	st->oci_version = GET_STR("ociVersion");
	st->id = GET_STR("id");
	st->status = GET_STR("status");
	st->bundle = GET_STR("bundle");
	st->rootfs = GET_STR("rootfs");
	st->created = GET_STR("created");
	st->backend = GET_STR("backend");
	st->accel = GET_STR("accel");
	st->cgroups_path = GET_STR("cgroupsPath");
#undef GET_STR
	st->pid = (pid_t)state_int(o, "pid", &bad);
	st->pid_start = (unsigned long long)state_int(o, "pidStart", &bad);
	if (bad) {
		rt_state_free(st);
		return rt_make_error(err, 0, "`%s` is not a state file", path);
	}
	*ret = st;
	return 0;
}

unsigned long long rt_pid_start_time(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree char *data = NULL;
	g_auto(GStrv) fields = NULL;
	char *p;

	if (pid <= 0 || !g_file_get_contents(path, &data, NULL, NULL))
		return 0;
	/* comm (field 2) may hold spaces and parentheses: fields count from the last ')'. */
	p = strrchr(data, ')');
	if (!p)
		return 0;
	fields = g_strsplit(p + 2, " ", 0);
	/* fields[0] is field 3 (state); field 22 (starttime) is fields[19] */
	if (g_strv_length(fields) < 20 || fields[0][0] == 'Z' || fields[0][0] == 'X')
		return 0;
	return g_ascii_strtoull(fields[19], NULL, 10);
}

const char *rt_state_status(const struct rt_state *st)
{
	unsigned long long start;

	/* Written before the monitor exists; `create` removes it again if it fails. */
	if (st->pid <= 0)
		return strcmp(st->status, "creating") == 0 ? "creating" : "stopped";
	start = rt_pid_start_time(st->pid);
	if (!start || start != st->pid_start)
		return "stopped";
	return st->status;
}

char *rt_state_to_oci_json(const struct rt_state *st)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	const char *status = rt_state_status(st);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "ociVersion");
	json_builder_add_string_value(b, st->oci_version);
	json_builder_set_member_name(b, "id");
	json_builder_add_string_value(b, st->id);
	json_builder_set_member_name(b, "pid");
	json_builder_add_int_value(b, strcmp(status, "stopped") ? st->pid : 0);
	json_builder_set_member_name(b, "status");
	json_builder_add_string_value(b, status);
	json_builder_set_member_name(b, "bundle");
	json_builder_add_string_value(b, st->bundle);
	json_builder_set_member_name(b, "rootfs");
	json_builder_add_string_value(b, st->rootfs);
	json_builder_set_member_name(b, "created");
	json_builder_add_string_value(b, st->created);
	json_builder_set_member_name(b, "owner");
	json_builder_add_string_value(b, "");
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	json_generator_set_indent(gen, 2);
	return json_generator_to_data(gen, NULL);
}

int rt_state_open(const char *root, const char *id, char **ret_dir, struct rt_state **ret, int *ret_lock_fd,
		  struct rt_error **err)
{
	g_autofree char *abs = g_canonicalize_filename(root, NULL);
	g_autofree char *dir = NULL;
	_cleanup_close_ int lock = -EBADF;

	if (rt_check_id(id, err) < 0)
		return -1;
	dir = g_build_filename(abs, id, NULL);
	if (access(dir, F_OK) < 0)
		return rt_make_error(err, 0, "container does not exist");
	if (ret_lock_fd && rt_state_lock(dir, &lock, err) < 0)
		return -1;
	if (rt_state_load(dir, ret, err) < 0)
		return -1;
	if (ret_lock_fd)
		*ret_lock_fd = TAKE_FD(lock);
	*ret_dir = g_steal_pointer(&dir);
	return 0;
}
