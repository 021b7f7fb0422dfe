/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a device sees of the VMM: guest memory, its MMIO window, its interrupt line, the I/O
 * thread and the end of the VM's life. Nothing else: the lifecycle (kvm/vmm.h) and the
 * architecture (kvm/arch.h) are not a device's business, and no layout constant is either: a
 * device asks for a window and gets back where the architecture put it. kvm/vmm.c implements
 * this header, and so does the test double tests/unit/fake-vmm.c, which includes it: the
 * compiler checks that the double and the VMM offer the devices the same interface.
 *
 * The guest is hostile. Everything a device reads from guest memory goes through
 * vmm_guest_ptr(), which bounds the range against guest RAM; nothing the guest writes may
 * crash or hang the VMM: a device that is given garbage fails (sets its status to
 * DEVICE_NEEDS_RESET, logs once) and the rest of the VM goes on.
 *
 * Errors: every call returns 0 or -errno (the kvm/ model, docs: the fuzzers link devices'
 * code without the runtime's error object).
 */
#ifndef RUNVM_KVM_DEVICE_H
#define RUNVM_KVM_DEVICE_H

#include <stddef.h>
#include <stdint.h>

struct kvm_state_buf;
struct vmm;

/* An MMIO (or port) region's handlers, called from a vCPU thread with the device's lock not
 * held: a device serialises itself. @off is relative to the region, @len is 1, 2, 4 or 8 and
 * off + len is within the region. A read fills all @len bytes (little-endian). */
struct vmm_mmio_ops {
	void (*read)(void *opaque, uint64_t off, void *data, unsigned len);
	void (*write)(void *opaque, uint64_t off, const void *data, unsigned len);
};

/* Register @len bytes at guest-physical @base, outside RAM, before the VM starts. Returns 0 or
 * -errno (-EINVAL: in RAM or empty, -EEXIST: overlap, -ENOSPC: no room, -EBUSY: started). */
int vmm_mmio_register(struct vmm *vm, uint64_t base, uint64_t len, const struct vmm_mmio_ops *ops, void *opaque);

/* A virtio-mmio device: the architecture's layout picks its window (the next free one) and its
 * interrupt line, the window is registered with @ops, and the guest is told where it is (x86:
 * the kernel command line, arm64: the device tree). Returns 0 with *ret_base and *ret_irq
 * set, or -errno (-ENOSPC: every window is taken). */
int vmm_virtio_mmio_add(struct vmm *vm, const struct vmm_mmio_ops *ops, void *opaque, uint64_t *ret_base,
			unsigned *ret_irq);

/* A host pointer to guest-physical [@gpa, @gpa + @len), or NULL when any of it is outside
 * guest RAM (or the sum overflows). The pointer stays valid for the VM's life. */
void *vmm_guest_ptr(struct vmm *vm, uint64_t gpa, uint64_t len);

/* Raise an edge-triggered interrupt on line @irq (as vmm_virtio_mmio_add() gave it): high,
 * then low. Thread-safe; a failure is logged (debug) and ignored, as a lost edge on real
 * hardware would be. */
void vmm_irq_pulse(struct vmm *vm, unsigned irq);

/* A device that needs its own thread of work (a tap, a host socket) polls from the VMM's I/O
 * thread: @fn is called there when @fd has @events. An fd already watched gets its events and
 * callback replaced; events 0 stops watching it. Callable from any thread, callbacks
 * included. A callback must drain or unwatch its fd, or it is called again at once. Returns 0
 * or -errno. */
int vmm_io_watch(struct vmm *vm, int fd, short events, void (*fn)(void *opaque, short revents), void *opaque);

/* Call @fn(@opaque) when the VM is freed, after every thread has stopped (last registered
 * first): a device releases its state there. Returns 0 or -errno. */
int vmm_on_free(struct vmm *vm, void (*fn)(void *opaque), void *opaque);

/* A device with state of its own for VM templates (kvm/state.h records): vmm_save() calls
 * @save for each, in the order registered, with every thread of the VM stopped; vmm_restore()
 * calls @load for each, in the same order, in a VM with the same devices added the same way.
 * Returns 0 or -errno. */
int vmm_state_register(struct vmm *vm, int (*save)(void *opaque, struct kvm_state_buf *out),
		       int (*load)(void *opaque, const void *buf, size_t len), void *opaque);

#endif
