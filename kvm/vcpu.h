/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The vCPU threads of the VMM core (kvm/vcpu.c); vmm_vcpu_save/load are in kvm/vmm.h,
 * vmm_vcpu_fd() in kvm/arch.h. For kvm/vmm.c only. */
#ifndef RUNVM_KVM_VCPU_H
#define RUNVM_KVM_VCPU_H

struct rt_error;
struct vcpu;
struct vmm;

/* @n vCPUs, none created yet, so that vcpus_free() may run after any failure. */
void vcpus_alloc(struct vmm *vm, unsigned n);
/* KVM_CREATE_VCPU, its kvm_run mapping and the architecture's vCPU setup, for each. After the
 * architecture's VM setup (the irqchip precedes the vCPUs). 0, or < 0 with @err set. */
int vcpus_create(struct vmm *vm, struct rt_error **err);
/* After the threads have been joined. */
void vcpus_free(struct vmm *vm);
/* The thread of a struct vcpu (@arg), started by vmm_start(). */
void *vcpu_thread(void *arg);
/* Make every started vCPU leave KVM_RUN and look at the VM's flags. Lock held. */
void vcpu_kick_all(struct vmm *vm);
/* With its thread gone: finish the exit it handled last (an MMIO or port read's value goes
 * into the guest's register only at the next KVM_RUN), so that its registers can be saved.
 * 0 or -errno. */
int vcpu_complete_exit(struct vcpu *c);
/* Once per process, before the first vCPU thread: the kick's handler. */
void vcpu_install_kick_handler(void);

#endif
