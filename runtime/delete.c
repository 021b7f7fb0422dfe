/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm delete [--force] ID`: remove a stopped container; a created one is killed first (as
 * runc does, and containerd relies on); a running one only with --force.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "runtime/cgroup.h"
#include "runtime/delete.h"
#include "runtime/hooks.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/lib/state.h"
#include "runtime/network.h"

/* SIGKILL the monitor (the hypervisor dies with it) and wait up to 10 s for it to be gone or a
 * zombie: the caller that reaps it may be slow. */
static int kill_monitor(const struct rt_state *st, struct rt_error **err)
{
	if (st->pid <= 0 || rt_pid_start_time(st->pid) != st->pid_start)
		return 0;
	if (kill(st->pid, SIGKILL) < 0 && errno != ESRCH)
		return rt_make_error(err, errno, "kill %d", st->pid);
	for (int i = 0; i < 100; i++) {
		if (rt_pid_start_time(st->pid) != st->pid_start)
			return 0;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	return rt_make_error(err, ETIMEDOUT, "the container's monitor (pid %d) did not die", st->pid);
}

int rt_container_destroy(const struct rt_state *st, const char *dir, struct rt_error **err)
{
	struct rt_spec *spec = NULL;
	struct rt_error *herr = NULL;

	if (kill_monitor(st, err) < 0)
		return -1;
	/* A monitor that ended on its own took the redirect off already; a killed one did not. */
	if (st->net_ifindex > 0 && *st->netns_path && rt_net_unredirect(st->netns_path, st->net_ifindex, err) < 0)
		return -1;
	if (rt_state_dir_remove(dir, err) < 0)
		return -1;
	if (*st->cgroups_path)
		rt_cgroup_remove(st->cgroups_path, false);
	/* poststop hooks: after everything is released; their failure is a warning. */
	if (rt_spec_load(st->bundle, &spec, &herr) == 0 &&
	    rt_hooks_run(spec, RT_HOOK_POSTSTOP, st->id, st->bundle, "stopped", 0, &herr) < 0)
		rt_warn("%s", herr->msg);
	rt_error_free(&herr);
	rt_spec_free(spec);
	return 0;
}

int rt_cmd_delete(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { 0 } };
	g_autofree char *dir = NULL;
	_cleanup_close_ int lock = -EBADF;
	struct rt_state *st = NULL;
	bool force = false;
	const char *status;
	int c, r = 0;

	while ((c = rt_getopt(argc, argv, "f", opts, "delete", err)) != -1) {
		if (c == -2)
			return -1;
		force = force || c == 'f';
	}
	if (argc - optind != 1)
		return rt_make_error(err, 0, "delete: expected exactly one container ID");
	if (rt_check_id(argv[optind], err) < 0)
		return -1;
	if (rt_state_open(g->root, argv[optind], &dir, &st, &lock, err) < 0) {
		g_autofree char *root = g_canonicalize_filename(g->root, NULL);
		g_autofree char *stale = g_build_filename(root, argv[optind], NULL);

		struct rt_error *rerr = NULL;

		/* A directory without a valid state (a create that died): clean it. One that
		 * cannot be removed is the error, never a silent success. */
		if (rt_state_dir_remove(stale, &rerr) < 0) {
			rt_error_free(err);
			*err = rerr;
			return -1;
		}
		if (force) {
			rt_error_free(err);
			return 0;
		}
		return -1;
	}
	status = rt_state_status(st);
	if (!force && strcmp(status, "stopped") != 0 && strcmp(status, "created") != 0)
		r = rt_make_error(err, 0, "cannot delete container %s that is not stopped: %s", st->id, status);
	else
		r = rt_container_destroy(st, dir, err);
	rt_state_free(st);
	return r;
}
