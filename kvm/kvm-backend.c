/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The `kvm` backend (hypervisor-backends/backend.h): runvm's own VMM on /dev/kvm, in a jailed
 * process of its own (below). "The hypervisor's exit status" is that process's: 0 when the
 * guest rebooted or powered off, 1 when a vCPU failed or setup did, 128 + N when signal N
 * ended it (the seccomp filter's SIGSYS among them).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
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
#include "kvm/template.h"
#include "kvm/virtio/virtio.h"
#include "kvm/vmm.h"

/*
 * The VMM process (Firecracker's model): launch forks it, in new mount, pid and ipc namespaces
 * (pid and ipc: unless config.json names the container's by path, hv_vm_config);
 * it opens what the VM needs (/dev/kvm, the kernel, the shares' directories, the console log)
 * with the monitor's privileges, then enters a jail (hypervisor-backends/jail.h) whose root is
 * an empty read-only tmpfs and its own /proc: every file it uses afterwards is one of those fds.
 * It runs as HV_JAIL_UID with the 9p server's capabilities only, no_new_privs, runvm's deny
 * list (exec included) for the process and again for each vCPU and I/O thread. The monitor,
 * which goes on running hooks, the network and the state as root, drives it over a socket of
 * fixed-size records (struct vmm_msg) and watches it through a pidfd.
 */
enum vmm_op {
	VMM_READY = 1, /* the VMM: the vCPUs run */
	VMM_FAILED,    /* the VMM: setup failed (err, text), it exits */
	VMM_ENDED,     /* the VMM: the VM ended (err: its status, text: why), it exits */
	VMM_REPLY,     /* the VMM: the answer to PAUSE or RESUME (err, text) */
	VMM_PAUSE,     /* the monitor: stop the vCPUs */
	VMM_RESUME,    /* the monitor: let them go on */
	VMM_STOP,      /* the monitor: end the VM now */
	VMM_SAVE,      /* the monitor: a template's boot is ready: save the VM (it ends) */
};

struct vmm_msg {
	int32_t op;
	int32_t err;
	char text[256];
};

/* How long the monitor waits for the VMM's setup and for an answer to PAUSE or RESUME. */
#define VMM_SETUP_MS 30000
#define VMM_REPLY_MS 10000
#define VMM_MAX_NICS 8

struct hv_vm {
	pid_t pid;
	int pidfd; /* readable once the VMM process has ended */
	int ctl;   /* SOCK_SEQPACKET to the VMM process */
	bool reaped;
	int status;
	unsigned memory_mib;
	bool restored; /* from a template: its agent said HELLO to the template's maker */
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

/* Our own end of the agent channel: a copy of the caller's fd (the caller closes its own right
 * after launch, as it must for a QEMU), or a connection to the path. */
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

/* In the VMM process, still privileged: the VM, its devices, the kernel, everything opened
 * that the jail will hide. */
static int vm_setup(const struct kvm_settings *s, const struct hv_vm_config *cfg, const struct kvm_launch *how,
		    struct vmm **ret, struct rt_error **err)
{
	int console_fd = -1, agent_fd = -1;
	struct vmm *vmm = NULL;
	long long t0, t1, t2;

	/* The fds are the VM's for its whole life, and the process's life is the VM's. */
	if (cfg->console_log) {
		console_fd = open(cfg->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (console_fd < 0)
			return rt_make_error(err, errno, "open `%s`", cfg->console_log);
	}
	if (agent_connect(&cfg->agent, &agent_fd, err) < 0)
		return -1;
	t0 = rv_now_ms();
	/* A template's RAM is saved into a file for clones to map: in small pages, only those the
	 * guest touched. */
	if (vmm_new(cfg->vcpus, cfg->memory_mib, s->huge_pages && how->save_memory_fd < 0, how->memory_fd, console_fd,
		    &vmm, err) < 0)
		return -1;
	*ret = vmm;
	t1 = rv_now_ms();
	/* The platform's arguments first, then the container's; devices announce themselves as
	 * they are added (kvm/arch.h). */
	vmm_cmdline_append(vmm, "%s%s%s", vmm_arch_cmdline(), cfg->cmdline && *cfg->cmdline ? " " : "",
			   cfg->cmdline ? cfg->cmdline : "");
	if (virtio_console_add(vmm, console_fd, RV_AGENT_PORT_NAME, agent_fd, err) < 0)
		return rt_error_wrap(err, "virtio-console");
	for (size_t i = 0; i < cfg->n_shares; i++)
		if (virtio_9p_add(vmm, cfg->shares[i].tag, cfg->shares[i].host_path, cfg->shares[i].readonly, err) < 0)
			return rt_error_wrap(err, "virtio-9p `%s`", cfg->shares[i].tag);
	for (size_t i = 0; i < cfg->n_disks; i++)
		if (virtio_blk_add(vmm, cfg->disks[i].path, cfg->disks[i].readonly, err) < 0)
			return rt_error_wrap(err, "virtio-blk `%s`", cfg->disks[i].path);
	for (size_t i = 0; i < cfg->n_nics; i++)
		if (virtio_net_add(vmm, cfg->nics[i].tap_fd, err) < 0)
			return rt_error_wrap(err, "virtio-net");
	if (virtio_rng_add(vmm, err) < 0)
		return rt_error_wrap(err, "virtio-rng");
	t2 = rv_now_ms();
	if (how->state) {
		int e = vmm_restore(vmm, how->state, how->state_len);

		if (e < 0)
			return rt_make_error(err, KVM_RESTORE_REFUSED, "the template's state: %s", strerror(-e));
	} else if (vmm_load_kernel(vmm, cfg->kernel, cfg->initrd, err) < 0)
		return -1;
	rt_debug("kvm: VM created in %lld ms, devices in %lld ms, %s in %lld ms", t1 - t0, t2 - t1,
		 how->state ? "the template's state loaded" : "kernel and initrd loaded", rv_now_ms() - t2);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every inherited fd but @keep (the monitor's end of the agent channel, its control
 * socket and listening socket, the container's lock and stdio are none of the VMM's). */
static void close_all_but(int *keep, size_t n)
{
	int from = 0;

	qsort(keep, n, sizeof(*keep), cmp_int);
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < from)
			continue;
		if (keep[i] > from)
			syscall(SYS_close_range, from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

static void send_msg(int ctl, enum vmm_op op, int e, const char *text)
{
	struct vmm_msg m = { .op = op, .err = e };

	g_strlcpy(m.text, text ? text : "", sizeof(m.text));
	if (send(ctl, &m, sizeof(m), MSG_NOSIGNAL) < 0) {
		/* The monitor is gone: the parent-death signal ends us too. */
	}
}

static void __attribute__((noreturn)) vmm_fail(int ctl, struct rt_error *err)
{
	send_msg(ctl, VMM_FAILED, err->status, err->msg);
	_exit(1);
}

static void __attribute__((noreturn)) vmm_end(int ctl, struct vmm *vmm)
{
	const char *reason = "";
	int status = 1;

	vmm_stop(vmm);
	vmm_ended(vmm, &status, &reason);
	send_msg(ctl, VMM_ENDED, status, reason);
	_exit(status);
}

/* The VMM process: set up, jail, run; answer the monitor until the VM ends. */
static void __attribute__((noreturn))
vmm_process(const struct kvm_settings *s, const struct hv_vm_config *cfg, const struct kvm_launch *how,
	    const struct hv_jail *jail, int ctl, int parent_pidfd)
{
	struct pollfd parent = { .fd = parent_pidfd, .events = POLLIN };
	int keep[8 + VMM_MAX_NICS], devnull;
	struct hv_jail_failure f = { 0 };
	struct rt_error *err = NULL;
	struct vmm *vmm = NULL;
	size_t n = 0;
	sigset_t none;

	/* The terminal's signals are the runtime's, which forwards them to the container. */
	setpgid(0, 0);
	prctl(PR_SET_NAME, "runvm-vmm");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	keep[n++] = STDERR_FILENO;
	keep[n++] = ctl;
	keep[n++] = parent_pidfd;
	if (rt_log_fd() >= 0)
		keep[n++] = rt_log_fd();
	if (cfg->agent.kind == HV_ENDPOINT_FD)
		keep[n++] = cfg->agent.fd;
	for (size_t i = 0; i < cfg->n_nics && i < VMM_MAX_NICS; i++)
		if (cfg->nics[i].tap_fd >= 0)
			keep[n++] = cfg->nics[i].tap_fd;
	for (size_t i = 0; i < 3; i++) {
		int fd = (int[]){ how->save_state_fd, how->save_memory_fd, how->memory_fd }[i];

		if (fd >= 0)
			keep[n++] = fd;
	}
	close_all_but(keep, n);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0) {
		rt_make_error(&err, errno, "/dev/null");
		vmm_fail(ctl, err);
	}
	if (vm_setup(s, cfg, how, &vmm, &err) < 0)
		vmm_fail(ctl, err);
	/* Mapped: the jail need not hold the template's file. */
	if (how->memory_fd >= 0)
		close(how->memory_fd);
	/* Nothing of the runtime's log or stderr from here on: a VMM taken over by the guest
	 * could write anything there. What the monitor must know comes up @ctl. */
	rt_log_close();
	if (dup2(devnull, STDERR_FILENO) < 0) {
		rt_make_error(&err, errno, "/dev/null");
		vmm_fail(ctl, err);
	}
	close(devnull);
	if (hv_jail_enter(jail, &f) < 0) {
		f.what[sizeof(f.what) - 1] = '\0';
		rt_make_error(&err, f.err, "%s", f.what);
		vmm_fail(ctl, err);
	}
	/* The VMM must not outlive its monitor. After the jail's uid change, which clears the
	 * setting; the monitor's pidfd tells whether it died before. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (poll(&parent, 1, 0) != 0)
		_exit(1);
	close(parent_pidfd);
	/* The process's filter is loaded; each thread adds its own (kvm/vmm.c). */
	vmm_set_thread_filter(vmm, jail->bpf, jail->bpf_len);
	if (vmm_start(vmm, &err) < 0)
		vmm_fail(ctl, err);
	send_msg(ctl, VMM_READY, 0, NULL);
	for (;;) {
		struct pollfd p[2] = { { .fd = ctl, .events = POLLIN }, { .fd = vmm_exit_fd(vmm), .events = POLLIN } };
		struct vmm_msg m;
		ssize_t len;
		int r;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			vmm_end(ctl, vmm);
		}
		if (p[1].revents)
			vmm_end(ctl, vmm);
		if (!p[0].revents)
			continue;
		len = recv(ctl, &m, sizeof(m), MSG_DONTWAIT);
		if (len < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		/* The monitor hung up, or asked for the end. */
		if (len != sizeof(m) || m.op == VMM_STOP)
			vmm_end(ctl, vmm);
		if (m.op == VMM_SAVE && how->save_state_fd >= 0) {
			r = vmm_save(vmm, how->save_state_fd, how->save_memory_fd);
			send_msg(ctl, VMM_REPLY, -r, r < 0 ? strerror(-r) : NULL);
			_exit(r < 0);
		}
		r = m.op == VMM_PAUSE ? vmm_pause(vmm, &err) : m.op == VMM_RESUME ? vmm_resume(vmm, &err) : 0;
		send_msg(ctl, VMM_REPLY, r < 0 ? err->status : 0, r < 0 ? err->msg : NULL);
		rt_error_free(&err);
	}
}

/* Text that came from the VMM process, which may be the guest's by now: printable ASCII only. */
static void sanitize(struct vmm_msg *m)
{
	m->text[sizeof(m->text) - 1] = '\0';
	for (char *c = m->text; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
}

/* The next record from the VMM process within @timeout_ms (0: only one already there): 1, 0
 * when the time ran out or the VMM went away without one, < 0 on error. */
static int recv_msg(struct hv_vm *vm, int timeout_ms, struct vmm_msg *m, struct rt_error **err)
{
	long long deadline = rv_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = vm->ctl, .events = POLLIN };
		long long left = MAX(deadline - rv_now_ms(), 0);
		ssize_t n;

		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return rt_make_error(err, errno, "poll the VMM process");
		}
		if (!p.revents)
			return 0;
		n = recv(vm->ctl, m, sizeof(*m), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return 0;
		if (n != sizeof(*m))
			continue;
		sanitize(m);
		return 1;
	}
}

static void reap(struct hv_vm *vm, bool block)
{
	int st;

	if (vm->reaped || waitpid(vm->pid, &st, block ? 0 : WNOHANG) <= 0)
		return;
	vm->reaped = true;
	vm->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	if (vm->pid > 0 && !vm->reaped) {
		kill(vm->pid, SIGKILL);
		reap(vm, true);
	}
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	if (vm->ctl >= 0)
		close(vm->ctl);
	g_free(vm);
}

/* The VMM process is forked without exec, which is safe only from a process with one thread. */
static int check_single_threaded(struct rt_error **err)
{
	g_autoptr(GDir) d = g_dir_open("/proc/self/task", 0, NULL);
	unsigned n = 0;

	if (!d)
		return rt_make_error(err, errno, "read /proc/self/task");
	while (g_dir_read_name(d))
		n++;
	if (n != 1)
		return rt_make_error(err, EBUSY, "the kvm backend forks its VMM from a process with %u threads", n);
	return 0;
}

int kvm_launch(const struct kvm_settings *settings, const struct hv_vm_config *cfg, const struct kvm_launch *how,
	       struct hv_vm **ret_vm, struct rt_error **err)
{
	_cleanup_close_ int parent_pidfd = -EBADF;
	_cleanup_jail_ struct hv_jail jail = { 0 };
	struct vmm_msg m;
	struct hv_vm *vm;
	int sp[2], r, e;

	/* Rather than boot something other than what was asked for. */
	if (cfg->firmware || cfg->confidential != HV_CONFIDENTIAL_NONE)
		return rt_make_error(err, EOPNOTSUPP, "the kvm backend boots plain guests from their kernel only");
	if (cfg->n_nics > VMM_MAX_NICS)
		return rt_make_error(err, 0, "%zu NICs asked for, the kvm backend takes at most %d", cfg->n_nics,
				     VMM_MAX_NICS);
	if (check_single_threaded(err) < 0)
		return -1;
	/* Its jail: nothing but its own /proc (the 9p server names fds through /proc/self/fd). */
	hv_jail_keep_9p(&jail);
	jail.proc = true;
	jail.seccomp_flags = HV_JAIL_DENY_EXEC;
	if (hv_jail_finish(&jail, err) < 0)
		return rt_error_wrap(err, "jail the VMM");
	parent_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (parent_pidfd < 0)
		return rt_make_error(err, errno, "pidfd_open");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return rt_make_error(err, errno, "socketpair");
	vm = g_new0(struct hv_vm, 1);
	vm->ctl = sp[0];
	vm->pidfd = -1;
	vm->memory_mib = cfg->memory_mib;
	vm->restored = how->state != NULL;
	/* Its mount namespace is always its own (the jail is built there), its pid and ipc ones too
	 * unless config.json named that type by path: then it shares the monitor's. The others
	 * stay the monitor's: the container's. */
	vm->pid = (pid_t)syscall(SYS_clone,
				 CLONE_NEWNS | ((CLONE_NEWPID | CLONE_NEWIPC) & ~cfg->vmm_shared_namespaces) | SIGCHLD,
				 NULL, NULL, NULL, NULL);
	if (vm->pid == 0) {
		close(sp[0]);
		vmm_process(settings, cfg, how, &jail, sp[1], parent_pidfd);
	}
	e = errno;
	close(sp[1]);
	if (vm->pid < 0) {
		destroy(vm);
		return rt_make_error(err, e, "fork the VMM into new namespaces");
	}
	vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
	if (vm->pidfd < 0) {
		e = errno;
		destroy(vm);
		return rt_make_error(err, e, "pidfd_open");
	}
	r = recv_msg(vm, VMM_SETUP_MS, &m, err);
	if (r > 0 && m.op == VMM_READY) {
		*ret_vm = vm;
		return 0;
	}
	if (r > 0 && m.op == VMM_FAILED)
		rt_make_error(err, m.err, "%s", m.text);
	else if (r == 0)
		rt_make_error(err, ETIMEDOUT, "the VMM process did not get its VM running");
	destroy(vm);
	return -1;
}

static int launch(const void *settings, const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err)
{
	const struct kvm_launch cold = { .save_state_fd = -1, .save_memory_fd = -1, .memory_fd = -1 };

	if (cfg->template_dir) {
		int r = kvm_template_restore(settings, cfg, ret_vm, err);

		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	return kvm_launch(settings, cfg, &cold, ret_vm, err);
}

static bool restored(struct hv_vm *vm)
{
	return vm->restored;
}

static int template_make(const void *settings, const struct hv_vm_config *cfg, struct rt_error **err)
{
	return kvm_template_make(settings, cfg, err);
}

static int exit_fd(struct hv_vm *vm)
{
	return vm->pidfd;
}

static int vm_wait(struct hv_vm *vm, int timeout_ms, int *ret_status, struct rt_error **err)
{
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
	int r;

	if (!vm->reaped) {
		do
			r = poll(&p, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return rt_make_error(err, errno, "poll");
		if (r == 0)
			return 0;
		reap(vm, true);
		/* Why it ended, for the debug log (a VMM killed by a signal sends nothing). */
		if (rt_log_debug_enabled()) {
			struct vmm_msg m;

			while (recv_msg(vm, 0, &m, NULL) > 0)
				if (m.op == VMM_ENDED)
					rt_debug("kvm: VM ended (status %d): %s", m.err, m.text);
		}
	}
	*ret_status = vm->status;
	return 1;
}

static int stop(struct hv_vm *vm, int grace_ms, struct rt_error **err)
{
	struct vmm_msg m = { .op = VMM_STOP };
	int st, r;

	if (vm->reaped)
		return 0;
	/* No ACPI power button to press politely: like QEMU on SIGTERM, the VM ends at once. */
	if (send(vm->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(m)) {
		r = vm_wait(vm, grace_ms, &st, err);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	kill(vm->pid, SIGKILL);
	return vm_wait(vm, -1, &st, err) < 0 ? -1 : 0;
}

static int request(struct hv_vm *vm, enum vmm_op op, struct rt_error **err)
{
	struct vmm_msg m = { .op = op };
	int r;

	if (vm->reaped || send(vm->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(m))
		return rt_make_error(err, ESRCH, "VM has ended");
	do
		r = recv_msg(vm, VMM_REPLY_MS, &m, err);
	while (r > 0 && m.op != VMM_REPLY && m.op != VMM_ENDED);
	if (r < 0)
		return -1;
	if (r == 0 || m.op == VMM_ENDED)
		return rt_make_error(err, r == 0 ? ETIMEDOUT : ESRCH, "%s the VM: %s",
				     op == VMM_PAUSE ? "pause" : "resume",
				     r == 0 ? "the VMM process did not answer" : "it has ended");
	if (m.err)
		return rt_make_error(err, m.err, "%s", m.text);
	return 0;
}

int kvm_save(struct hv_vm *vm, long long deadline, struct rt_error **err)
{
	struct vmm_msg m = { .op = VMM_SAVE };
	int r;

	if (vm->reaped || send(vm->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(m))
		return rt_make_error(err, ESRCH, "save the template: its VM has ended");
	do
		r = recv_msg(vm, (int)MAX(deadline - rv_now_ms(), 0), &m, err);
	while (r > 0 && m.op != VMM_REPLY && m.op != VMM_ENDED);
	if (r < 0)
		return -1;
	if (r == 0 || m.op == VMM_ENDED)
		return rt_make_error(err, r == 0 ? ETIMEDOUT : ESRCH, "save the template: %s",
				     r == 0 ? "the VMM process did not answer in time" : "its VM ended");
	if (m.err)
		return rt_make_error(err, m.err, "save the template: %s", m.text);
	return 0;
}

static int pause_vm(struct hv_vm *vm, struct rt_error **err)
{
	return request(vm, VMM_PAUSE, err);
}

static int resume_vm(struct hv_vm *vm, struct rt_error **err)
{
	return request(vm, VMM_RESUME, err);
}

/* What the VMM process costs; the monitor's own few MB are not in it. */
static int stats(struct hv_vm *vm, struct hv_vm_stats *ret, struct rt_error **err)
{
	struct hv_vm_stats st = { .guest_ram_bytes = (unsigned long long)vm->memory_mib << 20 };

	reap(vm, false);
	if (vm->reaped)
		return rt_make_error(err, ESRCH, "VM has ended");
	if (hv_proc_stats(vm->pidfd, &st, err) < 0)
		return -1;
	*ret = st;
	return 0;
}

const struct hv_backend_ops hv_kvm_ops = {
	.name = "kvm",
	.features = HV_FEAT_PAUSE | HV_FEAT_TEMPLATE,
	/* Measured in the nested test VM: about 6 MB Pss for the VMM beyond guest RAM (vCPU
	 * threads' stacks, virtqueue and 9p buffers, KVM's own structures). 32 MiB keeps a
	 * margin of five for a busier 9p share or more vCPUs, and stays far below QEMU's 160. */
	.host_overhead_mib = 32,
	.parse_config = parse_config,
	.free_config = free_config,
	.probe = probe,
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
