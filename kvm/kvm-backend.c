/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The `kvm` backend (hypervisor-backends/backend.h): runvm's own VMM on /dev/kvm. The VM's
 * threads live in the calling process (the monitor), so launch returns with the vCPUs running
 * and there is no child process: "the hypervisor's exit status" is the VMM's own, 0 when the
 * guest rebooted or powered off, 1 when a vCPU failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "base/time.h"
#include "hypervisor-backends/hostcaps.h"
#include "protocol/agent-proto.h"
#include "base/error.h"
#include "base/log.h"
#include "kvm/kvm-backend.h"
#include "kvm/virtio/virtio.h"
#include "kvm/vmm.h"

struct hv_vm {
	struct vmm *vmm;
	int console_fd;
	int agent_fd;
};

static int probe(const struct hv_host_caps *caps, enum rv_arch arch, enum hv_accel want,
		 const char *const binaries[2], struct hv_probe_result *ret, struct rt_error **err)
{
	struct hv_probe_result r = { 0 };

	(void)binaries;
	(void)err;
	if (arch != caps->arch)
		g_snprintf(r.reason, sizeof(r.reason), "KVM cannot run %s guests on this %s host", rv_arch_name(arch),
			   rv_arch_name(caps->arch));
	else if (arch != RV_ARCH_X86_64)
		g_snprintf(r.reason, sizeof(r.reason), "runvm's own VMM has no %s port yet", rv_arch_name(arch));
	else if (want == HV_ACCEL_TCG)
		g_snprintf(r.reason, sizeof(r.reason), "runvm's own VMM runs on KVM only, and TCG was asked for");
	else if (!caps->kvm_usable)
		g_snprintf(r.reason, sizeof(r.reason), "%s", caps->kvm_reason);
	else {
		r.usable = true;
		r.accel = HV_ACCEL_KVM;
		g_snprintf(r.reason, sizeof(r.reason), "runvm's own VMM: %s", caps->kvm_reason);
	}
	*ret = r;
	return 0;
}

static void destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	/* Devices are gone before the fds they were given. */
	vm->vmm = vmm_free(vm->vmm);
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	if (vm->agent_fd >= 0)
		close(vm->agent_fd);
	g_free(vm);
}

static int launch(const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err)
{
	struct hv_vm *vm = g_new0(struct hv_vm, 1);
	long long t0, t1, t2, t3;

	vm->console_fd = vm->agent_fd = -1;
	if (cfg->console_log) {
		vm->console_fd = open(cfg->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (vm->console_fd < 0) {
			rt_make_error(err, errno, "open `%s`", cfg->console_log);
			goto fail;
		}
	}
	/* The caller closes its copy of this end right after launch (it would keep the channel
	 * open after a QEMU has gone): the device gets one of its own, valid until destroy. */
	vm->agent_fd = fcntl(cfg->agent_fd, F_DUPFD_CLOEXEC, 3);
	if (vm->agent_fd < 0) {
		rt_make_error(err, errno, "dup the agent channel");
		goto fail;
	}
	t0 = rv_now_ms();
	if (vmm_new(cfg->vcpus, cfg->memory_mib, cfg->huge_pages, vm->console_fd, &vm->vmm, err) < 0)
		goto fail;
	t1 = rv_now_ms();
	/* reboot=t: no keyboard controller to wait for; the triple fault ends the VM at once
	 * (KVM_EXIT_SHUTDOWN). Devices append their virtio_mmio.device= as they are added. */
	vmm_cmdline_append(vm->vmm, "console=ttyS0 reboot=t%s%s", cfg->cmdline && *cfg->cmdline ? " " : "",
			   cfg->cmdline ? cfg->cmdline : "");
	if (virtio_console_add(vm->vmm, vm->console_fd, RV_AGENT_PORT_NAME, vm->agent_fd, err) < 0) {
		rt_error_wrap(err, "virtio-console");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_shares; i++)
		if (virtio_9p_add(vm->vmm, cfg->shares[i].tag, cfg->shares[i].host_path, cfg->shares[i].readonly, err) < 0) {
			rt_error_wrap(err, "virtio-9p `%s`", cfg->shares[i].tag);
			goto fail;
		}
	if (cfg->nic && virtio_net_add(vm->vmm, cfg->tap_fd, err) < 0) {
		rt_error_wrap(err, "virtio-net");
		goto fail;
	}
	if (virtio_rng_add(vm->vmm, err) < 0) {
		rt_error_wrap(err, "virtio-rng");
		goto fail;
	}
	t2 = rv_now_ms();
	if (vmm_load_kernel(vm->vmm, cfg->kernel, cfg->initrd, err) < 0)
		goto fail;
	t3 = rv_now_ms();
	if (vmm_start(vm->vmm, err) < 0)
		goto fail;
	rt_debug("kvm: VM created in %lld ms, devices in %lld ms, kernel and initrd loaded in %lld ms, vCPUs started in %lld ms",
		 t1 - t0, t2 - t1, t3 - t2, rv_now_ms() - t3);
	*ret_vm = vm;
	return 0;
fail:
	destroy(vm);
	return -1;
}

static int exit_fd(struct hv_vm *vm)
{
	return vmm_exit_fd(vm->vmm);
}

static int vm_wait(struct hv_vm *vm, int timeout_ms, int *ret_status, struct rt_error **err)
{
	long long deadline = rv_now_ms() + MAX(timeout_ms, 0);
	int status;

	while (!vmm_ended(vm->vmm, &status, NULL)) {
		struct pollfd p = { .fd = vmm_exit_fd(vm->vmm), .events = POLLIN };
		long long left = deadline - rv_now_ms();

		if (timeout_ms >= 0 && left <= 0)
			return 0;
		if (poll(&p, 1, timeout_ms < 0 ? -1 : (int)left) < 0 && errno != EINTR)
			return rt_make_error(err, errno, "poll");
	}
	*ret_status = status;
	return 1;
}

static int stop(struct hv_vm *vm, int grace_ms, struct rt_error **err)
{
	(void)err;
	/* No ACPI power button to press politely: like QEMU on SIGTERM, the VM ends at once. */
	(void)grace_ms;
	vmm_stop(vm->vmm);
	return 0;
}

static int pause_vm(struct hv_vm *vm, struct rt_error **err)
{
	return vmm_pause(vm->vmm, err);
}

static int resume_vm(struct hv_vm *vm, struct rt_error **err)
{
	return vmm_resume(vm->vmm, err);
}

const struct hv_backend_ops hv_kvm_ops = {
	.name = "kvm",
	.probe = probe,
	.launch = launch,
	.exit_fd = exit_fd,
	.wait = vm_wait,
	.stop = stop,
	.pause = pause_vm,
	.resume = resume_vm,
	.destroy = destroy,
};
