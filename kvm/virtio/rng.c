/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-rng (virtio 1.1 5.4): one queue of writable buffers, each filled from getrandom().
 * The guest's hwrng asks for a few dozen bytes at a time; a larger buffer gets at most
 * RNG_CHUNK, so a guest cannot keep its vCPU thread generating randomness for long.
 */
#include <errno.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>

#include "base/error.h"
#include "base/log.h"
#include "kvm/device.h"
#include "kvm/virtio/virtio.h"
#include "kvm/virtio/virtqueue.h"

#define RNG_CHUNK 65536

struct rng {
	struct virtio_dev *dev;
	pthread_mutex_t lock;
};

/* Fill up to @len bytes of @iov; returns how many were filled. */
static size_t fill(const struct iovec *iov, unsigned n, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t want = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		size_t got = 0;

		while (got < want) {
			ssize_t r = getrandom((uint8_t *)iov[i].iov_base + got, want - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return done + got;
			got += r;
		}
		done += got;
	}
	return done;
}

static ssize_t rng_request(void *opaque, const struct virtq_chain *ch)
{
	(void)opaque;
	return (ssize_t)fill(ch->in, ch->n_in, RNG_CHUNK);
}

static void rng_notify(void *opaque, unsigned qi)
{
	struct rng *s = opaque;

	pthread_mutex_lock(&s->lock);
	virtio_serve(s->dev, qi, rng_request, s);
	pthread_mutex_unlock(&s->lock);
}

static void rng_free(void *opaque)
{
	struct rng *s = opaque;

	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct virtio_dev_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_max = 64,
	.notify = rng_notify,
};

int virtio_rng_add(struct vmm *vm, struct rt_error **err)
{
	struct rng *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return rt_make_error(err, ENOMEM, "virtio-rng");
	pthread_mutex_init(&s->lock, NULL);
	r = virtio_mmio_add(vm, &rng_ops, s, &s->dev);
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rt_make_error(err, -r, "virtio-rng: add device");
	}
	if (vmm_on_free(vm, rng_free, s) < 0)
		rt_debug("virtio-rng: not freed with the VM, ignoring");
	return 0;
}
