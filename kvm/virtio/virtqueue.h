/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The split virtqueue's state (virtio 1.1 section 2.6), shared by the transport
 * (kvm/virtio-mmio.c), the devices' iovec helpers, the unit tests and the fuzz target. Devices
 * pop and push through kvm/virtio.h; only the transport sets a queue up or resets it.
 *
 * Guest memory is reached only through vmm_guest_ptr(), so the tests and the fuzzer run this
 * code over a plain buffer with a test double of that one function.
 */
#ifndef RUNVM_KVM_VIRTQUEUE_H
#define RUNVM_KVM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kvm/virtio/virtio.h"

struct vring_desc;
struct vring_avail;
struct vring_used;

struct virtq {
	struct vmm *vm;
	uint16_t max; /* the largest size the device accepts (a power of two) */
	/* What the driver wrote to the transport's registers; checked by virtq_enable(). */
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool ready;
	bool indirect; /* VIRTIO_RING_F_INDIRECT_DESC was negotiated */
	/* Host views of the rings, valid while ready (guest RAM never moves). */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail; /* free-running index of the next available entry to pop */
	uint16_t used_idx;   /* free-running copy of used->idx */
	bool signal;         /* pushed since virtq_take_signal(), and the driver wants interrupts */
};

/* The initial (reset) state of a queue of at most @max entries (capped at VIRTQ_CHAIN_MAX). */
void virtq_init(struct virtq *q, struct vmm *vm, uint16_t max);
/* Back to the initial state, keeping vm and max. */
void virtq_reset(struct virtq *q);
/* The driver set QueueReady: check num and the ring addresses it wrote (size a power of two
 * <= max, rings aligned and inside guest RAM) and go live. 0, or -EINVAL (the queue stays
 * not ready). */
int virtq_enable(struct virtq *q, bool indirect);
/* Put back the chain just popped (the device found nothing to fill it with). Only valid right
 * after a successful virtq_pop() on @q, before any other pop. */
void virtq_unpop(struct virtq *q);
/* Whether an interrupt is due for chains pushed since the last call; clears it. */
bool virtq_take_signal(struct virtq *q);

/* Copy between a flat buffer and an iovec array, starting @off bytes into the iovecs. They
 * return the number of bytes copied (short when the iovecs end first). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Fill @dst (room for @max) with the part of @iov that starts @off bytes in and is at most
 * @len bytes long; returns the number of iovecs written. */
unsigned iov_slice(struct iovec *dst, unsigned max, const struct iovec *iov, unsigned n, size_t off, size_t len);

/* A device's config_read over its little-endian config struct @cfg of @size bytes: bytes past
 * its end read as zero (the transport zeroes @data first). */
static inline void virtio_config_copy(const void *cfg, size_t size, uint64_t off, void *data, unsigned len)
{
	if (off >= size)
		return;
	if (len > size - off)
		len = size - off;
	for (unsigned i = 0; i < len; i++)
		((uint8_t *)data)[i] = ((const uint8_t *)cfg)[off + i];
}

#endif
