/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk (virtio 1.1 5.2) on a file or block device: read, write, flush and get-id, served
 * synchronously on the notifying vCPU. A request is a 16-byte header (type, sector), the data,
 * and one status byte at the very end of the writable part. Every range is checked against
 * the capacity read at add time; a request the guest got wrong gets IOERR or UNSUPP, and only
 * a chain with no room for the status byte fails the device.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "kvm/device.h"
#include "kvm/virtio/virtio.h"
#include "kvm/virtio/virtqueue.h"

#define SECTOR 512ULL
#define BLK_QUEUE 256
/* Data segments per request: the queue holds the header and status besides. */
#define BLK_SEG_MAX (BLK_QUEUE - 2)

struct blk {
	struct virtio_dev *dev;
	pthread_mutex_t lock;
	int fd;
	bool readonly;
	uint64_t sectors;
	char id[VIRTIO_BLK_ID_BYTES];
};

/* The full transfer or -1: a short count at end of file means the file shrank under us. */
static int rw_full(int fd, struct iovec *iov, unsigned n, uint64_t off, size_t len, bool write)
{
	while (len > 0) {
		ssize_t r = write ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		len -= r;
		off += r;
		/* Step the iovecs past what was done. */
		while (r > 0 && n > 0) {
			if ((size_t)r >= iov->iov_len) {
				r -= iov->iov_len;
				iov++;
				n--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + r;
				iov->iov_len -= r;
				r = 0;
			}
		}
	}
	return 0;
}

/* One request; returns the status byte and sets *@written to the data bytes written to the
 * guest. */
static uint8_t blk_request(struct blk *b, const struct virtq_chain *ch, size_t *written)
{
	struct virtio_blk_outhdr hdr;
	struct iovec iov[VIRTQ_CHAIN_MAX];
	uint32_t type;
	uint64_t sector;
	size_t len;
	unsigned n;

	*written = 0;
	if (iov_to_buf(ch->out, ch->n_out, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (type == VIRTIO_BLK_T_IN) {
			len = ch->in_len - 1; /* all of the writable part but the status byte */
			n = iov_slice(iov, VIRTQ_CHAIN_MAX, ch->in, ch->n_in, 0, len);
		} else {
			if (b->readonly)
				return VIRTIO_BLK_S_IOERR;
			len = ch->out_len - sizeof(hdr);
			n = iov_slice(iov, VIRTQ_CHAIN_MAX, ch->out, ch->n_out, sizeof(hdr), len);
		}
		/* 5.2.6.1: whole sectors, all within the disk. */
		if (len % SECTOR || sector > b->sectors || len / SECTOR > b->sectors - sector)
			return VIRTIO_BLK_S_IOERR;
		if (len && rw_full(b->fd, iov, n, sector * SECTOR, len, type == VIRTIO_BLK_T_OUT) < 0)
			return VIRTIO_BLK_S_IOERR;
		if (type == VIRTIO_BLK_T_IN)
			*written = len;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->readonly && fdatasync(b->fd) < 0)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		/* Up to 20 bytes, not NUL-terminated when all 20 are used. */
		len = ch->in_len - 1 < VIRTIO_BLK_ID_BYTES ? ch->in_len - 1 : VIRTIO_BLK_ID_BYTES;
		*written = iov_from_buf(ch->in, ch->n_in, 0, b->id, len);
		return VIRTIO_BLK_S_OK;
	default: return VIRTIO_BLK_S_UNSUPP;
	}
}

/* One request: its data, then the status byte in the last byte of the in part. */
static ssize_t blk_serve(void *opaque, const struct virtq_chain *ch)
{
	struct blk *b = opaque;
	size_t written;
	uint8_t status;

	if (ch->in_len == 0) {
		virtio_fail(b->dev, "request without a status byte");
		return -1;
	}
	status = blk_request(b, ch, &written);
	iov_from_buf(ch->in, ch->n_in, ch->in_len - 1, &status, 1);
	return (ssize_t)(written + 1);
}

static void blk_notify(void *opaque, unsigned qi)
{
	struct blk *b = opaque;

	pthread_mutex_lock(&b->lock);
	virtio_serve(b->dev, qi, blk_serve, b);
	pthread_mutex_unlock(&b->lock);
}

static void blk_config_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct blk *b = opaque;
	struct virtio_blk_config cfg = {
		.capacity = htole64(b->sectors),
		.seg_max = htole32(BLK_SEG_MAX),
	};

	virtio_config_copy(&cfg, sizeof(cfg), off, data, len);
}

static void blk_free(void *opaque)
{
	struct blk *b = opaque;

	pthread_mutex_destroy(&b->lock);
	close(b->fd);
	free(b);
}

static const struct virtio_dev_ops blk_ops_rw = {
	.device_id = VIRTIO_ID_BLOCK,
	.features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_FLUSH),
	.num_queues = 1,
	.queue_max = BLK_QUEUE,
	.config_read = blk_config_read,
	.notify = blk_notify,
};

static const struct virtio_dev_ops blk_ops_ro = {
	.device_id = VIRTIO_ID_BLOCK,
	.features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_RO),
	.num_queues = 1,
	.queue_max = BLK_QUEUE,
	.config_read = blk_config_read,
	.notify = blk_notify,
};

int virtio_blk_add(struct vmm *vm, const char *path, bool readonly, struct rt_error **err)
{
	struct blk *b;
	struct stat st;
	uint64_t size;
	const char *base;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return rt_make_error(err, ENOMEM, "virtio-blk");
	b->readonly = readonly;
	b->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		r = rt_make_error(err, errno, "virtio-blk: open `%s`", path);
		free(b);
		return r;
	}
	if (fstat(b->fd, &st) < 0) {
		r = rt_make_error(err, errno, "virtio-blk: stat `%s`", path);
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0) {
			r = rt_make_error(err, errno, "virtio-blk: size of `%s`", path);
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = st.st_size;
	} else {
		r = rt_make_error(err, EINVAL, "virtio-blk: `%s` is neither a file nor a block device", path);
		goto fail;
	}
	/* A partial last sector is left out: every request stays inside the file. */
	b->sectors = size / SECTOR;
	/* The serial the guest sees (/sys/block/vdX/serial): the file's name, cut to fit. */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	memcpy(b->id, base, strnlen(base, sizeof(b->id)));
	pthread_mutex_init(&b->lock, NULL);
	r = virtio_mmio_add(vm, readonly ? &blk_ops_ro : &blk_ops_rw, b, &b->dev);
	if (r < 0) {
		pthread_mutex_destroy(&b->lock);
		r = rt_make_error(err, -r, "virtio-blk: add device");
		goto fail;
	}
	if (vmm_on_free(vm, blk_free, b) < 0)
		rt_debug("virtio-blk: not freed with the VM, ignoring");
	return 0;
fail:
	close(b->fd);
	free(b);
	return r;
}
