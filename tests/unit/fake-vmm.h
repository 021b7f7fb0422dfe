/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A test double of the VMM core's device-facing functions (kvm/device.h): guest RAM is a plain
 * buffer, MMIO regions and I/O watches are recorded, interrupts are counted. With it, and a
 * small virtio driver written the way Linux's virtio_mmio.c and virtio_ring.c drive a device,
 * the unit tests run the virtio devices without /dev/kvm.
 */
#ifndef RUNVM_TEST_FAKE_VMM_H
#define RUNVM_TEST_FAKE_VMM_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/device.h"

struct vmm *fake_vmm_new(uint64_t ram_size);
void fake_vmm_free(struct vmm *vm);
/* A host pointer to guest-physical @gpa (no bounds check: for the test's own writes). */
void *fake_ram(struct vmm *vm, uint64_t gpa);
uint64_t fake_ram_size(struct vmm *vm);
/* The opaque the device in slot @slot registered its window with (a virtio device's struct
 * virtio_dev), or NULL. */
void *fake_mmio_opaque(struct vmm *vm, unsigned slot);
/* Guest memory for rings and buffers, zeroed, from a bump allocator. */
uint64_t fake_alloc(struct vmm *vm, uint64_t size, uint64_t align);
/* Guest RAM and the allocator's position copied from @src: a saved VM's memory, for a device
 * loaded from its saved state. */
void fake_ram_copy(struct vmm *dst, const struct vmm *src);
const char *fake_cmdline(struct vmm *vm);
unsigned fake_irqs(struct vmm *vm, unsigned gsi);
/* The events the watch on @fd asks for now (0 when paused or never watched). */
short fake_watch_events(struct vmm *vm, int fd);
/* One round of the I/O thread: poll the active watches, call the ready ones. Returns how many
 * were called. */
int fake_io_poll(struct vmm *vm, int timeout_ms);

/* MMIO accesses to the device in slot @slot, as a vCPU makes them. */
uint32_t fake_read32(struct vmm *vm, unsigned slot, uint64_t off);
void fake_write32(struct vmm *vm, unsigned slot, uint64_t off, uint32_t val);
void fake_read(struct vmm *vm, unsigned slot, uint64_t off, void *data, unsigned len);
void fake_write(struct vmm *vm, unsigned slot, uint64_t off, const void *data, unsigned len);

/* --- a minimal virtio driver ------------------------------------------------------------- */

struct fake_vq {
	uint16_t num;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next_desc;
};

struct fake_dev {
	struct vmm *vm;
	unsigned slot;
	uint64_t features; /* negotiated */
	unsigned nq;
	struct fake_vq vq[8];
};

struct fake_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Bring the device up as Linux does: reset, ACKNOWLEDGE, DRIVER, features (@want & offered),
 * FEATURES_OK, @nq queues of min(@qsize, QueueNumMax), DRIVER_OK. 0, or -1 with the step that
 * failed in *@why. */
int fake_dev_start(struct fake_dev *d, struct vmm *vm, unsigned slot, uint64_t want, unsigned nq, uint16_t qsize,
		   const char **why);
/* fake_dev_start, saying why on stdout (a TAP comment) when it fails. */
bool fake_dev_started(struct fake_dev *d, struct vmm *vm, unsigned slot, uint64_t want, unsigned nq, uint16_t qsize);
/* Put a chain of @n buffers on queue @q's available ring (not notified); returns the head. */
uint16_t fake_add(struct fake_dev *d, unsigned q, const struct fake_buf *b, unsigned n);
void fake_kick(struct fake_dev *d, unsigned q);
/* The next used element of queue @q, if any. */
bool fake_used(struct fake_dev *d, unsigned q, uint32_t *id, uint32_t *len);
uint32_t fake_status(struct fake_dev *d);

#endif
