/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/registry.h"
#include "protocol/agent-proto.h"
#include "runtime/lib/config.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/arch.h"
#include "runtime/blockroot.h"
#include "runtime/vmconfig.h"
#include "tdx/confidential.h"

void rt_guest_files(const struct rt_config *config, const struct hv_host_caps *caps, enum rv_arch arch,
		    const char **ret_kernel, const char **ret_initrd)
{
	*ret_kernel = arch == caps->arch ? config->kernel : config->foreign_kernel[arch];
	*ret_initrd = arch == caps->arch ? config->initrd : config->foreign_initrd[arch];
}

int rt_backend_choose(const struct rt_config *config, const struct hv_host_caps *caps, enum rv_arch arch,
		      const char *backend_override, const struct hv_backend_ops **ret_ops,
		      struct hv_probe_result *ret_probe, struct rt_error **err)
{
	return hv_backend_select(caps, backend_override ? backend_override : config->backend, config->accel, arch,
				 config->backend_settings, ret_ops, ret_probe, err);
}

static int check_file(const char *what, enum rv_arch arch, bool foreign, const char *path,
		      const struct rt_config *config, struct rt_error **err)
{
	if (access(path, R_OK) == 0)
		return 0;
	return rt_make_error(err, errno, "%s guest %s `%s` (build it with `make`, or set %s%s%s= in %s)",
			     rv_arch_name(arch), what, path, what, foreign ? "_" : "",
			     foreign ? rv_arch_name(arch) : "", config->path ? config->path : RT_CONFIG_DEFAULT_PATH);
}

/*
 * The container's confidential mode: the configuration's, or the annotation's where the
 * configuration says none (a container may ask for more protection, never for less or another
 * kind), auto resolved to the strongest the host offers. Refused, before anything starts, where
 * the host, the backend's hypervisor or the firmware cannot give it: never a downgrade.
 */
static int confidential_mode(const struct rt_config *config, const struct rt_spec *spec,
			     const struct hv_host_caps *caps, const struct hv_backend_ops *ops, enum hv_accel accel,
			     enum hv_confidential *ret, struct rt_error **err)
{
	const char *conf = config->path ? config->path : RT_CONFIG_DEFAULT_PATH;
	const char *asked = config->confidential;
	enum hv_confidential mode;
	char why[256];

	if (spec->confidential) {
		if (cc_mode_parse(spec->confidential, &mode) < 0)
			return rt_make_error(
				err, 0,
				"config.json: annotation `io.runvm.confidential` must be none, sev, sev-snp, tdx or auto, "
				"not `%s`",
				spec->confidential);
		if (strcmp(config->confidential, "none") != 0 && strcmp(spec->confidential, config->confidential) != 0)
			return rt_make_error(
				err, 0,
				"config.json: annotation `io.runvm.confidential` (`%s`) differs from confidential "
				"= %s in [runvm] of %s: a container cannot change its configured protection",
				spec->confidential, config->confidential, conf);
		asked = spec->confidential;
	}
	if (cc_mode_parse(asked, &mode) < 0)
		return rt_make_error(err, 0, "confidential mode `%s` is unknown", asked);
	if (mode == _HV_CONFIDENTIAL_MAX) {
		mode = cc_host_best(&caps->cc);
		if (mode == HV_CONFIDENTIAL_NONE) {
			char snp[256], tdx[256];

			cc_host_offers(&caps->cc, HV_CONFIDENTIAL_SEV_SNP, snp, sizeof(snp));
			cc_host_offers(&caps->cc, HV_CONFIDENTIAL_TDX, tdx, sizeof(tdx));
			cc_host_offers(&caps->cc, HV_CONFIDENTIAL_SEV, why, sizeof(why));
			return rt_make_error(
				err, 0,
				"confidential guest (auto): this host offers none: tdx: %s; sev-snp: %s; sev: %s", tdx,
				snp, why);
		}
		rt_debug("confidential: auto is %s here", cc_mode_name(mode));
	}
	*ret = mode;
	if (mode == HV_CONFIDENTIAL_NONE)
		return 0;
	if (!cc_host_offers(&caps->cc, mode, why, sizeof(why)))
		return rt_make_error(err, 0, "confidential guest `%s`: %s", cc_mode_name(mode), why);
	if (accel != HV_ACCEL_KVM)
		return rt_make_error(err, 0, "confidential guest `%s`: needs KVM, and the %s backend would use %s here",
				     cc_mode_name(mode), ops->name, hv_accel_name(accel));
	if (!ops->confidential)
		return rt_make_error(err, 0,
				     "confidential guest `%s`: the %s backend launches none (its README says what it "
				     "would take); use --backend qemu or libvirt",
				     cc_mode_name(mode), ops->name);
	if (!ops->confidential(rt_config_backend_settings(config, ops), mode, why, sizeof(why)))
		return rt_make_error(err, 0, "confidential guest `%s`: %s", cc_mode_name(mode), why);
	if (access(config->firmware[mode], R_OK) < 0) {
		g_autofree char *key = g_strdelimit(g_strdup(cc_mode_name(mode)), "-", '_');

		return rt_make_error(err, errno,
				     "confidential guest `%s`: firmware `%s` (set firmware_%s in [runvm] of %s)",
				     cc_mode_name(mode), config->firmware[mode], key, conf);
	}
	/* Its rootfs would be the verified block image (rootfs = block), never a host-shared file
	 * system; what is missing is a guest kernel that boots through the firmware: tdx/README.md. */
	return rt_make_error(
		err, 0,
		"confidential guest `%s`: runvm's guest kernel cannot run as one yet (no EFI stub, no SEV or "
		"TDX guest support): refused rather than run as an ordinary VM",
		cc_mode_name(mode));
}

/* rootfs = block: the bundle's rootfs as its verified image (built or from the cache), the
 * VM's first disk, read-only; its verity parameters on the kernel command line, which a
 * confidential guest's launch measures (guest/agent/verity.c reads them there). */
static int block_rootfs(const struct rt_config *config, const struct rt_spec *spec, enum rv_arch arch,
			struct rt_vm_spec *vs, struct rt_error **err)
{
	struct rt_block_rootfs b = { 0 };
	size_t len = strlen(vs->cmdline);
	int n;

	/* configs/kernel-x86_64.config has dm-verity; the arm64 kernel does not yet. */
	if (arch != RV_ARCH_X86_64)
		return rt_make_error(err, 0, "rootfs = block: the %s guest kernel has no dm-verity yet (x86_64 only)",
				     rv_arch_name(arch));
	if (rt_block_rootfs_get(config->rootfs_cache, spec->rootfs, &b, err) < 0)
		return -1;
	n = snprintf(vs->cmdline + len, sizeof(vs->cmdline) - len, " runvm.verity=%s,%s,%" PRIu64, b.roothash, b.salt,
		     b.data_blocks);
	if (n < 0 || (size_t)n >= sizeof(vs->cmdline) - len ||
	    g_strlcpy(vs->block_image, b.image, sizeof(vs->block_image)) >= sizeof(vs->block_image)) {
		rt_block_rootfs_clear(&b);
		return rt_make_error(err, 0, "rootfs = block: the kernel command line or the image's path is too long");
	}
	rt_block_rootfs_clear(&b);
	vs->block_rootfs = true;
	return 0;
}

/* The container's limits size the VM; without them the configuration's defaults apply. A
 * limit too large for a VM (near 2^63 bytes it would wrap) is refused, never wrapped. */
static int size_vm(const struct rt_config *config, const struct rt_spec *spec, unsigned *ret_mib, unsigned *ret_vcpus,
		   struct rt_error **err)
{
	uint64_t limit = spec->memory_limit > 0 ? (uint64_t)spec->memory_limit : 0;
	uint64_t mib = (limit >> 20) + ((limit & ((1u << 20) - 1)) != 0);
	uint64_t quota = spec->cpu_quota > 0 ? (uint64_t)spec->cpu_quota : 0;

	if (mib > RT_GUEST_MEM_MAX_MIB - RT_GUEST_MEM_OVERHEAD_MIB)
		return rt_make_error(err, 0,
				     "config.json: `linux.resources.memory.limit` of %" PRIu64
				     " bytes is more than a VM can have (%u MiB)",
				     limit, RT_GUEST_MEM_MAX_MIB - RT_GUEST_MEM_OVERHEAD_MIB);
	*ret_mib = mib ? MAX(64u, (unsigned)mib + RT_GUEST_MEM_OVERHEAD_MIB) : config->memory_mib;
	*ret_vcpus = config->vcpus;
	if (quota > 0 && spec->cpu_period > 0)
		*ret_vcpus = (unsigned)MIN(quota / spec->cpu_period + (quota % spec->cpu_period != 0), 64u);
	else if (spec->cpuset_count)
		*ret_vcpus = spec->cpuset_count;
	/* The guest kernel's CONFIG_NR_CPUS. */
	*ret_vcpus = CLAMP(*ret_vcpus, 1u, 64u);
	return 0;
}

int rt_vm_spec_prepare(const struct rt_config *config, const struct rt_spec *spec, const struct hv_host_caps *caps,
		       const char *backend_override, bool debug, struct rt_vm_spec *ret,
		       const struct hv_backend_ops **ret_ops, struct hv_probe_result *ret_probe, struct rt_error **err)
{
	struct rt_vm_spec vs = { 0 };
	const char *kernel, *initrd, *why;
	enum rv_arch arch;
	int n;

	if (rt_guest_arch(config, spec, &arch, &why, err) < 0)
		return -1;
	rt_debug("%s guest, from %s", rv_arch_name(arch), why);
	rt_guest_files(config, caps, arch, &kernel, &initrd);
	/* The command line's --backend, else the container's annotation (where the configuration
	 * lets it choose), else the configuration's. */
	if (spec->backend && !backend_override) {
		if (!config->backend_annotation)
			return rt_make_error(
				err, 0,
				"config.json: annotation `io.runvm.backend` (`%s`) is not allowed here: set "
				"backend_annotation = true in [runvm] of %s",
				spec->backend, config->path ? config->path : RT_CONFIG_DEFAULT_PATH);
		backend_override = spec->backend;
	}
	if (rt_backend_choose(config, caps, arch, backend_override, ret_ops, ret_probe, err) < 0 ||
	    check_file("kernel", arch, arch != caps->arch, kernel, config, err) < 0 ||
	    check_file("initrd", arch, arch != caps->arch, initrd, config, err) < 0)
		return -1;
	if (confidential_mode(config, spec, caps, *ret_ops, ret_probe->accel, &vs.cfg.confidential, err) < 0)
		return -1;
	/* quiet: under TCG every console line costs boot time; --debug wants to see them. */
	n = snprintf(vs.cmdline, sizeof(vs.cmdline), "%spanic=-1 %s", debug ? "" : "quiet ", config->kernel_cmdline);
	if (n < 0 || (size_t)n >= sizeof(vs.cmdline))
		return rt_make_error(err, 0, "kernel_cmdline in the configuration is too long");
	if (strcmp(config->rootfs, "block") == 0 && block_rootfs(config, spec, arch, &vs, err) < 0)
		return -1;

	*ret = vs;
	ret->disk = (struct hv_disk){ .path = ret->block_image, .readonly = true };
	ret->shares[0] = (struct hv_share){ .tag = RV_ROOTFS_TAG,
					    .host_path = spec->rootfs,
					    .readonly = spec->rootfs_readonly };
	ret->cfg = (struct hv_vm_config){
		.arch = arch,
		.accel = ret_probe->accel,
		.kernel = kernel,
		.initrd = initrd,
		.cmdline = ret->cmdline,
		/* The block rootfs is a disk: no rootfs share then (the bind mounts' may follow). */
		.shares = ret->shares + ret->block_rootfs,
		.n_shares = !ret->block_rootfs,
		.disks = ret->block_rootfs ? &ret->disk : NULL,
		.n_disks = ret->block_rootfs,
		.agent = { .kind = HV_ENDPOINT_FD, .fd = -1 },
		.confidential = vs.cfg.confidential,
		.host_tsc_khz = caps->tsc_khz,
	};
	if (!config->template)
		rt_debug("template: off in the configuration: booting cold");
	else if (ret->cfg.confidential != HV_CONFIDENTIAL_NONE)
		/* A clone would share the template's memory and measurement: none for them. */
		rt_debug("template: none for a confidential guest: booting cold");
	else if (ret->block_rootfs)
		rt_debug("template: none for a block rootfs (a VM with a disk): booting cold");
	else if (!((*ret_ops)->features & HV_FEAT_TEMPLATE))
		rt_debug("template: the %s backend has none: booting cold", (*ret_ops)->name);
	else
		ret->cfg.template_dir = config->template_dir;
	ret->cfg.template_timeout_ms = config->boot_timeout_s * 1000;
	return size_vm(config, spec, &ret->cfg.memory_mib, &ret->cfg.vcpus, err);
}
