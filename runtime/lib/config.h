/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The runvm configuration file (GKeyFile). Looked up at --config FILE, else $RUNVM_CONFIG, else
 * /etc/runvm/runvm.conf; a missing default file means built-in defaults, a missing file named
 * by --config or $RUNVM_CONFIG is an error. configs/runvm.conf documents every key.
 */
#ifndef RUNVM_CONFIG_H
#define RUNVM_CONFIG_H

#include <stdbool.h>

#include "base/arch.h"

struct rt_error;
struct hv_backend_ops;

/* enum hv_confidential's count (backend.h), without its header here. */
#define _RT_CONFIDENTIAL_MODES 4

struct rt_config {
	char *path;    /* file it came from, or NULL for built-in defaults */
	char *backend; /* "auto" or a backend name */
	char *accel;   /* "auto", "kvm" or "tcg" */
	char *arch;    /* guest architecture: "auto" (from the container's program) or a name */
	char *kernel;  /* guest kernel and initramfs for the host's architecture */
	char *initrd;
	/* ...and for foreign architectures' guests (TCG), by enum rv_arch */
	char *foreign_kernel[_RV_ARCH_MAX];
	char *foreign_initrd[_RV_ARCH_MAX];
	char *kernel_cmdline; /* appended to the backend's command line */
	unsigned vcpus;
	unsigned memory_mib;
	unsigned boot_timeout_s;
	bool template; /* start VMs from templates where the backend can */
	/* config.json's annotation io.runvm.backend may choose the backend (off: it is refused) */
	bool backend_annotation;
	char *template_dir; /* where the backends keep them */
	/* The guests' confidential mode: none, sev, sev-snp, tdx or auto (tdx/confidential.h), and
	 * each technology's firmware (direct kernel boot through it, measured) */
	char *confidential;
	/* How the guest gets its rootfs: "share" (9p or virtio-fs, live both ways) or "block" (a
	 * read-only erofs image under dm-verity, writes kept in the guest: runtime/blockroot.h),
	 * and where the block images are cached */
	char *rootfs;
	char *rootfs_cache;
	char *firmware[_RT_CONFIDENTIAL_MODES];
	/* Each backend's settings from its own group (named after it), parallel to hv_backends[]:
	 * opaque here, read by the backend alone. */
	void **backend_settings;
};

#define RT_CONFIG_DEFAULT_PATH "/etc/runvm/runvm.conf"
#define RT_TEMPLATE_DIR_DEFAULT "/var/cache/runvm/templates"

int rt_config_load(struct rt_config **ret, struct rt_error **err);
/* The file rt_config_load reads from now on, over $RUNVM_CONFIG (the global --config); NULL:
 * back to $RUNVM_CONFIG and the default. @path must outlive the loads. */
void rt_config_set_path(const char *path);
/* Parse a configuration held in memory (@origin names it in errors). */
int rt_config_parse(const char *data, const char *origin, struct rt_config **ret, struct rt_error **err);
void rt_config_free(struct rt_config *c);
/* The settings @ops parsed from its group, for its probe and launch. */
const void *rt_config_backend_settings(const struct rt_config *c, const struct hv_backend_ops *ops);

#endif
