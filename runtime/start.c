/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm start ID`: release the created container's process; returns once it runs. */
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "runtime/ctl.h"
#include "runtime/delete.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/state.h"

int rt_cmd_start(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
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
	if (strcmp(status, "stopped") == 0)
		r = rt_make_error(err, 0, "cannot start a container that has stopped");
	else if (strcmp(status, "created") != 0)
		r = rt_make_error(err, 0, "cannot start an already running container");
	else {
		sock = g_build_filename(dir, "ctl.sock", NULL);
		r = rt_ctl_call(sock, "{\"op\":\"start\"}", err);
		/* As runc: a container whose process could not start is gone, torn down here (the
		 * caller, containerd included, will not delete it). */
		if (r < 0) {
			struct rt_error *derr = NULL;

			if (rt_container_destroy(st, dir, &derr) < 0)
				rt_warn("%s", derr->msg);
			rt_error_free(&derr);
		}
	}
	rt_state_free(st);
	return r;
}
