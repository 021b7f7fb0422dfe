/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/jail.h"
#include "hypervisor-backends/procstats.h"
#include "hypervisor-backends/settings.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "protocol/agent-proto.h"
#include "qemu-lite/qmp.h"
#include "qemu-lite/qemu-lite.h"
#include "qemu-lite/template.h"
#include "tdx/confidential.h"
#include "tdx/qemu.h"

/* Where the inherited fds sit in the QEMU process: the agent channel (when it is an fd), QMP,
 * one tap per NIC, then a template's restore stream. */
#define QEMU_AGENT_FD 3
#define QEMU_QMP_FD 4
#define QEMU_TAP_FD 5
#define QEMU_MAX_NICS 8
#define QEMU_INCOMING_FD (QEMU_TAP_FD + QEMU_MAX_NICS)
#define QEMU_FD_END (QEMU_INCOMING_FD + 1)

struct hv_vm {
	pid_t pid;
	bool restored;
	unsigned memory_mib;
	int pidfd;
	int qmp_fd;
	bool qmp_ready;
	bool reaped;
	int status;
};

static const struct hv_key qemu_keys[] = {
	HV_KEY_STR(struct qemu_settings, "binary", binary),
	HV_KEY_STR(struct qemu_settings, "microvm_binary", microvm_binary),
	HV_KEY_STR(struct qemu_settings, "binary_x86_64", foreign_binary[RV_ARCH_X86_64]),
	HV_KEY_STR(struct qemu_settings, "binary_aarch64", foreign_binary[RV_ARCH_AARCH64]),
};

static void free_config(void *settings)
{
	if (!settings)
		return;
	hv_settings_clear(qemu_keys, G_N_ELEMENTS(qemu_keys), settings);
	g_free(settings);
}

static int parse_config(const struct hv_config_group *group, void **ret_settings, struct rt_error **err)
{
	struct qemu_settings *s = g_new0(struct qemu_settings, 1);

	s->binary = g_strdup(rv_arch_host() == RV_ARCH_AARCH64 ? "qemu-system-aarch64" : "qemu-system-x86_64");
	s->foreign_binary[RV_ARCH_X86_64] = g_strdup("qemu-system-x86_64");
	s->foreign_binary[RV_ARCH_AARCH64] = g_strdup("qemu-system-aarch64");
	/* Unset: Debian's slim qemu-system-x86_64-microvm has no virtio-9p-device, which the
	 * rootfs share needs, so KVM uses the full binary too. */
	s->microvm_binary = g_strdup("");
	if (hv_settings_apply(qemu_keys, G_N_ELEMENTS(qemu_keys), group, s, err) < 0) {
		free_config(s);
		return -1;
	}
	*ret_settings = s;
	return 0;
}

/* The full QEMU (any accelerator) for guests of @arch on a @host host. */
static const char *full_binary(const struct qemu_settings *s, enum rv_arch host, enum rv_arch arch)
{
	return arch == host ? s->binary : s->foreign_binary[arch];
}

static bool in_path(const char *program)
{
	g_autofree char *found = program && *program ? g_find_program_in_path(program) : NULL;

	return found != NULL;
}

/* The slim microvm build, where one is configured and installed, supports KVM only (and starts
 * faster and smaller): it serves the host's own architecture under KVM. */
static bool use_slim(const struct qemu_settings *s, enum rv_arch host, enum rv_arch arch, enum hv_accel accel)
{
	return arch == host && accel == HV_ACCEL_KVM && in_path(s->microvm_binary);
}

const char *qemu_lite_binary(const struct qemu_settings *s, enum rv_arch arch, enum hv_accel accel)
{
	enum rv_arch host = rv_arch_host();

	return use_slim(s, host, arch, accel) ? s->microvm_binary : full_binary(s, host, arch);
}

/* Debian's package for a guest architecture's QEMU. */
static const char *qemu_package(enum rv_arch arch)
{
	return arch == RV_ARCH_AARCH64 ? "qemu-system-arm" : "qemu-system-x86";
}

static int probe(const void *settings, const struct hv_host_caps *caps, enum rv_arch arch, enum hv_accel want,
		 struct hv_probe_result *ret, struct rt_error **err)
{
	const struct qemu_settings *s = settings;
	const char *binary = full_binary(s, caps->arch, arch);
	bool full = in_path(binary);
	bool native = arch == caps->arch;
	struct hv_probe_result r = { 0 };

	(void)err;
	if (native && want != HV_ACCEL_TCG && caps->kvm_usable &&
	    (full || use_slim(s, caps->arch, arch, HV_ACCEL_KVM))) {
		r.accel = HV_ACCEL_KVM;
		g_snprintf(r.reason, sizeof(r.reason), "KVM: %s", caps->kvm_reason);
		r.usable = true;
	} else if (want == HV_ACCEL_KVM) {
		if (native)
			g_snprintf(r.reason, sizeof(r.reason), "KVM asked for but unusable: %s", caps->kvm_reason);
		else
			g_snprintf(r.reason, sizeof(r.reason), "KVM cannot run %s guests on this %s host",
				   rv_arch_name(arch), rv_arch_name(caps->arch));
	} else if (!full) {
		g_snprintf(r.reason, sizeof(r.reason), "`%s` not found in PATH (apt-get install %s)",
			   binary && *binary ? binary : "qemu-system", qemu_package(arch));
	} else {
		r.accel = HV_ACCEL_TCG;
		if (!native)
			g_snprintf(r.reason, sizeof(r.reason), "TCG software emulation of %s on this %s host",
				   rv_arch_name(arch), rv_arch_name(caps->arch));
		else if (want == HV_ACCEL_TCG)
			g_snprintf(r.reason, sizeof(r.reason), "TCG software emulation, as configured");
		else
			g_snprintf(r.reason, sizeof(r.reason), "TCG software emulation, because %s", caps->kvm_reason);
		r.usable = true;
	}
	*ret = r;
	return 0;
}

/* `runvm check`'s "tcg" line: whether the full QEMU for the host's own guests is installed. */
static void check_report(const void *settings, struct hv_check_sink *sink)
{
	const struct qemu_settings *s = settings;
	g_autofree char *tcg = g_find_program_in_path(s->binary);
	g_autofree char *missing = tcg ? NULL : g_strdup_printf("%s not found", s->binary);

	sink->fact(sink, "tcg", tcg, tcg ? tcg : missing);
}

/* Asks the configured QEMU for the mode's object (`-object help`): a build without it (Debian
 * 12's 7.2 has sev-guest only) fails here, never at launch. */
static bool confidential(const void *settings, enum hv_confidential mode, char *why, size_t n)
{
	const struct qemu_settings *s = settings;
	const char *binary = full_binary(s, rv_arch_host(), rv_arch_host());
	const char *type = cc_qemu_object_type(mode);
	const char *argv[] = { binary, "-nodefaults", "-machine", "none", "-object", "help", NULL };
	g_autofree char *out = NULL;
	g_autoptr(GError) gerr = NULL;
	int status = 0;

	if (rv_arch_host() != RV_ARCH_X86_64) {
		g_snprintf(why, n, "%s guests exist on x86_64 hosts only", cc_mode_name(mode));
		return false;
	}
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
			  NULL, &status, &gerr) ||
	    !g_spawn_check_wait_status(status, &gerr)) {
		g_snprintf(why, n, "cannot ask `%s` for its objects: %s", binary, gerr->message);
		return false;
	}
	if (!cc_qemu_help_lists(out, type)) {
		g_snprintf(why, n, "the configured QEMU `%s` lacks the `%s` object (`-object help`)", binary, type);
		return false;
	}
	return true;
}

/* QEMU option values escape a comma by doubling it. */
static char *opt_escape(const char *s)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (; *s; s++) {
		if (*s == ',')
			g_string_append_c(out, ',');
		g_string_append_c(out, *s);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

#define ADD(...) g_ptr_array_add(argv, g_strdup_printf(__VA_ARGS__))

char **qemu_lite_build_argv(const struct qemu_settings *s, const struct hv_vm_config *cfg, int agent_fd, int qmp_fd,
			    int tap_fd)
{
	struct qemu_argv_opts o = { .agent_fd = agent_fd, .qmp_fd = qmp_fd, .tap_fd = tap_fd, .incoming_fd = -1 };

	return qemu_lite_build_argv_opts(s, cfg, &o);
}

char **qemu_lite_build_argv_opts(const struct qemu_settings *s, const struct hv_vm_config *cfg,
				 const struct qemu_argv_opts *o)
{
	int agent_fd = o->agent_fd, qmp_fd = o->qmp_fd, tap_fd = o->tap_fd;
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	bool kvm = cfg->accel == HV_ACCEL_KVM;
	bool aarch64 = cfg->arch == RV_ARCH_AARCH64;
	const char *base_cmdline = "console=ttyS0 reboot=t noapictimer";
	g_autofree char *kernel = opt_escape(cfg->kernel);
	g_autofree char *initrd = opt_escape(cfg->initrd);
	g_autofree char *tsc = NULL;
	/* A confidential guest: q35 with the guest object, booted through its (measured)
	 * firmware, virtio over PCI with the platform's DMA (tdx/qemu.h). */
	bool cc = cfg->confidential != HV_CONFIDENTIAL_NONE;
	const char *dev = cc ? "pci" : "device", *dev_opts = cc ? CC_QEMU_VIRTIO_OPTS : "";

	ADD("%s", qemu_lite_binary(s, cfg->arch, cfg->accel));
	ADD("-nodefaults");
	ADD("-no-user-config");
	ADD("-display");
	ADD("none");
	/* The agent ends the guest with reboot(2): -no-reboot turns that into QEMU exiting. */
	ADD("-no-reboot");
	/* QEMU's own seccomp filter, on top of runvm's (the jail): no obsolete syscalls, no
	 * setuid, no fork or exec, no scheduler or resource changes. */
	ADD("-sandbox");
	ADD("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	ADD("-M");
	if (cc) {
		ADD("q35%s,memory-backend=ram", cc_qemu_machine_opts(cfg->confidential));
	} else if (aarch64) {
		/* virt: GICv3 (the host's own with KVM), virtio-mmio slots described in its device
		 * tree, a PL011 UART, PSCI for the agent's reboot. */
		ADD(kvm ? "virt,gic-version=host,memory-backend=ram" : "virt,gic-version=3,memory-backend=ram");
	} else {
		/* acpi=off: QEMU then lists the virtio-mmio devices on the kernel command line, which
		 * our ACPI-less kernel needs. Under TCG the PIT and PIC must stay on or the guest
		 * hangs. The RTC stays on: without one the kernel polls the missing CMOS for a full
		 * second at boot. */
		ADD("microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off,memory-backend=ram");
	}
	ADD("-accel");
	/* A small translation cache bounds QEMU's RSS; the guest runs little code. */
	ADD(kvm ? "kvm" : "tcg,tb-size=32");
	ADD("-cpu");
	ADD("%s", cc ? cc_qemu_cpu(cfg->confidential, &cfg->cc) : kvm ? "host" : "max");
	ADD("-smp");
	ADD("%u", cfg->vcpus);
	ADD("-m");
	ADD("%u", cfg->memory_mib);
	/* reserve=off (MAP_NORESERVE): guest RAM is committed as the guest touches it, as with the
	 * kvm backend. Otherwise the kernel's overcommit check refuses a guest bigger than the
	 * host's free memory and swap, though it would touch little of it. */
	ADD("-object");
	ADD("memory-backend-ram,id=ram,size=%uM,reserve=off", cfg->memory_mib);
	if (cc) {
		g_autofree char *firmware = opt_escape(cfg->firmware);

		ADD("-object");
		g_ptr_array_add(argv, cc_qemu_object(cfg->confidential, &cfg->cc));
		/* -bios: TDVF cannot be pflash (a TD has no read-only memory slots); the SEV
		 * firmware, stateless, needs no variable store either. */
		ADD("-bios");
		ADD("%s", firmware);
	} else {
		/* virtio 1.x transport; legacy mmio lacks features later devices (virtio-fs) need. */
		ADD("-global");
		ADD("virtio-mmio.force-legacy=false");
	}
	ADD("-kernel");
	ADD("%s", kernel);
	ADD("-initrd");
	ADD("%s", initrd);
	/* reboot=t: microvm has no keyboard controller, and reboot=k spins ~1.4 s looking for
	 * one before it falls back. noapictimer (TCG, cold boots only): TCG has no TSC-deadline
	 * timer, so the kernel would spend 0.2-0.3 s calibrating the local APIC timer against
	 * the PIT; the PIT serves as the clock event device instead. But the PIT's one-shot
	 * reaches only 27 ms ahead, so an idle guest wakes ~40 times a second, against ~11 with
	 * the APIC timer: a template's guest (made once, restored many times) keeps it. */
	if (aarch64)
		base_cmdline = "console=ttyAMA0";
	else if (kvm || cc || o->template_boot || o->incoming_fd >= 0)
		base_cmdline = "console=ttyS0 reboot=t";
	/* An emulated x86 guest's TSC runs at the host's: told its frequency, the guest needs no
	 * PIT calibration, which fails when the host is busy and leaves it on a jiffies clock. */
	if (!aarch64 && !kvm && cfg->host_tsc_khz)
		tsc = g_strdup_printf(" tsc_early_khz=%u", cfg->host_tsc_khz);
	ADD("-append");
	ADD("%s%s%s%s", base_cmdline, tsc ? tsc : "", cfg->cmdline && *cfg->cmdline ? " " : "",
	    cfg->cmdline ? cfg->cmdline : "");
	if (cfg->console_log) {
		g_autofree char *log = opt_escape(cfg->console_log);

		ADD("-chardev");
		ADD("file,id=console,path=%s,append=on", log);
		ADD("-serial");
		ADD("chardev:console");
	} else {
		ADD("-serial");
		ADD("null");
	}
	for (size_t i = 0; i < cfg->n_shares; i++) {
		g_autofree char *path = opt_escape(cfg->shares[i].host_path);
		g_autofree char *tag = opt_escape(cfg->shares[i].tag);

		/* passthrough: the guest's root creates files as the host's root would, owners
		 * and modes included, as runc's containers do on the same rootfs. */
		ADD("-fsdev");
		ADD("local,id=fs%zu,path=%s,security_model=passthrough%s", i, path,
		    cfg->shares[i].readonly ? ",readonly=on" : "");
		ADD("-device");
		ADD("virtio-9p-%s,fsdev=fs%zu,mount_tag=%s%s", dev, i, tag, dev_opts);
	}
	for (size_t i = 0; i < cfg->n_disks; i++) {
		g_autofree char *path = opt_escape(cfg->disks[i].path);

		ADD("-drive");
		ADD("file=%s,format=raw,if=none,id=disk%zu%s", path, i, cfg->disks[i].readonly ? ",readonly=on" : "");
		ADD("-device");
		ADD("virtio-blk-%s,drive=disk%zu%s", dev, i, dev_opts);
	}
	for (size_t i = 0; i < cfg->n_nics; i++) {
		ADD("-netdev");
		/* A template's NIC is the clone's device with nothing behind it: the netdev is
		 * host state, never part of the snapshot. */
		if (o->template_boot)
			ADD("hubport,id=net%zu,hubid=%zu", i, i);
		else
			ADD("tap,id=net%zu,fd=%d", i, tap_fd + (int)i);
		ADD("-device");
		ADD("virtio-net-%s,netdev=net%zu%s", dev, i, dev_opts);
	}
	ADD("-device");
	ADD("virtio-serial-%s,max_ports=2%s", dev, dev_opts);
	if (cfg->agent.kind == HV_ENDPOINT_PATH) {
		g_autofree char *path = opt_escape(cfg->agent.path);

		ADD("-chardev");
		ADD("socket,id=agent,path=%s", path);
	} else {
		ADD("-chardev");
		ADD("socket,id=agent,fd=%d", agent_fd);
	}
	ADD("-device");
	ADD("virtserialport,chardev=agent,name=" RV_AGENT_PORT_NAME);
	ADD("-chardev");
	ADD("socket,id=qmp,fd=%d", qmp_fd);
	ADD("-mon");
	ADD("chardev=qmp,mode=control");
	/* The template's state, from a pipe: QEMU loads it and runs on where the template was
	 * saved (running, at the agent's HELLO). */
	if (o->incoming_fd >= 0) {
		ADD("-incoming");
		ADD("fd:%d", o->incoming_fd);
	}
	g_ptr_array_add(argv, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}

static void vm_free(struct hv_vm *vm)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	if (vm->qmp_fd >= 0)
		close(vm->qmp_fd);
	g_free(vm);
}

/* An inherited fd and where it is to sit in the QEMU process. */
struct fd_move {
	int fd, target;
};

/* Runs in the child, before exec: only async-signal-safe calls (the jail's included), and
 * _exit on failure with what failed sent up @errpipe (an empty message: the exec). */
static void __attribute__((noreturn)) child_exec(char **argv, const struct hv_jail *jail, int parent_pidfd,
						 struct fd_move *moves, size_t n_moves, int log_fd, int errpipe)
{
	struct pollfd parent = { .fd = parent_pidfd, .events = POLLIN };
	struct hv_jail_failure f = { 0 };
	int end = QEMU_TAP_FD;
	sigset_t all;

	/* Terminal signals are for the runtime, which forwards them to the container; QEMU must
	 * not die of a ^C. */
	setpgid(0, 0);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (hv_jail_enter(jail, &f) < 0)
		goto report;
	/* QEMU must not outlive the runtime that supervises it. After the jail's uid change,
	 * which clears the setting; the parent's pidfd tells whether it died before. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (poll(&parent, 1, 0) != 0)
		_exit(1);

	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* Move the fds above the targets first so that dup2 cannot clobber one with another, the
	 * error pipe included. */
	errpipe = fcntl(errpipe, F_DUPFD_CLOEXEC, QEMU_FD_END);
	if (errpipe < 0)
		_exit(127);
	for (size_t i = 0; i < n_moves; i++)
		if ((moves[i].fd = fcntl(moves[i].fd, F_DUPFD_CLOEXEC, QEMU_FD_END)) < 0)
			goto fail;
	if (log_fd >= 0)
		log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, QEMU_FD_END);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(log_fd >= 0 ? log_fd : devnull, 2) < 0)
		goto fail;
	for (size_t i = 0; i < n_moves; i++) {
		if (dup2(moves[i].fd, moves[i].target) < 0)
			goto fail;
		end = MAX(end, moves[i].target + 1);
	}
	/* Nothing else is inherited; the error pipe stays for exec's failure (CLOEXEC: a
	 * successful exec closes it, which tells the parent). */
	syscall(SYS_close_range, end, errpipe - 1, 0);
	syscall(SYS_close_range, errpipe + 1, ~0U, 0);
	execvp(argv[0], argv);
fail:
	f.err = errno;
report:
	if (write(errpipe, &f, sizeof(f)) < 0) {
		/* nothing more to do */
	}
	_exit(127);
}

/* QEMU's jail (hypervisor-backends/jail.h): exactly the files that its command line names. */
static int describe_jail(const char *binary, const struct hv_vm_config *cfg, struct hv_jail *j, struct rt_error **err)
{
	g_autofree char *program = g_find_program_in_path(binary);
	unsigned data = HV_JAIL_NODEV | HV_JAIL_NOEXEC;

	/* What QEMU keeps of root's capabilities is all for its 9p server. */
	hv_jail_keep_9p(j);
	if (hv_jail_add_system(j, err) < 0 || hv_jail_add(j, cfg->kernel, HV_JAIL_RO | data, err) < 0 ||
	    hv_jail_add(j, cfg->initrd, HV_JAIL_RO | data, err) < 0)
		return -1;
	/* A QEMU outside /usr (runvm.conf's binary=): exec finds it where it is. */
	if (program && g_path_is_absolute(program) && !g_str_has_prefix(program, "/usr/") &&
	    hv_jail_add(j, program, HV_JAIL_RO | HV_JAIL_NODEV, err) < 0)
		return -1;
	if (cfg->accel == HV_ACCEL_KVM && hv_jail_add(j, "/dev/kvm", HV_JAIL_NOEXEC, err) < 0)
		return -1;
	if (cfg->console_log && hv_jail_add(j, cfg->console_log, data, err) < 0)
		return -1;
	if (cfg->agent.kind == HV_ENDPOINT_PATH && hv_jail_add(j, cfg->agent.path, data, err) < 0)
		return -1;
	/* nodev on a share: the guest can create device nodes in it over 9p, and must not
	 * open them through QEMU. A disk may be a block device itself. */
	for (size_t i = 0; i < cfg->n_shares; i++)
		if (hv_jail_add(j, cfg->shares[i].host_path, data | (cfg->shares[i].readonly ? HV_JAIL_RO : 0), err) <
		    0)
			return -1;
	for (size_t i = 0; i < cfg->n_disks; i++)
		if (hv_jail_add(j, cfg->disks[i].path, HV_JAIL_NOEXEC | (cfg->disks[i].readonly ? HV_JAIL_RO : 0),
				err) < 0)
			return -1;
	return hv_jail_finish(j, err);
}

int qemu_lite_spawn(const struct qemu_settings *settings, const struct hv_vm_config *cfg,
		    const struct qemu_spawn_opts *so, struct hv_vm **ret_vm, struct rt_error **err)
{
	struct qemu_argv_opts ao = { .agent_fd = QEMU_AGENT_FD,
				     .qmp_fd = QEMU_QMP_FD,
				     .tap_fd = QEMU_TAP_FD,
				     .incoming_fd = so->incoming_fd >= 0 ? QEMU_INCOMING_FD : -1,
				     .template_boot = so->template_boot };
	g_auto(GStrv) argv = qemu_lite_build_argv_opts(settings, cfg, &ao);
	_cleanup_close_ int qmp_peer = -EBADF, log_fd = -EBADF, parent_pidfd = -EBADF;
	_cleanup_jail_ struct hv_jail jail = { 0 };
	struct fd_move moves[3 + QEMU_MAX_NICS];
	struct hv_jail_failure f = { 0 };
	int qmp[2], errpipe[2], e = 0;
	size_t n_moves = 0;
	struct hv_vm *vm;
	ssize_t n;

	if (cfg->console_log) {
		log_fd = open(cfg->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log_fd < 0)
			return rt_make_error(err, errno, "open `%s`", cfg->console_log);
	}
	if (describe_jail(argv[0], cfg, &jail, err) < 0)
		return rt_error_wrap(err, "jail QEMU");
	parent_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (parent_pidfd < 0)
		return rt_make_error(err, errno, "pidfd_open");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0)
		return rt_make_error(err, errno, "socketpair");
	qmp_peer = qmp[1];
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		close(qmp[0]);
		return rt_make_error(err, errno, "pipe");
	}
	vm = g_new0(struct hv_vm, 1);
	vm->qmp_fd = qmp[0];
	vm->pidfd = -1;
	vm->memory_mib = cfg->memory_mib;
	vm->restored = so->incoming_fd >= 0;
	if (cfg->agent.kind == HV_ENDPOINT_FD)
		moves[n_moves++] = (struct fd_move){ cfg->agent.fd, QEMU_AGENT_FD };
	moves[n_moves++] = (struct fd_move){ qmp_peer, QEMU_QMP_FD };
	for (size_t i = 0; i < cfg->n_nics && !so->template_boot; i++)
		moves[n_moves++] = (struct fd_move){ cfg->nics[i].tap_fd, QEMU_TAP_FD + (int)i };
	if (so->incoming_fd >= 0)
		moves[n_moves++] = (struct fd_move){ so->incoming_fd, QEMU_INCOMING_FD };

	if (rt_log_debug_enabled()) {
		g_autofree char *line = g_strjoinv(" ", argv);

		rt_debug("qemu: %s", line);
	}
	/* fork, with QEMU alone in new mount, pid and ipc namespaces, but for a pid or ipc namespace
	 * that config.json named by path: that one it shares with the monitor. The mount namespace
	 * is always its own (its jail is built there); the others stay the monitor's: the
	 * container's. */
	vm->pid = (pid_t)syscall(SYS_clone,
				 CLONE_NEWNS | ((CLONE_NEWPID | CLONE_NEWIPC) & ~cfg->vmm_shared_namespaces) | SIGCHLD,
				 NULL, NULL, NULL, NULL);
	if (vm->pid < 0) {
		e = errno;
		close(errpipe[0]);
		close(errpipe[1]);
		vm_free(vm);
		return rt_make_error(err, e, "fork QEMU into new namespaces");
	}
	if (vm->pid == 0)
		child_exec(argv, &jail, parent_pidfd, moves, n_moves, log_fd, errpipe[1]);
	close(errpipe[1]);
	do
		n = read(errpipe[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == sizeof(f)) {
		waitpid(vm->pid, NULL, 0);
		vm_free(vm);
		f.what[sizeof(f.what) - 1] = '\0';
		if (*f.what)
			return rt_make_error(err, f.err, "%s", f.what);
		return rt_make_error(err, f.err, "cannot execute `%s`", argv[0]);
	}
	vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
	if (vm->pidfd < 0) {
		e = errno;
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, NULL, 0);
		vm_free(vm);
		return rt_make_error(err, e, "pidfd_open");
	}
	*ret_vm = vm;
	return 0;
}

static int launch(const void *settings, const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err)
{
	struct qemu_spawn_opts cold = { .incoming_fd = -1 };
	int r;

	/* Rather than boot something other than what was asked for. */
	if (cfg->firmware || cfg->confidential != HV_CONFIDENTIAL_NONE)
		return rt_make_error(err, EOPNOTSUPP, "the qemu backend boots plain guests from their kernel only");
	if (cfg->n_nics > QEMU_MAX_NICS)
		return rt_make_error(err, 0, "%zu NICs asked for, the qemu backend takes at most %d", cfg->n_nics,
				     QEMU_MAX_NICS);
	if (cfg->template_dir) {
		r = qemu_template_restore(settings, cfg, ret_vm, err);
		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	return qemu_lite_spawn(settings, cfg, &cold, ret_vm, err);
}

static bool restored(struct hv_vm *vm)
{
	return vm->restored;
}

static int template_make(const void *settings, const struct hv_vm_config *cfg, struct rt_error **err)
{
	return qemu_template_make(settings, cfg, err);
}

static int exit_fd(struct hv_vm *vm)
{
	return vm->pidfd;
}

static int vm_wait(struct hv_vm *vm, int timeout_ms, int *ret_status, struct rt_error **err)
{
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
	int r, st;

	if (!vm->reaped) {
		do
			r = poll(&p, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return rt_make_error(err, errno, "poll");
		if (r == 0)
			return 0;
		if (waitpid(vm->pid, &st, 0) < 0)
			return rt_make_error(err, errno, "waitpid %d", vm->pid);
		vm->reaped = true;
		vm->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	*ret_status = vm->status;
	return 1;
}

static int stop(struct hv_vm *vm, int grace_ms, struct rt_error **err)
{
	int st, r;

	if (vm->reaped)
		return 0;
	/* QEMU exits cleanly on SIGTERM; nothing in the guest needs flushing, since the rootfs
	 * share writes through to the host. */
	kill(vm->pid, SIGTERM);
	r = vm_wait(vm, grace_ms, &st, err);
	if (r != 0)
		return r < 0 ? r : 0;
	kill(vm->pid, SIGKILL);
	return vm_wait(vm, -1, &st, err) < 0 ? -1 : 0;
}

int qemu_lite_qmp(struct hv_vm *vm, const char *json, int pass_fd, JsonNode **ret_return, struct rt_error **err)
{
	if (vm->reaped)
		return rt_make_error(err, ESRCH, "VM has ended");
	if (!vm->qmp_ready) {
		if (qmp_handshake(vm->qmp_fd, err) < 0)
			return -1;
		vm->qmp_ready = true;
	}
	return qmp_command(vm->qmp_fd, json, pass_fd, ret_return, err);
}

static int qmp(struct hv_vm *vm, const char *command, struct rt_error **err)
{
	g_autofree char *json = g_strdup_printf("{\"execute\":\"%s\"}", command);

	return qemu_lite_qmp(vm, json, -1, NULL, err);
}

static int pause_vm(struct hv_vm *vm, struct rt_error **err)
{
	return qmp(vm, "stop", err);
}

static int resume_vm(struct hv_vm *vm, struct rt_error **err)
{
	return qmp(vm, "cont", err);
}

static int stats(struct hv_vm *vm, struct hv_vm_stats *ret, struct rt_error **err)
{
	struct hv_vm_stats st = { .guest_ram_bytes = (unsigned long long)vm->memory_mib << 20 };

	if (vm->reaped)
		return rt_make_error(err, ESRCH, "VM has ended");
	/* QEMU runs alone in its process (no helpers): its cost is the VM's. */
	if (hv_proc_stats(vm->pidfd, &st, err) < 0)
		return -1;
	*ret = st;
	return 0;
}

static void destroy(struct hv_vm *vm)
{
	struct rt_error *err = NULL;

	if (!vm)
		return;
	if (!vm->reaped) {
		kill(vm->pid, SIGKILL);
		if (stop(vm, 0, &err) < 0)
			rt_error_free(&err);
	}
	vm_free(vm);
}

const struct hv_backend_ops hv_qemu_lite_ops = {
	.name = "qemu",
	.features = HV_FEAT_PAUSE | HV_FEAT_TEMPLATE | HV_FEAT_CACHED_ROOTFS,
	/* QEMU under TCG: ~95 MiB measured with an idle 256 MiB guest (translation cache
	 * included), with room for I/O buffers. */
	.host_overhead_mib = 160,
	.parse_config = parse_config,
	.free_config = free_config,
	.probe = probe,
	.confidential = confidential,
	.check_report = check_report,
	.launch = launch,
	.restored = restored,
	.template_make = template_make,
	.exit_fd = exit_fd,
	.wait = vm_wait,
	.stop = stop,
	.pause = pause_vm,
	.resume = resume_vm,
	.stats = stats,
	.destroy = destroy,
};
