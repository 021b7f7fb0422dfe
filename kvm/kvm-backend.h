/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The `kvm` backend: runvm's own VMM (kvm/vmm.h), in the monitor's process. */
#ifndef RUNVM_KVM_BACKEND_H
#define RUNVM_KVM_BACKEND_H

#include "hypervisor-backends/backend.h"

extern const struct hv_backend_ops hv_kvm_ops;

#endif
