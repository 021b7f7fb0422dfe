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

#endif
