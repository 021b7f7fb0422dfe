/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

	g_autofree char *lock = g_build_filename(dir, "lock", NULL);
	_cleanup_close_ int fd = -EBADF;

	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return rt_make_error(err, 0, "container with given ID already exists");
		return rt_make_error(err, errno, "create state directory `%s`", dir);
	}
	/* The lock file is made here, once: rt_state_lock() never creates it, so a verb that
	 * locks while `delete` empties the directory cannot leave a new one behind. */
	fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		rmdir(dir);
		return rt_make_error(err, e, "create `%s`", lock);
	}
	*ret_dir = g_steal_pointer(&dir);
	return 0;
}

/* Is @name in @dfd a directory of @dev that is not a mount point? 1, 0 for anything else, or
 * -errno. A bind mount from the same filesystem keeps st_dev: only STATX_ATTR_MOUNT_ROOT tells. */
static int plain_dir(int dfd, const char *name, dev_t dev, struct statx *stx)
{
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_INO, stx) < 0)
		return -errno;
	if (!S_ISDIR(stx->stx_mode))
		return 0;
	if ((stx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT && stx->stx_attributes & STATX_ATTR_MOUNT_ROOT) ||
	    makedev(stx->stx_dev_major, stx->stx_dev_minor) != dev)
		return -EXDEV;
	return 1;
}

static char *tree_path(const char *dir, GPtrArray *names, const char *name)
{
	GString *p = g_string_new(dir);

	for (guint i = 0; i < names->len; i++)
		g_string_append_printf(p, "/%s", (const char *)g_ptr_array_index(names, i));
	if (name)
		g_string_append_printf(p, "/%s", name);
	return g_string_free(p, FALSE);
}

static int tree_error(struct rt_error **err, int e, const char *dir, GPtrArray *names, const char *name)
{
	g_autofree char *p = tree_path(dir, names, name);

	/* EXDEV is ours: say what it means, not "Invalid cross-device link". */
	return e == EXDEV ? rt_make_error(err, 0, "remove `%s`: a mount point", p)
			  : rt_make_error(err, e, "remove `%s`", p);
}

/*
 * Remove @dir and everything below it, however deep: a guest may have left a tree of any depth
 * and shape. One directory fd at a time (depth costs heap, not fds or stack); symlinks are
 * removed, never followed; a mount point or another filesystem below @dir is an error, never
 * entered, so that a user's bind source is never emptied. Going back up through ".." is checked
 * against the inode it came from.
 */
static int remove_tree(const char *dir, struct rt_error **err)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) inos = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	uint64_t ino;

	if (fd < 0)
		return errno == ENOENT ? 0 : rt_make_error(err, errno, "remove `%s`", dir);
	if (fstat(fd, &st) < 0)
		return rt_make_error(err, errno, "remove `%s`", dir);
	ino = st.st_ino;
	for (;;) {
		_cleanup_close_ int child = -EBADF;
		int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
		struct dirent *de;
		int r = 0;

		if (!d) {
			if (dup_fd >= 0)
				close(dup_fd);
			return tree_error(err, errno, dir, names, NULL);
		}
		rewinddir(d);
		while (r == 0 && (errno = 0, de = readdir(d))) {
			struct statx stx;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			r = plain_dir(fd, de->d_name, st.st_dev, &stx);
			if (r == -ENOENT) {
				r = 0;
				continue;
			}
			if (r == 0)
				r = unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT ? -errno : 0;
			else if (r == 1 && unlinkat(fd, de->d_name, AT_REMOVEDIR) == 0)
				r = 0;
			else if (r == 1 && errno != ENOTEMPTY && errno != EEXIST)
				r = -errno;
			else if (r == 1) {
				/* Not empty: go down, and read this directory again when back. */
				child = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (child < 0 || fstat(child, &st) < 0)
					r = -errno;
				else if (st.st_ino != stx.stx_ino)
					r = -ESTALE;
				else {
					g_array_append_val(inos, ino);
					g_ptr_array_add(names, g_strdup(de->d_name));
					ino = st.st_ino;
					break;
				}
			}
			if (r < 0)
				r = tree_error(err, -r, dir, names, de->d_name);
		}
		if (r == 0 && !de && errno)
			r = tree_error(err, errno, dir, names, NULL);
		closedir(d);
		if (r < 0)
			return -1;
		if (child >= 0) {
			close(fd);
			fd = TAKE_FD(child);
			continue;
		}
		/* This directory is empty now. */
		if (names->len == 0)
			break;
		child = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (child < 0 || fstat(child, &st) < 0 || st.st_ino != g_array_index(inos, uint64_t, inos->len - 1))
			return tree_error(err, child < 0 ? errno : ESTALE, dir, names, NULL);
		close(fd);
		fd = TAKE_FD(child);
		ino = st.st_ino;
		if (unlinkat(fd, g_ptr_array_index(names, names->len - 1), AT_REMOVEDIR) < 0 && errno != ENOENT) {
			int e = errno;

			return tree_error(err, e, dir, names, NULL);
		}
		g_array_set_size(inos, inos->len - 1);
		g_ptr_array_set_size(names, names->len - 1);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		return rt_make_error(err, errno, "remove `%s`", dir);
	return 0;
}

int rt_state_dir_remove(const char *dir, struct rt_error **err)
{
	return remove_tree(dir, err);
}

int rt_state_lock(const char *dir, int *ret_fd, struct rt_error **err)
{
	g_autofree char *path = g_build_filename(dir, "lock", NULL);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);

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
	g_free(st->netns_path);
	g_free(st->annotations_json);
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
	MEMBER_STR("netns", st->netns_path);
	json_builder_set_member_name(b, "netIfindex");
	json_builder_add_int_value(b, st->net_ifindex);
	if (st->annotations_json && *st->annotations_json) {
		JsonNode *a = json_from_string(st->annotations_json, NULL);

		if (a && JSON_NODE_HOLDS_OBJECT(a)) {
			json_builder_set_member_name(b, "annotations");
			json_builder_add_value(b, a);
		} else if (a) {
			json_node_unref(a);
		}
	}
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

/* The annotations member: an object of strings, kept as its JSON text; absent is "". */
static char *state_annotations(JsonObject *o, bool *bad)
{
	JsonNode *n = json_object_get_member(o, "annotations");
	g_autoptr(GList) names = NULL;

	if (!n)
		return g_strdup("");
	if (!JSON_NODE_HOLDS_OBJECT(n)) {
		*bad = true;
		return g_strdup("");
	}
	names = json_object_get_members(json_node_get_object(n));
	for (GList *l = names; l; l = l->next) {
		JsonNode *v = json_object_get_member(json_node_get_object(n), l->data);

		if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING) {
			*bad = true;
			return g_strdup("");
		}
	}
	return json_to_string(n, FALSE);
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
	st->netns_path = GET_STR("netns");
#undef GET_STR
	st->pid = (pid_t)state_int(o, "pid", &bad);
	st->pid_start = (unsigned long long)state_int(o, "pidStart", &bad);
	st->net_ifindex = (int)CLAMP(state_int(o, "netIfindex", &bad), 0, G_MAXINT);
	st->annotations_json = state_annotations(o, &bad);
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

static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(a, b);
}

char *rt_state_to_oci_json(const struct rt_state *st, const char *owner, bool pretty)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(JsonNode) annotations = NULL;
	const char *status = rt_state_status(st);

	if (st->annotations_json && *st->annotations_json)
		annotations = json_from_string(st->annotations_json, NULL); /* checked by rt_state_load */
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
	if (annotations && JSON_NODE_HOLDS_OBJECT(annotations) &&
	    json_object_get_size(json_node_get_object(annotations))) {
		JsonObject *a = json_node_get_object(annotations);
		g_autoptr(GList) keys = g_list_sort(json_object_get_members(a), by_name);

		json_builder_set_member_name(b, "annotations");
		json_builder_begin_object(b);
		for (GList *k = keys; k; k = k->next) {
			json_builder_set_member_name(b, k->data);
			json_builder_add_string_value(b, json_object_get_string_member(a, k->data));
		}
		json_builder_end_object(b);
	}
	json_builder_set_member_name(b, "owner");
	json_builder_add_string_value(b, owner);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, pretty);
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
