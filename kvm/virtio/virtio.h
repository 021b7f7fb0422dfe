/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio 1.x over MMIO for the VMM: the transport (kvm/virtio/mmio.c), the split virtqueue
 * (kvm/virtio/virtqueue.c), and the devices runvm's guests use, which see of the VMM only
 * kvm/device.h. Each device is one virtio-mmio window and one edge-triggered interrupt line,
 * both where the architecture's layout puts them; the architecture also tells the guest where
 * they are (vmm_virtio_mmio_add()).
 *
 * Every descriptor, length and index the guest writes is validated: a chain that points
 * outside guest RAM, loops, is longer than the queue, or has a write-only descriptor where a
 * readable one is required fails the device (DEVICE_NEEDS_RESET), never the VMM.
 */
#ifndef RUNVM_KVM_VIRTIO_H
#define RUNVM_KVM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct kvm_state_buf;
struct rt_error;
struct vmm;

/* --- the split virtqueue --------------------------------------------------------------- */

struct virtq;

/* The most iovecs of a chain in each direction. No queue is longer (virtio_mmio_add refuses a
 * larger queue_max), so every chain the spec allows fits: a chain has at most queue-size
 * descriptors (virtio 1.1 2.6.5.3.1), and buffers adjacent in guest memory share an iovec.
 * Linux's 9p with msize=256K needs more than 64 (one per page of a zero-copy read). */
#define VIRTQ_CHAIN_MAX 256

/* One descriptor chain popped from the available ring, as host iovecs into guest memory:
 * the device-readable part first (out), then the device-writable part (in). */
struct virtq_chain {
	uint16_t head;
	struct iovec out[VIRTQ_CHAIN_MAX];
	unsigned n_out;
	size_t out_len;
	struct iovec in[VIRTQ_CHAIN_MAX];
	unsigned n_in;
	size_t in_len;
};

/* 1: a chain was popped into @c; 0: the ring is empty; -EBADMSG: the guest's ring or chain is
 * malformed (the caller fails the device). */
int virtq_pop(struct virtq *q, struct virtq_chain *c);
/* Return a chain to the used ring with @written bytes written into its in part. */
void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written);

/* --- the transport ---------------------------------------------------------------------- */

struct virtio_dev;

struct virtio_dev_ops {
	uint32_t device_id; /* VIRTIO_ID_* */
	uint64_t features;  /* device features; VERSION_1 and RING_F_INDIRECT_DESC are added */
	unsigned num_queues;
	uint16_t queue_max; /* largest queue size the device accepts (power of two, <= VIRTQ_CHAIN_MAX) */
	/* The device's config space (little-endian), read by the guest at @off. */
	void (*config_read)(void *opaque, uint64_t off, void *data, unsigned len);
	void (*config_write)(void *opaque, uint64_t off, const void *data, unsigned len); /* may be NULL */
	/* The guest notified queue @q (called from a vCPU thread). */
	void (*notify)(void *opaque, unsigned q);
	/* DRIVER_OK was set (queues are live) or the device was reset: start or stop work. On
	 * stop, return only once no thread of the device touches a queue any more: the queues
	 * are reset next (the transport itself waits for notify calls in flight). May be NULL
	 * for a device that uses its queues only from notify. */
	void (*status)(void *opaque, bool running);
	/* The device's own state, beyond the transport's (for templates): save appends one record
	 * of kvm/state.h to @out, load reads one back into a device just added, before the
	 * transport makes it live again (status(true) follows when the saved device was live).
	 * load treats @buf as hostile and changes nothing when it fails. 0 or -errno (save:
	 * -EBUSY when the device holds a request half done and cannot be saved now). Called with
	 * the transport's lock held. NULL (both): the device has no state of its own. */
	int (*save)(void *opaque, struct kvm_state_buf *out);
	int (*load)(void *opaque, const void *buf, size_t len);
};

/* Add a device in the next virtio-mmio window (vmm_virtio_mmio_add()). 0 or -errno. */
int virtio_mmio_add(struct vmm *vm, const struct virtio_dev_ops *ops, void *opaque, struct virtio_dev **ret);
/* The device's state, transport and device (ops->save) in one record appended to @out; with
 * the vCPUs paused and no I/O-thread callback of the device running (the caller stops them).
 * And loaded into a device just added with the same ops (its status still 0), which goes live
 * if the saved one was: registers, features, queue addresses and indices, the device's own
 * state. Load checks every value as the registers would have (a queue's ring must be in guest
 * RAM, features a subset of the device's...) and changes nothing when it fails. 0 or -errno
 * (-EBADMSG: malformed, -EPROTONOSUPPORT: another version, -EBUSY: not a fresh device). */
int virtio_dev_save(struct virtio_dev *d, struct kvm_state_buf *out);
int virtio_dev_load(struct virtio_dev *d, const void *buf, size_t len);
/* Queue @q of a running device, or NULL. */
struct virtq *virtio_queue(struct virtio_dev *d, unsigned q);
/* Raise the used-buffer interrupt (after virtq_push), unless the driver asked for none
 * (VIRTQ_AVAIL_F_NO_INTERRUPT) on every queue pushed to since the last call. */
void virtio_notify_used(struct virtio_dev *d);
/* Serve a request/response queue: pop every chain of queue @q, let @handle answer it (the bytes
 * it wrote into the chain's in part, or < 0 after it called virtio_fail()), push it, and raise
 * the interrupt once. A malformed chain fails the device. Called with the device's lock held. */
void virtio_serve(struct virtio_dev *d, unsigned q, ssize_t (*handle)(void *opaque, const struct virtq_chain *c),
		  void *opaque);
/* The features the driver accepted (valid once FEATURES_OK is set; 0 before). */
uint64_t virtio_driver_features(struct virtio_dev *d);
/* The guest broke the device's rules: DEVICE_NEEDS_RESET, config-change interrupt, one log line. */
void virtio_fail(struct virtio_dev *d, const char *why);

/* --- the devices ------------------------------------------------------------------------ */

/* Each returns 0, or < 0 with @err set. The fds given stay the caller's: a device uses them for
 * the VM's life and never closes them. */

/* virtio-console with multiport: port 0 is the console (its output appended to @log_fd, or
 * dropped when -1), port 1 is named @port_name and connected to the stream socket @fd (the
 * agent channel; the caller keeps its own end; an fd that is not a socket is made O_NONBLOCK). */
int virtio_console_add(struct vmm *vm, int log_fd, const char *port_name, int fd, struct rt_error **err);
/* virtio-net on a tap fd (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), which is made O_NONBLOCK; -1: on
 * nothing (a template's NIC: what the guest sends is dropped, nothing arrives). */
int virtio_net_add(struct vmm *vm, int tap_fd, struct rt_error **err);
/* virtio-rng fed from getrandom(). */
int virtio_rng_add(struct vmm *vm, struct rt_error **err);
/* virtio-blk on a file or block device. */
int virtio_blk_add(struct vmm *vm, const char *path, bool readonly, struct rt_error **err);
/* virtio-9p exporting @dir (kvm/virtio/p9.h) under mount tag @tag. */
int virtio_9p_add(struct vmm *vm, const char *tag, const char *dir, bool readonly, struct rt_error **err);

#endif
