/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What `runvm install` and `runvm uninstall` write (runtime/install.c has the verbs): runvm
 * registered as a runtime of
 * - Docker: runtimes.NAME in daemon.json, through json-glib, every other member kept;
 * - podman: a drop-in /etc/containers/containers.conf.d/NAME.conf, which podman 4.3 reads after
 *   containers.conf (containers.conf(5)), with [engine.runtimes] NAME = ["PATH"];
 * - containerd's CRI plugin: a runtime NAME of the runc shim with runvm as its BinaryName.
 *
 * containerd: not a drop-in named by `imports`. containerd 1.6 merges an imported file plugin by
 * plugin, so an import holding [plugins."io.containerd.grpc.v1.cri".…] replaces the whole CRI
 * section of config.toml (its CNI directories, runc's SystemdCgroup: `containerd config dump`
 * shows them back at their defaults). So the runtime goes into config.toml itself, as one
 * block between marker comments that install replaces and uninstall removes, the rest of the
 * file untouched byte for byte. There is no TOML library in Debian's C world to lean on: the
 * file is read line by line, only as far as needed to refuse what such a block could break
 * (not version 2, the runtime already configured by hand, the CRI tables written as dotted keys
 * or inline tables, which a later [table] may not extend).
 *
 * Neither containers.conf nor the runc shim's options have a place for runtime arguments; with
 * --runtime-arg those two targets get a small generated shell script that execs runvm with
 * them (WRAPPER_DIR/NAME-podman, WRAPPER_DIR/NAME-containerd), removed again by uninstall.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "runtime/lib/engine-config.h"
#include "base/cleanup.h"
#include "base/error.h"

const char *const rt_target_names[_RT_TARGET_MAX] = { "docker", "podman", "containerd" };
const char *const rt_target_programs[_RT_TARGET_MAX] = { "dockerd", "podman", "containerd" };

#define MARK "Written by `runvm install`"
#define CRI "io.containerd.grpc.v1.cri"
#define CTD_BEGIN "# >>> runvm install: "
#define CTD_END "# <<< runvm install: "
#define CTD_RUNC_KEY "default runc"
/* What install writes where containerd had no config.toml: uninstall removes such a file again
 * once its blocks are gone. */
#define CTD_PREAMBLE "# Created by `runvm install` (containerd configuration, version 2).\nversion = 2\n"

/* ---- Docker: daemon.json ------------------------------------------------------------------ */

/* @old as a JSON object (an empty file is an empty object). */
static int docker_parse(const char *old, const char *origin, JsonNode **ret_root, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) gerr = NULL;
	JsonNode *root;

	if (old && !json_parser_load_from_data(parser, old, -1, &gerr))
		return rt_make_error(err, 0, "`%s` is not valid JSON: %s", origin, gerr->message);
	root = old ? json_parser_get_root(parser) : NULL;
	if (!root) {
		g_autoptr(JsonObject) empty = json_object_new();

		*ret_root = json_node_init_object(json_node_alloc(), empty);
		return 0;
	}
	if (!JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "`%s`: the top level is not a JSON object", origin);
	*ret_root = json_node_copy(root);
	return 0;
}

/* The `runtimes` object of @top, NULL when there is none; an error when it is something else. */
static int docker_runtimes(JsonObject *top, const char *origin, JsonObject **ret, struct rt_error **err)
{
	JsonNode *n = json_object_get_member(top, "runtimes");

	if (n && !JSON_NODE_HOLDS_OBJECT(n))
		return rt_make_error(err, 0, "`%s`: `runtimes` is not a JSON object", origin);
	*ret = n ? json_node_get_object(n) : NULL;
	return 0;
}

static char *docker_generate(JsonNode *root)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree char *s = NULL;

	json_generator_set_pretty(gen, TRUE);
	json_generator_set_indent(gen, 2);
	json_generator_set_root(gen, root);
	s = json_generator_to_data(gen, NULL);
	return g_strconcat(s, "\n", NULL);
}

int rt_install_docker_edit(const char *old, const char *origin, const char *name, const char *binary,
			   const char *const *args, char **ret_new, struct rt_error **err)
{
	g_autoptr(JsonNode) root = NULL;
	JsonObject *top, *runtimes, *entry;

	if (docker_parse(old, origin, &root, err) < 0)
		return -1;
	top = json_node_get_object(root);
	if (docker_runtimes(top, origin, &runtimes, err) < 0)
		return -1;
	if (!runtimes) {
		runtimes = json_object_new();
		json_object_set_object_member(top, "runtimes", runtimes);
	}
	/* The entry is replaced as a whole: what runvm registers is exactly what was asked. */
	entry = json_object_new();
	json_object_set_string_member(entry, "path", binary);
	if (args && args[0]) {
		JsonArray *a = json_array_new();

		for (size_t i = 0; args[i]; i++)
			json_array_add_string_element(a, args[i]);
		json_object_set_array_member(entry, "runtimeArgs", a);
	}
	json_object_set_object_member(runtimes, name, entry);
	*ret_new = docker_generate(root);
	return 1;
}

int rt_uninstall_docker_edit(const char *old, const char *origin, const char *name, char **ret_new,
			     struct rt_error **err)
{
	g_autoptr(JsonNode) root = NULL;
	JsonObject *top, *runtimes;

	if (!old)
		return 0;
	if (docker_parse(old, origin, &root, err) < 0)
		return -1;
	top = json_node_get_object(root);
	if (docker_runtimes(top, origin, &runtimes, err) < 0)
		return -1;
	if (!runtimes || !json_object_has_member(runtimes, name))
		return 0;
	json_object_remove_member(runtimes, name);
	/* An empty `runtimes` (and then an empty file) says nothing dockerd's defaults do not. */
	if (json_object_get_size(runtimes) == 0)
		json_object_remove_member(top, "runtimes");
	*ret_new = json_object_get_size(top) ? docker_generate(root) : g_strdup("");
	return 1;
}

/* ---- containerd: config.toml ---------------------------------------------------------------- */

/* A dotted TOML key at *p (bare, "basic" and 'literal' parts, blanks around the dots) appended
 * to @out, *p moved past it. False when there is no key there. Escapes are kept as written:
 * the names compared here have none. */
static bool toml_key(const char **p, GPtrArray *out)
{
	const char *s = *p;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '"' || *s == '\'') {
			char q = *s++;
			const char *b = s;

			while (*s && *s != q)
				s += (q == '"' && *s == '\\' && s[1]) ? 2 : 1;
			if (*s != q)
				return false;
			g_ptr_array_add(out, g_strndup(b, (gsize)(s - b)));
			s++;
		} else {
			const char *b = s;

			while (g_ascii_isalnum(*s) || *s == '_' || *s == '-')
				s++;
			if (s == b)
				return false;
			g_ptr_array_add(out, g_strndup(b, (gsize)(s - b)));
		}
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '.')
			break;
		s++;
	}
	*p = s;
	return true;
}

/* The table path of CRI runtimes: plugins."io.containerd.grpc.v1.cri".containerd.runtimes. */
static const char *const cri_runtimes[] = { "plugins", CRI, "containerd", "runtimes" };
#define N_CRI_RUNTIMES G_N_ELEMENTS(cri_runtimes)

/* How many leading parts of @path are those of cri_runtimes. */
static guint cri_prefix(GPtrArray *path)
{
	guint i;

	for (i = 0; i < path->len && i < N_CRI_RUNTIMES; i++)
		if (strcmp(path->pdata[i], cri_runtimes[i]))
			break;
	return i;
}

/* One of runvm's blocks: lines [begin, end] and the key of its marker ("runtime NAME"). */
struct ctd_block {
	guint begin, end;
	char *key;
};

static void ctd_block_free(gpointer p)
{
	struct ctd_block *b = p;

	g_free(b->key);
	g_free(b);
}

struct ctd_file {
	char **lines; /* without their newlines */
	guint n;
	bool trailing_newline;
	GPtrArray *blocks;   /* struct ctd_block, in file order */
	GPtrArray *runtimes; /* CRI runtimes configured outside runvm's blocks */
};

static void ctd_file_clear(struct ctd_file *f)
{
	g_strfreev(f->lines);
	if (f->blocks)
		g_ptr_array_unref(f->blocks);
	if (f->runtimes)
		g_ptr_array_unref(f->runtimes);
}

static bool str_in(GPtrArray *a, const char *s)
{
	for (guint i = 0; i < a->len; i++)
		if (strcmp(a->pdata[i], s) == 0)
			return true;
	return false;
}

static struct ctd_block *ctd_find(const struct ctd_file *f, const char *key)
{
	for (guint i = 0; i < f->blocks->len; i++) {
		struct ctd_block *b = f->blocks->pdata[i];

		if (strcmp(b->key, key) == 0)
			return b;
	}
	return NULL;
}

/* Read @old as far as the blocks need: its version, runvm's blocks, the runtimes configured
 * elsewhere, and any shape a block appended at the end could break. */
static int ctd_scan(const char *old, const char *origin, const char *name, struct ctd_file *f, struct rt_error **err)
{
	g_autoptr(GPtrArray) table = g_ptr_array_new_with_free_func(g_free);
	struct ctd_block *open_block = NULL;
	const char *ml = NULL; /* the delimiter of the multi-line string we are in */
	bool seen_table = false;
	long version = -1;
	size_t len = strlen(old);

	f->trailing_newline = len && old[len - 1] == '\n';
	f->lines = g_strsplit(old, "\n", -1);
	f->n = g_strv_length(f->lines) - (f->trailing_newline ? 1 : 0);
	f->blocks = g_ptr_array_new_with_free_func(ctd_block_free);
	f->runtimes = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < f->n; i++) {
		g_autofree char *line = g_strstrip(g_strdup(f->lines[i]));
		g_autoptr(GPtrArray) key = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) full = NULL;
		const char *p = line;

		if (open_block) {
			if (g_str_has_prefix(line, CTD_END) && strcmp(line + strlen(CTD_END), open_block->key) == 0) {
				open_block->end = i;
				g_ptr_array_add(f->blocks, open_block);
				open_block = NULL;
			}
			continue;
		}
		if (ml) {
			if (strstr(line, ml))
				ml = NULL;
			continue;
		}
		if (g_str_has_prefix(line, CTD_BEGIN)) {
			if (ctd_find(f, line + strlen(CTD_BEGIN)))
				return rt_make_error(err, 0, "`%s` line %u: a second runvm block `%s`", origin, i + 1,
						     line + strlen(CTD_BEGIN));
			open_block = g_new0(struct ctd_block, 1);
			open_block->begin = i;
			open_block->key = g_strdup(line + strlen(CTD_BEGIN));
			continue;
		}
		if (!*line || *line == '#')
			continue;
		if (line[0] == '[') {
			bool array = line[1] == '[';

			p = line + (array ? 2 : 1);
			g_ptr_array_set_size(table, 0);
			if (!toml_key(&p, table) || *p != ']')
				return rt_make_error(err, 0, "`%s` line %u: cannot read the table header", origin,
						     i + 1);
			if (array && cri_prefix(table) >= 2)
				return rt_make_error(err, 0, "`%s` line %u: an array of tables in the CRI plugin",
						     origin, i + 1);
			seen_table = true;
			if (table->len > N_CRI_RUNTIMES && cri_prefix(table) == N_CRI_RUNTIMES) {
				const char *rt = table->pdata[N_CRI_RUNTIMES];

				if (strcmp(rt, name) == 0)
					return rt_make_error(
						err, 0,
						"`%s` line %u: runtime `%s` is configured there by hand, "
						"outside runvm's block; remove it or choose another --name",
						origin, i + 1, name);
				if (!str_in(f->runtimes, rt))
					g_ptr_array_add(f->runtimes, g_strdup(rt));
			}
			continue;
		}
		/* A key = value line, or a line inside a multi-line array (no `=` after a key). */
		if (!toml_key(&p, key) || *p != '=')
			continue;
		p++;
		/* A multi-line string opened and not closed on this line: its lines are no TOML. */
		for (size_t k = 0; k < 2; k++) {
			static const char *const delims[] = { "\"\"\"", "'''" };
			const char *d = strstr(p, delims[k]);

			if (d && !strstr(d + 3, delims[k]))
				ml = delims[k];
		}
		if (!seen_table && key->len == 1 && strcmp(key->pdata[0], "version") == 0) {
			char *end;

			version = strtol(p, &end, 10);
			while (*end == ' ' || *end == '\t')
				end++;
			if (end == p || (*end && *end != '#'))
				version = -2;
			continue;
		}
		full = g_ptr_array_new();
		for (guint k = 0; k < table->len; k++)
			g_ptr_array_add(full, table->pdata[k]);
		for (guint k = 0; k < key->len; k++)
			g_ptr_array_add(full, key->pdata[k]);
		/* An inline table or dotted keys on the way to the runtimes: a [table] under them
		 * would define them twice, which TOML forbids. */
		if (table->len < N_CRI_RUNTIMES && cri_prefix(full) == MIN(full->len, N_CRI_RUNTIMES))
			return rt_make_error(
				err, 0,
				"`%s` line %u: the CRI plugin's tables are written as dotted keys or an "
				"inline table, which runvm cannot safely extend; write them as [table] headers",
				origin, i + 1);
		if (table->len == N_CRI_RUNTIMES && cri_prefix(table) == N_CRI_RUNTIMES) {
			if (strcmp(key->pdata[0], name) == 0)
				return rt_make_error(err, 0,
						     "`%s` line %u: runtime `%s` is configured there by hand, outside "
						     "runvm's block; remove it or choose another --name",
						     origin, i + 1, name);
			if (!str_in(f->runtimes, key->pdata[0]))
				g_ptr_array_add(f->runtimes, g_strdup(key->pdata[0]));
		}
	}
	if (open_block) {
		guint line = open_block->begin + 1;

		ctd_block_free(open_block);
		return rt_make_error(err, 0, "`%s` line %u: runvm's block is not closed", origin, line);
	}
	if (version != 2)
		return rt_make_error(err, 0,
				     "`%s` is not a version 2 configuration (`version = 2` before the first table; "
				     "containerd 1.6 reads a file without it as version 1)",
				     origin);
	return 0;
}

/* A TOML basic string. The callers have refused control characters. */
static void toml_string(GString *s, const char *v)
{
	g_string_append_c(s, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			g_string_append_c(s, '\\');
		g_string_append_c(s, *v);
	}
	g_string_append_c(s, '"');
}

static char *ctd_runtime_block(const char *name, const char *binary)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s,
			       CTD_BEGIN "runtime %s\n"
					 "# " MARK
					 "; `runvm uninstall --name %s --target containerd` removes this block.\n"
					 "[plugins.\"" CRI "\".containerd.runtimes.%s]\n"
					 "  runtime_type = \"io.containerd.runc.v2\"\n"
					 "  [plugins.\"" CRI "\".containerd.runtimes.%s.options]\n"
					 "    BinaryName = ",
			       name, name, name, name);
	toml_string(s, binary);
	g_string_append_printf(s, "\n" CTD_END "runtime %s\n", name);
	return g_string_free(s, FALSE);
}

static const char ctd_runc_block[] = CTD_BEGIN CTD_RUNC_KEY
	"\n"
	"# containerd 1.6 forgets its built-in runc runtime once the file configures any runtime: this\n"
	"# restates it as containerd's defaults have it, for as long as a runvm block is here.\n"
	"[plugins.\"" CRI "\".containerd.runtimes.runc]\n"
	"  runtime_type = \"io.containerd.runc.v2\"\n" CTD_END CTD_RUNC_KEY "\n";

/* @f's lines, without those of @skip (and the blank line just before each, which came with
 * it), with @replace_text in place of @replace's lines, and @append added at the end. */
static char *ctd_assemble(const struct ctd_file *f, const struct ctd_block *const *skip, size_t n_skip,
			  const struct ctd_block *replace, const char *replace_text, const char *const *append)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < f->n; i++) {
		bool dropped = false;

		for (size_t k = 0; k < n_skip; k++) {
			if (i >= skip[k]->begin && i <= skip[k]->end)
				dropped = true;
			if (i + 1 == skip[k]->begin && !*f->lines[i])
				dropped = true;
		}
		if (replace && i >= replace->begin && i <= replace->end) {
			if (i == replace->begin)
				g_string_append(s, replace_text);
			continue;
		}
		if (dropped)
			continue;
		g_string_append(s, f->lines[i]);
		if (i + 1 < f->n || f->trailing_newline)
			g_string_append_c(s, '\n');
	}
	for (size_t k = 0; append && append[k]; k++) {
		if (s->len && s->str[s->len - 1] != '\n')
			g_string_append_c(s, '\n');
		g_string_append_printf(s, "\n%s", append[k]);
	}
	return g_string_free(s, FALSE);
}

int rt_install_containerd_edit(const char *old, const char *origin, const char *name, const char *binary,
			       char **ret_new, struct rt_error **err)
{
	g_autofree char *block = ctd_runtime_block(name, binary);
	g_autofree char *key = g_strdup_printf("runtime %s", name);
	struct ctd_file f = { 0 };
	const char *append[3] = { 0 };
	const struct ctd_block *mine;
	size_t n = 0;
	int r = 0;

	if (!old) {
		*ret_new = g_strconcat(CTD_PREAMBLE "\n", ctd_runc_block, "\n", block, NULL);
		return 1;
	}
	if (ctd_scan(old, origin, name, &f, err) < 0) {
		r = -1;
		goto out;
	}
	/* The runc block where nothing but runvm configures a runtime and it is not there yet. */
	if (f.runtimes->len == 0 && !ctd_find(&f, CTD_RUNC_KEY))
		append[n++] = ctd_runc_block;
	mine = ctd_find(&f, key);
	if (!mine)
		append[n++] = block;
	*ret_new = ctd_assemble(&f, NULL, 0, mine, block, append);
	r = 1;
out:
	ctd_file_clear(&f);
	return r;
}

int rt_uninstall_containerd_edit(const char *old, const char *origin, const char *name, char **ret_new,
				 struct rt_error **err)
{
	g_autofree char *key = g_strdup_printf("runtime %s", name);
	const struct ctd_block *skip[2];
	struct ctd_file f = { 0 };
	size_t n = 0, others = 0;
	int r = 0;

	if (!old)
		return 0;
	if (ctd_scan(old, origin, name, &f, err) < 0) {
		r = -1;
		goto out;
	}
	if (!(skip[n] = ctd_find(&f, key)))
		goto out;
	n++;
	for (guint i = 0; i < f.blocks->len; i++)
		if (g_str_has_prefix(((struct ctd_block *)f.blocks->pdata[i])->key, "runtime "))
			others++;
	if (others == 1 && (skip[n] = ctd_find(&f, CTD_RUNC_KEY)))
		n++;
	*ret_new = ctd_assemble(&f, skip, n, NULL, NULL, NULL);
	if (strcmp(*ret_new, CTD_PREAMBLE) == 0)
		(*ret_new)[0] = '\0';
	r = 1;
out:
	ctd_file_clear(&f);
	return r;
}

/* ---- podman and the wrappers -------------------------------------------------------------- */

char *rt_install_podman_dropin(const char *name, const char *binary)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s,
			       "# " MARK "; `runvm uninstall --name %s --target podman` removes it.\n"
			       "[engine.runtimes]\n"
			       "%s = [",
			       name, name);
	toml_string(s, binary);
	g_string_append(s, "]\n");
	return g_string_free(s, FALSE);
}

char *rt_install_wrapper(const char *name, const char *binary, const char *const *args)
{
	g_autofree char *qb = g_shell_quote(binary);
	GString *s = g_string_new(NULL);

	g_string_append_printf(s,
			       "#!/bin/sh\n"
			       "# " MARK " for runtime %s: runvm with its arguments; `runvm uninstall` removes it.\n"
			       "exec %s",
			       name, qb);
	for (size_t i = 0; args && args[i]; i++) {
		g_autofree char *q = g_shell_quote(args[i]);

		g_string_append_printf(s, " %s", q);
	}
	g_string_append(s, " \"$@\"\n");
	return g_string_free(s, FALSE);
}

/* ---- files ---------------------------------------------------------------------------------- */

/* @path's content (NULL: it does not exist) and mode. */
static int read_file(const char *path, char **ret, mode_t *ret_mode, struct rt_error **err)
{
	g_autoptr(GError) gerr = NULL;
	g_autofree char *data = NULL;
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return rt_make_error(err, errno, "stat `%s`", path);
		*ret = NULL;
		*ret_mode = 0644;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return rt_make_error(err, 0, "`%s` is not a regular file", path);
	if (!g_file_get_contents(path, &data, NULL, &gerr))
		return rt_make_error(err, 0, "cannot read `%s`: %s", path, gerr->message);
	if (strlen(data) != (size_t)st.st_size)
		return rt_make_error(err, 0, "`%s` holds a NUL byte: not a text file", path);
	*ret = g_steal_pointer(&data);
	*ret_mode = st.st_mode & 07777;
	return 0;
}

/* Replace @path by @data atomically: a temporary file in its directory (made if missing), with
 * @mode, written and synced, then renamed over it. A reader sees the old file or the new. */
static int write_atomic(const char *path, const char *data, mode_t mode, struct rt_error **err)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmp = g_strdup_printf("%s/.%s.runvm-XXXXXX", dir, base);
	_cleanup_close_ int fd = -EBADF;
	size_t off = 0, len = strlen(data);
	int e;

	if (g_mkdir_with_parents(dir, 0755) < 0)
		return rt_make_error(err, errno, "create directory `%s`", dir);
	fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return rt_make_error(err, errno, "create a temporary file in `%s`", dir);
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	e = errno;
	unlink(tmp);
	return rt_make_error(err, e, "write `%s`", path);
}

/* Write @next over @path, whose content was @old: the old content first to PATH.runvm-bak (named
 * in *ret_backup); "" removes the file. */
static int commit(const char *path, const char *old, mode_t mode, const char *next, char **ret_backup,
		  struct rt_error **err)
{
	g_autofree char *backup = g_strconcat(path, RT_INSTALL_BACKUP_SUFFIX, NULL);

	if (old && write_atomic(backup, old, mode, err) < 0)
		return -1;
	if (*next && write_atomic(path, next, mode, err) < 0)
		return -1;
	if (!*next && unlink(path) < 0 && errno != ENOENT)
		return rt_make_error(err, errno, "remove `%s`", path);
	*ret_backup = old ? g_steal_pointer(&backup) : NULL;
	return 0;
}

/* @path, a file runvm wrote (its first lines carry MARK), or absent. */
static int check_ours(const char *path, const char *old, struct rt_error **err)
{
	const char *nl;

	if (!old)
		return 0;
	/* The mark is on the first line, or the second after a #! line. */
	nl = g_str_has_prefix(old, "#!") ? strchr(old, '\n') : NULL;
	if (g_str_has_prefix(old, "# " MARK) || (nl && g_str_has_prefix(nl + 1, "# " MARK)))
		return 0;
	return rt_make_error(err, 0, "`%s` exists and was not written by runvm install; not touching it", path);
}

static char *wrapper_path(const struct rt_install_opts *o, enum rt_install_target t)
{
	g_autofree char *base = g_strdup_printf("%s-%s", o->name, rt_target_names[t]);

	return g_build_filename(o->wrapper_dir, base, NULL);
}

/* What target @t is to run: its wrapper where there are arguments, else runvm itself. */
static char *target_binary(const struct rt_install_opts *o, enum rt_install_target t)
{
	return o->args && o->args[0] ? wrapper_path(o, t) : g_strdup(o->binary);
}

/* The wrapper of @t written where there are arguments (and not @remove), else removed if runvm
 * wrote one there. Called once the configuration's edit is known to be possible, so that a
 * refused file leaves no trace. */
static int wrapper_update(const struct rt_install_opts *o, enum rt_install_target t, bool remove, struct rt_error **err)
{
	g_autofree char *path = wrapper_path(o, t);
	g_autofree char *old = NULL;
	mode_t mode;

	if (read_file(path, &old, &mode, err) < 0 || check_ours(path, old, err) < 0)
		return -1;
	if (!remove && o->args && o->args[0]) {
		g_autofree char *script = rt_install_wrapper(o->name, o->binary, o->args);

		return write_atomic(path, script, 0755, err);
	}
	if (old && unlink(path) < 0)
		return rt_make_error(err, errno, "remove `%s`", path);
	/* The directory goes too once it is empty (rmdir refuses otherwise). */
	if (old)
		rmdir(o->wrapper_dir);
	return 0;
}

static int apply_podman(const struct rt_install_opts *o, bool uninstall, char **ret_msg, struct rt_error **err)
{
	const char *path = o->file[RT_TARGET_PODMAN];
	g_autofree char *old = NULL, *binary = NULL, *dropin = NULL;
	mode_t mode;

	if (read_file(path, &old, &mode, err) < 0 || check_ours(path, old, err) < 0)
		return -1;
	if (uninstall) {
		if (wrapper_update(o, RT_TARGET_PODMAN, true, err) < 0)
			return -1;
		if (!old) {
			*ret_msg = g_strdup_printf("podman: `%s` does not exist; runtime `%s` was not installed there",
						   path, o->name);
			return 0;
		}
		if (unlink(path) < 0)
			return rt_make_error(err, errno, "remove `%s`", path);
		*ret_msg = g_strdup_printf("podman: removed `%s` (runtime `%s`); podman needs no restart", path,
					   o->name);
		return 0;
	}
	if (wrapper_update(o, RT_TARGET_PODMAN, false, err) < 0)
		return -1;
	binary = target_binary(o, RT_TARGET_PODMAN);
	dropin = rt_install_podman_dropin(o->name, binary);
	if (write_atomic(path, dropin, 0644, err) < 0)
		return -1;
	*ret_msg = g_strdup_printf("podman: runtime `%s` = `%s` written to `%s`; podman needs no restart: "
				   "podman --runtime %s run ...",
				   o->name, binary, path, o->name);
	return 0;
}

/* Docker's and containerd's files: edited, with a backup. */
static int apply_edited(const struct rt_install_opts *o, enum rt_install_target t, bool uninstall, char **ret_msg,
			struct rt_error **err)
{
	static const char *const restart[_RT_TARGET_MAX] = {
		[RT_TARGET_DOCKER] = "systemctl restart docker",
		[RT_TARGET_CONTAINERD] = "systemctl restart containerd",
	};
	const char *path = o->file[t];
	g_autofree char *resolved = NULL;
	g_autofree char *old = NULL, *next = NULL, *binary = NULL, *backup = NULL, *saved = NULL;
	mode_t mode;
	int r;

	/* A link (configuration management likes them) stays one: the file it names is edited. */
	if ((resolved = realpath(o->file[t], NULL)))
		path = resolved;
	if (read_file(path, &old, &mode, err) < 0)
		return -1;
	binary = t == RT_TARGET_CONTAINERD ? target_binary(o, t) : g_strdup(o->binary);
	if (uninstall)
		r = t == RT_TARGET_DOCKER ? rt_uninstall_docker_edit(old, path, o->name, &next, err)
					  : rt_uninstall_containerd_edit(old, path, o->name, &next, err);
	else if (t == RT_TARGET_DOCKER)
		r = rt_install_docker_edit(old, path, o->name, binary, o->args, &next, err);
	else
		r = rt_install_containerd_edit(old, path, o->name, binary, &next, err);
	if (r < 0)
		return -1;
	if (t == RT_TARGET_CONTAINERD && wrapper_update(o, t, uninstall, err) < 0)
		return -1;
	if (r == 0) {
		*ret_msg = g_strdup_printf("%s: runtime `%s` is not registered in `%s`%s; nothing to remove",
					   rt_target_names[t], o->name, path, old ? "" : " (no such file)");
		return 0;
	}
	if (old && strcmp(old, next) == 0) {
		*ret_msg = g_strdup_printf("%s: `%s` already registers runtime `%s` as asked; left as it was",
					   rt_target_names[t], path, o->name);
		return 0;
	}
	if (commit(path, old, mode, next, &backup, err) < 0)
		return -1;
	saved = backup ? g_strdup_printf(" (previous content in `%s`)", backup) : g_strdup(" (a new file)");
	if (uninstall)
		*ret_msg = g_strdup_printf("%s: runtime `%s` removed from `%s`%s%s; restart: %s", rt_target_names[t],
					   o->name, path, *next ? "" : ", which is removed as nothing else was left",
					   saved, restart[t]);
	else
		*ret_msg = g_strdup_printf("%s: runtime `%s` = `%s` written to `%s`%s; restart: %s", rt_target_names[t],
					   o->name, binary, path, saved, restart[t]);
	return 0;
}

int rt_install_apply(const struct rt_install_opts *o, enum rt_install_target t, bool uninstall, char **ret_msg,
		     struct rt_error **err)
{
	int r = t == RT_TARGET_PODMAN ? apply_podman(o, uninstall, ret_msg, err)
				      : apply_edited(o, t, uninstall, ret_msg, err);

	return r < 0 ? rt_error_wrap(err, "%s", rt_target_names[t]) : 0;
}
