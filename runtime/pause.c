/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm pause ID` and `runvm resume ID`: freeze and thaw the container's VM. */
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "runtime/ctl.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "runtime/lib/state.h"

static int pause_resume(const struct rt_globals *g, int argc, char **argv, bool pause, struct rt_error **err)
{
	g_autofree char *dir = NULL;
	g_autofree char *sock = NULL;
	_cleanup_close_ int lock = -EBADF;
	struct rt_state *st = NULL;
	const char *status;
	int r;

	if (rt_verb_open(g, argc, argv, &dir, &st, &lock, err) < 0)
		return -1;
	status = rt_state_status(st);
	if (pause && strcmp(status, "running") && strcmp(status, "created"))
		r = rt_make_error(err, 0, "container not running");
	else if (!pause && strcmp(status, "paused"))
		r = rt_make_error(err, 0, "container not paused");
	else {
		sock = g_build_filename(dir, "ctl.sock", NULL);
		r = rt_ctl_call(sock, pause ? "{\"op\":\"pause\"}" : "{\"op\":\"resume\"}", err);
	}
	rt_state_free(st);
	return r;
}

int rt_cmd_pause(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	return pause_resume(g, argc, argv, true, err);
}

int rt_cmd_resume(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	return pause_resume(g, argc, argv, false, err);
}
