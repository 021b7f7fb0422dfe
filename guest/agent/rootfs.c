/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The container's root filesystem: its mount, and the setup its init does in it (see
 * rootfs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/agent/agent.h"
#include "guest/agent/devices.h"
#include "guest/agent/mounts.h"
#include "guest/agent/process.h"
#include "guest/agent/rootfs.h"
#include "guest/agent/verity.h"
#include "guest/agent/util.h"

/* Create @path as a mount point unless it exists. 1: skip it (read-only rootfs), 0: mount. */
static int mount_point(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) == 0)
		return 0;
	/* EROFS: a read-only image without it; ENOENT: its parent was skipped that way. */
	if (errno == EROFS || errno == ENOENT)
		return 1;
	if (errno != EEXIST)
		return -errno;
	/* mount(2) follows symlinks: do not let the image point a mount outside the rootfs. */
	if (lstat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* How old a dirty page of the rootfs may get before the guest writes it back to the host,
 * and how often the flusher looks: 1 s each (the kernel's defaults are 30 s and 5 s). So a
 * write reaches the host within about 2 s even while the process keeps running. */
#define WRITEBACK_CS "100"

void rootfs_writeback(void)
{
	static const char *const knobs[] = { "/proc/sys/vm/dirty_expire_centisecs",
					     "/proc/sys/vm/dirty_writeback_centisecs" };
	size_t i;
	int r;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if ((r = write_file(knobs[i], WRITEBACK_CS)) < 0)
			logmsg("%s: %s, ignoring", knobs[i], strerror(-r));
}

void rootfs_refresh(void)
{
	int r;

	/* Dirty pages first: drop_caches only drops clean ones. Then 2: the dentries no one
	 * holds (negative ones too) and the inodes no one holds, their pages with them, so that
	 * what is looked up and read next is asked of the host again. Not 1 as well: the pages of
	 * files a process holds open stay (their attributes stay cached anyway), and so does the
	 * rest of the guest's page cache, which is the rootfs's alone (bind mounts are
	 * cache=mmap, tmpfs is not dropped). */
	sync();
	if ((r = write_file("/proc/sys/vm/drop_caches", "2")) < 0)
		logmsg("/proc/sys/vm/drop_caches: %s, ignoring", strerror(-r));
}

int mount_rootfs(struct proc *p0, const struct run_config *c)
{
	static const struct {
		const char *src, *dir, *type;
		unsigned long flags;
		const char *data;
	} m[] = {
		{ "sysfs", ROOTFS "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL },
		{ "/dev", ROOTFS "/dev", NULL, MS_BIND, NULL },
		{ "devpts", ROOTFS "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5" },
		{ "shm", ROOTFS "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777" },
	};
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	unsigned long flags = c->readonly && !c->nmounts ? MS_RDONLY : 0;
	size_t i;
	int r;

	if (mkdir(ROOTFS, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		set_error(p0, RV_EXIT_SETUP_FAILED, "mkdir " ROOTFS ": %s", strerror(-r));
		return r;
	}
	/*
	 * cache=loose: the guest's page cache, dentries and inode attributes serve the rootfs
	 * (cache=mmap sent every read and stat to the host: 30 to 400 times runc's time for file
	 * work, README "File I/O"). Linux 6.1's 9p with it caches without asking the host again:
	 * file data is written back (dirty pages, at most WRITEBACK_CS later, and at fsync, sync
	 * and the inode's eviction), while namespace and attribute changes (create, mkdir,
	 * unlink, rename, chmod, chown, truncate) are sent at once. What keeps the host and the
	 * guest agreeing is the agent's: rootfs_writeback() here, sync() before every EXIT, and
	 * rootfs_refresh() before every EXEC. Bind mounts keep cache=mmap (mounts.c): they are
	 * shared live with the host. So does the rootfs where the host's 9p server holds an fd
	 * for every fid ("9p-uncached": the kvm backend's), since a guest caching every name it
	 * looked up would run it out of fds.
	 */
	if (c->verity) {
		char cmdline[4096], err[256];
		struct verity_params v;

		r = read_small_file("/proc/cmdline", cmdline, sizeof(cmdline));
		if (r >= 0)
			r = verity_parse_cmdline(cmdline, &v);
		if (r >= 0)
			r = verity_mount(&v, ROOTFS, flags & MS_RDONLY, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "runvm.verity= on the kernel command line: %s",
				 r == -ENOENT ? "missing" : "malformed");
		if (r < 0) {
			set_error(p0, RV_EXIT_SETUP_FAILED, "verified rootfs: %s", err);
			return r;
		}
	} else if (c->virtiofs) {
		r = mount(RV_ROOTFS_TAG, ROOTFS, "virtiofs", flags, NULL);
	} else {
		rootfs_writeback();
		r = mount(RV_ROOTFS_TAG, ROOTFS, "9p", flags,
			  c->uncached ? "trans=virtio,version=9p2000.L,msize=262144,cache=mmap"
				      : "trans=virtio,version=9p2000.L,msize=262144,cache=loose");
	}
	if (r < 0 && !c->verity) {
		r = -errno;
		set_error(p0, RV_EXIT_SETUP_FAILED, "mount rootfs (%s): %s", c->virtiofs ? "virtiofs" : "9p",
			  strerror(-r));
		return r;
	}
	/* The links runc makes, in the guest's own /dev, which the container shares. */
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			logmsg("symlink %s: %m", links[i][1]);
	for (i = 0; !c->nmounts && i < sizeof(m) / sizeof(m[0]); i++) {
		r = mount_point(m[i].dir);
		if (r > 0)
			continue;
		if (r == 0 && mount(m[i].src, m[i].dir, m[i].type, m[i].flags, m[i].data) < 0)
			r = -errno;
		if (r < 0) {
			set_error(p0, RV_EXIT_SETUP_FAILED, "mount %s on %s: %s", m[i].type ? m[i].type : "/dev",
				  m[i].dir + strlen(ROOTFS), strerror(-r));
			return r;
		}
	}
	return 0;
}

/* linux.maskedPaths: /dev/null over a file, an empty read-only tmpfs over a directory. */
static int mask_path(int rootfd, const char *path)
{
	char target[32];
	struct stat st;
	int fd = open_in_root(rootfd, path, 0), r = 0;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	fd_path(target, fd);
	if (fstat(fd, &st) < 0 ||
	    (S_ISDIR(st.st_mode) ? mount("tmpfs", target, "tmpfs", MS_RDONLY, NULL)
				 : mount("/dev/null", target, NULL, MS_BIND, NULL)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* linux.readonlyPaths: bound onto themselves, then read-only with all beneath. */
static int readonly_path(int rootfd, const char *path)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	char target[32];
	int fd = open_in_root(rootfd, path, 0), top, r = 0;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	fd_path(target, fd);
	r = mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	top = open_in_root(rootfd, path, 0);
	if (top < 0)
		return top;
	if (mount_setattr(top, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		r = -errno;
	close(top);
	return r;
}

/* "a.b.c=value" into /proc/sys/a/b/c (the guest's: it is the container's kernel). */
static int write_sysctl(const char *kv)
{
	char path[PATH_MAX], *c;
	const char *eq = strchr(kv, '=');
	size_t len;
	int fd, r = 0;

	if (snprintf(path, sizeof(path), "/proc/sys/%.*s", (int)(eq - kv), kv) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (c = path + strlen("/proc/sys/"); *c; c++)
		if (*c == '.')
			*c = '/';
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = strlen(eq + 1);
	if (write(fd, eq + 1, len) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}

/* Whether the topmost mount on @path is shared: a "shared:N" among the optional fields of its
 * line in /proc/self/mountinfo. */
static bool mount_shared(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *p, *dash;
	size_t cap = 0;
	bool shared = false;

	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		char point[PATH_MAX];

		/* ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 || strcmp(point, path))
			continue;
		dash = strstr(line, " - ");
		p = strstr(line, " shared:");
		/* Later lines are mounts on top: the last one wins. */
		shared = p && dash && p < dash;
	}
	free(line);
	fclose(f);
	return shared;
}

/*
 * The container's mount namespace, made as runc makes it: a copy of the agent's (whose mounts
 * are all shared, as systemd leaves a host's), linux.rootfsPropagation applied to / (rslave
 * when not given), the rootfs's mount made private when it is still shared (so that the bind
 * below cannot propagate, and as pivot_root wants), and the rootfs bound onto itself, which is
 * the container's root from here on. (runc then pivots; the agent chroots, with the same
 * mounts in view.)
 */
static void prepare_root(const struct run_config *run, int efd)
{
	if (unshare(CLONE_NEWNS) < 0)
		child_failf(efd, errno, "making the container's mount namespace");
	if (mount(NULL, "/", NULL, run->rootfs_propagation, NULL) < 0)
		child_failf(efd, errno, "setting the propagation of / (rootfsPropagation)");
	if (mount_shared(ROOTFS) && mount(NULL, ROOTFS, NULL, MS_PRIVATE, NULL) < 0)
		child_failf(efd, errno, "making the root filesystem's mount private");
	if (mount(ROOTFS, ROOTFS, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_failf(efd, errno, "binding the root filesystem onto itself");
}

/* The container's setup, done by its init (PID 1 of its namespace) before anything else. */
void setup_container(const struct run_config *run, int efd)
{
	const char *what;
	size_t i;
	int rootfd, r;

	prepare_root(run, efd);
	if (!run->nmounts) {
		/* The built-in set's proc, here because the mounter's PID namespace is its. */
		r = mount_point(ROOTFS "/proc");
		if (r == 0 && mount("proc", ROOTFS "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			r = -errno;
		if (r < 0)
			child_failf(efd, -r, "mount proc on /proc");
	}
	rootfd = open(ROOTFS, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_failf(efd, errno, "open " ROOTFS);
	for (i = 0; i < run->nmounts; i++) {
		const struct mount_entry *m = &run->mounts[i];

		r = apply_mount(rootfd, m, &what);
		if (r == 0)
			continue;
		/* The guest kernel may lack what a cgroup mount asks for: go on without it. */
		if (!strcmp(m->type, "cgroup") || !strcmp(m->type, "cgroup2")) {
			logmsg("mount %s on %s%s%s: %s (skipped)", m->type, m->dest, what ? ": " : "", what ? what : "",
			       strerror(-r));
			continue;
		}
		child_failf(efd, -r, "mount %s on %s%s%s", m->type[0] ? m->type : "(no type)", m->dest,
			    what ? ": " : "", what ? what : "");
	}
	devices_create(rootfd, run, efd);
	for (i = 0; i < run->nsysctls; i++)
		if ((r = write_sysctl(run->sysctls[i])) < 0)
			child_failf(efd, -r, "sysctl `%s`", run->sysctls[i]);
	for (i = 0; i < run->nropaths; i++)
		if ((r = readonly_path(rootfd, run->ropaths[i])) < 0)
			child_failf(efd, -r, "readonly path %s", run->ropaths[i]);
	for (i = 0; i < run->nmasked; i++)
		if ((r = mask_path(rootfd, run->masked[i])) < 0)
			child_failf(efd, -r, "masked path %s", run->masked[i]);
	if (run->nmounts && run->readonly && mount(NULL, ROOTFS, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		child_failf(efd, errno, "making the root filesystem read-only");
	close(rootfd);
}
