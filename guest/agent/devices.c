/* SPDX-License-Identifier: GPL-2.0-or-later */
/* linux.devices in the container (see devices.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "guest/agent/config.h"
#include "guest/agent/devices.h"
#include "guest/agent/mounts.h"
#include "guest/agent/process.h"
#include "guest/agent/util.h"

/* Where devices_stage() makes the nodes a container in a user namespace binds. */
#define DEVICES_DIR "/run/runvm-devices"

static mode_t node_type(const struct device_entry *d)
{
	return d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR; /* 'c', 'u' */
}

static dev_t node_dev(const struct device_entry *d)
{
	return d->type == 'p' ? 0 : makedev(d->major, d->minor);
}

/* The guest's ID of @id of the container's user namespace (@m, @n: its map); (uint32_t)-1, which
 * chown leaves alone, when unmapped. */
static uint32_t map_id(const struct id_map *m, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (id >= m[i].inside && id - m[i].inside < m[i].count)
			return m[i].outside + (id - m[i].inside);
	return (uint32_t)-1;
}

/* mknod @name in @dirfd with @d's mode exactly, then its owner (@uid, @gid, the guest's IDs).
 * EEXIST is left to the caller. */
static int make_node(int dirfd, const char *name, const struct device_entry *d, uint32_t uid, uint32_t gid)
{
	mode_t old = umask(0);
	int r = mknodat(dirfd, name, node_type(d) | d->mode, node_dev(d));

	umask(old);
	if (r < 0)
		return -errno;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

void devices_stage(const struct run_config *run)
{
	char name[24];
	size_t i;
	int dirfd, r;

	if (!run->userns || !run->ndevices)
		return;
	if ((mkdir("/run", 0755) < 0 && errno != EEXIST) || (mkdir(DEVICES_DIR, 0755) < 0 && errno != EEXIST) ||
	    (dirfd = open(DEVICES_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		logmsg("devices: " DEVICES_DIR ": %m");
		return;
	}
	for (i = 0; i < run->ndevices; i++) {
		const struct device_entry *d = &run->devices[i];

		snprintf(name, sizeof(name), "%zu", i);
		/* The owner is the container's uid and gid: outside, their mapped IDs. */
		r = make_node(dirfd, name, d, map_id(run->uid_map, run->nuid_map, d->uid),
			      map_id(run->gid_map, run->ngid_map, d->gid));
		if (r < 0)
			logmsg("devices: %s: %s", run->devices[i].path, strerror(-r));
	}
	close(dirfd);
}

/* The last component of @path (absolute, checked by config.c) into @name, and @path's parent
 * into @dir. -EINVAL for a path that names no file ("/", "/a/.."). */
static int split_path(const char *path, char dir[PATH_MAX], char name[NAME_MAX + 1])
{
	size_t len = strlen(path), end, start;

	while (len > 1 && path[len - 1] == '/')
		len--;
	end = len;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (end == start || end - start > NAME_MAX || (end - start == 1 && path[start] == '.') ||
	    (end - start == 2 && !memcmp(path + start, "..", 2)))
		return -EINVAL;
	memcpy(name, path + start, end - start);
	name[end - start] = '\0';
	snprintf(dir, PATH_MAX, "%.*s", (int)(start ? start : 1), path);
	return 0;
}

void devices_create(int rootfd, const struct run_config *run, int efd)
{
	char dir[PATH_MAX], name[NAME_MAX + 1], target[32], staged[64];
	size_t i;
	int dirfd, fd, r;

	for (i = 0; i < run->ndevices; i++) {
		const struct device_entry *d = &run->devices[i];

		if (split_path(d->path, dir, name) < 0)
			child_failf(efd, EINVAL, "device %s", d->path);
		dirfd = open_in_root(rootfd, dir, 'd');
		if (dirfd < 0)
			child_failf(efd, -dirfd, "device %s: creating its directory", d->path);
		if (!run->userns) {
			r = make_node(dirfd, name, d, d->uid, d->gid);
			close(dirfd);
			if (r < 0 && r != -EEXIST)
				child_failf(efd, -r, "device %s", d->path);
			continue;
		}
		close(dirfd);
		fd = open_in_root(rootfd, d->path, 'f');
		if (fd < 0)
			child_failf(efd, -fd, "device %s: creating its mount point", d->path);
		snprintf(staged, sizeof(staged), DEVICES_DIR "/%zu", i);
		r = mount(staged, fd_path(target, fd), NULL, MS_BIND, NULL) < 0 ? -errno : 0;
		close(fd);
		if (r < 0)
			child_failf(efd, -r, "device %s: binding it into the user namespace", d->path);
	}
}
