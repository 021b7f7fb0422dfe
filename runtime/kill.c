/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm kill [--all] ID [SIGNAL]`: signal the container's main process (SIGTERM by default). */
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "runtime/ctl.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "runtime/lib/state.h"
#include "runtime/lib/util.h"

int rt_cmd_kill(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' }, { 0 } };
	g_autofree char *dir = NULL;
	g_autofree char *sock = NULL;
	g_autofree char *msg = NULL;
	_cleanup_close_ int lock = -EBADF;
	struct rt_state *st = NULL;
	bool all = false;
	int c, sig = SIGTERM, r;

	/* "+": the ID ends the options (`kill ID -9` is not an option). */
	while ((c = rt_getopt(argc, argv, "+a", opts, "kill", err)) != -1) {
		if (c == -2)
			return -1;
		all = all || c == 'a';
	}
	if (argc - optind < 1 || argc - optind > 2)
		return rt_make_error(err, 0, "kill: expected an ID and optionally a signal");
	if (argc - optind == 2 && rt_parse_signal(argv[optind + 1], &sig, err) < 0)
		return -1;
	if (rt_state_open(g->root, argv[optind], &dir, &st, &lock, err) < 0)
		return -1;
	if (strcmp(rt_state_status(st), "stopped") == 0) {
		/* containerd kills --all after the init of a shared-pid container died. */
		r = all ? 0 : rt_make_error(err, 0, "container not running");
		rt_state_free(st);
		return r;
	}
	rt_state_free(st);
	/* The monitor answers at once, but nothing is waited for under the lock. */
	close(TAKE_FD(lock));
	sock = g_build_filename(dir, "ctl.sock", NULL);
	msg = g_strdup_printf("{\"op\":\"kill\",\"signal\":%d}", sig);
	return rt_ctl_call(sock, msg, err);
}
