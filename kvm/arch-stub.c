/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The architecture hooks (kvm/arch.h) where the VMM has no port yet (arm64 for now): the VM
 * cannot be created, with a clear error, and the kvm backend's probe says so first. The layout
 * hooks give one RAM slot at 0 and no device windows, which nothing reaches: vmm_new() fails in
 * vmm_arch_init() before any device is added. */
#include <errno.h>

#include "base/error.h"
#include "kvm/arch.h"

#define NO_PORT "runvm's own VMM has no port to this architecture yet"

unsigned vmm_arch_ram_layout(uint64_t size, struct vmm_ram_slot slots[VMM_RAM_SLOTS_MAX])
{
	slots[0] = (struct vmm_ram_slot){ .gpa = 0, .size = size };
	return 1;
}

const char *vmm_arch_cmdline(void)
{
	return "";
}

unsigned vmm_arch_max_vcpus(void)
{
	return 1;
}

int vmm_arch_virtio_mmio_slot(unsigned i, uint64_t *ret_base, uint64_t *ret_size, unsigned *ret_irq)
{
	(void)i, (void)ret_base, (void)ret_size, (void)ret_irq;
	return -ENOSPC;
}

void vmm_arch_virtio_mmio_announce(struct vmm *vm, uint64_t base, uint64_t size, unsigned irq)
{
	(void)vm, (void)base, (void)size, (void)irq;
}

int vmm_arch_init(struct vmm *vm, struct rt_error **err)
{
	(void)vm;
	return rt_make_error(err, ENOTSUP, NO_PORT);
}

int vmm_arch_vcpu_init(struct vmm *vm, unsigned id, int vcpu_fd, struct rt_error **err)
{
	(void)vm, (void)id, (void)vcpu_fd;
	return rt_make_error(err, ENOTSUP, NO_PORT);
}

int vmm_arch_load(struct vmm *vm, const char *kernel, const char *initrd, const char *cmdline, struct rt_error **err)
{
	(void)vm, (void)kernel, (void)initrd, (void)cmdline;
	return rt_make_error(err, ENOTSUP, NO_PORT);
}

int vmm_arch_irq_line(struct vmm *vm, unsigned irq, bool level)
{
	(void)vm, (void)irq, (void)level;
	return -ENOTSUP;
}

bool vmm_arch_exit(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_run *run)
{
	(void)vm, (void)id, (void)vcpu_fd, (void)run;
	return false;
}

int vmm_arch_vcpu_save(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_state_buf *out)
{
	(void)vm, (void)id, (void)vcpu_fd, (void)out;
	return -ENOTSUP;
}

int vmm_arch_vcpu_load(struct vmm *vm, unsigned id, int vcpu_fd, const void *buf, size_t len)
{
	(void)vm, (void)id, (void)vcpu_fd, (void)buf, (void)len;
	return -ENOTSUP;
}

int vmm_arch_platform_save(struct vmm *vm, struct kvm_state_buf *out)
{
	(void)vm, (void)out;
	return -ENOTSUP;
}

int vmm_arch_platform_load(struct vmm *vm, const void *buf, size_t len)
{
	(void)vm, (void)buf, (void)len;
	return -ENOTSUP;
}

void vmm_arch_free(struct vmm *vm)
{
	(void)vm;
}
