/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runvm install/uninstall: the daemon.json merge, the config.toml blocks, podman's drop-in and
 * the wrappers, in memory and on files in a temporary directory. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "base/error.h"
#include "runtime/lib/engine-config.h"

#include "tests/unit/tap.h"

static const char *const no_args[] = { NULL };
static const char *const two_args[] = { "--config=/etc/runvm/arm64.conf", "--debug", NULL };

static JsonNode *parse(const char *s)
{
	g_autoptr(JsonParser) p = json_parser_new();

	if (!s || !json_parser_load_from_data(p, s, -1, NULL) || !json_parser_get_root(p))
		return NULL;
	return json_node_copy(json_parser_get_root(p));
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Every member of @old's top level but `runtimes` is in @next, equal; and so is every runtime
 * but @name. */
static bool others_kept(const char *old, const char *next, const char *name)
{
	g_autoptr(JsonNode) o = parse(old), n = parse(next);
	JsonObject *oo, *no, *ort, *nrt;
	g_autoptr(GList) members = NULL;

	if (!o || !n)
		return false;
	oo = json_node_get_object(o), no = json_node_get_object(n);
	members = json_object_get_members(oo);
	for (GList *m = members; m; m = m->next) {
		if (strcmp(m->data, "runtimes") == 0)
			continue;
		if (!json_object_has_member(no, m->data) ||
		    !json_node_equal(json_object_get_member(oo, m->data), json_object_get_member(no, m->data)))
			return false;
	}
	if (!json_object_has_member(oo, "runtimes"))
		return true;
	ort = json_object_get_object_member(oo, "runtimes");
	nrt = json_object_get_object_member(no, "runtimes");
	g_list_free(g_steal_pointer(&members));
	members = json_object_get_members(ort);
	for (GList *m = members; m; m = m->next)
		if (strcmp(m->data, name) &&
		    (!nrt ||
		     !json_node_equal(json_object_get_member(ort, m->data), json_object_get_member(nrt, m->data))))
			return false;
	return true;
}

/* runtimes.NAME's path and runtimeArgs in @json as "PATH ARG ARG". */
static char *entry_of(const char *json, const char *name)
{
	g_autoptr(JsonNode) root = parse(json);
	JsonObject *rt, *e;
	GString *s;

	if (!root || !(rt = json_object_get_object_member(json_node_get_object(root), "runtimes")) ||
	    !json_object_has_member(rt, name))
		return g_strdup("(none)");
	e = json_object_get_object_member(rt, name);
	s = g_string_new(json_object_get_string_member(e, "path"));
	if (json_object_has_member(e, "runtimeArgs")) {
		JsonArray *a = json_object_get_array_member(e, "runtimeArgs");

		for (guint i = 0; i < json_array_get_length(a); i++)
			g_string_append_printf(s, " %s", json_array_get_string_element(a, i));
	}
	return g_string_free(s, FALSE);
}

static void docker_refused(const char *old, const char *needle)
{
	struct rt_error *err = NULL;
	char *next = NULL;
	int r = rt_install_docker_edit(old, "d.json", "runvm", "/rv", no_args, &next, &err);

	ok(r < 0 && !next && err && strstr(err->msg, "d.json") && strstr(err->msg, needle), "docker: `%s` refused: %s",
	   old, err ? err->msg : "no error");
	rt_error_free(&err);
	r = rt_uninstall_docker_edit(old, "d.json", "runvm", &next, &err);
	ok(r < 0 && !next && err && strstr(err->msg, needle), "docker uninstall: `%s` refused too", old);
	rt_error_free(&err);
}

static void test_docker(void)
{
	static const char old[] = "{\"debug\": true, \"log-opts\": {\"max-size\": \"10m\", \"x\": [1, 2.5, null]},\n"
				  " \"runtimes\": {\"other\": {\"path\": \"/o\", \"runtimeArgs\": [\"-a\"]}},\n"
				  " \"some-future-key\": {\"deep\": {\"deeper\": [\"\\u00e9\", false]}}}\n";
	struct rt_error *err = NULL;
	g_autofree char *a = NULL, *b = NULL, *c = NULL, *e = NULL, *u = NULL, *u2 = NULL, *u3 = NULL, *none = NULL;

	ok(rt_install_docker_edit(NULL, "d.json", "runvm", "/usr/bin/runvm", no_args, &a, &err) == 1 &&
		   strcmp((e = entry_of(a, "runvm")), "/usr/bin/runvm") == 0 && !strstr(a, "runtimeArgs"),
	   "docker: an absent file gets runtimes.runvm = {path}, no runtimeArgs without arguments");
	g_clear_pointer(&e, g_free);
	ok(rt_install_docker_edit(old, "d.json", "runvm", "/rv", two_args, &b, &err) == 1 &&
		   others_kept(old, b, "runvm") &&
		   strcmp((e = entry_of(b, "runvm")), "/rv --config=/etc/runvm/arm64.conf --debug") == 0,
	   "docker: entry added with its runtimeArgs, every other key (nested, unknown) and runtime kept");
	g_clear_pointer(&e, g_free);
	ok(rt_install_docker_edit(b, "d.json", "runvm", "/rv2", no_args, &c, &err) == 1 && count(c, "\"runvm\"") == 1 &&
		   strcmp((e = entry_of(c, "runvm")), "/rv2") == 0 && others_kept(old, c, "runvm"),
	   "docker: a second install updates the entry, not duplicated, its old runtimeArgs gone");
	g_clear_pointer(&e, g_free);
	ok(rt_uninstall_docker_edit(c, "d.json", "runvm", &u, &err) == 1 && others_kept(old, u, "runvm") &&
		   strcmp((e = entry_of(u, "runvm")), "(none)") == 0 && strstr(u, "\"other\""),
	   "docker uninstall: only that entry goes");
	ok(rt_uninstall_docker_edit(u, "d.json", "runvm", &none, &err) == 0 && !none,
	   "docker uninstall: an absent entry is nothing to do");
	ok(rt_uninstall_docker_edit(NULL, "d.json", "runvm", &none, &err) == 0 && !none,
	   "docker uninstall: an absent file is nothing to do");
	ok(rt_uninstall_docker_edit("{\"a\": 1, \"runtimes\": {\"runvm\": {\"path\": \"/r\"}}}", "d.json", "runvm", &u2,
				    &err) == 1 &&
		   !strstr(u2, "runtimes") && strstr(u2, "\"a\""),
	   "docker uninstall: a `runtimes` left empty goes too");
	ok(rt_uninstall_docker_edit(a, "d.json", "runvm", &u3, &err) == 1 && strcmp(u3, "") == 0,
	   "docker uninstall: nothing else left: the file is to be removed");
	ok(!err, "docker: no error on the way");
	rt_error_free(&err);
	g_clear_pointer(&a, g_free);
	ok(rt_install_docker_edit("  \n", "d.json", "runvm", "/rv", no_args, &a, &err) == 1 && strstr(a, "\"runvm\""),
	   "docker: an empty file is an empty object");
	docker_refused("{\"debug\": tru", "not valid JSON");
	docker_refused("{\"a\": 1,}", "not valid JSON");
	docker_refused("[1, 2]", "top level is not a JSON object");
	docker_refused("\"text\"", "top level is not a JSON object");
	docker_refused("{\"runtimes\": [\"runvm\"]}", "`runtimes` is not a JSON object");
	docker_refused("{\"runtimes\": \"runvm\"}", "`runtimes` is not a JSON object");
}

/* Debian 12's /etc/containerd/config.toml. */
static const char debian_toml[] = "version = 2\n"
				  "\n"
				  "[plugins]\n"
				  "  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
				  "    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
				  "      bin_dir = \"/usr/lib/cni\"\n"
				  "      conf_dir = \"/etc/cni/net.d\"\n"
				  "  [plugins.\"io.containerd.internal.v1.opt\"]\n"
				  "    path = \"/var/lib/containerd/opt\"\n";

static void ctd_refused(const char *old, const char *needle)
{
	struct rt_error *err = NULL;
	char *next = NULL;
	int r = rt_install_containerd_edit(old, "c.toml", "runvm", "/rv", &next, &err);

	ok(r < 0 && !next && err && strstr(err->msg, "c.toml") && strstr(err->msg, needle),
	   "containerd: refused (%s): %s", needle, err ? err->msg : "no error");
	rt_error_free(&err);
}

static void test_containerd(void)
{
	static const char own_runtimes[] = "version = 2\n"
					   "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
					   "  runtime_type = \"io.containerd.runc.v2\"\n"
					   "  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
					   "    SystemdCgroup = true\n";
	static const char with_imports[] = "imports = [\"/etc/containerd/conf.d/*.toml\",\n"
					   "           \"/etc/other.toml\"]\n"
					   "version = 2 # a comment\n"
					   "[plugins.'io.containerd.grpc.v1.cri' . containerd . runtimes . kata]\n"
					   "  runtime_type = 'io.containerd.kata.v2'\n"
					   "[debug]\n"
					   "  level = \"\"\"\n"
					   "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runvm]\n"
					   "\"\"\"\n";
	struct rt_error *err = NULL;
	g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL, *g = NULL, *h = NULL,
			*i = NULL, *j = NULL, *k = NULL, *l = NULL, *none = NULL;

	ok(rt_install_containerd_edit(NULL, "c.toml", "runvm", "/usr/bin/runvm", &a, &err) == 1 &&
		   strstr(a, "version = 2\n") && strstr(a, "runtimes.runc]") &&
		   strstr(a,
			  "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runvm]\n"
			  "  runtime_type = \"io.containerd.runc.v2\"\n"
			  "  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runvm.options]\n"
			  "    BinaryName = \"/usr/bin/runvm\"\n"),
	   "containerd: an absent file: version 2, the runc block and runvm's");
	ok(rt_uninstall_containerd_edit(a, "c.toml", "runvm", &b, &err) == 1 && strcmp(b, "") == 0,
	   "containerd uninstall: the file it created is to be removed");
	g_clear_pointer(&b, g_free);
	ok(rt_install_containerd_edit(debian_toml, "c.toml", "runvm", "/rv", &b, &err) == 1 &&
		   g_str_has_prefix(b, debian_toml) && count(b, "runtimes.runc]") == 1 &&
		   count(b, "runtimes.runvm]") == 1,
	   "containerd: Debian's v2 file kept as it was, the blocks appended, runc restated (no runtime of its own)");
	ok(rt_install_containerd_edit(b, "c.toml", "runvm", "/rv \"2\"", &c, &err) == 1 &&
		   g_str_has_prefix(c, debian_toml) && count(c, "runtimes.runc]") == 1 &&
		   count(c, "runtimes.runvm]") == 1 && strstr(c, "BinaryName = \"/rv \\\"2\\\"\"\n") &&
		   !strstr(c, "\"/rv\""),
	   "containerd: a second install replaces the block in place, the binary quoted for TOML");
	ok(rt_install_containerd_edit(c, "c.toml", "arm", "/rv", &d, &err) == 1 && count(d, "runtimes.runc]") == 1 &&
		   count(d, "runtimes.arm]") == 1 && count(d, "runtimes.runvm]") == 1,
	   "containerd: a second name gets its own block, runc still once");
	ok(rt_uninstall_containerd_edit(d, "c.toml", "runvm", &e, &err) == 1 && count(e, "runtimes.runc]") == 1 &&
		   count(e, "runtimes.runvm]") == 0 && count(e, "runtimes.arm]") == 1,
	   "containerd uninstall: one name's block goes, runc stays for the other");
	ok(rt_uninstall_containerd_edit(e, "c.toml", "arm", &f, &err) == 1 && strcmp(f, debian_toml) == 0,
	   "containerd uninstall: the last block goes with runc's: the file byte for byte as before");
	ok(rt_uninstall_containerd_edit(f, "c.toml", "arm", &none, &err) == 0 && !none &&
		   rt_uninstall_containerd_edit(NULL, "c.toml", "arm", &none, &err) == 0 && !none,
	   "containerd uninstall: absent block or file: nothing to do");
	ok(rt_install_containerd_edit(own_runtimes, "c.toml", "runvm", "/rv", &g, &err) == 1 &&
		   g_str_has_prefix(g, own_runtimes) && count(g, "runtimes.runc]") == 1 && strstr(g, "runtimes.runvm]"),
	   "containerd: a file with runtimes of its own gets no runc block");
	ok(rt_uninstall_containerd_edit(g, "c.toml", "runvm", &h, &err) == 1 && strcmp(h, own_runtimes) == 0,
	   "containerd uninstall: that file back as it was");
	ok(rt_install_containerd_edit(with_imports, "c.toml", "runvm", "/rv", &i, &err) == 1 &&
		   g_str_has_prefix(i, with_imports) && count(i, "runtimes.runc]") == 0 &&
		   count(i, "runtimes.runvm]") == 2,
	   "containerd: imports, quoted and spaced headers, a multi-line string holding a header: read right");
	ok(rt_uninstall_containerd_edit(i, "c.toml", "runvm", &j, &err) == 1 && strcmp(j, with_imports) == 0,
	   "containerd uninstall: and back");
	ok(rt_install_containerd_edit("version = 2", "c.toml", "runvm", "/rv", &k, &err) == 1 &&
		   g_str_has_prefix(k, "version = 2\n\n# >>> runvm install"),
	   "containerd: a file without its last newline gets one before the blocks");
	/* TOML lets a [table] header add a sub-table to one that dotted keys made. */
	ok(rt_install_containerd_edit(
		   "version = 2\nplugins.\"io.containerd.grpc.v1.cri\".containerd.snapshotter = \"x\"\n", "c.toml",
		   "runvm", "/rv", &l, &err) == 1,
	   "containerd: dotted keys off the runtimes' path are no obstacle");
	ok(!err, "containerd: no error on the way%s%s", err ? ": " : "", err ? err->msg : "");
	rt_error_free(&err);

	ctd_refused("", "not a version 2 configuration");
	ctd_refused("root = \"/var/lib/containerd\"\n", "not a version 2 configuration");
	ctd_refused("version = 1\n[plugins.cri]\n", "not a version 2 configuration");
	ctd_refused("version = 3\n", "not a version 2 configuration");
	ctd_refused("[plugins]\nversion = 2\n", "not a version 2 configuration");
	ctd_refused("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runvm]\n",
		    "configured there by hand");
	ctd_refused("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\nrunvm = { x = 1 }\n",
		    "configured there by hand");
	ctd_refused(
		"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes.kata.runtime_type = \"k\"\n",
		"dotted keys or an inline table");
	ctd_refused("version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\" = { cni = { bin_dir = \"/x\" } }\n",
		    "dotted keys or an inline table");
	ctd_refused(
		"version = 2\nplugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kata.runtime_type = \"k\"\n",
		"dotted keys or an inline table");
	ctd_refused("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"\n", "cannot read the table header");
	ctd_refused("version = 2\n[[plugins.\"io.containerd.grpc.v1.cri\".x]]\n", "array of tables");
	ctd_refused("version = 2\n# >>> runvm install: runtime runvm\n[x]\n", "not closed");
}

static char *slurp(const char *path)
{
	char *s = NULL;

	return g_file_get_contents(path, &s, NULL, NULL) ? s : NULL;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void test_files(void)
{
	g_autofree char *dir = g_dir_make_tmp("runvm-install-XXXXXX", NULL);
	g_autofree char *dj = g_build_filename(dir, "daemon.json", NULL);
	g_autofree char *djbak = g_strconcat(dj, RT_INSTALL_BACKUP_SUFFIX, NULL);
	g_autofree char *pc = g_build_filename(dir, "containers.conf.d", "runvm.conf", NULL);
	g_autofree char *ct = g_build_filename(dir, "config.toml", NULL);
	g_autofree char *wd = g_build_filename(dir, "wrappers", NULL);
	g_autofree char *wp = g_build_filename(wd, "runvm-podman", NULL);
	g_autofree char *wc = g_build_filename(wd, "runvm-containerd", NULL);
	g_autofree char *s = NULL, *want = NULL;
	static const char old_json[] = "{\"debug\": true}\n";
	static const char bad_json[] = "{\"debug\": true,,\n";
	struct rt_install_opts o = {
		.name = "runvm",
		.binary = "/usr/bin/runvm",
		.args = no_args,
		.file = { dj, pc, ct },
		.wrapper_dir = wd,
	};
	struct rt_error *err = NULL;
	char *msg = NULL;

	ok(rt_install_apply(&o, RT_TARGET_DOCKER, false, &msg, &err) == 0 && exists(dj) && !exists(djbak) &&
		   mode_of(dj) == 0644 && strstr(msg, "a new file") && strstr(msg, "systemctl restart docker"),
	   "files: an absent daemon.json is created (0644, no backup); the line says to restart docker: %s",
	   msg ? msg : "");
	g_clear_pointer(&msg, g_free);
	g_file_set_contents(dj, old_json, -1, NULL);
	chmod(dj, 0600);
	ok(rt_install_apply(&o, RT_TARGET_DOCKER, false, &msg, &err) == 0 && (s = slurp(djbak)) &&
		   strcmp(s, old_json) == 0 && mode_of(dj) == 0600 && mode_of(djbak) == 0600 && strstr(msg, djbak),
	   "files: the backup holds the old content, both keep the file's mode, the line names it");
	g_clear_pointer(&msg, g_free);
	g_clear_pointer(&s, g_free);
	g_file_set_contents(dj, bad_json, -1, NULL);
	unlink(djbak);
	ok(rt_install_apply(&o, RT_TARGET_DOCKER, false, &msg, &err) < 0 && !msg && err &&
		   g_str_has_prefix(err->msg, "docker: ") && strstr(err->msg, dj) && (s = slurp(dj)) &&
		   strcmp(s, bad_json) == 0 && !exists(djbak),
	   "files: malformed daemon.json refused, untouched, no backup: %s", err ? err->msg : "");
	rt_error_free(&err);
	g_clear_pointer(&s, g_free);

	o.args = two_args;
	ok(rt_install_apply(&o, RT_TARGET_PODMAN, false, &msg, &err) == 0 && (s = slurp(pc)) &&
		   strcmp(s, (want = rt_install_podman_dropin("runvm", wp))) == 0 && mode_of(wp) == 0755 &&
		   strstr(msg, "no restart"),
	   "files: podman with arguments: the drop-in names the wrapper (0755); no restart");
	g_clear_pointer(&msg, g_free);
	g_clear_pointer(&s, g_free);
	g_clear_pointer(&want, g_free);
	ok((s = slurp(wp)) && strcmp(s, (want = rt_install_wrapper("runvm", "/usr/bin/runvm", two_args))) == 0,
	   "files: the wrapper's content");
	g_clear_pointer(&s, g_free);
	g_clear_pointer(&want, g_free);
	ok(rt_install_apply(&o, RT_TARGET_CONTAINERD, false, &msg, &err) == 0 && (s = slurp(ct)) && strstr(s, wc) &&
		   exists(wc) && strstr(msg, "systemctl restart containerd"),
	   "files: containerd with arguments: BinaryName is its wrapper; restart containerd: %s", msg ? msg : "");
	g_clear_pointer(&msg, g_free);
	g_clear_pointer(&s, g_free);
	o.args = no_args;
	ok(rt_install_apply(&o, RT_TARGET_PODMAN, false, &msg, &err) == 0 && !exists(wp) && (s = slurp(pc)) &&
		   strstr(s, "[\"/usr/bin/runvm\"]"),
	   "files: podman again without arguments: runvm itself, the wrapper removed");
	g_clear_pointer(&msg, g_free);
	g_clear_pointer(&s, g_free);
	ok(rt_install_apply(&o, RT_TARGET_CONTAINERD, true, &msg, &err) == 0 && !exists(wc) && !exists(ct) &&
		   !exists(wd),
	   "files: containerd uninstall: its wrapper, the file it created and the empty wrapper dir gone");
	g_clear_pointer(&msg, g_free);
	ok(rt_install_apply(&o, RT_TARGET_PODMAN, true, &msg, &err) == 0 && !exists(pc), "files: podman uninstall");
	g_clear_pointer(&msg, g_free);
	ok(rt_install_apply(&o, RT_TARGET_PODMAN, true, &msg, &err) == 0 && strstr(msg, "not installed"),
	   "files: podman uninstall again: says so, no error: %s", msg ? msg : "");
	g_clear_pointer(&msg, g_free);
	g_file_set_contents(pc, "[engine]\n", -1, NULL);
	ok(rt_install_apply(&o, RT_TARGET_PODMAN, false, &msg, &err) < 0 && err &&
		   strstr(err->msg, "not written by runvm install") && (s = slurp(pc)) && strcmp(s, "[engine]\n") == 0,
	   "files: a drop-in runvm did not write is left alone: %s", err ? err->msg : "");
	rt_error_free(&err);
	g_clear_pointer(&s, g_free);
	ok(!err, "files: no stray error");

	/* Leave nothing. */
	unlink(pc);
	unlink(dj);
	unlink(djbak);
	g_autofree char *ctbak = g_strconcat(ct, RT_INSTALL_BACKUP_SUFFIX, NULL);
	unlink(ctbak);
	g_autofree char *pd = g_path_get_dirname(pc);
	rmdir(pd);
	ok(rmdir(dir) == 0, "files: nothing else was left in the directory");
}

static void test_text(void)
{
	g_autofree char *p = rt_install_podman_dropin("rv-2", "/opt/run vm/\"x\"");
	g_autofree char *w = rt_install_wrapper("rv", "/opt/it's", two_args);

	ok(strcmp(p,
		  "# Written by `runvm install`; `runvm uninstall --name rv-2 --target podman` removes it.\n"
		  "[engine.runtimes]\n"
		  "rv-2 = [\"/opt/run vm/\\\"x\\\"\"]\n") == 0,
	   "podman: the drop-in's [engine.runtimes] entry, quoted for TOML");
	ok(g_str_has_prefix(w, "#!/bin/sh\n") &&
		   strstr(w, "\nexec '/opt/it'\\''s' '--config=/etc/runvm/arm64.conf' '--debug' \"$@\"\n"),
	   "wrapper: execs runvm with its arguments first, each quoted for sh");
}

int main(void)
{
	test_docker();
	test_containerd();
	test_text();
	test_files();
	return tap_done();
}
