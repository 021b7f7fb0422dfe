/* SPDX-License-Identifier: GPL-2.0-or-later */
/* OCI hooks: run on the host with the container's state on stdin, honouring their timeout. */
#ifndef RUNVM_HOOKS_H
#define RUNVM_HOOKS_H

#include <sys/types.h>

#include "runtime/lib/spec.h"

struct rt_error;

/* Run every hook of @kind in order; the first failure (non-zero exit, a signal, the timeout)
 * stops them and is returned, with what the hook printed. The hooks read runtime-spec's state
 * on stdin: ociVersion, id, @status, @pid (left out when 0), the bundle, and config.json's
 * annotations (left out when there are none), as runc writes it. */
int rt_hooks_run(const struct rt_spec *spec, enum rt_hook_kind kind, const char *id, const char *bundle,
		 const char *status, pid_t pid, struct rt_error **err);

/* In the monitor, before it enters the container's namespaces: keep the runtime's own (ipc,
 * uts, net, mount, cgroup), which runtime-spec names for prestart, createRuntime, poststart
 * and poststop hooks; from then on those hooks enter them before their exec. createContainer
 * and startContainer stay in the monitor's, the container's on the host. */
int rt_hooks_keep_runtime_namespaces(struct rt_error **err);

#endif
