/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm template create|list|rm`: the VM templates the backends keep (template.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/error.h"
#include "hypervisor-backends/hostcaps.h"
#include "protocol/agent-proto.h"
#include "runtime/cli.h"
#include "runtime/lib/config.h"
#include "runtime/lib/spec.h"
#include "runtime/vmconfig.h"

#define META_MAX (64 * 1024)

/* "BACKEND-KEY": a template's directory name, as the backends make it (a lowercase backend
 * name, a dash, hex digits). Nothing else in the directory is a template. */
static bool template_name(const char *name)
{
	const char *dash = strchr(name, '-');

	if (!dash || dash == name || !dash[1] || strlen(name) > 128)
		return false;
	for (const char *p = name; p < dash; p++)
		if (!g_ascii_islower(*p))
			return false;
	for (const char *p = dash + 1; *p; p++)
		if (!g_ascii_isxdigit(*p))
			return false;
	return true;
}

/* The VM @bundle's container would get, as `create` would shape it: its shares and NICs are
 * counted, never opened. */
static int template_create(const struct rt_globals *g, struct rt_config *config, const char *bundle,
			   struct rt_error **err)
{
	g_autofree char *path = g_canonicalize_filename(bundle, NULL);
	const struct hv_backend_ops *ops;
	struct hv_probe_result probe;
	struct rt_spec *spec = NULL;
	struct hv_host_caps caps;
	struct rt_vm_spec vs;
	int r = -1;

	if (rt_spec_load(path, &spec, err) < 0)
		return -1;
	hv_host_probe("", &caps);
	if (rt_vm_spec_prepare(config, spec, &caps, g->backend, g->debug, &vs, &ops, &probe, err) < 0)
		goto out;
	if (!vs.cfg.template_dir) {
		r = rt_make_error(err, EOPNOTSUPP, "template create: %s",
				  config->template ? "the backend keeps no templates"
						   : "templates are off ([runvm] template)");
		goto out;
	}
	for (size_t i = 0; i < spec->n_mounts; i++)
		if (spec->mounts[i].bind) {
			vs.shares[1] = (struct hv_share){ .tag = RV_MOUNTS_TAG, .host_path = "/" };
			vs.cfg.n_shares = 2;
		}
	if (spec->netns) {
		vs.nic.tap_fd = -1;
		vs.cfg.nics = &vs.nic;
		vs.cfg.n_nics = 1;
	}
	r = ops->template_make(rt_config_backend_settings(config, ops), &vs.cfg, err);
	if (r >= 0)
		printf("%s template for %s, %u vCPU, %u MiB: %s in %s\n", ops->name, rv_arch_name(vs.cfg.arch),
		       vs.cfg.vcpus, vs.cfg.memory_mib, r ? "made" : "already there", vs.cfg.template_dir);
out:
	rt_spec_free(spec);
	return r < 0 ? -1 : 0;
}

/* @dir/@name/meta.json, parsed, or NULL. */
static JsonParser *read_meta(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, "meta.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *text = NULL;
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return NULL;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= META_MAX;
	if (ok) {
		text = g_malloc0((size_t)st.st_size + 1);
		ok = read(fd, text, (size_t)st.st_size) == st.st_size;
	}
	close(fd);
	if (!ok || !json_parser_load_from_data(parser, text, (gssize)st.st_size, NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
		return NULL;
	return g_steal_pointer(&parser);
}

static int template_list(const struct rt_config *config)
{
	g_autoptr(GDir) d = g_dir_open(config->template_dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	while (d && (name = g_dir_read_name(d)))
		if (template_name(name))
			g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
	printf("%-38s %-7s %-7s %-5s %-6s %-6s %-5s %-9s %s\n", "TEMPLATE", "BACKEND", "ARCH", "VCPUS", "MEMORY",
	       "SHARES", "NICS", "STATE", "CREATED");
	for (guint i = 0; i < names->len; i++) {
		const char *n = names->pdata[i];
		g_autoptr(JsonParser) p = read_meta(config->template_dir, n);
		JsonObject *o = p ? json_node_get_object(json_parser_get_root(p)) : NULL;
		g_autoptr(GDateTime) t = NULL;
		g_autofree char *created = NULL, *size = NULL;

		if (!o) {
			printf("%-38s (no readable meta.json: `runvm template rm` it)\n", n);
			continue;
		}
		t = g_date_time_new_from_unix_utc(json_object_get_int_member_with_default(o, "created", 0));
		created = t ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("?");
		size = g_format_size((guint64)json_object_get_int_member_with_default(o, "state_size", 0));
		printf("%-38s %-7s %-7s %-5" G_GINT64_FORMAT " %-6" G_GINT64_FORMAT " %-6" G_GINT64_FORMAT
		       " %-5" G_GINT64_FORMAT " %-9s %s\n",
		       n, json_object_get_string_member_with_default(o, "backend", "?"),
		       json_object_get_string_member_with_default(o, "arch", "?"),
		       json_object_get_int_member_with_default(o, "vcpus", 0),
		       json_object_get_int_member_with_default(o, "memory_mib", 0),
		       json_object_get_int_member_with_default(o, "shares", 0),
		       json_object_get_int_member_with_default(o, "nics", 0), size, created);
	}
	return 0;
}

/* Remove template @name (its files, its directory, its lock). */
static int remove_template(const char *dir, const char *name, struct rt_error **err)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *lock = g_strdup_printf("%s.lock", path);
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *f;

	if (!d)
		return rt_make_error(err, ENOENT, "template rm: no template `%s` in %s", name, dir);
	while ((f = g_dir_read_name(d))) {
		g_autofree char *file = g_build_filename(path, f, NULL);

		if (unlink(file) < 0)
			return rt_make_error(err, errno, "template rm: remove `%s`", file);
	}
	if (rmdir(path) < 0)
		return rt_make_error(err, errno, "template rm: remove `%s`", path);
	if (unlink(lock) < 0 && errno != ENOENT)
		return rt_make_error(err, errno, "template rm: remove `%s`", lock);
	return 0;
}

static int template_rm(const struct rt_config *config, bool all, int argc, char **argv, struct rt_error **err)
{
	if (all == (argc > 0))
		return rt_make_error(err, 0, "template rm: name templates (from `runvm template list`) or give --all");
	if (all) {
		g_autoptr(GDir) d = g_dir_open(config->template_dir, 0, NULL);
		const char *name;

		while (d && (name = g_dir_read_name(d))) {
			g_autofree char *stem = g_strdup(name);
			bool lock = g_str_has_suffix(stem, ".lock");

			if (lock)
				stem[strlen(stem) - strlen(".lock")] = '\0';
			if (!template_name(stem))
				continue;
			if (!lock) {
				if (remove_template(config->template_dir, name, err) < 0)
					return -1;
				continue;
			}
			/* The lock of a template that was never made (its boot failed). */
			g_autofree char *dir = g_build_filename(config->template_dir, stem, NULL);
			g_autofree char *path = g_build_filename(config->template_dir, name, NULL);

			if (access(dir, F_OK) < 0 && unlink(path) < 0 && errno != ENOENT)
				return rt_make_error(err, errno, "template rm: remove `%s`", path);
		}
		return 0;
	}
	for (int i = 0; i < argc; i++) {
		if (!template_name(argv[i]))
			return rt_make_error(err, 0, "template rm: `%s` is not a template's name", argv[i]);
		if (remove_template(config->template_dir, argv[i], err) < 0)
			return -1;
	}
	return 0;
}

int rt_cmd_template(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },
		{ "all", no_argument, NULL, 'a' },
		{ 0 },
	};
	struct rt_config *config = NULL;
	const char *bundle = ".", *sub;
	bool all = false;
	int c, r;

	if (argc < 2)
		return rt_make_error(err, 0, "template: create [--bundle DIR], list, or rm NAME...|--all");
	sub = argv[1];
	argc--;
	argv++;
	while ((c = rt_getopt(argc, argv, "b:", opts, "template", err)) != -1) {
		if (c == -2)
			return -1;
		if (c == 'b')
			bundle = optarg;
		else
			all = true;
	}
	if (rt_config_load(&config, err) < 0)
		return -1;
	if (strcmp(sub, "create") == 0 && optind == argc && !all)
		r = template_create(g, config, bundle, err);
	else if (strcmp(sub, "list") == 0 && optind == argc && !all && strcmp(bundle, ".") == 0)
		r = template_list(config);
	else if (strcmp(sub, "rm") == 0 && strcmp(bundle, ".") == 0)
		r = template_rm(config, all, argc - optind, argv + optind, err);
	else
		r = rt_make_error(err, 0, "template: create [--bundle DIR], list, or rm NAME...|--all");
	rt_config_free(config);
	return r;
}
