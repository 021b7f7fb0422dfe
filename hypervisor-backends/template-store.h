/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM templates, the part every backend shares (hypervisor-backends/template-store.c): the
 * cache directory, keys, locks, meta.json, the checks that keep a corrupt or stale template
 * from ever being restored, and the make-or-restore sequence. A backend brings what differs:
 * how its template VM boots and is saved, and how a clone is restored (qemu-lite/template.c,
 * kvm/template.c).
 *
 * A template is a guest booted once to its agent's HELLO, before anything of a container is
 * known (its shares point at an empty directory, its NICs at nothing), then saved. Layout, in
 * hv_vm_config.template_dir: BACKEND-KEY/{state,memory,meta.json,console.log}, BACKEND-KEY.lock
 * (held while one is made), .BACKEND-KEY.build (one being made) and empty/ (the template
 * boot's shares). KEY hashes everything that shapes the guest (the backend's description of
 * the VM: architecture, accelerator, vCPUs, memory, kernel command line, device set) and the
 * identity (device, inode, size, times) of the hypervisor binary, the kernel and the initrd,
 * so that changing any of them makes a new template.
 *
 * meta.json holds the state's size and SHA-256, and where the backend keeps the guest's RAM in
 * a file of its own (`memory`, mapped copy-on-write by each clone: too large to hash at every
 * start), that file's size and identity: a template whose files do not match is discarded and
 * made again, never restored.
 */
#ifndef RUNVM_TEMPLATE_STORE_H
#define RUNVM_TEMPLATE_STORE_H

#include <stddef.h>

#include "hypervisor-backends/backend.h"

struct rt_error;

/* A sound template's files: its state mapped (munmap), the SHA-256 meta.json gives it, and its
 * memory file open read-only (or -1 where the backend keeps none). hv_template_files_release()
 * frees both. */
struct hv_template_files {
	void *state;
	size_t state_len;
	char state_sha256[65];
	int memory_fd;
};

void hv_template_files_release(struct hv_template_files *f);

struct hv_template_backend {
	const char *name;                 /* "qemu", "kvm": the templates' directories are NAME-KEY */
	const struct hv_backend_ops *ops; /* its exit_fd and destroy, for the template's VM */
	/* Boot @t (hv_template_store's template shape of the VM: its shares at an empty
	 * directory, NICs at no host backend, console in @build, agent channel on an fd) so that
	 * it can be saved into @build. */
	int (*boot)(const void *ctx, const struct hv_vm_config *t, const char *build, struct hv_vm **ret_vm,
		    struct rt_error **err);
	/* Save the booted template, whose agent has said HELLO, into @build: `state` (and
	 * `memory`, if the backend keeps the RAM apart), complete and written out on return.
	 * The VM may be left ended. */
	int (*save)(const void *ctx, struct hv_vm *vm, const char *build, long long deadline, struct rt_error **err);
	/* Start @cfg's VM from @f: 1 restored, 0 when the state turned out corrupt (nothing is
	 * left running; the store discards the template), < 0 on an error. */
	int (*restore)(const void *ctx, const struct hv_vm_config *cfg, const char *key,
		       const struct hv_template_files *f, struct hv_vm **ret_vm, struct rt_error **err);
};

/* What a backend's key covers: @shape, its description of @cfg's template VM with
 * placeholder paths (NULL-terminated strings, a command line say), and @hypervisor, the
 * binary whose file identity counts (QEMU; runvm itself for its own VMM). */
struct hv_template_shape {
	const char *const *shape;
	const char *hypervisor;
};

/* @cfg's template VM: @cfg with its shares at @empty (read-only), NICs at nothing (tap_fd -1),
 * console at @console and agent channel on @agent_fd. @shares and @nics have cfg->n_shares and
 * cfg->n_nics slots. */
struct hv_vm_config hv_template_config(const struct hv_vm_config *cfg, const char *empty, const char *console,
				       int agent_fd, struct hv_share *shares, struct hv_nic *nics);

/* The key of @cfg's shape (32 hex digits, g_free), or NULL with *ret_why (static text) when
 * this VM cannot have a template (disks, firmware, confidential). */
char *hv_template_key(const struct hv_template_backend *b, const struct hv_template_shape *s,
		      const struct hv_vm_config *cfg, const char **ret_why);

/* Make @cfg's template unless a sound one is there: 1 made, 0 there already, < 0 failed (a VM
 * without cfg->template_dir cannot have one). */
int hv_template_make(const struct hv_template_backend *b, const void *ctx, const struct hv_template_shape *s,
		     const struct hv_vm_config *cfg, struct rt_error **err);

/* Start @cfg's VM from its template, making the template first where there is none (or a
 * corrupt one). 1 with *ret_vm restored, 0 when the caller is to boot cold (why, under
 * --debug), < 0 on an error that a cold boot would meet too. */
int hv_template_restore(const struct hv_template_backend *b, const void *ctx, const struct hv_template_shape *s,
			const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err);

#endif
