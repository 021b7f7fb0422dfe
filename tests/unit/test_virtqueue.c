/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The split virtqueue and the virtio-mmio transport against a hostile guest, without KVM:
 * guest RAM is a plain buffer (tests/unit/fake-vmm.c). Every malformed ring or chain must be
 * refused (-EBADMSG, the device fails), never followed outside RAM, around a loop or past
 * the chain arrays; the transport must negotiate, fail and reset as virtio 1.1 4.2 says.
 */
#include <errno.h>
#include <pthread.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/virtio/virtio.h"
#include "kvm/virtio/virtqueue.h"
#include "tests/unit/fake-vmm.h"
#include "tests/unit/tap.h"

#define RAM (4u << 20)

static struct vmm *vm;

struct ring {
	struct virtq q;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t aidx;
};

static void *ram(uint64_t gpa)
{
	return fake_ram(vm, gpa);
}

static int ring_setup(struct ring *r, uint16_t num, bool indirect)
{
	memset(r, 0, sizeof(*r));
	virtq_init(&r->q, vm, 256);
	r->q.num = num;
	r->q.desc_gpa = fake_alloc(vm, 16ULL * (num ? num : 1), 16);
	r->q.avail_gpa = fake_alloc(vm, 6ULL + 2ULL * num, 2);
	r->q.used_gpa = fake_alloc(vm, 6ULL + 8ULL * num, 4);
	r->desc = ram(r->q.desc_gpa);
	r->avail = ram(r->q.avail_gpa);
	r->used = ram(r->q.used_gpa);
	return virtq_enable(&r->q, indirect);
}

static void set_desc(struct vring_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	t[i].addr = htole64(addr);
	t[i].len = htole32(len);
	t[i].flags = htole16(flags);
	t[i].next = htole16(next);
}

static void offer(struct ring *r, uint16_t head)
{
	r->avail->ring[r->aidx % r->q.num] = htole16(head);
	r->avail->idx = htole16(++r->aidx);
}

static struct virtq_chain chain;

/* Pop once from a ring whose descriptor 0 heads the chain the caller built. */
static int pop_head0(struct ring *r)
{
	offer(r, 0);
	return virtq_pop(&r->q, &chain);
}

static void fresh(void)
{
	fake_vmm_free(vm);
	vm = fake_vmm_new(RAM);
}

static void test_happy_path(void)
{
	struct ring r;
	uint64_t a = fake_alloc(vm, 100, 8), b = fake_alloc(vm, 4096, 4096), c = fake_alloc(vm, 200, 8);

	ok(ring_setup(&r, 8, false) == 0, "queue of 8 enabled");
	set_desc(r.desc, 0, a, 100, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, b, 50, VRING_DESC_F_NEXT, 2);
	set_desc(r.desc, 2, c, 200, VRING_DESC_F_WRITE, 0);
	ok(virtq_pop(&r.q, &chain) == 0, "empty ring pops nothing");
	ok(pop_head0(&r) == 1, "a three-buffer chain pops");
	ok(chain.head == 0 && chain.n_out == 2 && chain.out_len == 150 && chain.n_in == 1 && chain.in_len == 200,
	   "out 2 buffers/150 bytes, in 1 buffer/200 bytes");
	ok(chain.out[0].iov_base == ram(a) && chain.out[1].iov_base == ram(b) && chain.in[0].iov_base == ram(c),
	   "iovecs point into guest RAM");
	ok(virtq_pop(&r.q, &chain) == 0, "then the ring is empty");
	virtq_push(&r.q, &chain, 77);
	ok(le16toh(r.used->idx) == 1 && le32toh(r.used->ring[0].id) == 0 && le32toh(r.used->ring[0].len) == 77,
	   "push: used element {0, 77}, used idx 1");
	ok(virtq_take_signal(&r.q) && !virtq_take_signal(&r.q), "an interrupt is due once");
	offer(&r, 0);
	ok(virtq_pop(&r.q, &chain) == 1, "the same head offered again pops");
	virtq_push(&r.q, &chain, 1000);
	ok(le32toh(r.used->ring[1].len) == 200, "written is clamped to the chain's writable length");

	/* The driver asked for no interrupts (VRING_AVAIL_F_NO_INTERRUPT). */
	r.avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	offer(&r, 0);
	virtq_take_signal(&r.q);
	ok(virtq_pop(&r.q, &chain) == 1, "pop with interrupts off");
	virtq_push(&r.q, &chain, 0);
	ok(!virtq_take_signal(&r.q), "no interrupt due when the driver suppressed them");

	/* Put back: the device found no use for it. */
	offer(&r, 0);
	ok(virtq_pop(&r.q, &chain) == 1, "pop");
	virtq_unpop(&r.q);
	ok(virtq_pop(&r.q, &chain) == 1 && chain.head == 0, "unpop: the same chain pops again");
	ok(virtq_pop(&r.q, &chain) == 0, "and only once");
}

static void test_enable(void)
{
	struct ring r;
	struct virtq q;

	ok(ring_setup(&r, 0, false) == -EINVAL, "zero-size queue refused");
	ok(ring_setup(&r, 3, false) == -EINVAL, "size 3 (not a power of two) refused");
	ok(ring_setup(&r, 12, false) == -EINVAL, "size 12 refused");
	ok(ring_setup(&r, 512, false) == -EINVAL, "size above the device's maximum refused");
	ok(virtq_pop(&r.q, &chain) == 0 && !r.q.ready, "a refused queue stays not ready and pops nothing");
	ok(ring_setup(&r, 256, false) == 0, "size 256 accepted");

	virtq_init(&q, vm, 16);
	q.num = 16;
	q.desc_gpa = RAM - 16 * 8; /* half the table past the end */
	q.avail_gpa = 0x1000;
	q.used_gpa = 0x2000;
	ok(virtq_enable(&q, false) == -EINVAL, "descriptor table running past RAM refused");
	q.desc_gpa = 0x3000;
	q.used_gpa = RAM - 8;
	ok(virtq_enable(&q, false) == -EINVAL, "used ring running past RAM refused");
	q.used_gpa = 0x2000;
	q.avail_gpa = UINT64_MAX - 1;
	ok(virtq_enable(&q, false) == -EINVAL, "avail ring address wrapping around refused");
	q.avail_gpa = 0x1000;
	q.desc_gpa = 0x3008;
	ok(virtq_enable(&q, false) == -EINVAL, "misaligned descriptor table refused");
	q.desc_gpa = 0x3000;
	q.used_gpa = 0x2002;
	ok(virtq_enable(&q, false) == -EINVAL, "misaligned used ring refused");
	q.used_gpa = 0x2000;
	ok(virtq_enable(&q, false) == 0, "the same queue, fixed, is accepted");
	virtq_reset(&q);
	ok(!q.ready && q.num == 0 && q.desc_gpa == 0 && q.max == 16, "reset: back to the initial state");
}

static void test_hostile_direct(void)
{
	struct ring r;
	uint64_t buf = fake_alloc(vm, 64, 8);

	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, RAM, 1, 0, 0);
	ok(pop_head0(&r) == -EBADMSG, "buffer just past the end of RAM refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, RAM - 10, 20, 0, 0);
	ok(pop_head0(&r) == -EBADMSG, "buffer straddling the end of RAM refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, UINT64_MAX - 10, 100, 0, 0);
	ok(pop_head0(&r) == -EBADMSG, "addr + len overflowing refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, buf, 8, VRING_DESC_F_NEXT, 0);
	ok(pop_head0(&r) == -EBADMSG, "loop 0 -> 1 -> 0 refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, VRING_DESC_F_NEXT, 0);
	ok(pop_head0(&r) == -EBADMSG, "descriptor chained to itself refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, VRING_DESC_F_NEXT, 8);
	ok(pop_head0(&r) == -EBADMSG, "next index == queue size refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, VRING_DESC_F_NEXT, 0xffff);
	ok(pop_head0(&r) == -EBADMSG, "next index 0xffff refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, 0, 0);
	offer(&r, 8);
	ok(virtq_pop(&r.q, &chain) == -EBADMSG, "head index == queue size in the avail ring refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, buf + 8, 8, 0, 0);
	ok(pop_head0(&r) == -EBADMSG, "readable descriptor after a writable one refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, buf + 8, 8, 0, 0);
	ok(pop_head0(&r) == -EBADMSG, "readable after an empty writable one refused too");

	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, 0, 0);
	r.avail->ring[0] = 0;
	r.avail->idx = htole16(9);
	ok(virtq_pop(&r.q, &chain) == -EBADMSG, "avail idx 9 ahead on a queue of 8 refused");
	r.avail->idx = htole16(0xfff0);
	ok(virtq_pop(&r.q, &chain) == -EBADMSG, "avail idx far ahead (or behind) refused");
	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, 0, 0);
	r.avail->idx = htole16(8);
	ok(virtq_pop(&r.q, &chain) == 1, "avail idx exactly a queue ahead is fine");

	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 0, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, buf, 10, VRING_DESC_F_WRITE, 0);
	ok(pop_head0(&r) == 1 && chain.n_out == 0 && chain.out_len == 0 && chain.n_in == 1 && chain.in_len == 10,
	   "zero-length descriptor takes no iovec");

	ring_setup(&r, 8, false);
	set_desc(r.desc, 0, buf, 8, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "indirect descriptor without the feature refused");
}

static void test_hostile_indirect(void)
{
	struct ring r;
	uint64_t buf = fake_alloc(vm, 64, 8), tbl = fake_alloc(vm, 16 * 300, 16);
	struct vring_desc *t = ram(tbl);

	ring_setup(&r, 8, true);
	set_desc(t, 0, buf, 16, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, buf + 32, 32, VRING_DESC_F_WRITE, 0);
	set_desc(r.desc, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == 1 && chain.n_out == 1 && chain.out_len == 16 && chain.n_in == 1 && chain.in_len == 32,
	   "indirect table of two: out 16, in 32");
	ring_setup(&r, 8, true);
	set_desc(r.desc, 0, buf + 16, 16, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, tbl, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	ok(pop_head0(&r) == 1 && chain.n_out == 2 && chain.out_len == 32 && chain.in_len == 32,
	   "direct descriptor then an indirect one (its WRITE flag ignored)");

	ring_setup(&r, 8, true);
	set_desc(r.desc, 0, RAM - 16, 32, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "indirect table past the end of RAM refused");
	ring_setup(&r, 8, true);
	set_desc(r.desc, 0, tbl, 0, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "empty indirect table refused");
	ring_setup(&r, 8, true);
	set_desc(r.desc, 0, tbl, 17, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "indirect table of 17 bytes refused");
	ring_setup(&r, 8, true);
	set_desc(r.desc, 0, tbl, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, buf, 8, 0, 0);
	ok(pop_head0(&r) == -EBADMSG, "INDIRECT together with NEXT refused");

	ring_setup(&r, 8, true);
	set_desc(t, 0, buf, 8, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	set_desc(r.desc, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "nested indirect table refused");
	ring_setup(&r, 8, true);
	set_desc(t, 0, buf, 8, VRING_DESC_F_NEXT, 0);
	set_desc(r.desc, 0, tbl, 16, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "loop inside an indirect table refused");
	ring_setup(&r, 8, true);
	set_desc(t, 0, buf, 8, VRING_DESC_F_NEXT, 2);
	set_desc(r.desc, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "next beyond the indirect table refused");
	ring_setup(&r, 8, true);
	set_desc(t, 0, buf, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, buf, 8, 0, 0);
	set_desc(r.desc, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "readable after writable inside an indirect table refused");
	ring_setup(&r, 8, true);
	set_desc(t, 0, RAM - 4, 8, 0, 0);
	set_desc(r.desc, 0, tbl, 16, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "indirect entry outside RAM refused");

	/* A table longer than the queue, all linked: more descriptors than the queue size. */
	ring_setup(&r, 4, true);
	for (unsigned i = 0; i < 8; i++)
		set_desc(t, i, buf, 8, i < 7 ? VRING_DESC_F_NEXT : 0, i + 1);
	set_desc(r.desc, 0, tbl, 8 * 16, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "indirect chain of 8 on a queue of 4 refused");

	/* 257 separate buffers: more than the chain's iovec arrays hold. */
	ring_setup(&r, 256, true);
	for (unsigned i = 0; i < 256; i++)
		set_desc(t, i, 0x100000 + 2 * i, 1, i < 255 ? VRING_DESC_F_NEXT : 0, i + 1);
	set_desc(r.desc, 0, 0x200000, 1, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, tbl, 256 * 16, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == -EBADMSG, "257 non-adjacent buffers refused (iovec array full)");
	ring_setup(&r, 256, true);
	for (unsigned i = 0; i < 256; i++)
		set_desc(t, i, 0x100000 + i, 1, i < 255 ? VRING_DESC_F_NEXT : 0, i + 1);
	set_desc(r.desc, 0, tbl, 256 * 16, VRING_DESC_F_INDIRECT, 0);
	ok(pop_head0(&r) == 1 && chain.n_out == 1 && chain.out_len == 256, "256 adjacent buffers merge into one iovec");
}

static void test_wrap(void)
{
	struct ring r;
	uint64_t buf = fake_alloc(vm, 8, 8);
	bool good = true;

	ring_setup(&r, 4, false);
	set_desc(r.desc, 0, buf, 8, VRING_DESC_F_WRITE, 0);
	for (unsigned i = 0; i < 70000 && good; i++) {
		offer(&r, 0);
		good = virtq_pop(&r.q, &chain) == 1 && virtq_pop(&r.q, &chain) == 0;
		virtq_push(&r.q, &chain, 8);
		good = good && le16toh(r.used->idx) == (uint16_t)(i + 1);
	}
	ok(good, "70000 pops and pushes: the 16-bit indices wrap cleanly");
}

/* --- the transport ------------------------------------------------------------------------ */

struct tdev {
	struct virtio_dev *dev;
	unsigned notified[4];
	int running; /* last status callback: 1 running, 0 stopped, -1 never */
	unsigned status_calls;
};

static void t_notify(void *opaque, unsigned qi)
{
	struct tdev *t = opaque;
	struct virtq *q = virtio_queue(t->dev, qi);
	struct virtq_chain ch;
	int r;

	t->notified[qi]++;
	while (q && (r = virtq_pop(q, &ch)) != 0) {
		if (r < 0) {
			virtio_fail(t->dev, "malformed chain");
			return;
		}
		virtq_push(q, &ch, ch.in_len);
	}
	virtio_notify_used(t->dev);
}

static void t_status(void *opaque, bool running)
{
	struct tdev *t = opaque;

	t->running = running;
	t->status_calls++;
}

static void t_config(void *opaque, uint64_t off, void *data, unsigned len)
{
	(void)opaque;
	for (unsigned i = 0; i < len; i++)
		((uint8_t *)data)[i] = (uint8_t)(off + i);
}

static const struct virtio_dev_ops t_ops = {
	.device_id = 42,
	.features = 1ULL << 3,
	.num_queues = 2,
	.queue_max = 16,
	.config_read = t_config,
	.notify = t_notify,
	.status = t_status,
};

#define VERSION_1 (1ULL << VIRTIO_F_VERSION_1)
#define INDIRECT (1ULL << VIRTIO_RING_F_INDIRECT_DESC)

static void test_transport(void)
{
	struct tdev t = { .running = -1 }, t2 = { .running = -1 };
	struct fake_dev d;
	const char *why = "";
	uint64_t buf;
	uint16_t v16 = 0xffff;
	uint32_t id, len, st;
	unsigned irqs;
	uint8_t cfg[4];

	fresh();
	ok(virtio_mmio_add(vm, &t_ops, &t, &t.dev) == 0 && virtio_mmio_add(vm, &t_ops, &t2, &t2.dev) == 0,
	   "two devices added");
	ok(strcmp(fake_cmdline(vm), " virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6") == 0,
	   "command line: \"%s\"", fake_cmdline(vm));
	ok(fake_read32(vm, 0, VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976 && fake_read32(vm, 0, VIRTIO_MMIO_VERSION) == 2 &&
		   fake_read32(vm, 0, VIRTIO_MMIO_DEVICE_ID) == 42 && fake_read32(vm, 0, VIRTIO_MMIO_VENDOR_ID) != 0,
	   "magic, version 2, device id, vendor id");
	fake_write32(vm, 0, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	ok(fake_read32(vm, 0, VIRTIO_MMIO_DEVICE_FEATURES) == 1, "features 32..63: VERSION_1");
	fake_write32(vm, 0, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ok(fake_read32(vm, 0, VIRTIO_MMIO_DEVICE_FEATURES) == ((1u << 3) | (1u << VIRTIO_RING_F_INDIRECT_DESC)),
	   "features 0..31: the device's and INDIRECT_DESC");
	fake_read(vm, 0, 0x100 + 5, cfg, 3);
	ok(cfg[0] == 5 && cfg[1] == 6 && cfg[2] == 7, "config space reads reach the device at the right offset");

	/* Feature negotiation that must fail. */
	ok(fake_dev_start(&d, vm, 0, 1ULL << 3, 2, 16, &why) < 0 && strcmp(why, "features refused") == 0,
	   "FEATURES_OK refused without VERSION_1");
	fake_write32(vm, 0, VIRTIO_MMIO_STATUS, 0);
	fake_write32(vm, 0, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	fake_write32(vm, 0, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 5);
	fake_write32(vm, 0, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fake_write32(vm, 0, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	fake_write32(vm, 0, VIRTIO_MMIO_STATUS,
		     VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	ok(!(fake_read32(vm, 0, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK),
	   "FEATURES_OK refused with a feature not offered");
	fake_write32(vm, 0, VIRTIO_MMIO_STATUS,
		     VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
	ok(fake_read32(vm, 0, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET,
	   "DRIVER_OK without FEATURES_OK fails the device");
	ok(t.running != 1, "... and does not start it");

	/* A good start. */
	ok(fake_dev_started(&d, vm, 0, ~0ULL, 2, 16), "device started");
	ok(d.features == (VERSION_1 | INDIRECT | (1ULL << 3)), "all offered features negotiated");
	ok(t.running == 1, "status callback: running");
	fake_write32(vm, 0, VIRTIO_MMIO_QUEUE_SEL, 2);
	ok(fake_read32(vm, 0, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0, "QueueNumMax of a queue that does not exist is 0");
	fake_write32(vm, 0, VIRTIO_MMIO_QUEUE_SEL, 0);
	fake_write32(vm, 0, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x12345000);
	ok(fake_read32(vm, 0, VIRTIO_MMIO_QUEUE_DESC_LOW) == (uint32_t)d.vq[0].desc,
	   "queue address writes after DRIVER_OK are ignored");
	fake_write(vm, 0, VIRTIO_MMIO_STATUS, &v16, 2);
	ok(fake_status(&d) & VIRTIO_CONFIG_S_DRIVER_OK, "a 16-bit register write is ignored");
	v16 = 0x1234;
	fake_read(vm, 0, VIRTIO_MMIO_MAGIC_VALUE, &v16, 2);
	ok(v16 == 0, "a 16-bit register read returns 0");

	/* A request round trip, with its interrupt. */
	buf = fake_alloc(vm, 64, 8);
	irqs = fake_irqs(vm, 5);
	fake_add(&d, 1, (struct fake_buf[]){ { buf, 16, false }, { buf + 16, 48, true } }, 2);
	fake_kick(&d, 1);
	ok(t.notified[1] == 1 && fake_used(&d, 1, &id, &len) && id == 0 && len == 48,
	   "notify reaches the device, chain used");
	ok(fake_irqs(vm, 5) == irqs + 1 && fake_read32(vm, 0, VIRTIO_MMIO_INTERRUPT_STATUS) == VIRTIO_MMIO_INT_VRING,
	   "used-buffer interrupt raised, InterruptStatus bit 0");
	fake_write32(vm, 0, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ok(fake_read32(vm, 0, VIRTIO_MMIO_INTERRUPT_STATUS) == 0, "InterruptACK clears it");
	fake_write32(vm, 0, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	fake_write32(vm, 0, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	ok(t.notified[0] == 0 && t.notified[1] == 1, "notify of a queue that does not exist is ignored");

	/* A hostile chain: the device fails, the VMM goes on. */
	{
		struct vring_desc *desc = fake_ram(vm, d.vq[1].desc);
		uint16_t head = fake_add(&d, 1, (struct fake_buf[]){ { buf, 8, false } }, 1);

		desc[head].flags = htole16(VRING_DESC_F_NEXT);
		desc[head].next = htole16(head);
		fake_kick(&d, 1);
	}
	st = fake_status(&d);
	ok(st & VIRTIO_CONFIG_S_NEEDS_RESET, "a looping chain: DEVICE_NEEDS_RESET");
	ok(fake_irqs(vm, 5) == irqs + 2 && (fake_read32(vm, 0, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG),
	   "with a configuration-change interrupt");
	fake_add(&d, 1, (struct fake_buf[]){ { buf, 8, false } }, 1);
	fake_kick(&d, 1);
	ok(t.notified[1] == 2 && !fake_used(&d, 1, &id, &len), "a failed device takes no more requests");

	/* Reset brings it back. */
	fake_write32(vm, 0, VIRTIO_MMIO_STATUS, 0);
	ok(t.running == 0 && fake_status(&d) == 0 && fake_read32(vm, 0, VIRTIO_MMIO_INTERRUPT_STATUS) == 0,
	   "reset: stopped, status 0, no interrupt pending");
	fake_write32(vm, 0, VIRTIO_MMIO_QUEUE_SEL, 1);
	ok(fake_read32(vm, 0, VIRTIO_MMIO_QUEUE_READY) == 0 && fake_read32(vm, 0, VIRTIO_MMIO_QUEUE_DESC_LOW) == 0,
	   "reset: queues back to their initial state");
	ok(fake_dev_started(&d, vm, 0, ~0ULL, 2, 16), "restarted");
	fake_add(&d, 1, (struct fake_buf[]){ { buf, 8, false }, { buf + 8, 8, true } }, 2);
	fake_kick(&d, 1);
	ok(fake_used(&d, 1, &id, &len) && id == 0 && len == 8, "after reset the queue starts again from index 0");

	/* Bad queue set-up. */
	fake_write32(vm, 1, VIRTIO_MMIO_STATUS, 0);
	fake_write32(vm, 1, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	fake_write32(vm, 1, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fake_write32(vm, 1, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	fake_write32(vm, 1, VIRTIO_MMIO_STATUS,
		     VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_SEL, 0);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_NUM, 6);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_READY, 1);
	ok(fake_read32(vm, 1, VIRTIO_MMIO_QUEUE_READY) == 0 &&
		   (fake_read32(vm, 1, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET),
	   "queue size 6: not ready, device needs reset");
	fake_write32(vm, 1, VIRTIO_MMIO_STATUS, 0);
	fake_write32(vm, 1, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_SEL, 0);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_NUM, 16);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_DESC_LOW, 0xfffff000);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0xffffffff);
	fake_write32(vm, 1, VIRTIO_MMIO_QUEUE_READY, 1);
	ok(fake_read32(vm, 1, VIRTIO_MMIO_QUEUE_READY) == 0 &&
		   (fake_read32(vm, 1, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET),
	   "ring outside RAM: not ready, device needs reset");

	/* Out-of-range transport parameters. */
	{
		struct virtio_dev_ops bad = t_ops;

		bad.queue_max = 24;
		ok(virtio_mmio_add(vm, &bad, &t, NULL) == -EINVAL, "queue_max not a power of two refused");
		bad.queue_max = 512;
		ok(virtio_mmio_add(vm, &bad, &t, NULL) == -EINVAL, "queue_max above VIRTQ_CHAIN_MAX refused");
	}
}

/* One vCPU keeps notifying while another resets and sets the device up again: a notify in
 * flight must never see a queue being reset under it. */
static bool race_stop;

static void *race_notifier(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE))
		fake_write32(vm, 0, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	return NULL;
}

static void test_reset_race(void)
{
	struct tdev t = { .running = -1 };
	struct fake_dev d;
	pthread_t th;
	unsigned good = 0;

	fresh();
	virtio_mmio_add(vm, &t_ops, &t, &t.dev);
	pthread_create(&th, NULL, race_notifier, NULL);
	for (unsigned i = 0; i < 2000; i++) {
		uint64_t buf;

		if (!fake_dev_started(&d, vm, 0, ~0ULL, 2, 2))
			break;
		buf = fake_alloc(vm, 16, 8);
		fake_add(&d, 1, (struct fake_buf[]){ { buf, 8, false }, { buf + 8, 8, true } }, 2);
		good++;
	}
	__atomic_store_n(&race_stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	ok(good == 2000, "2000 resets and set-ups under a stream of notifies from another thread");
}

int main(void)
{
	vm = fake_vmm_new(RAM);
	test_happy_path();
	fresh();
	test_enable();
	fresh();
	test_hostile_direct();
	fresh();
	test_hostile_indirect();
	fresh();
	test_wrap();
	test_transport();
	test_reset_race();
	fake_vmm_free(vm);
	return tap_done();
}
