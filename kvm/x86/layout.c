/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The layout hooks of kvm/arch.h on x86_64 (kvm/x86/layout.h): pure, so that the virtio unit
 * tests link them with the test double of the core and check the real placement. */
#include <errno.h>

#include "kvm/arch.h"
#include "kvm/vmm.h"
#include "kvm/x86/layout.h"

unsigned vmm_arch_ram_layout(uint64_t size, struct vmm_ram_slot slots[VMM_RAM_SLOTS_MAX])
{
	uint64_t low = size < X86_RAM_LOW_MAX ? size : X86_RAM_LOW_MAX;

	slots[0] = (struct vmm_ram_slot){ .gpa = 0, .size = low };
	if (size == low)
		return 1;
	slots[1] = (struct vmm_ram_slot){ .gpa = X86_RAM_HIGH_BASE, .size = size - low };
	return 2;
}

/* reboot=t: no keyboard controller to wait for; the triple fault ends the VM at once
 * (KVM_EXIT_SHUTDOWN). */
const char *vmm_arch_cmdline(void)
{
	return "console=ttyS0 reboot=t";
}

unsigned vmm_arch_max_vcpus(void)
{
	return X86_MAX_VCPUS;
}

int vmm_arch_virtio_mmio_slot(unsigned i, uint64_t *ret_base, uint64_t *ret_size, unsigned *ret_irq)
{
	if (i >= X86_VIRTIO_MMIO_SLOTS)
		return -ENOSPC;
	*ret_base = X86_VIRTIO_MMIO_BASE + i * X86_VIRTIO_MMIO_SIZE;
	*ret_size = X86_VIRTIO_MMIO_SIZE;
	*ret_irq = X86_VIRTIO_MMIO_IRQ_BASE + i;
	return 0;
}

/* The kernel command line is how the guest finds them on x86 without ACPI (Linux's
 * virtio_mmio.device=<size>@<base>:<irq>). */
void vmm_arch_virtio_mmio_announce(struct vmm *vm, uint64_t base, uint64_t size, unsigned irq)
{
	vmm_cmdline_append(vm, " virtio_mmio.device=%lluK@%#llx:%u", (unsigned long long)size / 1024,
			   (unsigned long long)base, irq);
}
