/* SPDX-License-Identifier: GPL-2.0-or-later */
/* From a bundle's spec and the runvm configuration to a backend and its plain-data VM config. */
#ifndef RUNVM_VMCONFIG_H
#define RUNVM_VMCONFIG_H

#include <stdbool.h>

#include "hypervisor-backends/backend.h"

struct rt_config;
struct rt_spec;
struct hv_host_caps;

/* What the guest kernel and agent keep for themselves: a guest given limit + this shows about
 * `limit` as MemTotal (measured: 256 MiB of RAM show as 242 MiB). */
#define RT_GUEST_MEM_OVERHEAD_MIB 16
/* The most guest RAM runvm gives a VM (as memory_mib in the configuration allows). */
#define RT_GUEST_MEM_MAX_MIB (1u << 20)

struct rt_vm_spec {
	struct hv_vm_config cfg;   /* points into the members below and into the spec/config */
	struct hv_share shares[2]; /* the rootfs, and the bind-mount sources (RV_MOUNTS_TAG) if any */
	struct hv_nic nic;
	char cmdline[1024];
	/* rootfs = block: the image, the VM's first disk (the rootfs share is then not given) */
	bool block_rootfs;
	struct hv_disk disk;
	char block_image[4096];
};

/* Pick the backend (@backend_override, else the configuration), check the guest kernel and
 * initrd, and fill @ret. @ret must not be copied afterwards (cfg points into it). */
int rt_vm_spec_prepare(const struct rt_config *config, const struct rt_spec *spec, const struct hv_host_caps *caps,
		       const char *backend_override, bool debug, struct rt_vm_spec *ret,
		       const struct hv_backend_ops **ret_ops, struct hv_probe_result *ret_probe, struct rt_error **err);

/* The backend and accelerator for a guest of @arch, without a bundle (for `runvm check`). */
int rt_backend_choose(const struct rt_config *config, const struct hv_host_caps *caps, enum rv_arch arch,
		      const char *backend_override, const struct hv_backend_ops **ret_ops,
		      struct hv_probe_result *ret_probe, struct rt_error **err);
/* The guest kernel and initrd for a guest of @arch: the plain keys for the host's
 * architecture, the _ARCH ones for a foreign one. */
void rt_guest_files(const struct rt_config *config, const struct hv_host_caps *caps, enum rv_arch arch,
		    const char **ret_kernel, const char **ret_initrd);

#endif
