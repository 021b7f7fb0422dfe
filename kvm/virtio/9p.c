/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-9p (the 9P transport of Linux's net/9p/trans_virtio.c; QEMU's virtio-9p-device):
 * one queue, each chain one request: the T-message in the readable part, room for the
 * R-message in the writable part. The protocol is kvm/p9.c's; this file only moves bytes.
 *
 * The request is copied out of guest memory before p9_handle() parses it, so the guest cannot
 * change a length between its check and its use (it can write its buffers from another vCPU
 * at any time); the reply is built privately and then copied in, across however many buffers
 * the guest gave (a zero-copy read splits it between a header buffer and user pages).
 */
#include <errno.h>
#include <linux/virtio_9p.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "kvm/device.h"
#include "kvm/virtio/p9.h"
#include "kvm/virtio/virtio.h"
#include "kvm/virtio/virtqueue.h"

/* Far above any msize a guest mounts with (runvm's agent uses 256 KiB): a bigger request or
 * reply buffer is refused rather than allocated. */
#define P9_MSG_MAX (16u << 20)
#define P9_TAG_MAX 255

struct v9p {
	struct virtio_dev *dev;
	pthread_mutex_t lock;
	struct p9_server *srv;
	uint8_t config[2 + P9_TAG_MAX]; /* struct virtio_9p_config: le16 tag_len, then the tag */
	size_t config_len;
	uint8_t *req, *resp; /* grown on demand, kept for the next request */
	size_t req_cap, resp_cap;
};

static bool grow(uint8_t **buf, size_t *cap, size_t want)
{
	uint8_t *p;

	if (*cap >= want)
		return true;
	p = realloc(*buf, want);
	if (!p)
		return false;
	*buf = p;
	*cap = want;
	return true;
}

/* One request: the reply's length, or -1 when the guest broke the transport's rules. */
static ssize_t request(void *opaque, const struct virtq_chain *ch)
{
	struct v9p *s = opaque;
	size_t resp_len = ch->in_len < P9_MSG_MAX ? ch->in_len : P9_MSG_MAX;
	size_t n;

	if (ch->out_len == 0 || ch->out_len > P9_MSG_MAX || ch->in_len == 0) {
		virtio_fail(s->dev, "9p request or reply buffer missing or too large");
		return -1;
	}
	if (!grow(&s->req, &s->req_cap, ch->out_len) || !grow(&s->resp, &s->resp_cap, resp_len)) {
		virtio_fail(s->dev, "9p: out of memory");
		return -1;
	}
	iov_to_buf(ch->out, ch->n_out, 0, s->req, ch->out_len);
	n = p9_handle(s->srv, s->req, ch->out_len, s->resp, resp_len);
	if (n == 0) {
		/* Not even an Rlerror fits: Linux would wait for this tag forever. */
		virtio_fail(s->dev, "9p reply buffer too small");
		return -1;
	}
	iov_from_buf(ch->in, ch->n_in, 0, s->resp, n);
	return (ssize_t)n;
}

static void v9p_notify(void *opaque, unsigned qi)
{
	struct v9p *s = opaque;

	pthread_mutex_lock(&s->lock);
	virtio_serve(s->dev, qi, request, s);
	pthread_mutex_unlock(&s->lock);
}

static void v9p_config_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct v9p *s = opaque;

	virtio_config_copy(s->config, s->config_len, off, data, len);
}

static void v9p_free(void *opaque)
{
	struct v9p *s = opaque;

	pthread_mutex_destroy(&s->lock);
	p9_server_free(s->srv);
	free(s->req);
	free(s->resp);
	free(s);
}

/* A mounted export cannot be saved yet: its fids are open host files and walked paths, which a
 * record would have to name and a loader re-resolve beneath the export (templates, issue #14,
 * may save before the guest mounts). Until then the device has no state of its own. */
static int v9p_save(void *opaque, struct kvm_state_buf *out)
{
	struct v9p *s = opaque;

	(void)out;
	return p9_server_fresh(s->srv) ? 0 : -EOPNOTSUPP;
}

static const struct virtio_dev_ops v9p_ops = {
	.device_id = VIRTIO_ID_9P,
	.features = 1ULL << VIRTIO_9P_MOUNT_TAG,
	.num_queues = 1,
	/* Linux's 9p puts up to 128 buffers in one request (VIRTQUEUE_NUM). */
	.queue_max = 256,
	.config_read = v9p_config_read,
	.notify = v9p_notify,
	.save = v9p_save,
};

int virtio_9p_add(struct vmm *vm, const char *tag, const char *dir, bool readonly, struct rt_error **err)
{
	size_t tag_len = tag ? strlen(tag) : 0;
	struct v9p *s;
	uint16_t le_len;
	int r;

	if (tag_len == 0 || tag_len > P9_TAG_MAX)
		return rt_make_error(err, EINVAL, "virtio-9p: mount tag must have 1 to %d bytes", P9_TAG_MAX);
	s = calloc(1, sizeof(*s));
	if (!s)
		return rt_make_error(err, ENOMEM, "virtio-9p");
	s->srv = p9_server_new(dir, readonly);
	if (!s->srv) {
		r = rt_make_error(err, errno, "virtio-9p: export `%s`", dir);
		free(s);
		return r;
	}
	le_len = htole16(tag_len);
	memcpy(s->config, &le_len, 2);
	memcpy(s->config + 2, tag, tag_len);
	s->config_len = 2 + tag_len;
	pthread_mutex_init(&s->lock, NULL);
	r = virtio_mmio_add(vm, &v9p_ops, s, &s->dev);
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		p9_server_free(s->srv);
		free(s);
		return rt_make_error(err, -r, "virtio-9p: add device");
	}
	if (vmm_on_free(vm, v9p_free, s) < 0)
		rt_debug("virtio-9p: not freed with the VM, ignoring");
	return 0;
}
