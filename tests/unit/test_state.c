/* SPDX-License-Identifier: GPL-2.0-or-later */
/* State files: atomic write and load, status derived as runc does, IDs, signal names. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "runtime/lib/state.h"
#include "runtime/lib/util.h"
#include "tests/unit/tap.h"

int main(void)
{
	g_autofree char *root = g_dir_make_tmp("runvm-state-XXXXXX", NULL);
	g_autofree char *dir = NULL;
	struct rt_error *err = NULL;
	struct rt_state *st = NULL;
	struct rt_state w = { .oci_version = "1.0.2",
			      .id = "c1",
			      .status = "running",
			      .pid = getpid(),
			      .pid_start = rt_pid_start_time(getpid()),
			      .bundle = "/b",
			      .rootfs = "/b/rootfs",
			      .created = "2026-01-01T00:00:00Z",
			      .backend = "qemu",
			      .accel = "tcg" };
	int sig = 0;

	ok(rt_state_dir_create(root, "c1", &dir, &err) == 0, "state directory created");
	ok(rt_state_dir_create(root, "c1", &(char *){ NULL }, &err) < 0 && strstr(err->msg, "already exists"),
	   "a second one is runc's `already exists`");
	rt_error_free(&err);
	ok(rt_state_write(dir, &w, &err) == 0 && rt_state_load(dir, &st, &err) == 0, "written and loaded back");
	ok(st && strcmp(st->id, "c1") == 0 && st->pid == getpid() && strcmp(rt_state_status(st), "running") == 0,
	   "a live pid with its start time: the recorded status");
	st->pid_start++;
	ok(strcmp(rt_state_status(st), "stopped") == 0, "same pid, other start time (reused): stopped");
	st->pid = 0;
	ok(strcmp(rt_state_status(st), "stopped") == 0, "no pid: stopped");
	g_free(st->status);
	st->status = g_strdup("creating");
	ok(strcmp(rt_state_status(st), "creating") == 0, "written before the monitor exists: creating");
	rt_state_free(st);
	rt_state_dir_remove(dir);
	ok(rt_state_open(root, "c1", &(char *){ NULL }, &st, NULL, &err) < 0 &&
		   strstr(err->msg, "container does not exist"),
	   "removed: container does not exist");
	rt_error_free(&err);
	ok(rt_check_id("../x", &err) < 0, "an ID with a slash is refused");
	rt_error_free(&err);
	ok(rt_check_id("a-b_c.d+1", &err) == 0, "runc's ID characters are accepted");
	ok(rt_parse_signal("9", &sig, &err) == 0 && sig == SIGKILL, "signal by number");
	ok(rt_parse_signal("sigusr1", &sig, &err) == 0 && sig == SIGUSR1, "signal by name, any case, with SIG");
	ok(rt_parse_signal("TERM", &sig, &err) == 0 && sig == SIGTERM, "signal by name without SIG");
	ok(rt_parse_signal("NOPE", &sig, &err) < 0, "unknown signal refused");
	rt_error_free(&err);
	ok(rt_parse_signal("65", &sig, &err) < 0, "signal number out of range refused");
	rt_error_free(&err);
	rmdir(root);
	return tap_done();
}
