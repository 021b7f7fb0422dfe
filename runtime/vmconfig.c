/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "../hypervisor-backends/hostcaps.h"
#include "../hypervisor-backends/registry.h"
#include "../protocol/agent-proto.h"
#include "lib/config.h"
#include "lib/error.h"
#include "lib/spec.h"
#include "vmconfig.h"

int rt_backend_choose(const struct rt_config *config, const struct hv_host_caps *caps, const char *backend_override,
		      const struct hv_backend_ops **ret_ops, struct hv_probe_result *ret_probe, struct rt_error **err)
{
	const char *const binaries[2] = { config->qemu_binary, config->qemu_microvm_binary };

	return hv_backend_select(caps, backend_override ? backend_override : config->backend, config->accel, caps->arch,
				 binaries, ret_ops, ret_probe, err);
}

static int check_file(const char *what, const char *path, const struct rt_config *config, struct rt_error **err)
{
	if (access(path, R_OK) == 0)
		return 0;
	return rt_make_error(err, errno, "guest %s `%s` (build it with `make`, or set %s= in %s)", what, path, what,
			     config->path ? config->path : RT_CONFIG_DEFAULT_PATH);
}

int rt_vm_spec_prepare(const struct rt_config *config, const struct rt_spec *spec, const struct hv_host_caps *caps,
		       const char *backend_override, bool debug, struct rt_vm_spec *ret,
		       const struct hv_backend_ops **ret_ops, struct hv_probe_result *ret_probe, struct rt_error **err)
{
	struct rt_vm_spec vs = { 0 };
	int n;

	if (rt_backend_choose(config, caps, backend_override, ret_ops, ret_probe, err) < 0 ||
	    check_file("kernel", config->kernel, config, err) < 0 || check_file("initrd", config->initrd, config, err) < 0)
		return -1;
	/* quiet: under TCG every console line costs boot time; --debug wants to see them. */
	n = snprintf(vs.cmdline, sizeof(vs.cmdline), "%spanic=-1 %s", debug ? "" : "quiet ", config->kernel_cmdline);
	if (n < 0 || (size_t)n >= sizeof(vs.cmdline))
		return rt_make_error(err, 0, "kernel_cmdline in the configuration is too long");

	*ret = vs;
	ret->shares[0] = (struct hv_share){ .tag = RV_ROOTFS_TAG, .host_path = spec->rootfs, .readonly = spec->rootfs_readonly };
	ret->cfg = (struct hv_vm_config){
		.arch = caps->arch,
		.accel = ret_probe->accel,
		.vcpus = config->vcpus,
		.memory_mib = config->memory_mib,
		.kernel = config->kernel,
		.initrd = config->initrd,
		.cmdline = ret->cmdline,
		.shares = ret->shares,
		.n_shares = 1,
		.agent_fd = -1,
		.binary = ret_probe->binary,
	};
	return 0;
}
