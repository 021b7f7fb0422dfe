/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The split virtqueue (virtio 1.1 section 2.6), device side. The rings live in guest memory
 * and the guest may rewrite them at any moment, from another vCPU, while we read them: every
 * guest value is read once into a local, then checked, then used. A malformed ring or chain
 * makes virtq_pop() return -EBADMSG, and the caller fails the device; nothing here trusts an
 * index, a length or an address the guest wrote.
 */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "kvm/device.h"
#include "kvm/virtio/virtqueue.h"

/* One read of a guest-shared 16-bit ring field: the guest may change it under us, so the
 * compiler must neither tear nor repeat the load. The rings are checked to be aligned. */
static inline uint16_t ring_load16(const __virtio16 *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

void virtq_init(struct virtq *q, struct vmm *vm, uint16_t max)
{
	memset(q, 0, sizeof(*q));
	q->vm = vm;
	q->max = max > VIRTQ_CHAIN_MAX ? VIRTQ_CHAIN_MAX : max;
}

void virtq_reset(struct virtq *q)
{
	virtq_init(q, q->vm, q->max);
}

int virtq_enable(struct virtq *q, bool indirect)
{
	uint16_t num = q->num;
	void *desc, *avail, *used;

	if (num == 0 || num > q->max || (num & (num - 1)))
		return -EINVAL;
	/* Alignment from 2.6 ("Legacy Interfaces" aside): it also keeps our atomic loads and
	 * stores of ring fields naturally aligned. */
	if (q->desc_gpa % 16 || q->avail_gpa % 2 || q->used_gpa % 4)
		return -EINVAL;
	/* Sizes include used_event/avail_event: 2.6 sizes the rings with them whatever the
	 * features, and Linux allocates them. */
	desc = vmm_guest_ptr(q->vm, q->desc_gpa, 16ULL * num);
	avail = vmm_guest_ptr(q->vm, q->avail_gpa, 6ULL + 2ULL * num);
	used = vmm_guest_ptr(q->vm, q->used_gpa, 6ULL + 8ULL * num);
	if (!desc || !avail || !used)
		return -EINVAL;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->indirect = indirect;
	q->last_avail = 0;
	q->used_idx = 0;
	q->signal = false;
	q->ready = true;
	return 0;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

bool virtq_take_signal(struct virtq *q)
{
	return __atomic_exchange_n(&q->signal, false, __ATOMIC_ACQ_REL);
}

/* A descriptor, copied out of guest memory. */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void desc_load(const struct vring_desc *table, unsigned i, struct desc *d)
{
	struct vring_desc raw;

	/* memcpy: an indirect table need not be aligned. The barrier makes the compiler use
	 * this copy and never go back to guest memory for a field it has checked. */
	memcpy(&raw, &table[i], sizeof(raw));
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

/* Append a guest buffer to @iov, merging it into the previous entry when the two are adjacent
 * in host memory (a kmalloc'ed 9p or console buffer split at page boundaries). */
static int iov_add(struct iovec *iov, unsigned *n, void *base, uint32_t len)
{
	if (*n > 0 && (uint8_t *)iov[*n - 1].iov_base + iov[*n - 1].iov_len == (uint8_t *)base) {
		iov[*n - 1].iov_len += len;
		return 0;
	}
	if (*n == VIRTQ_CHAIN_MAX)
		return -EBADMSG;
	iov[*n].iov_base = base;
	iov[*n].iov_len = len;
	(*n)++;
	return 0;
}

/* Walk the chain at @head (2.6.5): direct descriptors, optionally ending in one that points to
 * an indirect table (2.6.5.3). Readable buffers must all come before writable ones. The
 * direct part and the indirect table may each have at most num descriptors: that bounds every
 * loop the guest can build, and a chain that long is already past 2.6.5.3.1's limit. */
static int chain_walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const struct vring_desc *table = q->desc;
	unsigned size = q->num, budget = q->num, i = head;
	bool in_indirect = false, seen_write = false;

	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	for (;;) {
		struct desc d;

		if (budget-- == 0)
			return -EBADMSG; /* a loop, or longer than the queue */
		desc_load(table, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* 2.6.5.3.1: only when negotiated, never nested, never with NEXT, and a
			 * whole number of descriptors. */
			if (!q->indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT))
				return -EBADMSG;
			if (d.len == 0 || d.len % sizeof(struct vring_desc))
				return -EBADMSG;
			table = vmm_guest_ptr(q->vm, d.addr, d.len);
			if (!table)
				return -EBADMSG;
			size = d.len / sizeof(struct vring_desc);
			budget = q->num;
			in_indirect = true;
			i = 0;
			continue;
		}
		/* 2.6.4.2: every readable buffer comes before every writable one. */
		if (d.flags & VRING_DESC_F_WRITE)
			seen_write = true;
		else if (seen_write)
			return -EBADMSG;
		if (d.len > 0) {
			void *p;
			int r;

			/* vmm_guest_ptr checks the range; checking the sum here too keeps this
			 * file safe against a looser implementation of it. */
			if (d.addr + d.len < d.addr)
				return -EBADMSG;
			p = vmm_guest_ptr(q->vm, d.addr, d.len);
			if (!p)
				return -EBADMSG;
			if (d.flags & VRING_DESC_F_WRITE) {
				r = iov_add(c->in, &c->n_in, p, d.len);
				c->in_len += d.len;
			} else {
				r = iov_add(c->out, &c->n_out, p, d.len);
				c->out_len += d.len;
			}
			if (r < 0)
				return r;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= size)
			return -EBADMSG;
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, head;
	int r;

	if (!q->ready)
		return 0;
	/* 2.6.13.1 on the driver side: it writes the ring entry, then a barrier, then idx. The
	 * acquire load pairs with that, so the entries and descriptors read after it are at
	 * least as new as idx. */
	avail_idx = le16toh(__atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE));
	if (avail_idx == q->last_avail)
		return 0;
	/* The driver can be at most one ring ahead of us; more is a corrupt index. */
	if ((uint16_t)(avail_idx - q->last_avail) > q->num)
		return -EBADMSG;
	head = ring_load16(&q->avail->ring[q->last_avail & (q->num - 1)]);
	if (head >= q->num)
		return -EBADMSG;
	r = chain_walk(q, head, c);
	if (r < 0)
		return r;
	q->last_avail++;
	return 1;
}

void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written)
{
	struct vring_used_elem *e;

	if (!q->ready)
		return;
	if (written > c->in_len)
		written = c->in_len;
	e = &q->used->ring[q->used_idx & (q->num - 1)];
	__atomic_store_n(&e->id, htole32(c->head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(written), __ATOMIC_RELAXED);
	q->used_idx++;
	/* 2.6.8.2: the element must be visible before the index that publishes it. */
	__atomic_store_n(&q->used->idx, htole16(q->used_idx), __ATOMIC_RELEASE);
	/* 2.6.7.2: read the driver's flags only after the index store is visible, else a driver
	 * re-enabling interrupts could miss this buffer: a full barrier, as Linux's
	 * virtqueue_enable_cb has on its side. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(ring_load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT))
		__atomic_store_n(&q->signal, true, __ATOMIC_RELEASE);
}

/* Copy between @buf and the iovecs from byte @off of theirs: into the iovecs when @to_iov. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t step;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		step = iov[i].iov_len - off;
		if (step > len - done)
			step = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, (uint8_t *)buf + done, step);
		else
			memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, step);
		done += step;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
	return iov_copy(iov, n, off, (void *)buf, len, true);
}

unsigned iov_slice(struct iovec *dst, unsigned max, const struct iovec *iov, unsigned n, size_t off, size_t len)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len > 0 && k < max; i++) {
		size_t step;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		step = iov[i].iov_len - off;
		if (step > len)
			step = len;
		dst[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[k].iov_len = step;
		k++;
		len -= step;
		off = 0;
	}
	return k;
}
