/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM templates for the kvm backend (hypervisor-backends/template-store.h: what they are, where
 * they live, how they are checked). The template's VMM saves the VM with vmm_save(): `state`
 * holds the platform, vCPU and device records, `memory` the guest's RAM. A clone's VMM maps
 * `memory` copy-on-write from a read-only fd (MAP_PRIVATE), so N clones of one template share
 * every page none of them has written, and loads `state` in place of booting the kernel.
 */
#ifndef RUNVM_KVM_TEMPLATE_H
#define RUNVM_KVM_TEMPLATE_H

#include "hypervisor-backends/backend.h"
#include "kvm/kvm-backend.h"

struct rt_error;

/* As qemu-lite/template.h: 1 restored, 0 boot cold (why, under --debug), < 0 an error. */
int kvm_template_restore(const struct kvm_settings *s, const struct hv_vm_config *cfg, struct hv_vm **ret_vm,
			 struct rt_error **err);
/* 1 made, 0 there already, < 0 failed. */
int kvm_template_make(const struct kvm_settings *s, const struct hv_vm_config *cfg, struct rt_error **err);

#endif
