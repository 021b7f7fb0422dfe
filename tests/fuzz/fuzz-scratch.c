/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz-scratch.h"

static char dir[128];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fuzz_remove_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void scratch_remove(void)
{
	fuzz_remove_tree(dir);
}

const char *fuzz_scratch_dir(const char *name)
{
	if (dir[0])
		return dir;
	/* No propagation back to the host, then a tmpfs that only this process sees. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("fuzz", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") < 0)
		atexit(scratch_remove);
	snprintf(dir, sizeof(dir), "/dev/shm/runvm-fuzz-%s.%d", name, (int)getpid());
	if (mkdir(dir, 0700) < 0)
		abort();
	return dir;
}
