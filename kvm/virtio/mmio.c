/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-mmio transport, version 2 only (virtio 1.1 section 4.2.2; Linux's
 * drivers/virtio/virtio_mmio.c is the driver on the other side). One page of registers per
 * device, the device's config space from 0x100, one edge-triggered interrupt.
 *
 * Locking: d->lock serialises the registers (vCPUs may touch one device at once). Device
 * callbacks (config_write, status) run under it, notify does not, so a device's own lock always
 * nests inside d->lock; what a device calls back (virtio_queue, virtio_notify_used, virtio_fail,
 * virtio_driver_features) takes no lock, so a device may call them while holding its own.
 *
 * A queue changes (reset, set up) only while the device is not live, and only under
 * d->queues held for writing; notify runs under it held for reading. So a queue never changes
 * under a notify in flight on another vCPU, and the work a device does on its own threads is
 * stopped by ops->status(false), which comes first.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "kvm/device.h"
#include "kvm/state.h"
#include "kvm/virtio/virtio.h"
#include "kvm/virtio/virtqueue.h"

#define VIRTIO_MMIO_MAGIC 0x74726976  /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4d565552 /* "RUVM" */
/* The status bits a driver may set (2.1); NEEDS_RESET is the device's, the rest reserved. */
#define DRIVER_STATUS_BITS                                                                    \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | \
	 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED)

struct virtio_dev {
	struct vmm *vm;
	const struct virtio_dev_ops *ops;
	void *opaque;
	uint64_t base;
	unsigned irq;
	uint64_t host_features; /* ops->features + what the transport adds */
	pthread_mutex_t lock;
	pthread_rwlock_t queues; /* read: a notify in flight; write: a queue changes */
	/* Registers, under lock. */
	uint32_t dev_features_sel, drv_features_sel, queue_sel, shm_sel;
	uint64_t drv_features; /* as written by the driver */
	bool running;          /* ops->status(true) was the last status call */
	unsigned fail_count;
	/* Read without the lock by device threads. */
	uint32_t status;   /* atomic */
	uint64_t features; /* atomic: negotiated at FEATURES_OK */
	bool failed;       /* atomic: virtio_fail() until the next reset */
	uint32_t isr;      /* atomic: InterruptStatus */
	struct virtq *vqs;
};

static const char *dev_name(const struct virtio_dev *d)
{
	switch (d->ops->device_id) {
	case VIRTIO_ID_NET: return "net";
	case VIRTIO_ID_BLOCK: return "blk";
	case VIRTIO_ID_CONSOLE: return "console";
	case VIRTIO_ID_RNG: return "rng";
	case VIRTIO_ID_9P: return "9p";
	default: return "device";
	}
}

static void raise_irq(struct virtio_dev *d, uint32_t why)
{
	__atomic_fetch_or(&d->isr, why, __ATOMIC_ACQ_REL);
	vmm_irq_pulse(d->vm, d->irq);
}

struct virtq *virtio_queue(struct virtio_dev *d, unsigned q)
{
	/* Acquire: pairs with the release store of DRIVER_OK, after which the queues the
	 * driver set up no longer change until the device is stopped. */
	uint32_t status = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);

	if (q >= d->ops->num_queues || !(status & VIRTIO_CONFIG_S_DRIVER_OK))
		return NULL;
	if (__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE) || !d->vqs[q].ready)
		return NULL;
	return &d->vqs[q];
}

void virtio_notify_used(struct virtio_dev *d)
{
	bool due = false;

	for (unsigned i = 0; i < d->ops->num_queues; i++)
		due |= virtq_take_signal(&d->vqs[i]);
	if (due)
		raise_irq(d, VIRTIO_MMIO_INT_VRING);
}

void virtio_serve(struct virtio_dev *d, unsigned qi, ssize_t (*handle)(void *opaque, const struct virtq_chain *c),
		  void *opaque)
{
	struct virtq *q = virtio_queue(d, qi);
	struct virtq_chain ch;
	bool pushed = false;
	ssize_t n;
	int r;

	while (q && (r = virtq_pop(q, &ch)) != 0) {
		if (r < 0) {
			virtio_fail(d, "malformed chain");
			break;
		}
		n = handle(opaque, &ch);
		if (n < 0)
			break;
		virtq_push(q, &ch, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(d);
}

uint64_t virtio_driver_features(struct virtio_dev *d)
{
	return __atomic_load_n(&d->features, __ATOMIC_ACQUIRE);
}

void virtio_fail(struct virtio_dev *d, const char *why)
{
	unsigned n;

	if (__atomic_exchange_n(&d->failed, true, __ATOMIC_ACQ_REL))
		return;
	/* A guest can fail and reset a device in a loop: say it loudly once, then quietly. */
	n = __atomic_fetch_add(&d->fail_count, 1, __ATOMIC_RELAXED);
	rt_log(n == 0 ? RT_LOG_WARN : RT_LOG_DEBUG, "virtio-%s at %#" PRIx64 ": %s: device needs reset", dev_name(d),
	       d->base, why);
	/* 2.1.2: NEEDS_RESET is announced with a configuration change notification. */
	raise_irq(d, VIRTIO_MMIO_INT_CONFIG);
}

/* --- status and reset -------------------------------------------------------------------- */

static void set_running(struct virtio_dev *d, bool running)
{
	if (d->running == running)
		return;
	d->running = running;
	if (d->ops->status)
		d->ops->status(d->opaque, running);
}

/* 2.1.1 + 4.2.2.1: writing 0 to Status resets the device: queues, features, interrupts. */
static void reset(struct virtio_dev *d)
{
	__atomic_store_n(&d->status, 0, __ATOMIC_RELEASE);
	set_running(d, false);
	pthread_rwlock_wrlock(&d->queues);
	for (unsigned i = 0; i < d->ops->num_queues; i++)
		virtq_reset(&d->vqs[i]);
	pthread_rwlock_unlock(&d->queues);
	d->dev_features_sel = d->drv_features_sel = d->queue_sel = d->shm_sel = 0;
	d->drv_features = 0;
	__atomic_store_n(&d->features, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&d->isr, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&d->failed, false, __ATOMIC_RELEASE);
}

static void write_status(struct virtio_dev *d, uint32_t val)
{
	uint32_t old = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE), status;

	if (val == 0) {
		reset(d);
		return;
	}
	/* Only the driver's bits are kept: a reserved one would also make the saved state one
	 * that virtio_dev_load() refuses. */
	status = val & DRIVER_STATUS_BITS;
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		/* 3.1.1: accept only a subset of what we offered, and (4.2.2: no legacy
		 * interface) VERSION_1; else leave FEATURES_OK clear for the driver to see. */
		if ((d->drv_features & ~d->host_features) || !(d->drv_features & (1ULL << VIRTIO_F_VERSION_1)))
			status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		else
			__atomic_store_n(&d->features, d->drv_features, __ATOMIC_RELEASE);
	}
	/* Features are fixed once accepted (3.1.1 step 5). */
	if (old & VIRTIO_CONFIG_S_FEATURES_OK)
		status |= VIRTIO_CONFIG_S_FEATURES_OK;
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		status &= ~VIRTIO_CONFIG_S_DRIVER_OK;
		__atomic_store_n(&d->status, status, __ATOMIC_RELEASE);
		virtio_fail(d, "DRIVER_OK without FEATURES_OK");
		return;
	}
	__atomic_store_n(&d->status, status, __ATOMIC_RELEASE);
	set_running(d, status & VIRTIO_CONFIG_S_DRIVER_OK);
}

/* --- registers --------------------------------------------------------------------------- */

static uint32_t read_reg(struct virtio_dev *d, uint64_t off)
{
	struct virtq *q = d->queue_sel < d->ops->num_queues ? &d->vqs[d->queue_sel] : NULL;
	uint32_t status;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return 2;
	case VIRTIO_MMIO_DEVICE_ID: return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return d->dev_features_sel < 2 ? (uint32_t)(d->host_features >> (32 * d->dev_features_sel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return q ? q->max : 0;
	case VIRTIO_MMIO_QUEUE_READY: return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return __atomic_load_n(&d->isr, __ATOMIC_ACQUIRE);
	case VIRTIO_MMIO_STATUS:
		status = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE))
			status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		return status;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: return q ? (uint32_t)q->desc_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: return q ? (uint32_t)(q->desc_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return q ? (uint32_t)q->avail_gpa : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return q ? (uint32_t)(q->avail_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_USED_LOW: return q ? (uint32_t)q->used_gpa : 0;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: return q ? (uint32_t)(q->used_gpa >> 32) : 0;
	/* 4.2.2: a shared memory region that does not exist has length -1; we have none. */
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH: return 0xffffffff;
	/* Our config space never changes under the driver's feet: one generation. */
	case VIRTIO_MMIO_CONFIG_GENERATION: return 0;
	default: return 0; /* write-only or unknown registers read as zero */
	}
}

/* A queue register write: only to an existing queue, and (4.2.2.3) only before the queue is
 * ready and the device live, so nothing a device is using changes under it. */
static struct virtq *writable_queue(struct virtio_dev *d)
{
	struct virtq *q;

	if (d->queue_sel >= d->ops->num_queues)
		return NULL;
	if (__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & VIRTIO_CONFIG_S_DRIVER_OK)
		return NULL;
	q = &d->vqs[d->queue_sel];
	return q->ready ? NULL : q;
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffULL) | lo;
}
static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | (uint64_t)hi << 32;
}

static void write_reg(struct virtio_dev *d, uint64_t off, uint32_t val)
{
	struct virtq *q;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: d->dev_features_sel = val; break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & VIRTIO_CONFIG_S_FEATURES_OK)
			break;
		if (d->drv_features_sel == 0)
			set_lo(&d->drv_features, val);
		else if (d->drv_features_sel == 1)
			set_hi(&d->drv_features, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: d->drv_features_sel = val; break;
	case VIRTIO_MMIO_QUEUE_SEL: d->queue_sel = val; break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if ((q = writable_queue(d)))
			q->num = val > 0xffff ? 0 : val; /* checked at QueueReady */
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		if ((q = writable_queue(d)))
			set_lo(&q->desc_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if ((q = writable_queue(d)))
			set_hi(&q->desc_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		if ((q = writable_queue(d)))
			set_lo(&q->avail_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if ((q = writable_queue(d)))
			set_hi(&q->avail_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		if ((q = writable_queue(d)))
			set_lo(&q->used_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if ((q = writable_queue(d)))
			set_hi(&q->used_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (d->queue_sel >= d->ops->num_queues ||
		    (__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & VIRTIO_CONFIG_S_DRIVER_OK))
			break;
		q = &d->vqs[d->queue_sel];
		pthread_rwlock_wrlock(&d->queues);
		if (!val) {
			virtq_reset(q);
		} else if (!q->ready) {
			bool indirect = __atomic_load_n(&d->features, __ATOMIC_ACQUIRE) &
				(1ULL << VIRTIO_RING_F_INDIRECT_DESC);

			if (virtq_enable(q, indirect) < 0)
				virtio_fail(d, "queue size or ring address invalid");
		}
		pthread_rwlock_unlock(&d->queues);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK: __atomic_fetch_and(&d->isr, ~val, __ATOMIC_ACQ_REL); break;
	case VIRTIO_MMIO_STATUS: write_status(d, val); break;
	case VIRTIO_MMIO_SHM_SEL: d->shm_sel = val; break;
	default: break; /* read-only or unknown: ignored */
	}
}

static void mmio_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct virtio_dev *d = opaque;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		memset(data, 0, len);
		if (d->ops->config_read)
			d->ops->config_read(d->opaque, off - VIRTIO_MMIO_CONFIG, data, len);
		return;
	}
	/* 4.2.2.2: the driver uses only aligned 32-bit accesses below the config space. */
	if (len != 4 || off % 4) {
		memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&d->lock);
	v = htole32(read_reg(d, off));
	pthread_mutex_unlock(&d->lock);
	memcpy(data, &v, 4);
}

static void mmio_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct virtio_dev *d = opaque;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		if (d->ops->config_write) {
			pthread_mutex_lock(&d->lock);
			d->ops->config_write(d->opaque, off - VIRTIO_MMIO_CONFIG, data, len);
			pthread_mutex_unlock(&d->lock);
		}
		return;
	}
	if (len != 4 || off % 4)
		return;
	memcpy(&v, data, 4);
	v = le32toh(v);
	if (off == VIRTIO_MMIO_QUEUE_NOTIFY) {
		/* Outside d->lock: the device may do real work here (a blk request, a 9p
		 * call), and must not hold up another vCPU's register accesses meanwhile. */
		pthread_rwlock_rdlock(&d->queues);
		if (v < d->ops->num_queues && virtio_queue(d, v) && d->ops->notify)
			d->ops->notify(d->opaque, v);
		pthread_rwlock_unlock(&d->queues);
		return;
	}
	pthread_mutex_lock(&d->lock);
	write_reg(d, off, v);
	pthread_mutex_unlock(&d->lock);
}

/* vmm_free(), after every thread has stopped. */
static void virtio_dev_free(void *opaque)
{
	struct virtio_dev *d = opaque;

	pthread_mutex_destroy(&d->lock);
	pthread_rwlock_destroy(&d->queues);
	free(d->vqs);
	free(d);
}

static const struct vmm_mmio_ops virtio_mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};

static int dev_save(void *opaque, struct kvm_state_buf *out)
{
	return virtio_dev_save(opaque, out);
}

static int dev_load(void *opaque, const void *buf, size_t len)
{
	return virtio_dev_load(opaque, buf, len);
}

int virtio_mmio_add(struct vmm *vm, const struct virtio_dev_ops *ops, void *opaque, struct virtio_dev **ret)
{
	struct virtio_dev *d;
	int r;

	if (ops->num_queues == 0 || ops->queue_max == 0 || ops->queue_max > VIRTQ_CHAIN_MAX ||
	    (ops->queue_max & (ops->queue_max - 1)))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vqs = calloc(ops->num_queues, sizeof(*d->vqs));
	if (!d->vqs) {
		free(d);
		return -ENOMEM;
	}
	d->vm = vm;
	d->ops = ops;
	d->opaque = opaque;
	/* Every device gets indirect descriptors: Linux then needs one ring slot per request,
	 * whatever its scatter-gather count. */
	d->host_features = ops->features | (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	pthread_mutex_init(&d->lock, NULL);
	pthread_rwlock_init(&d->queues, NULL);
	for (unsigned i = 0; i < ops->num_queues; i++)
		virtq_init(&d->vqs[i], vm, ops->queue_max);

	r = vmm_virtio_mmio_add(vm, &virtio_mmio_ops, d, &d->base, &d->irq);
	if (r < 0) {
		pthread_mutex_destroy(&d->lock);
		pthread_rwlock_destroy(&d->queues);
		free(d->vqs);
		free(d);
		return r;
	}
	if (vmm_on_free(vm, virtio_dev_free, d) < 0)
		rt_debug("virtio-%s: not freed with the VM, ignoring", dev_name(d));
	/* A VM whose device could not be registered is refused by vmm_save (its list is full). */
	if (vmm_state_register(vm, dev_save, dev_load, d) < 0)
		rt_debug("virtio-%s: its state cannot be saved", dev_name(d));
	if (ret)
		*ret = d;
	return 0;
}

/* --- saved state ----------------------------------------------------------------------------- */

#define VIRTIO_STATE_MAGIC 0x6f696d76u /* "vmio" */
#define VIRTIO_STATE_VERSION 1

int virtio_dev_save(struct virtio_dev *d, struct kvm_state_buf *out)
{
	struct kvm_state_buf dev = { 0 };
	int r = 0;

	pthread_mutex_lock(&d->lock);
	/* No notify in flight on a vCPU while the queues' indices are read. */
	pthread_rwlock_wrlock(&d->queues);
	if (d->ops->save)
		r = d->ops->save(d->opaque, &dev);
	if (r == 0) {
		kvm_state_put_header(out, VIRTIO_STATE_MAGIC, VIRTIO_STATE_VERSION);
		kvm_state_put_u32(out, d->ops->device_id);
		kvm_state_put_u32(out, d->ops->num_queues);
		kvm_state_put_u32(out, __atomic_load_n(&d->status, __ATOMIC_ACQUIRE));
		kvm_state_put_u8(out, __atomic_load_n(&d->failed, __ATOMIC_ACQUIRE));
		kvm_state_put_u32(out, __atomic_load_n(&d->isr, __ATOMIC_ACQUIRE));
		kvm_state_put_u64(out, d->drv_features);
		kvm_state_put_u64(out, __atomic_load_n(&d->features, __ATOMIC_ACQUIRE));
		kvm_state_put_u32(out, d->dev_features_sel);
		kvm_state_put_u32(out, d->drv_features_sel);
		kvm_state_put_u32(out, d->queue_sel);
		kvm_state_put_u32(out, d->shm_sel);
		for (unsigned i = 0; i < d->ops->num_queues; i++) {
			const struct virtq *q = &d->vqs[i];

			kvm_state_put_u16(out, q->num);
			kvm_state_put_u64(out, q->desc_gpa);
			kvm_state_put_u64(out, q->avail_gpa);
			kvm_state_put_u64(out, q->used_gpa);
			kvm_state_put_u8(out, q->ready);
			kvm_state_put_u16(out, q->last_avail);
			kvm_state_put_u16(out, q->used_idx);
			kvm_state_put_u8(out, __atomic_load_n(&q->signal, __ATOMIC_ACQUIRE));
		}
		kvm_state_put_blob(out, &dev);
		r = kvm_state_buf_error(out);
	}
	pthread_rwlock_unlock(&d->queues);
	pthread_mutex_unlock(&d->lock);
	kvm_state_buf_release(&dev);
	return r;
}

/* One queue of a record into @q (a reset queue of the device's): what the registers and
 * QueueReady would have accepted, or -EBADMSG. */
static int load_queue(struct kvm_state_reader *r, struct virtq *q, bool indirect)
{
	uint8_t ready, signal;
	uint16_t last_avail, used_idx;

	q->num = kvm_state_get_u16(r);
	q->desc_gpa = kvm_state_get_u64(r);
	q->avail_gpa = kvm_state_get_u64(r);
	q->used_gpa = kvm_state_get_u64(r);
	ready = kvm_state_get_u8(r);
	last_avail = kvm_state_get_u16(r);
	used_idx = kvm_state_get_u16(r);
	signal = kvm_state_get_u8(r);
	if (r->bad || ready > 1 || signal > 1)
		return -EBADMSG;
	if (!ready)
		/* A queue not set up yet has nothing in flight. */
		return last_avail || used_idx || signal ? -EBADMSG : 0;
	/* Any pair of indices is safe: virtq_pop() checks the guest's avail->idx against
	 * last_avail at every pop, and the used ring is the guest's to read. */
	if (virtq_enable(q, indirect) < 0)
		return -EBADMSG;
	q->last_avail = last_avail;
	q->used_idx = used_idx;
	q->signal = signal;
	return 0;
}

int virtio_dev_load(struct virtio_dev *d, const void *buf, size_t len)
{
	uint32_t status, isr, sel[4];
	uint64_t drv_features, features;
	struct kvm_state_reader r;
	struct virtq *vqs = NULL;
	const void *dev;
	size_t dev_len;
	uint8_t failed;
	int e;

	kvm_state_reader_init(&r, buf, len);
	e = kvm_state_get_header(&r, VIRTIO_STATE_MAGIC, VIRTIO_STATE_VERSION);
	if (e < 0)
		return e;
	if (kvm_state_get_u32(&r) != d->ops->device_id || kvm_state_get_u32(&r) != d->ops->num_queues)
		return -EBADMSG;
	status = kvm_state_get_u32(&r);
	failed = kvm_state_get_u8(&r);
	isr = kvm_state_get_u32(&r);
	drv_features = kvm_state_get_u64(&r);
	features = kvm_state_get_u64(&r);
	for (unsigned i = 0; i < 4; i++)
		sel[i] = kvm_state_get_u32(&r);
	/* What write_status() would have let the driver reach. */
	if (r.bad || (status & ~DRIVER_STATUS_BITS) || failed > 1 ||
	    (isr & ~(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)))
		return -EBADMSG;
	if (status & VIRTIO_CONFIG_S_FEATURES_OK) {
		if (features != drv_features || (features & ~d->host_features) ||
		    !(features & (1ULL << VIRTIO_F_VERSION_1)))
			return -EBADMSG;
	} else if (features || (status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		return -EBADMSG;
	}

	vqs = calloc(d->ops->num_queues, sizeof(*vqs));
	if (!vqs)
		return -ENOMEM;
	for (unsigned i = 0; i < d->ops->num_queues; i++) {
		virtq_init(&vqs[i], d->vm, d->vqs[i].max);
		e = load_queue(&r, &vqs[i], features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
		if (e < 0)
			goto out;
	}
	e = -EBADMSG;
	if (!kvm_state_get_blob(&r, &dev, &dev_len) || kvm_state_get_end(&r) < 0 || (!d->ops->load && dev_len))
		goto out;

	pthread_mutex_lock(&d->lock);
	pthread_rwlock_wrlock(&d->queues);
	e = 0;
	if (__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) || d->running)
		e = -EBUSY;
	else if (d->ops->load)
		e = d->ops->load(d->opaque, dev, dev_len);
	if (e == 0) {
		memcpy(d->vqs, vqs, d->ops->num_queues * sizeof(*vqs));
		d->drv_features = drv_features;
		d->dev_features_sel = sel[0];
		d->drv_features_sel = sel[1];
		d->queue_sel = sel[2];
		d->shm_sel = sel[3];
		__atomic_store_n(&d->features, features, __ATOMIC_RELEASE);
		__atomic_store_n(&d->isr, isr, __ATOMIC_RELEASE);
		__atomic_store_n(&d->failed, failed, __ATOMIC_RELEASE);
		__atomic_store_n(&d->status, status, __ATOMIC_RELEASE);
	}
	pthread_rwlock_unlock(&d->queues);
	if (e == 0)
		set_running(d, status & VIRTIO_CONFIG_S_DRIVER_OK);
	pthread_mutex_unlock(&d->lock);
out:
	free(vqs);
	return e;
}
