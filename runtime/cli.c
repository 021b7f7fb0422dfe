/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runvm: the runc-compatible command line. Global flags, then a verb and its flags. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "runtime/cli.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/install.h"
#include "runtime/lib/config.h"
#include "runtime/lib/state.h"

#ifndef RUNVM_VERSION
#define RUNVM_VERSION "0.1.0"
#endif

static const struct {
	const char *name;
	rt_verb_fn fn;
	const char *help;
} verbs[] = {
	{ "create", rt_cmd_create, "boot a container's VM, its process not yet started" },
	{ "start", rt_cmd_start, "start the process of a created container" },
	{ "state", rt_cmd_state, "print a container's state as JSON" },
	{ "list", rt_cmd_list, "list containers" },
	{ "kill", rt_cmd_kill, "send a signal to a container's process" },
	{ "delete", rt_cmd_delete, "remove a container" },
	{ "exec", rt_cmd_exec, "run another process in a running container" },
	{ "pause", rt_cmd_pause, "freeze a container's VM" },
	{ "resume", rt_cmd_resume, "thaw a paused container's VM" },
	{ "ps", rt_cmd_ps, "list the container's host processes" },
	{ "update", rt_cmd_update, "update resource limits" },
	{ "events", rt_cmd_events, "print container statistics (--stats)" },
	{ "features", rt_cmd_features, "print what this runtime supports, as JSON" },
	{ "checkpoint", rt_cmd_unsupported, "not supported" },
	{ "restore", rt_cmd_unsupported, "not supported" },
	{ "run", rt_cmd_run, "create and run a container in a VM, in the foreground" },
	{ "check", rt_cmd_check, "show what this host can run and how" },
	{ "spec", rt_cmd_spec, "write a default config.json" },
	{ "template", rt_cmd_template, "create, list or rm the VM templates containers start from" },
	{ "install", rt_cmd_install, "register runvm with docker, podman, containerd (install --help)" },
	{ "uninstall", rt_cmd_uninstall, "take that registration out again" },
};

int rt_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, const char *verb,
	      struct rt_error **err)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == '?') {
		/* glibc leaves optopt 0 for an unknown long option, the option's value for one
		 * that lacks its argument, and the character for a bad short option. */
		const char *arg = argv[optind - 1];
		const char *sep = *verb ? ": " : "";

		if (optopt == 0)
			rt_make_error(err, 0, "%s%sunknown option `%s`", verb, sep, arg);
		else if (optopt >= 256 || strchr(shortopts, optopt))
			rt_make_error(err, 0, "%s%soption `%s` needs a value", verb, sep, arg);
		else
			rt_make_error(err, 0, "%s%sunknown option `-%c`", verb, sep, optopt);
		return -2;
	}
	return c;
}

int rt_cmd_unsupported(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	(void)g;
	(void)argc;
	return rt_make_error(err, EOPNOTSUPP, "%s is not supported by runvm", argv[0]);
}

int rt_verb_open(const struct rt_globals *g, int argc, char **argv, char **ret_dir, struct rt_state **ret_st,
		 int *ret_lock_fd, struct rt_error **err)
{
	static const struct option none[] = { { 0 } };
	int c;

	while ((c = rt_getopt(argc, argv, "", none, argv[0], err)) != -1)
		if (c == -2)
			return -1;
	if (argc - optind != 1)
		return rt_make_error(err, 0, "%s: expected exactly one container ID", argv[0]);
	return rt_state_open(g->root, argv[optind], ret_dir, ret_st, ret_lock_fd, err);
}

static void usage(void)
{
	printf("usage: runvm [global options] COMMAND [options] [ARGS]\n\n"
	       "An OCI runtime that runs every container in its own lightweight VM.\n\n"
	       "commands:\n");
	for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
		printf("  %-10s %s\n", verbs[i].name, verbs[i].help);
	printf("\nglobal options:\n"
	       "  --root DIR            state directory (default /run/runvm)\n"
	       "  --config FILE         configuration file (over $RUNVM_CONFIG; it must exist)\n"
	       "  --log FILE            log file (default stderr)\n"
	       "  --log-format FORMAT   text or json\n"
	       "  --debug               debug logging\n"
	       "  --backend NAME        hypervisor backend (default: from the configuration, else auto)\n"
	       "  --systemd-cgroup      accepted for runc compatibility\n"
	       "  --version, --help\n\n"
	       "configuration: --config FILE, else $RUNVM_CONFIG, else "
	       "/etc/runvm/runvm.conf\n");
}

enum {
	OPT_ROOT = 256,
	OPT_CONFIG,
	OPT_LOG,
	OPT_LOG_FORMAT,
	OPT_DEBUG,
	OPT_BACKEND,
	OPT_SYSTEMD_CGROUP,
	OPT_VERSION,
	OPT_HELP,
	OPT_IGNORED
};

static int run_main(int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "debug", no_argument, NULL, OPT_DEBUG },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "systemd-cgroup", no_argument, NULL, OPT_SYSTEMD_CGROUP },
		{ "rootless", required_argument, NULL, OPT_IGNORED },
		{ "criu", required_argument, NULL, OPT_IGNORED },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	struct rt_globals g = { .root = "/run/runvm", .log_format = "text" };
	enum rt_log_format fmt;
	int c;

	/* "+": stop at the verb; its options are its own. */
	while ((c = rt_getopt(argc, argv, "+vh", opts, "", err)) != -1) {
		switch (c) {
		case -2: return -1;
		case OPT_ROOT: g.root = optarg; break;
		case OPT_CONFIG: rt_config_set_path(optarg); break;
		case OPT_LOG: g.log = optarg; break;
		case OPT_LOG_FORMAT: g.log_format = optarg; break;
		case OPT_DEBUG: g.debug = true; break;
		case OPT_BACKEND: g.backend = optarg; break;
		case OPT_SYSTEMD_CGROUP: g.systemd_cgroup = true; break;
		case OPT_IGNORED: break;
		case 'v':
		case OPT_VERSION: printf("runvm version %s\nspec: 1.0.2\n", RUNVM_VERSION); return 0;
		case 'h':
		case OPT_HELP: usage(); return 0;
		}
	}
	if (strcmp(g.log_format, "json") == 0)
		fmt = RT_LOG_JSON;
	else if (strcmp(g.log_format, "text") == 0)
		fmt = RT_LOG_TEXT;
	else
		return rt_make_error(err, 0, "unknown log format `%s` (text or json)", g.log_format);
	if (rt_log_open(g.log, fmt, g.debug, err) < 0)
		return -1;
	if (optind >= argc) {
		usage();
		return rt_make_error(err, 0, "no command given");
	}
	for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++) {
		if (strcmp(argv[optind], verbs[i].name) == 0) {
			int verb_argc = argc - optind;

			optind = 0; /* reset getopt for the verb's own options */
			return verbs[i].fn(&g, verb_argc, argv + argc - verb_argc, err);
		}
	}
	return rt_make_error(err, 0, "unknown command `%s`", argv[optind]);
}

int main(int argc, char **argv)
{
	struct rt_error *err = NULL;
	int r;

	/* A reader that went away (the caller's stdout, a dead hypervisor's socket) is an error to
	 * handle where it happens, not a reason to die and leave the VM behind. */
	signal(SIGPIPE, SIG_IGN);
	r = run_main(argc, argv, &err);

	if (r < 0) {
		rt_log_fatal(err);
		rt_error_free(&err);
		return 1;
	}
	return r;
}
