/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The architecture hooks of the VMM (kvmtool's kvm__arch_* shape): kvm/vmm.c calls them,
 * kvm/x86.c implements them on x86_64 and kvm/arch-stub.c where the VMM has no port yet. The
 * Makefile links exactly one implementation, so no call site has an #ifdef.
 */
#ifndef RUNVM_KVM_ARCH_H
#define RUNVM_KVM_ARCH_H

#include <stdbool.h>

struct kvm_run;
struct rt_error;
struct vmm;

/* After guest RAM exists, before any vCPU: in-kernel interrupt controllers and timers, the
 * legacy devices; may vmm_set_arch_state(). */
int vmm_arch_init(struct vmm *vm, struct rt_error **err);
/* Each vCPU, right after KVM_CREATE_VCPU (CPUID and the like: what must precede KVM_RUN). */
int vmm_arch_vcpu_init(struct vmm *vm, unsigned id, int vcpu_fd, struct rt_error **err);
/* Load the kernel and initrd with @cmdline, set the boot vCPU's entry state. */
int vmm_arch_load(struct vmm *vm, const char *kernel, const char *initrd, const char *cmdline,
		  struct rt_error **err);
/* An exit the core does not handle itself. Returns true when the vCPU goes on; false when the
 * hook ended the VM (vmm_exit_with) or does not know the exit. */
bool vmm_arch_exit(struct vmm *vm, unsigned id, int vcpu_fd, struct kvm_run *run);
/* All threads have stopped: flush and free the state vmm_arch_init() set. NULL-safe state. */
void vmm_arch_free(struct vmm *vm);

#endif
