/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The `kvm` backend: runvm's own VMM (kvm/vmm.h), in a jailed process of its own. */
#ifndef RUNVM_KVM_BACKEND_H
#define RUNVM_KVM_BACKEND_H

#include <stdbool.h>

#include "hypervisor-backends/backend.h"

extern const struct hv_backend_ops hv_kvm_ops;

/* The [kvm] group of runvm.conf (configs/runvm.conf documents the keys). */
struct kvm_settings {
	bool huge_pages; /* guest RAM in transparent huge pages */
};

/* How launch sets a VM up: cold (the zero value, fds -1), as a template's boot (VMM_SAVE writes
 * the VM into @save_state_fd and @save_memory_fd), or as a clone of a template (@memory_fd,
 * its memory, and @state, its state: see vmm_save()). The fds stay the caller's. */
struct kvm_launch {
	int save_state_fd, save_memory_fd;
	int memory_fd;
	const void *state;
	size_t state_len;
};

/* The VMM exits 1 and its VMM_FAILED says this when the clone's state was refused: the
 * template is unusable (kvm/template.c). */
#define KVM_RESTORE_REFUSED ESTALE

int kvm_launch(const struct kvm_settings *s, const struct hv_vm_config *cfg, const struct kvm_launch *how,
	       struct hv_vm **ret_vm, struct rt_error **err);
/* A template boot's VM (launched with save fds): save it (vmm_save), which ends it. */
int kvm_save(struct hv_vm *vm, long long deadline, struct rt_error **err);

#endif
