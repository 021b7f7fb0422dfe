/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * RUN's mounts (RV_ATTR_MOUNT), applied under the container's root: path resolution that never
 * leaves it, mount options, the bind mounts' share, a /dev of the container's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "guest/agent/config.h"
#include "guest/agent/mounts.h"
#include "guest/agent/util.h"
#include "protocol/agent-proto.h"

/* Where the agent mounts the RV_MOUNTS_TAG share, the sources of bind mounts. */
#define MOUNTS_DIR "/run/runvm-mounts"
/* Where it mounts an mqueue of the guest's IPC namespace, for a container in a user namespace
 * (see apply_mount()). */
#define MQUEUE_DIR "/run/runvm-mqueue"

/* Open the directories of @done ("/a/b", known to be real directories) under @rootfd. */
static int reopen_dirs(int rootfd, const char *done)
{
	char buf[PATH_MAX], *name, *save = NULL;
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);

	snprintf(buf, sizeof(buf), "%s", done);
	for (name = strtok_r(buf, "/", &save); fd >= 0 && name; name = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		close(fd);
		fd = next;
	}
	return fd < 0 ? -errno : fd;
}

int open_in_root(int rootfd, const char *path, int create)
{
	char rest[PATH_MAX * 2], tmp[PATH_MAX * 2], link[PATH_MAX], done[PATH_MAX] = "";
	char *p = rest;
	int dirfd, fd, links = 0, r;

	if (strlen(path) >= sizeof(rest))
		return -ENAMETOOLONG;
	strcpy(rest, path);
	dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (dirfd < 0)
		return -errno;
	for (;;) {
		struct stat st;
		char *name, *end, *q;
		bool last;
		ssize_t n;

		while (*p == '/')
			p++;
		if (!*p)
			return dirfd; /* the root itself, or a trailing "..": a directory */
		name = p;
		end = strchrnul(p, '/');
		for (q = end; *q == '/'; q++)
			;
		last = !*q;
		p = *end ? end + 1 : end;
		*end = '\0';
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			char *slash = strrchr(done, '/');

			if (slash)
				*slash = '\0';
			close(dirfd);
			dirfd = reopen_dirs(rootfd, done);
			if (dirfd < 0)
				return dirfd;
			continue;
		}
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT || !create)
				goto fail;
			if (last && create == 'f') {
				fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (fd < 0 && errno != EEXIST)
					goto fail;
				if (fd >= 0)
					close(fd);
			} else if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST) {
				goto fail;
			}
			if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				goto fail;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > 40) {
				errno = ELOOP;
				goto fail;
			}
			n = readlinkat(dirfd, name, link, sizeof(link));
			if (n < 0)
				goto fail;
			if ((size_t)n >= sizeof(link) || (size_t)n + 1 + strlen(p) >= sizeof(tmp)) {
				errno = ENAMETOOLONG;
				goto fail;
			}
			link[n] = '\0';
			/* The rest of the path now starts with the link's target. */
			snprintf(tmp, sizeof(tmp), "%s/%s", link, p);
			strcpy(rest, tmp);
			p = rest;
			if (link[0] == '/') {
				done[0] = '\0';
				close(dirfd);
				dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
				if (dirfd < 0)
					return -errno;
			}
			continue;
		}
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
		if (fd < 0)
			goto fail;
		close(dirfd);
		if (last)
			return fd;
		if (strlen(done) + 1 + strlen(name) >= sizeof(done)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		strcat(done, "/");
		strcat(done, name);
		dirfd = fd;
	}
fail:
	r = -errno;
	close(dirfd);
	return r;
}

const char *fd_path(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* A mount's options, split: mount(2) flags, propagation changes, recursive attributes, and the
 * rest as the filesystem's data. */
struct mount_opts {
	unsigned long flags;
	unsigned long prop[8];
	size_t nprop;
	uint64_t attr_set, attr_clr; /* mount_setattr(AT_RECURSIVE), for the "r" options */
	bool bind;
	char *data; /* malloc'ed, "" when none */
};

static int parse_mount_options(const char *options, struct mount_opts *o)
{
	static const struct {
		const char *name;
		bool clear;
		unsigned long flag;
	} flags[] = {
		{ "async", true, MS_SYNCHRONOUS },
		{ "atime", true, MS_NOATIME },
		{ "bind", false, MS_BIND },
		{ "defaults", false, 0 },
		{ "dev", true, MS_NODEV },
		{ "diratime", true, MS_NODIRATIME },
		{ "dirsync", false, MS_DIRSYNC },
		{ "exec", true, MS_NOEXEC },
		{ "iversion", false, MS_I_VERSION },
		{ "lazytime", false, MS_LAZYTIME },
		{ "loud", true, MS_SILENT },
		{ "mand", false, MS_MANDLOCK },
		{ "noatime", false, MS_NOATIME },
		{ "nodev", false, MS_NODEV },
		{ "nodiratime", false, MS_NODIRATIME },
		{ "noexec", false, MS_NOEXEC },
		{ "noiversion", true, MS_I_VERSION },
		{ "nolazytime", true, MS_LAZYTIME },
		{ "nomand", true, MS_MANDLOCK },
		{ "norelatime", true, MS_RELATIME },
		{ "nostrictatime", true, MS_STRICTATIME },
		{ "nosuid", false, MS_NOSUID },
		{ "nosymfollow", false, MS_NOSYMFOLLOW },
		{ "rbind", false, MS_BIND | MS_REC },
		{ "relatime", false, MS_RELATIME },
		{ "remount", false, MS_REMOUNT },
		{ "ro", false, MS_RDONLY },
		{ "rw", true, MS_RDONLY },
		{ "silent", false, MS_SILENT },
		{ "strictatime", false, MS_STRICTATIME },
		{ "suid", true, MS_NOSUID },
		{ "symfollow", true, MS_NOSYMFOLLOW },
		{ "sync", false, MS_SYNCHRONOUS },
	};
	static const struct {
		const char *name;
		unsigned long flag;
	} props[] = {
		{ "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
		{ "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
		{ "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
		{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
	};
	static const struct {
		const char *name;
		bool clear;
		uint64_t attr;
	} rattrs[] = {
		{ "rro", false, MOUNT_ATTR_RDONLY },
		{ "rrw", true, MOUNT_ATTR_RDONLY },
		{ "rnosuid", false, MOUNT_ATTR_NOSUID },
		{ "rsuid", true, MOUNT_ATTR_NOSUID },
		{ "rnodev", false, MOUNT_ATTR_NODEV },
		{ "rdev", true, MOUNT_ATTR_NODEV },
		{ "rnoexec", false, MOUNT_ATTR_NOEXEC },
		{ "rexec", true, MOUNT_ATTR_NOEXEC },
		{ "rnodiratime", false, MOUNT_ATTR_NODIRATIME },
		{ "rdiratime", true, MOUNT_ATTR_NODIRATIME },
		{ "rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW },
		{ "rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW },
	};
	char *copy, *opt, *save = NULL;
	size_t dlen = 0, i;

	*o = (struct mount_opts){ 0 };
	copy = strdup(options);
	o->data = calloc(1, strlen(options) + 1);
	if (!copy || !o->data) {
		free(copy);
		free(o->data);
		o->data = NULL;
		return -ENOMEM;
	}
	for (opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		bool known = false;

		for (i = 0; !known && i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strcmp(opt, flags[i].name))
				continue;
			known = true;
			if (flags[i].clear)
				o->flags &= ~flags[i].flag;
			else
				o->flags |= flags[i].flag;
		}
		for (i = 0; !known && i < sizeof(props) / sizeof(props[0]); i++) {
			if (strcmp(opt, props[i].name))
				continue;
			known = true;
			if (o->nprop < sizeof(o->prop) / sizeof(o->prop[0]))
				o->prop[o->nprop++] = props[i].flag;
		}
		for (i = 0; !known && i < sizeof(rattrs) / sizeof(rattrs[0]); i++) {
			if (strcmp(opt, rattrs[i].name))
				continue;
			known = true;
			if (rattrs[i].clear)
				o->attr_clr |= rattrs[i].attr;
			else
				o->attr_set |= rattrs[i].attr;
		}
		/* runc's own option, and mount(8)'s comments for helpers: not the kernel's. */
		if (!strcmp(opt, "tmpcopyup") || !strncasecmp(opt, "x-", 2))
			known = true;
		if (known)
			continue;
		if (dlen)
			o->data[dlen++] = ',';
		strcpy(o->data + dlen, opt);
		dlen += strlen(opt);
	}
	free(copy);
	o->bind = o->flags & MS_BIND;
	return 0;
}

/* Whether @path is "/dev" (however written: "//dev/", "/./dev"). */
static bool path_is_dev(const char *path)
{
	char buf[PATH_MAX], *name, *save = NULL;
	int n = 0;
	bool dev = false;

	snprintf(buf, sizeof(buf), "%s", path);
	for (name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		if (!strcmp(name, "."))
			continue;
		dev = !strcmp(name, "dev");
		n++;
	}
	return n == 1 && dev;
}

/* A /dev of the container's own (a tmpfs): what runc puts in it. @devfd: its root. */
static int populate_dev(int devfd)
{
	static const struct {
		const char *name;
		unsigned major, minor;
	} nodes[] = {
		{ "null", 1, 3 },   { "zero", 1, 5 },    { "full", 1, 7 },
		{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" },          { "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
	};
	size_t i;

	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		int e = mknodat(devfd, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0
			? errno
			: 0;

		if (e == EPERM) {
			/* In a user namespace, which may not make nodes: bind the guest's, as runc binds
			 * the host's there. */
			char guest[32], target[32];
			int fd = openat(devfd, nodes[i].name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666), r;

			if (fd < 0)
				return -errno;
			snprintf(guest, sizeof(guest), "/dev/%s", nodes[i].name);
			r = mount(guest, fd_path(target, fd), NULL, MS_BIND, NULL) < 0 ? -errno : 0;
			close(fd);
			if (r < 0)
				return r;
			continue;
		}
		if (e && e != EEXIST)
			return -e;
		/* Whatever the umask. */
		if (fchmodat(devfd, nodes[i].name, 0666, 0) < 0)
			return -errno;
	}
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][0], devfd, links[i][1]) < 0 && errno != EEXIST)
			return -errno;
	if ((mkdirat(devfd, "pts", 0755) < 0 && errno != EEXIST) ||
	    (mkdirat(devfd, "shm", 01777) < 0 && errno != EEXIST))
		return -errno;
	return 0;
}

/* What the agent's mount of the RV_MOUNTS_TAG share gave (see mounts_prepare()): 0, -errno,
 * or 1 before it was tried. Forked children inherit it. */
static int share_mounted = 1;

/* The RV_MOUNTS_TAG share (9p like the rootfs, else virtio-fs), in the agent's mount namespace,
 * which the container's copies: a mount of it in the container's own would show in its
 * mounts, and a container in a user namespace cannot mount 9p. cache=mmap, not the rootfs's
 * cache=loose: bind mounts are shared live with the host (a host process and the container
 * working on one directory), so nothing is cached in the guest and each side sees the
 * other's changes at once (README "File I/O"). */
static int mount_share(void)
{
	if ((mkdir("/run", 0755) < 0 && errno != EEXIST) || (mkdir(MOUNTS_DIR, 0755) < 0 && errno != EEXIST))
		return -errno;
	if (mount(RV_MOUNTS_TAG, MOUNTS_DIR, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144,cache=mmap") < 0) {
		int e = errno; /* what 9p says is the telling one */

		if (mount(RV_MOUNTS_TAG, MOUNTS_DIR, "virtiofs", 0, NULL) < 0)
			return -e;
	}
	return 0;
}

/* The share's root in the caller's mount namespace (the container's: a bind mount's source
 * must be in the namespace it is mounted in). Returns an fd or -errno. */
static int mounts_share(void)
{
	static int fd = -1;

	if (fd >= 0)
		return fd;
	if (share_mounted == 1)
		share_mounted = mount_share();
	if (share_mounted < 0)
		return share_mounted;
	fd = open(MOUNTS_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void mounts_prepare(const struct run_config *run)
{
	struct mount_opts o;
	bool bind = false, mqueue = false;
	size_t i;

	for (i = 0; i < run->nmounts; i++) {
		if (parse_mount_options(run->mounts[i].options, &o) < 0)
			continue; /* ENOMEM: the container's init meets it again */
		bind = bind || o.bind || !strcmp(run->mounts[i].type, "bind");
		mqueue = mqueue || !strcmp(run->mounts[i].type, "mqueue");
		free(o.data);
	}
	if (bind)
		share_mounted = mount_share();
	if (mqueue && run->userns &&
	    ((mkdir("/run", 0755) < 0 && errno != EEXIST) || (mkdir(MQUEUE_DIR, 0755) < 0 && errno != EEXIST) ||
	     mount("mqueue", MQUEUE_DIR, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0))
		logmsg("mount mqueue on " MQUEUE_DIR ": %m");
}

int apply_mount(int rootfd, const struct mount_entry *m, const char **what)
{
	struct mount_opts o;
	const char *type = m->type;
	char target[32], source[32];
	int src = -1, dst = -1, top = -1, share, r;
	struct stat st = { .st_mode = S_IFDIR };
	size_t i;

	*what = NULL;
	r = parse_mount_options(m->options, &o);
	if (r < 0)
		return r;
	o.bind = o.bind || !strcmp(type, "bind");
	if (!strcmp(type, "cgroup"))
		type = "cgroup2"; /* the guest is the container: its own unified hierarchy, as runc
				   * mounts on a cgroup v2 host */
	if (o.bind) {
		*what = "the " RV_MOUNTS_TAG " share";
		share = mounts_share();
		if (share < 0) {
			r = share;
			goto out;
		}
		*what = "its source in the " RV_MOUNTS_TAG " share";
		src = open_in_root(share, m->source, 0);
		if (src < 0 || fstat(src, &st) < 0) {
			r = src < 0 ? src : -errno;
			goto out;
		}
	}
	*what = "creating the mount point";
	dst = open_in_root(rootfd, m->dest, o.bind && !S_ISDIR(st.st_mode) ? 'f' : 'd');
	if (dst < 0) {
		r = dst;
		goto out;
	}
	*what = NULL;
	if (o.bind) {
		if (mount(fd_path(source, src), fd_path(target, dst), NULL, MS_BIND | (o.flags & MS_REC), NULL) < 0)
			goto fail;
	} else if (mount(m->source, fd_path(target, dst), type[0] ? type : NULL, o.flags & ~MS_REC,
			 o.data[0] ? o.data : NULL) < 0) {
		/* In a user namespace the kernel refuses a sysfs or mqueue of the guest's network and
		 * IPC namespaces, which are not the user namespace's: bind the guest's own instead,
		 * as runc binds the host's /sys there. */
		const char *guest = !strcmp(type, "sysfs") ? "/sys" : !strcmp(type, "mqueue") ? MQUEUE_DIR : NULL;

		if (errno != EPERM || !guest)
			goto fail;
		*what = "binding the guest's own instead";
		if (mount(guest, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			goto fail;
		o.bind = true;
	}
	/* From here on, what is mounted there (the fd above is what it covers). */
	*what = "reopening it";
	top = open_in_root(rootfd, m->dest, 0);
	if (top < 0) {
		r = top;
		goto out;
	}
	fd_path(target, top);
	/* A bind mount takes its flags from a second call. */
	*what = "remounting it with its flags";
	if (o.bind && (o.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)) &&
	    mount(NULL, target, NULL, (o.flags & ~MS_REC) | MS_BIND | MS_REMOUNT, NULL) < 0)
		goto fail;
	*what = "setting its propagation";
	for (i = 0; i < o.nprop; i++)
		if (mount(NULL, target, NULL, o.prop[i], NULL) < 0)
			goto fail;
	if (o.attr_set || o.attr_clr) {
		struct mount_attr attr = { .attr_set = o.attr_set, .attr_clr = o.attr_clr };

		*what = "setting its recursive flags";
		if (mount_setattr(top, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			goto fail;
	}
	*what = "populating it";
	if (!strcmp(type, "tmpfs") && path_is_dev(m->dest) && (r = populate_dev(top)) < 0)
		goto out;
	*what = NULL;
	r = 0;
	goto out;
fail:
	r = -errno;
out:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	if (top >= 0)
		close(top);
	free(o.data);
	return r;
}
