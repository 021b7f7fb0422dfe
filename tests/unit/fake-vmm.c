/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test double of the VMM core's device-facing functions (kvm/device.h), and a minimal
 * virtio-mmio driver. The devices' windows come from the real layout hooks (kvm/arch.h). */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/arch.h"
#include "kvm/device.h"
#include "kvm/vmm.h"
#include "tests/unit/fake-vmm.h"

#define FAKE_MAX_MMIO 16

struct fake_mmio {
	uint64_t base, len;
	const struct vmm_mmio_ops *ops;
	void *opaque;
};

struct fake_watch {
	int fd;
	short events;
	void (*fn)(void *opaque, short revents);
	void *opaque;
};

struct vmm {
	uint8_t *ram;
	uint64_t ram_size, next;
	struct fake_mmio mmio[FAKE_MAX_MMIO];
	unsigned n_mmio, n_virtio_mmio;
	unsigned irqs[64];
	char cmdline[4096];
	struct fake_watch watch[16];
	unsigned n_watch;
	struct {
		void (*fn)(void *opaque);
		void *opaque;
	} on_free[32];
	unsigned n_on_free;
};

/* --- kvm/device.h ---------------------------------------------------------------------- */

int vmm_mmio_register(struct vmm *vm, uint64_t base, uint64_t len, const struct vmm_mmio_ops *ops, void *opaque)
{
	for (unsigned i = 0; i < vm->n_mmio; i++)
		if (base < vm->mmio[i].base + vm->mmio[i].len && vm->mmio[i].base < base + len)
			return -EEXIST;
	if (vm->n_mmio == FAKE_MAX_MMIO)
		return -ENOSPC;
	vm->mmio[vm->n_mmio++] = (struct fake_mmio){ base, len, ops, opaque };
	return 0;
}

/* The core's placement, without its retry past a window a test took: the windows and the
 * announcement are the architecture's own (kvm/x86/layout.c on x86). */
int vmm_virtio_mmio_add(struct vmm *vm, const struct vmm_mmio_ops *ops, void *opaque, uint64_t *ret_base,
			unsigned *ret_irq)
{
	uint64_t base, size;
	unsigned irq;
	int r = vmm_arch_virtio_mmio_slot(vm->n_virtio_mmio, &base, &size, &irq);

	if (r == 0)
		r = vmm_mmio_register(vm, base, size, ops, opaque);
	if (r < 0)
		return r;
	vm->n_virtio_mmio++;
	vmm_arch_virtio_mmio_announce(vm, base, size, irq);
	*ret_base = base;
	*ret_irq = irq;
	return 0;
}

void *vmm_guest_ptr(struct vmm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->ram_size || len > vm->ram_size - gpa)
		return NULL;
	return vm->ram + gpa;
}

void vmm_irq_pulse(struct vmm *vm, unsigned irq)
{
	if (irq < 64)
		__atomic_fetch_add(&vm->irqs[irq], 1, __ATOMIC_RELAXED);
}

/* kvm/vmm.h's, for the layout's announcement. */
void vmm_cmdline_append(struct vmm *vm, const char *fmt, ...)
{
	size_t len = strlen(vm->cmdline);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->cmdline + len, sizeof(vm->cmdline) - len, fmt, ap);
	va_end(ap);
}

/* The semantics the devices rely on: a second call for the same fd replaces the first's events
 * and callback; events 0 stops polling the fd (it stays open). */
int vmm_io_watch(struct vmm *vm, int fd, short events, void (*fn)(void *opaque, short revents), void *opaque)
{
	unsigned i;

	for (i = 0; i < vm->n_watch && vm->watch[i].fd != fd; i++)
		;
	if (i == vm->n_watch) {
		if (i == sizeof(vm->watch) / sizeof(vm->watch[0]))
			return -ENOSPC;
		vm->n_watch++;
	}
	vm->watch[i] = (struct fake_watch){ fd, events, fn, opaque };
	return 0;
}

int vmm_on_free(struct vmm *vm, void (*fn)(void *opaque), void *opaque)
{
	if (vm->n_on_free == sizeof(vm->on_free) / sizeof(vm->on_free[0]))
		return -ENOSPC;
	vm->on_free[vm->n_on_free].fn = fn;
	vm->on_free[vm->n_on_free++].opaque = opaque;
	return 0;
}

/* The devices' tests save and load each device themselves (virtio_dev_save/load). */
int vmm_state_register(struct vmm *vm, int (*save)(void *opaque, struct kvm_state_buf *out),
		       int (*load)(void *opaque, const void *buf, size_t len), void *opaque)
{
	(void)vm;
	(void)save;
	(void)load;
	(void)opaque;
	return 0;
}

/* --- test side ------------------------------------------------------------------------- */

struct vmm *fake_vmm_new(uint64_t ram_size)
{
	struct vmm *vm = calloc(1, sizeof(*vm));

	vm->ram = calloc(1, ram_size);
	vm->ram_size = ram_size;
	vm->next = 0x1000;
	return vm;
}

void fake_vmm_free(struct vmm *vm)
{
	if (!vm)
		return;
	while (vm->n_on_free > 0) {
		vm->n_on_free--;
		vm->on_free[vm->n_on_free].fn(vm->on_free[vm->n_on_free].opaque);
	}
	free(vm->ram);
	free(vm);
}

void *fake_ram(struct vmm *vm, uint64_t gpa)
{
	return vm->ram + gpa;
}
void *fake_mmio_opaque(struct vmm *vm, unsigned slot)
{
	return slot < vm->n_mmio ? vm->mmio[slot].opaque : NULL;
}
uint64_t fake_ram_size(struct vmm *vm)
{
	return vm->ram_size;
}
const char *fake_cmdline(struct vmm *vm)
{
	return vm->cmdline;
}
unsigned fake_irqs(struct vmm *vm, unsigned gsi)
{
	return gsi < 64 ? vm->irqs[gsi] : 0;
}

uint64_t fake_alloc(struct vmm *vm, uint64_t size, uint64_t align)
{
	uint64_t gpa = (vm->next + align - 1) & ~(align - 1);

	if (gpa + size > vm->ram_size) {
		fprintf(stderr, "fake_alloc: guest RAM exhausted\n");
		abort();
	}
	vm->next = gpa + size;
	memset(vm->ram + gpa, 0, size);
	return gpa;
}

void fake_ram_copy(struct vmm *dst, const struct vmm *src)
{
	memcpy(dst->ram, src->ram, dst->ram_size < src->ram_size ? dst->ram_size : src->ram_size);
	dst->next = src->next;
}

short fake_watch_events(struct vmm *vm, int fd)
{
	for (unsigned i = 0; i < vm->n_watch; i++)
		if (vm->watch[i].fd == fd)
			return vm->watch[i].events;
	return 0;
}

int fake_io_poll(struct vmm *vm, int timeout_ms)
{
	struct pollfd pfd[16];
	unsigned idx[16], n = 0;
	int called = 0;

	for (unsigned i = 0; i < vm->n_watch; i++) {
		if (!vm->watch[i].events)
			continue;
		pfd[n] = (struct pollfd){ .fd = vm->watch[i].fd, .events = vm->watch[i].events };
		idx[n++] = i;
	}
	if (n == 0 || poll(pfd, n, timeout_ms) <= 0)
		return 0;
	for (unsigned k = 0; k < n; k++) {
		if (!pfd[k].revents)
			continue;
		vm->watch[idx[k]].fn(vm->watch[idx[k]].opaque, pfd[k].revents);
		called++;
	}
	return called;
}

void fake_read(struct vmm *vm, unsigned slot, uint64_t off, void *data, unsigned len)
{
	vm->mmio[slot].ops->read(vm->mmio[slot].opaque, off, data, len);
}

void fake_write(struct vmm *vm, unsigned slot, uint64_t off, const void *data, unsigned len)
{
	vm->mmio[slot].ops->write(vm->mmio[slot].opaque, off, data, len);
}

uint32_t fake_read32(struct vmm *vm, unsigned slot, uint64_t off)
{
	uint32_t v;

	fake_read(vm, slot, off, &v, 4);
	return le32toh(v);
}

void fake_write32(struct vmm *vm, unsigned slot, uint64_t off, uint32_t val)
{
	val = htole32(val);
	fake_write(vm, slot, off, &val, 4);
}

/* --- the driver ------------------------------------------------------------------------ */

uint32_t fake_status(struct fake_dev *d)
{
	return fake_read32(d->vm, d->slot, VIRTIO_MMIO_STATUS);
}

int fake_dev_start(struct fake_dev *d, struct vmm *vm, unsigned slot, uint64_t want, unsigned nq, uint16_t qsize,
		   const char **why)
{
	uint64_t offered;
	uint32_t st;

	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->slot = slot;
	d->nq = nq;
	if (fake_read32(vm, slot, VIRTIO_MMIO_MAGIC_VALUE) != 0x74726976 ||
	    fake_read32(vm, slot, VIRTIO_MMIO_VERSION) != 2) {
		*why = "magic/version";
		return -1;
	}
	fake_write32(vm, slot, VIRTIO_MMIO_STATUS, 0);
	st = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	fake_write32(vm, slot, VIRTIO_MMIO_STATUS, st);
	st |= VIRTIO_CONFIG_S_DRIVER;
	fake_write32(vm, slot, VIRTIO_MMIO_STATUS, st);
	fake_write32(vm, slot, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered = (uint64_t)fake_read32(vm, slot, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	fake_write32(vm, slot, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered |= fake_read32(vm, slot, VIRTIO_MMIO_DEVICE_FEATURES);
	d->features = offered & want;
	fake_write32(vm, slot, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fake_write32(vm, slot, VIRTIO_MMIO_DRIVER_FEATURES, d->features >> 32);
	fake_write32(vm, slot, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	fake_write32(vm, slot, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	fake_write32(vm, slot, VIRTIO_MMIO_STATUS, st);
	if (!(fake_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		*why = "features refused";
		return -1;
	}
	for (unsigned q = 0; q < nq; q++) {
		struct fake_vq *v = &d->vq[q];
		uint32_t max;

		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_SEL, q);
		max = fake_read32(vm, slot, VIRTIO_MMIO_QUEUE_NUM_MAX);
		if (max == 0 || fake_read32(vm, slot, VIRTIO_MMIO_QUEUE_READY)) {
			*why = "queue not available";
			return -1;
		}
		v->num = qsize < max ? qsize : max;
		v->desc = fake_alloc(vm, 16ULL * v->num, 16);
		v->avail = fake_alloc(vm, 6ULL + 2ULL * v->num, 2);
		v->used = fake_alloc(vm, 6ULL + 8ULL * v->num, 4);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_NUM, v->num);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)v->desc);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_DESC_HIGH, v->desc >> 32);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)v->avail);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v->avail >> 32);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)v->used);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_USED_HIGH, v->used >> 32);
		fake_write32(vm, slot, VIRTIO_MMIO_QUEUE_READY, 1);
		if (fake_read32(vm, slot, VIRTIO_MMIO_QUEUE_READY) != 1) {
			*why = "queue not ready";
			return -1;
		}
	}
	st |= VIRTIO_CONFIG_S_DRIVER_OK;
	fake_write32(vm, slot, VIRTIO_MMIO_STATUS, st);
	if (fake_status(d) != st) {
		*why = "DRIVER_OK not accepted";
		return -1;
	}
	*why = "ok";
	return 0;
}

bool fake_dev_started(struct fake_dev *d, struct vmm *vm, unsigned slot, uint64_t want, unsigned nq, uint16_t qsize)
{
	const char *why = "";

	if (fake_dev_start(d, vm, slot, want, nq, qsize, &why) == 0)
		return true;
	printf("# device start failed: %s\n", why);
	return false;
}

uint16_t fake_add(struct fake_dev *d, unsigned q, const struct fake_buf *b, unsigned n)
{
	struct fake_vq *v = &d->vq[q];
	struct vring_desc *desc = fake_ram(d->vm, v->desc);
	struct vring_avail *avail = fake_ram(d->vm, v->avail);
	uint16_t head = v->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t k = (head + i) % v->num;

		desc[k].addr = htole64(b[i].gpa);
		desc[k].len = htole32(b[i].len);
		desc[k].flags = htole16((b[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		desc[k].next = htole16((k + 1) % v->num);
	}
	v->next_desc = (head + n) % v->num;
	avail->ring[v->avail_idx % v->num] = htole16(head);
	__atomic_store_n(&avail->idx, htole16(++v->avail_idx), __ATOMIC_RELEASE);
	return head;
}

void fake_kick(struct fake_dev *d, unsigned q)
{
	fake_write32(d->vm, d->slot, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

bool fake_used(struct fake_dev *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct fake_vq *v = &d->vq[q];
	struct vring_used *used = fake_ram(d->vm, v->used);

	if (le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE)) == v->used_seen)
		return false;
	*id = le32toh(used->ring[v->used_seen % v->num].id);
	*len = le32toh(used->ring[v->used_seen % v->num].len);
	v->used_seen++;
	return true;
}
