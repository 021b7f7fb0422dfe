/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QEMU backend: QEMU microvm (x86_64) or virt (aarch64), with KVM where it works and TCG
 * elsewhere. It only builds command lines and drives QEMU over QMP; all emulation is QEMU's. */
#ifndef RUNVM_QEMU_LITE_H
#define RUNVM_QEMU_LITE_H

#include "base/arch.h"
#include "hypervisor-backends/backend.h"

extern const struct hv_backend_ops hv_qemu_lite_ops;

/* The [qemu] group of runvm.conf (configs/runvm.conf documents the keys). */
struct qemu_settings {
	char *binary;                       /* full QEMU for the host's architecture's guests */
	char *microvm_binary;               /* slim KVM-only build, "" when unset */
	char *foreign_binary[_RV_ARCH_MAX]; /* full QEMU for a foreign architecture's guests */
};

/* The QEMU to run for a guest of @arch under @accel: full QEMU (foreign architectures: their
 * own), or under KVM the slim microvm build where one is configured and installed. */
const char *qemu_lite_binary(const struct qemu_settings *s, enum rv_arch arch, enum hv_accel accel);

/* The QEMU argument vector for @cfg (NULL-terminated, g_strfreev). The agent channel (when
 * @cfg gives it as an fd), the QMP socket and the taps are expected at @agent_fd, @qmp_fd and
 * @tap_fd onwards (one per NIC) in the QEMU process. Exposed for tests. */
char **qemu_lite_build_argv(const struct qemu_settings *s, const struct hv_vm_config *cfg, int agent_fd, int qmp_fd,
			    int tap_fd);

#endif
