/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The architecture hooks (kvm/arch.h) where the VMM has no port yet (arm64 for now): the VM
 * cannot be created, with a clear error, and the kvm backend's probe says so first. */
#include <errno.h>

#include "base/error.h"
#include "kvm/arch.h"

int vmm_arch_init(struct vmm *vm, struct rt_error **err)
{
	(void)vm;
	return rt_make_error(err, ENOTSUP, "runvm's own VMM has no port to this architecture yet");
}

int vmm_arch_vcpu_init(struct vmm *vm, unsigned id, int vcpu_fd, struct rt_error **err)
{
	(void)vm, (void)id, (void)vcpu_fd;
	return rt_make_error(err, ENOTSUP, "runvm's own VMM has no port to this architecture yet");
}

int vmm_arch_load(struct vmm *vm, const char *kernel, const char *initrd, const char *cmdline, struct rt_error **err)
{
	(void)vm, (void)kernel, (void)initrd, (void)cmdline;
	return rt_make_error(err, ENOTSUP, "runvm's own VMM has no port to this architecture yet");
}

bool vmm_arch_exit(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_run *run)
{
	(void)vm, (void)id, (void)vcpu_fd, (void)run;
	return false;
}

void vmm_arch_free(struct vmm *vm)
{
	(void)vm;
}
