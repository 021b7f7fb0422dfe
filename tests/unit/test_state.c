/* SPDX-License-Identifier: GPL-2.0-or-later */
/* State files: atomic write and load, status derived as runc does, IDs, signal names. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "runtime/lib/state.h"
#include "runtime/lib/util.h"
#include "tests/unit/tap.h"

/* What a hostile guest could leave: 3000 levels (past PATH_MAX), and at each tenth a symlink to a
 * directory and to a file outside, a regular file and a FIFO. */
static int deep_junk(const char *root, const char *dir)
{
	g_autofree char *out = g_build_filename(root, "outside", NULL);
	g_autofree char *keep = g_build_filename(out, "keep", NULL);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), i;

	if (fd < 0 || mkdir(out, 0700) < 0 || !g_file_set_contents(keep, "x", 1, NULL))
		return -1;
	for (i = 0; i < 3000; i++) {
		int next;

		if (i % 10 == 0 &&
		    (symlinkat(out, fd, "l") < 0 || symlinkat(keep, fd, "f") < 0 || mkfifoat(fd, "p", 0600) < 0 ||
		     close(openat(fd, "r", O_CREAT | O_WRONLY, 0600)) < 0))
			break;
		if (mkdirat(fd, "d", 0700) < 0 || (next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			break;
		close(fd);
		fd = next;
	}
	return close(fd) < 0 || i < 3000 ? -1 : 0;
}

static bool outside_intact(const char *root)
{
	g_autofree char *keep = g_build_filename(root, "outside", "keep", NULL);
	g_autofree char *out = g_build_filename(root, "outside", NULL);
	g_autofree char *data = NULL;

	return g_file_get_contents(keep, &data, NULL, NULL) && strcmp(data, "x") == 0 && unlink(keep) == 0 &&
		rmdir(out) == 0;
}

/* A mount below the state directory (a bind source that was never let go of) is never
 * entered nor emptied: the removal fails, loudly. Needs root, in a mount namespace of its own. */
static void mount_point_refused(const char *root)
{
	g_autofree char *dir = g_build_filename(root, "c2", NULL);
	g_autofree char *m = g_build_filename(dir, "mounts", NULL);
	g_autofree char *user = g_build_filename(m, "user-data", NULL);
	struct rt_error *err = NULL;
	int r;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		ok(1, "a mount point below the state directory # SKIP needs root");
		return;
	}
	ok(mkdir(dir, 0700) == 0 && mkdir(m, 0700) == 0 && mount("t", m, "tmpfs", 0, "size=64k") == 0 &&
		   g_file_set_contents(user, "u", 1, NULL),
	   "a tmpfs mounted below a state directory, a user's file in it");
	r = rt_state_dir_remove(dir, &err);
	ok(r < 0 && err && strstr(err->msg, "a mount point"), "removal fails on the mount point: %s",
	   err ? err->msg : "no error");
	rt_error_free(&err);
	ok(access(user, F_OK) == 0, "what the mount holds is untouched");
	umount2(m, MNT_DETACH);
	ok(rt_state_dir_remove(dir, &err) == 0 && access(dir, F_OK) < 0, "once unmounted, removed");
	rt_error_free(&err);
}

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
			      .accel = "tcg",
			      .annotations_json = "{\"z.k\":\"2\",\"a.k\":\"1 \\\"q\\\"\"}" };
	int sig = 0;

	ok(rt_state_dir_create(root, "c1", &dir, &err) == 0, "state directory created");
	ok(rt_state_dir_create(root, "c1", &(char *){ NULL }, &err) < 0 && strstr(err->msg, "already exists"),
	   "a second one is runc's `already exists`");
	rt_error_free(&err);
	ok(rt_state_write(dir, &w, &err) == 0 && rt_state_load(dir, &st, &err) == 0, "written and loaded back");
	ok(st && strcmp(st->id, "c1") == 0 && st->pid == getpid() && strcmp(rt_state_status(st), "running") == 0,
	   "a live pid with its start time: the recorded status");
	{
		g_autofree char *oci = st ? rt_state_to_oci_json(st, "root", false) : NULL;

		ok(oci &&
			   strstr(oci,
				  "\"created\":\"2026-01-01T00:00:00Z\",\"annotations\":{\"a.k\":\"1 \\\"q\\\"\","
				  "\"z.k\":\"2\"},\"owner\":\"root\"}"),
		   "the annotations of create kept in state.json, printed sorted before owner, as runc: %s", oci);
	}
	st->pid_start++;
	ok(strcmp(rt_state_status(st), "stopped") == 0, "same pid, other start time (reused): stopped");
	st->pid = 0;
	ok(strcmp(rt_state_status(st), "stopped") == 0, "no pid: stopped");
	g_free(st->status);
	st->status = g_strdup("creating");
	ok(strcmp(rt_state_status(st), "creating") == 0, "written before the monitor exists: creating");
	rt_state_free(st);
	ok(deep_junk(root, dir) == 0, "a guest's junk: a tree 3000 deep, symlinks out, a FIFO");
	ok(rt_state_dir_remove(dir, &err) == 0, "the state directory is removed however deep");
	ok(access(dir, F_OK) < 0, "nothing of it is left");
	ok(outside_intact(root), "the symlinks' targets outside survive, untouched");
	mount_point_refused(root);
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
