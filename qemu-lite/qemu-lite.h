/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QEMU backend: QEMU microvm (x86_64) or virt (aarch64), with KVM where it works and TCG
 * elsewhere. It only builds command lines and drives QEMU over QMP; all emulation is QEMU's. */
#ifndef RUNVM_QEMU_LITE_H
#define RUNVM_QEMU_LITE_H

#include <stdbool.h>

#include <json-glib/json-glib.h>

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

/* The same with every choice: where the fds sit, a template's own boot (NICs with no host
 * backend), a restore stream at @incoming_fd (-1: none). */
struct qemu_argv_opts {
	int agent_fd, qmp_fd, tap_fd, incoming_fd;
	bool template_boot;
};
char **qemu_lite_build_argv_opts(const struct qemu_settings *s, const struct hv_vm_config *cfg,
				 const struct qemu_argv_opts *o);

/* How qemu_lite_spawn starts QEMU: cold, as a template's boot, or restoring a template from
 * @incoming_fd (the caller keeps it). */
struct qemu_spawn_opts {
	bool template_boot;
	int incoming_fd;
};
/* Start QEMU for @cfg in its jail (backend.h's launch, without the template lookup). */
int qemu_lite_spawn(const struct qemu_settings *settings, const struct hv_vm_config *cfg,
		    const struct qemu_spawn_opts *so, struct hv_vm **ret_vm, struct rt_error **err);
/* Run one QMP command (qmp_command()) on @vm's monitor, after the handshake the first time. */
int qemu_lite_qmp(struct hv_vm *vm, const char *json, int pass_fd, JsonNode **ret_return, struct rt_error **err);

#endif
