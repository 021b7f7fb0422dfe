/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QEMU backend: QEMU microvm (x86_64), with KVM where it works and TCG elsewhere. It only
 * builds command lines and drives QEMU over QMP; all emulation is QEMU's. */
#ifndef RUNVM_QEMU_LITE_H
#define RUNVM_QEMU_LITE_H

#include "hypervisor-backends/backend.h"

extern const struct hv_backend_ops hv_qemu_lite_ops;

/* The QEMU argument vector for @cfg (NULL-terminated, g_strfreev). The agent channel, the QMP
 * socket and the tap are expected at @agent_fd, @qmp_fd and @tap_fd in the QEMU process.
 * Exposed for tests. */
char **qemu_lite_build_argv(const struct hv_vm_config *cfg, int agent_fd, int qmp_fd, int tap_fd);

#endif
