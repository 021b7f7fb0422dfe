/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm start ID`: release the created container's process; returns once it runs. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "runtime/ctl.h"
#include "runtime/delete.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/config.h"
#include "runtime/lib/state.h"
#include "runtime/lib/util.h"

/* The monitor gives the guest the boot timeout to report the process started, then ends the
 * container with its own error; the margin lets that error arrive first. */
#define START_MARGIN_MS 10000

/* Why the monitor ended the container before it started, if it said (at most 4 KiB, escaped),
 * else NULL. */
static char *stopped_reason(const char *dir)
{
	g_autofree char *path = g_build_filename(dir, RT_STATE_ERROR, NULL);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	uint8_t buf[4096];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	return n > 0 ? rt_escape_text(buf, (size_t)n, sizeof(buf)) : NULL;
}

/* As runc: a container whose process could not start is gone, torn down here (the caller,
 * containerd included, will not delete it). Taken under the lock again: a `delete --force`
 * may have been first, and then there is nothing left to do (the lock is gone with it). */
static void destroy_unstarted(const char *dir)
{
	_cleanup_close_ int lock = -EBADF;
	struct rt_error *derr = NULL;
	struct rt_state *st = NULL;

	if (rt_state_lock(dir, &lock, &derr) == 0 && rt_state_load(dir, &st, &derr) == 0 &&
	    rt_container_destroy(st, dir, &derr) < 0)
		rt_warn("%s", derr->msg);
	rt_error_free(&derr);
	rt_state_free(st);
}

int rt_cmd_start(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	g_autofree char *dir = NULL;
	g_autofree char *sock = NULL;
	_cleanup_close_ int lock = -EBADF, claim = -EBADF;
	struct rt_config *config = NULL;
	struct rt_state *st = NULL;
	const char *status;
	unsigned timeout_ms;
	int r;

	if (rt_verb_open(g, argc, argv, &dir, &st, &lock, err) < 0)
		return -1;
	status = rt_state_status(st);
	if (strcmp(status, "stopped") == 0) {
		g_autofree char *why = stopped_reason(dir);

		r = rt_make_error(err, 0, "cannot start a container that has stopped%s%s", why ? ": " : "",
				  why ? why : "");
	} else if (strcmp(status, "created") != 0)
		r = rt_make_error(err, 0, "cannot start an already running container");
	else if ((claim = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = rt_make_error(err, errno, "open `%s`", dir);
	else if (flock(claim, LOCK_EX | LOCK_NB) < 0)
		r = rt_make_error(err, errno == EWOULDBLOCK ? 0 : errno, "cannot start an already running container");
	else
		r = rt_config_load(&config, err);
	rt_state_free(st);
	if (r < 0)
		return -1;
	timeout_ms = config->boot_timeout_s * 1000 + START_MARGIN_MS;
	rt_config_free(config);
	/* The wait is on the guest: `kill` and `delete --force` must get the lock meanwhile. A
	 * second `start` finds the claim (a lock on the state directory) taken and leaves the
	 * container alone; `delete` removes the directory all the same. */
	close(TAKE_FD(lock));
	sock = g_build_filename(dir, "ctl.sock", NULL);
	r = rt_ctl_call_timeout(sock, "{\"op\":\"start\"}", timeout_ms, err);
	if (r < 0)
		destroy_unstarted(dir);
	return r;
}
