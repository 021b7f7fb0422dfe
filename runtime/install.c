/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm install` / `runvm uninstall` (gVisor's `runsc install` is the model): their options,
 * the targets chosen, one line per target. runtime/lib/engine-config.c says what is written.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/install.h"
#include "base/error.h"
#include "runtime/cli.h"
#include "runtime/lib/engine-config.h"

static void usage(bool uninstall)
{
	const char *verb = uninstall ? "uninstall" : "install";

	printf("usage: runvm %s [options]\n\n", verb);
	if (uninstall)
		printf("Take runtime NAME out of the configuration of docker, podman and containerd, as\n"
		       "`runvm install` put it there (the same --name, files and --wrapper-dir).\n"
		       "An absent entry is no error: the line says so, exit 0.\n\n");
	else
		printf("Register runvm as runtime NAME with docker (runtimes in daemon.json), podman (a\n"
		       "containers.conf drop-in) and containerd's CRI plugin (a marked block in config.toml).\n"
		       "An existing entry NAME is replaced; a changed file is first saved as FILE%s.\n\n",
		       RT_INSTALL_BACKUP_SUFFIX);
	printf("options:\n"
	       "  --name NAME              the runtime's name (default runvm)\n");
	if (!uninstall)
		printf("  --path FILE              the runvm binary (default: this one, %s)\n"
		       "  --runtime-arg ARG        a global argument for runvm, repeatable\n"
		       "                           (--runtime-arg=--config=/etc/runvm/arm64.conf); podman\n"
		       "                           and containerd get a wrapper script that passes them\n",
		       "/proc/self/exe");
	printf("  --target T[,T...]        docker, podman, containerd, repeatable (default: each whose\n"
	       "                           program, dockerd, podman or containerd, is in PATH)\n"
	       "  --docker-config FILE     default /etc/docker/daemon.json\n"
	       "  --podman-config FILE     default /etc/containers/containers.conf.d/NAME.conf\n"
	       "  --containerd-config FILE default /etc/containerd/config.toml\n"
	       "  --wrapper-dir DIR        where the wrappers go (default /usr/local/lib/runvm):\n"
	       "                           DIR/NAME-podman, DIR/NAME-containerd\n"
	       "  --help\n");
}

static bool name_ok(const char *s)
{
	if (!*s || *s == '-' || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

/* A path the files can carry: absolute, no control character. */
static int path_ok(const char *what, const char *p, struct rt_error **err)
{
	if (p[0] != '/')
		return rt_make_error(err, 0, "%s `%s` is not an absolute path", what, p);
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return rt_make_error(err, 0, "%s: a control character in the path", what);
	return 0;
}

enum {
	OPT_NAME = 256,
	OPT_PATH,
	OPT_RUNTIME_ARG,
	OPT_TARGET,
	OPT_DOCKER_CONFIG,
	OPT_PODMAN_CONFIG,
	OPT_CONTAINERD_CONFIG,
	OPT_WRAPPER_DIR,
	OPT_HELP,
};

static int install_main(bool uninstall, int argc, char **argv, struct rt_error **err)
{
	/* uninstall takes the same but the first two, --path and --runtime-arg. */
	static const struct option install_opts[] = {
		{ "path", required_argument, NULL, OPT_PATH },
		{ "runtime-arg", required_argument, NULL, OPT_RUNTIME_ARG },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "docker-config", required_argument, NULL, OPT_DOCKER_CONFIG },
		{ "podman-config", required_argument, NULL, OPT_PODMAN_CONFIG },
		{ "containerd-config", required_argument, NULL, OPT_CONTAINERD_CONFIG },
		{ "wrapper-dir", required_argument, NULL, OPT_WRAPPER_DIR },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	struct rt_install_opts o = { .name = "runvm", .wrapper_dir = "/usr/local/lib/runvm" };
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autofree char *self = NULL, *podman_default = NULL;
	const char *verb = argv[0];
	bool chosen[_RT_TARGET_MAX] = { 0 }, any = false;
	int c;

	o.file[RT_TARGET_DOCKER] = "/etc/docker/daemon.json";
	o.file[RT_TARGET_CONTAINERD] = "/etc/containerd/config.toml";
	while ((c = rt_getopt(argc, argv, "", uninstall ? install_opts + 2 : install_opts, verb, err)) != -1) {
		switch (c) {
		case -2: return -1;
		case OPT_NAME: o.name = optarg; break;
		case OPT_PATH: o.binary = optarg; break;
		case OPT_RUNTIME_ARG: g_ptr_array_add(args, optarg); break;
		case OPT_DOCKER_CONFIG: o.file[RT_TARGET_DOCKER] = optarg; break;
		case OPT_PODMAN_CONFIG: o.file[RT_TARGET_PODMAN] = optarg; break;
		case OPT_CONTAINERD_CONFIG: o.file[RT_TARGET_CONTAINERD] = optarg; break;
		case OPT_WRAPPER_DIR: o.wrapper_dir = optarg; break;
		case OPT_HELP: usage(uninstall); return 0;
		case OPT_TARGET: {
			g_auto(GStrv) names = g_strsplit(optarg, ",", -1);

			for (char **n = names; *n; n++) {
				int t;

				for (t = 0; t < _RT_TARGET_MAX && strcmp(*n, rt_target_names[t]); t++)
					;
				if (t == _RT_TARGET_MAX)
					return rt_make_error(err, 0,
							     "%s: unknown target `%s` (docker, podman or containerd)",
							     verb, *n);
				chosen[t] = any = true;
			}
			break;
		}
		}
	}
	if (optind != argc)
		return rt_make_error(err, 0, "%s: takes no arguments, options only (%s --help)", verb, verb);
	if (!name_ok(o.name))
		return rt_make_error(err, 0, "%s: runtime name `%s`: letters, digits, `_` and `-` only, 64 at most",
				     verb, o.name);
	/* Docker reserves it, and containerd's runvm block may restate its default runc. */
	if (strcmp(o.name, "runc") == 0)
		return rt_make_error(err, 0, "%s: `runc` is the name of the engines' default runtime", verb);
	if (!o.binary && !uninstall) {
		g_autoptr(GError) gerr = NULL;

		if (!(self = g_file_read_link("/proc/self/exe", &gerr)))
			return rt_make_error(err, 0, "%s: cannot find this runvm: %s", verb, gerr->message);
		o.binary = self;
	}
	if (o.binary && path_ok("--path", o.binary, err) < 0)
		return rt_error_wrap(err, "%s", verb);
	if (o.binary && access(o.binary, X_OK) < 0)
		return rt_make_error(err, errno, "%s: `%s` is not an executable runvm", verb, o.binary);
	g_ptr_array_add(args, NULL);
	o.args = (const char *const *)args->pdata;
	podman_default = g_strdup_printf("/etc/containers/containers.conf.d/%s.conf", o.name);
	if (!o.file[RT_TARGET_PODMAN])
		o.file[RT_TARGET_PODMAN] = podman_default;
	if (path_ok("--wrapper-dir", o.wrapper_dir, err) < 0)
		return rt_error_wrap(err, "%s", verb);
	for (int t = 0; t < _RT_TARGET_MAX; t++)
		if (path_ok(rt_target_names[t], o.file[t], err) < 0)
			return rt_error_wrap(err, "%s", verb);
	if (!any) {
		for (int t = 0; t < _RT_TARGET_MAX; t++) {
			g_autofree char *p = g_find_program_in_path(rt_target_programs[t]);

			chosen[t] = p != NULL;
			any = any || p;
		}
		if (!any)
			return rt_make_error(
				err, 0, "%s: none of dockerd, podman, containerd is in PATH; name one with --target",
				verb);
	}
	/* In a fixed order; the first failure stops, after the lines of what was already done. */
	for (int t = 0; t < _RT_TARGET_MAX; t++) {
		g_autofree char *msg = NULL;

		if (!chosen[t])
			continue;
		if (rt_install_apply(&o, t, uninstall, &msg, err) < 0)
			return rt_error_wrap(err, "%s", verb);
		printf("%s\n", msg);
		fflush(stdout);
	}
	return 0;
}

int rt_cmd_install(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	(void)g;
	return install_main(false, argc, argv, err);
}

int rt_cmd_uninstall(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	(void)g;
	return install_main(true, argc, argv, err);
}
