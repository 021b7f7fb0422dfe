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
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "base/cleanup.h"
#include "base/time.h"
#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/jail.h"
#include "hypervisor-backends/procstats.h"
#include "hypervisor-backends/settings.h"
#include "protocol/agent-proto.h"
#include "base/error.h"
#include "base/log.h"
#include "kvm/arch.h"
#include "kvm/kvm-backend.h"
#include "kvm/virtio/virtio.h"
#include "kvm/vmm.h"

struct hv_vm {
	struct vmm *vmm;
	int console_fd;
	int agent_fd;
	unsigned memory_mib;
	uint8_t *thread_bpf; /* the VMM threads' seccomp filter, lent to @vmm */
	size_t thread_bpf_len;
};

static const struct hv_key kvm_keys[] = {
	HV_KEY_BOOL(struct kvm_settings, "huge_pages", huge_pages),
};

static void free_config(void *settings)
{
	g_free(settings);
}

static int parse_config(const struct hv_config_group *group, void **ret_settings, struct rt_error **err)
{
	g_autofree struct kvm_settings *s = g_new0(struct kvm_settings, 1);

	s->huge_pages = true;
	if (hv_settings_apply(kvm_keys, G_N_ELEMENTS(kvm_keys), group, s, err) < 0)
		return -1;
	*ret_settings = g_steal_pointer(&s);
	return 0;
}

static int probe(const void *settings, const struct hv_host_caps *caps, enum rv_arch arch, enum hv_accel want,
		 struct hv_probe_result *ret, struct rt_error **err)
{
	struct hv_probe_result r = { 0 };

	(void)settings;
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
	g_free(vm->thread_bpf);
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	if (vm->agent_fd >= 0)
		close(vm->agent_fd);
	g_free(vm);
}

/* Our own end of the agent channel, valid until destroy: a copy of the caller's fd (the caller
 * closes its own right after launch, as it must for a QEMU), or a connection to the path. */
static int agent_connect(const struct hv_endpoint *ep, int *ret_fd, struct rt_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -EBADF;

	if (ep->kind == HV_ENDPOINT_FD)
		fd = fcntl(ep->fd, F_DUPFD_CLOEXEC, 3);
	else if (strlen(ep->path) >= sizeof(sa.sun_path))
		return rt_make_error(err, ENAMETOOLONG, "agent channel `%s`", ep->path);
	else {
		strcpy(sa.sun_path, ep->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return rt_make_error(err, errno, "connect to the agent channel `%s`", ep->path);
	}
	if (fd < 0)
		return rt_make_error(err, errno, "the agent channel");
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int launch(const void *settings, const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err)
{
	const struct kvm_settings *s = settings;
	struct hv_vm *vm;
	long long t0, t1, t2, t3;

	/* Rather than boot something other than what was asked for. */
	if (cfg->firmware || cfg->confidential != HV_CONFIDENTIAL_NONE)
		return rt_make_error(err, EOPNOTSUPP, "the kvm backend boots plain guests from their kernel only");
	vm = g_new0(struct hv_vm, 1);
	vm->console_fd = vm->agent_fd = -1;
	vm->memory_mib = cfg->memory_mib;
	if (cfg->console_log) {
		vm->console_fd = open(cfg->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (vm->console_fd < 0) {
			rt_make_error(err, errno, "open `%s`", cfg->console_log);
			goto fail;
		}
	}
	if (agent_connect(&cfg->agent, &vm->agent_fd, err) < 0)
		goto fail;
	t0 = rv_now_ms();
	if (vmm_new(cfg->vcpus, cfg->memory_mib, s->huge_pages, vm->console_fd, &vm->vmm, err) < 0)
		goto fail;
	t1 = rv_now_ms();
	/* The platform's arguments first, then the container's; devices announce themselves as
	 * they are added (kvm/arch.h). */
	vmm_cmdline_append(vm->vmm, "%s%s%s", vmm_arch_cmdline(), cfg->cmdline && *cfg->cmdline ? " " : "",
			   cfg->cmdline ? cfg->cmdline : "");
	if (virtio_console_add(vm->vmm, vm->console_fd, RV_AGENT_PORT_NAME, vm->agent_fd, err) < 0) {
		rt_error_wrap(err, "virtio-console");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_shares; i++)
		if (virtio_9p_add(vm->vmm, cfg->shares[i].tag, cfg->shares[i].host_path, cfg->shares[i].readonly, err) <
		    0) {
			rt_error_wrap(err, "virtio-9p `%s`", cfg->shares[i].tag);
			goto fail;
		}
	for (size_t i = 0; i < cfg->n_disks; i++)
		if (virtio_blk_add(vm->vmm, cfg->disks[i].path, cfg->disks[i].readonly, err) < 0) {
			rt_error_wrap(err, "virtio-blk `%s`", cfg->disks[i].path);
			goto fail;
		}
	for (size_t i = 0; i < cfg->n_nics; i++)
		if (virtio_net_add(vm->vmm, cfg->nics[i].tap_fd, err) < 0) {
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
	/* The monitor is the VMM: its vCPU and I/O threads, which run the guest and serve its
	 * devices, take runvm's deny list (exec included) for themselves (SECURITY.md). */
	if (hv_jail_seccomp_bpf(HV_JAIL_DENY_EXEC, &vm->thread_bpf, &vm->thread_bpf_len, err) < 0)
		goto fail;
	vmm_set_thread_filter(vm->vmm, vm->thread_bpf, vm->thread_bpf_len);
	if (vmm_start(vm->vmm, err) < 0)
		goto fail;
	rt_debug(
		"kvm: VM created in %lld ms, devices in %lld ms, kernel and initrd loaded in %lld ms, vCPUs started in %lld ms",
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

/* The VMM's threads run in this process, and nothing else does once `run` or `create` has
 * become the monitor: the process's cost is the VM's, give or take the monitor's own few MB. */
static int stats(struct hv_vm *vm, struct hv_vm_stats *ret, struct rt_error **err)
{
	struct hv_vm_stats st = { .guest_ram_bytes = (unsigned long long)vm->memory_mib << 20 };

	if (vmm_ended(vm->vmm, NULL, NULL))
		return rt_make_error(err, ESRCH, "VM has ended");
	if (hv_proc_stats(getpid(), &st, err) < 0)
		return -1;
	*ret = st;
	return 0;
}

const struct hv_backend_ops hv_kvm_ops = {
	.name = "kvm",
	.features = HV_FEAT_PAUSE,
	/* Measured in the nested test VM: about 6 MB Pss for the VMM beyond guest RAM (vCPU
	 * threads' stacks, virtqueue and 9p buffers, KVM's own structures). 32 MiB keeps a
	 * margin of five for a busier 9p share or more vCPUs, and stays far below QEMU's 160. */
	.host_overhead_mib = 32,
	.parse_config = parse_config,
	.free_config = free_config,
	.probe = probe,
	.launch = launch,
	.exit_fd = exit_fd,
	.wait = vm_wait,
	.stop = stop,
	.pause = pause_vm,
	.resume = resume_vm,
	.stats = stats,
	.destroy = destroy,
};
