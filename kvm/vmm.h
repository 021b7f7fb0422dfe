/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runvm's own VMM on /dev/kvm: the interface between the arch-neutral core (kvm/vmm.c: VM,
 * vCPU threads, guest memory, the run loop), the architecture hooks (kvm/x86.c: boot
 * protocol, CPUID, irqchip and PIT, serial, i8042, MP table) and the devices (kvm/virtio-*.c),
 * kvmtool's shape. The kvm backend (kvm/kvm-backend.c) drives it through the driver interface
 * of hypervisor-backends/backend.h.
 *
 * The guest is hostile. Everything a device reads from guest memory goes through
 * vmm_guest_ptr(), which bounds the range against guest RAM; nothing the guest writes may
 * crash or hang the VMM: a device that is given garbage fails (sets its status to
 * DEVICE_NEEDS_RESET, logs once) and the rest of the VM goes on.
 */
#ifndef RUNVM_KVM_VMM_H
#define RUNVM_KVM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmm;

/* Guest physical layout (x86_64): RAM from 0 up to the 32-bit MMIO hole, the rest above 4 GiB.
 * virtio-mmio devices sit in the hole, one page each, from VMM_MMIO_BASE; their IRQs are GSIs
 * from VMM_MMIO_IRQ_BASE (IOAPIC pins, edge-triggered). */
#define VMM_RAM_LOW_MAX (3ULL << 30)  /* RAM below the hole: up to 3 GiB */
#define VMM_RAM_HIGH_BASE (4ULL << 30) /* the rest, from 4 GiB */
#define VMM_MMIO_BASE 0xd0000000ULL
#define VMM_MMIO_SIZE 0x1000ULL
#define VMM_MMIO_IRQ_BASE 5
#define VMM_MAX_MMIO_DEVS 16

/* An MMIO region's handlers, called from a vCPU thread with the device's lock not held: a
 * device serialises itself. @off is relative to the region, @len is 1, 2, 4 or 8 and
 * off + len is within the region. A read fills all @len bytes (little-endian). */
struct vmm_mmio_ops {
	void (*read)(void *opaque, uint64_t off, void *data, unsigned len);
	void (*write)(void *opaque, uint64_t off, const void *data, unsigned len);
};

/* Register @len bytes at @base. Returns 0 or -errno (overlap, no room). */
int vmm_mmio_register(struct vmm *vm, uint64_t base, uint64_t len, const struct vmm_mmio_ops *ops, void *opaque);

/* A host pointer to guest-physical [@gpa, @gpa + @len), or NULL when any of it is outside
 * guest RAM (or the sum overflows). The pointer stays valid for the VM's life. */
void *vmm_guest_ptr(struct vmm *vm, uint64_t gpa, uint64_t len);

/* Raise an edge-triggered interrupt on @gsi (KVM_IRQ_LINE high then low). Thread-safe. */
void vmm_irq_pulse(struct vmm *vm, unsigned gsi);

/* Append " virtio_mmio.device=4K@0xBASE:IRQ" for each virtio-mmio device (the kernel command
 * line is how the guest finds them on x86 without ACPI). */
void vmm_cmdline_append(struct vmm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The VM ended: the guest rebooted or powered off (reboot=t, i8042 reset, triple fault), or a
 * vCPU failed. Wakes vmm_exit_fd(). Thread-safe; the first reason wins. */
void vmm_request_exit(struct vmm *vm, int status);

/* A device that needs its own thread of work (a tap, a host socket) polls from the VMM's I/O
 * thread: @fn is called there when @fd has @events. Returns 0 or -errno. */
int vmm_io_watch(struct vmm *vm, int fd, short events, void (*fn)(void *opaque, short revents), void *opaque);

/* --- lifecycle and port I/O: the backend (kvm/kvm-backend.c), the architecture hooks and the
 * tests. Everything below was added to the interface above; nothing above changed. --------- */

struct rt_error;

/* Open /dev/kvm and create a VM with @vcpus vCPUs and @mem_mib MiB of guest RAM (one memfd,
 * from guest-physical 0; at most 3 GiB for now, below the MMIO hole), then the architecture's
 * platform (x86: irqchip, PIT, UART on @console_fd, i8042, CMOS). @console_fd (or -1) stays
 * the caller's and must outlive the VM. Nothing runs until vmm_start(). */
int vmm_new(unsigned vcpus, unsigned mem_mib, bool huge_pages, int console_fd, struct vmm **ret,
	    struct rt_error **err);

/* Load @kernel (x86: a vmlinux ELF with a PVH entry) and @initrd (NULL for none), pass the
 * command line built with vmm_cmdline_append() and set the boot vCPU's entry state. Call after
 * every device is added: devices append themselves to the command line. */
int vmm_load_kernel(struct vmm *vm, const char *kernel, const char *initrd, struct rt_error **err);

/* Start the vCPU threads and the I/O thread. */
int vmm_start(struct vmm *vm, struct rt_error **err);

/* Stop every vCPU at a safe point (out of KVM_RUN, no exit being handled), and let them go on.
 * vmm_pause returns once all of them have stopped; it fails when the VM has ended. */
int vmm_pause(struct vmm *vm, struct rt_error **err);
int vmm_resume(struct vmm *vm, struct rt_error **err);

/* vmm_request_exit with the reason in words (shown when the VM's end is reported). */
void vmm_exit_with(struct vmm *vm, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Readable (POLLIN) once the VM has ended, and from then on. Owned by the VM. */
int vmm_exit_fd(struct vmm *vm);
/* Whether the VM has ended; if so its status (0: the guest rebooted or powered off, > 0: a
 * failure) and reason. *ret_reason stays valid for the VM's life. */
bool vmm_ended(struct vmm *vm, int *ret_status, const char **ret_reason);

/* End the VM (if it has not ended) and wait until no vCPU or I/O thread runs any more. */
void vmm_stop(struct vmm *vm);
/* vmm_stop, run the vmm_on_free() callbacks (last registered first), release everything.
 * NULL-safe; returns NULL. */
struct vmm *vmm_free(struct vmm *vm);

/* Call @fn(@opaque) in vmm_free(), after every thread has stopped: a device releases its state
 * there. Returns 0 or -errno. */
int vmm_on_free(struct vmm *vm, void (*fn)(void *opaque), void *opaque);

/* Port I/O (x86): @len ports from @base, served with the MMIO handler shape (@off relative to
 * @base, @len 1, 2 or 4). Register before vmm_start(). Returns 0 or -errno (overlap, no room).
 * A port nobody registered reads as zeros and ignores writes. */
int vmm_pio_register(struct vmm *vm, uint16_t base, uint16_t len, const struct vmm_mmio_ops *ops, void *opaque);

/* Notes on the calls above, where the header leaves a choice open:
 * - vmm_mmio_register() and vmm_pio_register() are for before vmm_start() (-EBUSY after).
 * - vmm_io_watch() on an fd already watched replaces its events and callback; events 0 stops
 *   watching it. It may be called from any thread, callbacks included. A callback must drain
 *   or unwatch its fd, or it is called again at once. */

/* For the architecture hooks (kvm/x86.c): the VM's file descriptors and layout. */
int vmm_kvm_fd(struct vmm *vm);
int vmm_vm_fd(struct vmm *vm);
int vmm_vcpu_fd(struct vmm *vm, unsigned id);
unsigned vmm_nr_vcpus(struct vmm *vm);
uint64_t vmm_ram_size(struct vmm *vm);
/* The part of it below the hole, at 0; the rest (vmm_ram_size() minus this) is at
 * VMM_RAM_HIGH_BASE. */
uint64_t vmm_ram_low(struct vmm *vm);
int vmm_console_fd(struct vmm *vm);
/* The architecture's own state, set by vmm_arch_init(). */
void *vmm_arch_state(struct vmm *vm);
void vmm_set_arch_state(struct vmm *vm, void *state);

#endif
