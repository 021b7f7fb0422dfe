/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/dm-ioctl.h>

#include "guest/agent/util.h"
#include "guest/agent/verity.h"

#define DM_NAME "runvm-rootfs"
#define DM_NODE "/dev/runvm-rootfs"
/* Where the verified image and the writable layer live, outside the container's view. */
#define LOWER "/.verity/lower"
#define RW "/.verity/rw"

/* One request to the device mapper: @io's header filled for @size bytes in all. */
static int dm(int fd, unsigned long cmd, struct dm_ioctl *io, size_t size, uint32_t flags)
{
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = (uint32_t)size;
	io->data_start = sizeof(*io);
	io->flags = flags;
	snprintf(io->name, sizeof(io->name), "%s", DM_NAME);
	return ioctl(fd, cmd, io) < 0 ? -errno : 0;
}

/* The mapping, active: "verity" over the disk, data and hash tree on it (the tree right after
 * the data), 4096-byte blocks, SHA-256. A block whose hash does not match reads as EIO. */
static int map(const struct verity_params *v, dev_t *ret_dev, char *err, size_t errsize)
{
	union {
		struct dm_ioctl io;
		char buf[16384];
	} u;
	struct dm_target_spec *t;
	int fd, r, n;

	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsize, "/dev/mapper/control: %s (the guest kernel has no device mapper)", strerror(-r));
		return r;
	}
	memset(&u, 0, sizeof(u));
	r = dm(fd, DM_DEV_CREATE, &u.io, sizeof(u.io), 0);
	if (r < 0) {
		snprintf(err, errsize, "device mapper: create %s: %s", DM_NAME, strerror(-r));
		close(fd);
		return r;
	}
	memset(&u, 0, sizeof(u));
	t = (struct dm_target_spec *)(u.buf + sizeof(u.io));
	t->sector_start = 0;
	t->length = v->data_blocks * 8;
	snprintf(t->target_type, sizeof(t->target_type), "verity");
	n = snprintf((char *)(t + 1), sizeof(u.buf) - sizeof(u.io) - sizeof(*t),
		     "1 " VERITY_DISK " " VERITY_DISK " 4096 4096 %llu %llu sha256 %s %s",
		     (unsigned long long)v->data_blocks, (unsigned long long)v->data_blocks, v->roothash, v->salt);
	/* The parameters end with a NUL, the next spec 8-aligned after them. */
	t->next = 0;
	u.io.target_count = 1;
	r = dm(fd, DM_TABLE_LOAD, &u.io, sizeof(u.io) + sizeof(*t) + (size_t)n + 1, DM_READONLY_FLAG);
	if (r < 0) {
		snprintf(err, errsize, "device mapper: load the verity table over " VERITY_DISK ": %s", strerror(-r));
		goto fail;
	}
	memset(&u, 0, sizeof(u));
	/* DEV_SUSPEND without the suspend flag: resume, which makes the loaded table live. */
	r = dm(fd, DM_DEV_SUSPEND, &u.io, sizeof(u.io), 0);
	if (r < 0) {
		snprintf(err, errsize, "device mapper: activate %s: %s", DM_NAME, strerror(-r));
		goto fail;
	}
	*ret_dev = (dev_t)u.io.dev;
	close(fd);
	return 0;
fail:
	memset(&u, 0, sizeof(u));
	dm(fd, DM_DEV_REMOVE, &u.io, sizeof(u.io), 0);
	close(fd);
	return r;
}

int verity_mount(const struct verity_params *v, const char *target, bool readonly, char *err, size_t errsize)
{
	char opts[256];
	dev_t dev;
	int r;

	r = map(v, &dev, err, errsize);
	if (r < 0)
		return r;
	/* A node of our own: devtmpfs makes dm-N, but the number is what we know. */
	unlink(DM_NODE);
	if (mknod(DM_NODE, S_IFBLK | 0600, dev) < 0) {
		r = -errno;
		snprintf(err, errsize, "mknod " DM_NODE ": %s", strerror(-r));
		return r;
	}
	if (readonly) {
		if (mount(DM_NODE, target, "erofs", MS_RDONLY, NULL) < 0)
			goto mount_fail;
		return 0;
	}
	mkdir_p(LOWER);
	mkdir_p(RW);
	if (mount(DM_NODE, LOWER, "erofs", MS_RDONLY, NULL) < 0)
		goto mount_fail;
	/* The writable layer: guest RAM, gone with the VM; the host never sees it. */
	if (mount("tmpfs", RW, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0) {
		r = -errno;
		snprintf(err, errsize, "mount the writable layer's tmpfs: %s", strerror(-r));
		return r;
	}
	mkdir_p(RW "/upper");
	mkdir_p(RW "/work");
	snprintf(opts, sizeof(opts), "lowerdir=" LOWER ",upperdir=" RW "/upper,workdir=" RW "/work");
	if (mount("overlay", target, "overlay", 0, opts) < 0) {
		r = -errno;
		snprintf(err, errsize, "mount the overlay over the verified rootfs: %s", strerror(-r));
		return r;
	}
	return 0;
mount_fail:
	r = -errno;
	snprintf(err, errsize, "mount the verified erofs rootfs: %s", strerror(-r));
	return r;
}
