/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest RAM of the VMM core (kvm/memory.c); vmm_guest_ptr() is in kvm/device.h, vmm_ram_slot()
 * in kvm/arch.h. For kvm/vmm.c only. */
#ifndef RUNVM_KVM_MEMORY_H
#define RUNVM_KVM_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

struct rt_error;
struct vmm;

/* Nothing allocated yet, so that vmm_memory_free() may run after any failure. */
void vmm_memory_preinit(struct vmm *vm);
/* @size bytes of RAM in the layout's slots, registered with KVM: a new file (with @huge_pages,
 * in 2 MiB pages where the host allows it), or @ram_fd >= 0 (a template's memory, which must
 * be @size bytes) mapped privately. Returns 0 or < 0 with @err set. */
int vmm_memory_init(struct vmm *vm, uint64_t size, bool huge_pages, int ram_fd, struct rt_error **err);
void vmm_memory_free(struct vmm *vm);

#endif
