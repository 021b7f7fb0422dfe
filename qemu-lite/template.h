/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM templates for the qemu backend. A template is a guest booted once to its agent's HELLO,
 * before anything of a container is known (its shares point at an empty directory, its NICs at
 * nothing), then saved with QEMU's migration into a state file. A container whose VM has the
 * same shape starts by streaming that state into a new QEMU with -incoming, so it skips the
 * kernel's boot and the agent's start.
 *
 * Layout, in hv_vm_config.template_dir: qemu-KEY/{state,meta.json}, qemu-KEY.lock (held while
 * one is made) and empty/ (the template boot's shares). KEY hashes everything that shapes the
 * guest: the template boot's QEMU command line (architecture, accelerator, vCPUs, memory,
 * kernel command line, device set) and the identity (device, inode, size, times) of the QEMU
 * binary, the kernel and the initrd, so that changing any of them makes a new template.
 * meta.json holds the state's size and SHA-256: a template whose state does not match is
 * discarded and made again, never restored.
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

/* The template key of @cfg's shape (32 hex digits, g_free), or NULL with *ret_why (static
 * text) when this VM cannot have a template. */
char *qemu_template_key(const struct qemu_settings *s, const struct hv_vm_config *cfg, const char **ret_why);

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
