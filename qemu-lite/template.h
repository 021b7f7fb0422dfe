/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM templates for the qemu backend (hypervisor-backends/template-store.h: what they are, where
 * they live, how they are checked). A template is the guest saved with QEMU's migration into
 * its `state` file; a container whose VM has the same shape starts by streaming that state
 * into a new QEMU with -incoming, so it skips the kernel's boot and the agent's start.
 *
 * Why a stream and not shared memory: QEMU 7.2 maps a file-backed guest RAM privately only
 * when it may open the file for writing (its readonly= makes the guest's RAM a ROM), and a
 * clone's QEMU, once the guest owns it, could then rewrite the template under every later
 * clone. The stream comes through a pipe from a process of the monitor's, so the jailed QEMU
 * never holds the template's file at all (SECURITY.md).
 */
#ifndef RUNVM_QEMU_TEMPLATE_H
#define RUNVM_QEMU_TEMPLATE_H

#include "hypervisor-backends/backend.h"
#include "qemu-lite/qemu-lite.h"

struct rt_error;

/*
 * Start @cfg's VM from its template, making the template first where there is none (or a
 * corrupt one). Returns 1 with *ret_vm restored, 0 when the caller is to boot cold (why, under
 * --debug), < 0 on an error that a cold boot would meet too.
 */
int qemu_template_restore(const struct qemu_settings *s, const struct hv_vm_config *cfg, struct hv_vm **ret_vm,
			  struct rt_error **err);

/* Make @cfg's template unless a sound one is there: 1 made, 0 there already, < 0 failed. */
int qemu_template_make(const struct qemu_settings *s, const struct hv_vm_config *cfg, struct rt_error **err);

#endif
