/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The architecture hooks of the VMM (kvmtool's include/kvm/kvm-arch.h, Firecracker's
 * arch/<arch>/layout.rs): kvm/vmm.c calls them, kvm/x86/ implements them on x86_64 and
 * kvm/arch-stub.c where the VMM has no port yet. The Makefile links exactly one
 * implementation, so no call site has an #ifdef. Below them, what the core offers the hooks.
 *
 * Everything the core must not know lives behind these: where RAM goes in guest-physical
 * space, how many vCPUs the interrupt controller can address, where the virtio-mmio windows
 * are and which interrupt lines they use, how the guest learns of them, how a line is raised,
 * how a kernel is booted, and what a vCPU's state is.
 *
 * Errors: the hooks that vmm_new() and vmm_load_kernel() call (init, vcpu_init, load) take
 * `struct rt_error **err`, because they are the part of those entry points that can say what a
 * user must fix (which file is no vmlinux, which ioctl the host kernel refused); every other
 * hook runs on a vCPU or device path, or is pure, and returns 0 or -errno.
 */
#ifndef RUNVM_KVM_ARCH_H
#define RUNVM_KVM_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/device.h"

struct kvm_run;
struct kvm_state_buf;
struct rt_error;
struct vmm;

/* --- the layout (pure: no VM needed, so the unit tests link the real one) -------------- */

#define VMM_RAM_SLOTS_MAX 2

/* One KVM memory slot of guest RAM: @size bytes at guest-physical @gpa. The slots take
 * consecutive parts of the one RAM file, in order. */
struct vmm_ram_slot {
	uint64_t gpa, size;
};

/* Where @size bytes of guest RAM go: fills @slots in ascending @gpa order and returns how many
 * (1 to VMM_RAM_SLOTS_MAX). */
unsigned vmm_arch_ram_layout(uint64_t size, struct vmm_ram_slot slots[VMM_RAM_SLOTS_MAX]);
/* The kernel arguments the platform's own devices need, before any other (x86: the 16550 as
 * the console, and how the guest reboots). */
const char *vmm_arch_cmdline(void);
/* The most vCPUs the platform can address (x86: 8-bit xAPIC ids, one left for the IOAPIC). */
unsigned vmm_arch_max_vcpus(void);

/* The @i-th virtio-mmio window: its base and size, and the interrupt line it raises. 0, or
 * -ENOSPC past the last. */
int vmm_arch_virtio_mmio_slot(unsigned i, uint64_t *ret_base, uint64_t *ret_size, unsigned *ret_irq);
/* Tell the guest about a virtio-mmio device (x86: "virtio_mmio.device=" on the kernel command
 * line, with vmm_cmdline_append(); a device-tree architecture records it for its DT). */
void vmm_arch_virtio_mmio_announce(struct vmm *vm, uint64_t base, uint64_t size, unsigned irq);

/* --- the VM ------------------------------------------------------------------------------ */

/* After guest RAM exists, before any vCPU: in-kernel interrupt controllers and timers, the
 * legacy devices; may vmm_set_arch_state(). */
int vmm_arch_init(struct vmm *vm, struct rt_error **err);
/* Each vCPU, right after KVM_CREATE_VCPU (CPUID and the like: what must precede KVM_RUN). */
int vmm_arch_vcpu_init(struct vmm *vm, unsigned id, int vcpu_fd, struct rt_error **err);
/* Load the kernel and initrd with @cmdline, set the boot vCPU's entry state. */
int vmm_arch_load(struct vmm *vm, const char *kernel, const char *initrd, const char *cmdline, struct rt_error **err);
/* Drive interrupt line @irq to @level. Returns 0 or -errno. Thread-safe. */
int vmm_arch_irq_line(struct vmm *vm, unsigned irq, bool level);
/* An exit the core does not handle itself. Returns true when the vCPU goes on; false when the
 * hook ended the VM (vmm_exit_with) or does not know the exit. */
bool vmm_arch_exit(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_run *run);
/* A stopped vCPU's architectural state, appended to @out as one record (kvm/state.h), and
 * loaded back into a vCPU that has not run (a fresh VM's, after vmm_arch_vcpu_init). Load
 * checks @buf as hostile input, and sets nothing unless the whole record is well-formed.
 * Return 0 or -errno. */
int vmm_arch_vcpu_save(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_state_buf *out);
int vmm_arch_vcpu_load(struct vmm *vm, unsigned id, int vcpu_fd, const void *buf, size_t len);
/* The VM's own platform state outside the vCPUs (x86: the in-kernel PIC, IOAPIC and PIT), the
 * same way: saved with the vCPUs stopped, loaded into a VM that has not run. */
int vmm_arch_platform_save(struct vmm *vm, struct kvm_state_buf *out);
int vmm_arch_platform_load(struct vmm *vm, const void *buf, size_t len);
/* All threads have stopped: flush and free the state vmm_arch_init() set. NULL-safe state. */
void vmm_arch_free(struct vmm *vm);

/* --- what the core offers the hooks ------------------------------------------------------ */

/* Port I/O (x86): @len ports from @base, served with the MMIO handler shape (@off relative to
 * @base, @len 1, 2 or 4). Before vmm_start(). Returns 0 or -errno (overlap, no room). A port
 * nobody registered reads as zeros and ignores writes. */
int vmm_pio_register(struct vmm *vm, uint16_t base, uint16_t len, const struct vmm_mmio_ops *ops, void *opaque);
/* End the VM with @status (0: the guest rebooted or powered off, > 0: a failure) and the reason
 * in words. Wakes vmm_exit_fd(). Thread-safe; the first reason wins. */
void vmm_exit_with(struct vmm *vm, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vmm_kvm_fd(struct vmm *vm);
int vmm_vm_fd(struct vmm *vm);
int vmm_vcpu_fd(struct vmm *vm, unsigned id);
unsigned vmm_nr_vcpus(struct vmm *vm);
/* Guest RAM as vmm_arch_ram_layout() placed it: slot @i, or NULL past the last. */
const struct vmm_ram_slot *vmm_ram_slot(struct vmm *vm, unsigned i);
int vmm_console_fd(struct vmm *vm);
/* The architecture's own state, set by vmm_arch_init(). */
void *vmm_arch_state(struct vmm *vm);
void vmm_set_arch_state(struct vmm *vm, void *state);

#endif
