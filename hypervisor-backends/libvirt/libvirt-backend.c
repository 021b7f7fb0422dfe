/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/libvirt/domain-xml.h"
#include "hypervisor-backends/libvirt/libvirt-backend.h"
#include "hypervisor-backends/libvirt/tap.h"
#include "hypervisor-backends/procstats.h"
#include "hypervisor-backends/settings.h"
#include "tdx/confidential.h"

#define LV_MAX_NICS 8
#define LV_MAX_SHARES 8

/*
 * What the event loop's thread learns about one domain: shared with the callbacks, which run
 * on that thread, and reference-counted, since libvirt calls a callback's free function only
 * when no call of it can come any more.
 */
struct lv_watch {
	GMutex lock;
	char *name;
	int efd;         /* readable once the domain has ended or the connection is lost */
	bool ended;      /* for the monitor: the VM is gone or out of reach */
	bool stopped;    /* the domain has ended (its event came, or runvm's destroy returned) */
	bool destroying; /* runvm asked for the domain's end: its DESTROYED event is ours */
	int status;
	char *why; /* why the domain ended, when not by the guest's own reboot or poweroff */
};

struct hv_vm {
	virConnectPtr conn;
	virDomainPtr dom;
	struct lv_watch *watch;
	int event_id, close_registered;
	pid_t pid; /* QEMU, 0 if the daemon does not say */
	int pidfd;
	unsigned memory_mib;
	bool reported;
	struct lv_tap taps[LV_MAX_NICS];
	char *tap_names[LV_MAX_NICS]; /* as the caller named them, in its namespace */
	size_t n_taps;
	GPtrArray *virtiofs_tags;     /* the shares that reach the guest as virtio-fs */
	pid_t helpers[LV_MAX_SHARES]; /* their virtiofsd processes, as libvirt's pid files name them */
	size_t n_helpers;
};

static const struct hv_key libvirt_keys[] = {
	HV_KEY_STR(struct libvirt_settings, "uri", uri),
	HV_KEY_STR(struct libvirt_settings, "machine", machine),
	HV_KEY_STR(struct libvirt_settings, "emulator", emulator),
	HV_KEY_STR(struct libvirt_settings, "name_prefix", name_prefix),
	HV_KEY_UINT(struct libvirt_settings, "boot_timeout", boot_timeout_s, 5, 3600),
	HV_KEY_STR(struct libvirt_settings, "virtiofsd", virtiofsd),
};

static bool is_test_uri(const char *uri)
{
	return g_str_has_prefix(uri, "test:");
}

static void free_config(void *settings)
{
	if (!settings)
		return;
	hv_settings_clear(libvirt_keys, G_N_ELEMENTS(libvirt_keys), settings);
	g_free(settings);
}

static int parse_config(const struct hv_config_group *group, void **ret_settings, struct rt_error **err)
{
	struct libvirt_settings *s = g_new0(struct libvirt_settings, 1);

	s->uri = g_strdup("qemu:///system");
	s->machine = g_strdup("");
	s->emulator = g_strdup("");
	s->name_prefix = g_strdup("runvm-");
	s->boot_timeout_s = 60;
	s->virtiofsd = g_strdup("auto");
	if (hv_settings_apply(libvirt_keys, G_N_ELEMENTS(libvirt_keys), group, s, err) < 0) {
		free_config(s);
		return -1;
	}
	/* A name libvirt would refuse, or one that could not carry the ID (`virsh list`). */
	if (strpbrk(s->name_prefix, "/ \t\n")) {
		free_config(s);
		return rt_make_error(err, 0, "[libvirt] name_prefix must not hold `/` or blanks");
	}
	s->start_flags = is_test_uri(s->uri) ? 0 : VIR_DOMAIN_START_AUTODESTROY;
	*ret_settings = s;
	return 0;
}

const char *lv_virtiofsd(const struct libvirt_settings *s)
{
	if (strcmp(s->virtiofsd, "auto") == 0)
		return access(LV_VIRTIOFSD, X_OK) == 0 ? LV_VIRTIOFSD : NULL;
	return *s->virtiofsd ? s->virtiofsd : NULL;
}

const char *lv_machine(const struct libvirt_settings *s, enum rv_arch arch)
{
	if (*s->machine)
		return s->machine;
	/* Not microvm: libvirt does not support it (it assumes PCI). */
	return arch == RV_ARCH_AARCH64 ? "virt" : "q35";
}

char *lv_uri_socket(const char *uri)
{
	g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_ENCODED_QUERY, NULL);
	const char *query, *path;
	g_autoptr(GHashTable) params = NULL;
	const char *sock;

	if (!u || strcmp(g_uri_get_scheme(u), "qemu") != 0 || (g_uri_get_host(u) && *g_uri_get_host(u)))
		return NULL;
	query = g_uri_get_query(u);
	params = query ? g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, NULL) : NULL;
	sock = params ? g_hash_table_lookup(params, "socket") : NULL;
	if (sock)
		return g_strdup(sock);
	path = g_uri_get_path(u);
	if (strcmp(path, "/system") == 0) {
		/* The monolithic daemon's, else the modular QEMU daemon's. */
		if (access("/run/libvirt/libvirt-sock", F_OK) != 0 && access("/run/libvirt/virtqemud-sock", F_OK) == 0)
			return g_strdup("/run/libvirt/virtqemud-sock");
		return g_strdup("/run/libvirt/libvirt-sock");
	}
	if (strcmp(path, "/session") == 0)
		return g_build_filename(g_get_user_runtime_dir(), "libvirt", "libvirt-sock", NULL);
	return NULL;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/*
 * The daemon behind a local socket, the process that listens on it, by its pid in the host's
 * /proc. A monitor that is PID 1 of the container's pid namespace sees no pid of the daemon's
 * in SO_PEERCRED (0): a pidfd of it (SO_PEERPIDFD) names it in its fdinfo as /proc does.
 */
static pid_t daemon_pid(const char *socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int pidfd = -EBADF;

	if (fd < 0 || strlen(socket_path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, socket_path, strlen(socket_path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 0;
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
		return hv_pidfd_pid(pidfd);
	len = sizeof(cred);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
}

static int probe(const void *settings, const struct hv_host_caps *caps, enum rv_arch arch, enum hv_accel want,
		 struct hv_probe_result *ret, struct rt_error **err)
{
	const struct libvirt_settings *s = settings;
	g_autofree char *sock = lv_uri_socket(s->uri);
	bool native = arch == caps->arch;
	struct hv_probe_result r = { 0 };

	(void)err;
	if (sock && access(sock, F_OK) != 0) {
		g_snprintf(r.reason, sizeof(r.reason), "libvirt's daemon is not running (no socket %s for %s)", sock,
			   s->uri);
	} else if (native && want != HV_ACCEL_TCG && caps->kvm_usable) {
		r.usable = true;
		r.accel = HV_ACCEL_KVM;
		g_snprintf(r.reason, sizeof(r.reason), "libvirt at %s, domain type kvm: %s", s->uri, caps->kvm_reason);
	} else if (want == HV_ACCEL_KVM) {
		g_snprintf(r.reason, sizeof(r.reason), "KVM asked for but unusable: %s",
			   native ? caps->kvm_reason : "another architecture's guest");
	} else {
		r.usable = true;
		r.accel = HV_ACCEL_TCG;
		g_snprintf(r.reason, sizeof(r.reason), "libvirt at %s, domain type qemu (TCG)%s%s", s->uri,
			   native && want != HV_ACCEL_TCG ? ", because " : "",
			   native && want != HV_ACCEL_TCG ? caps->kvm_reason : "");
	}
	*ret = r;
	return 0;
}

/* libvirt prints every error to stderr unless told otherwise: ours go through rt_error. */
static void quiet(void *data, virErrorPtr e)
{
	(void)data;
	(void)e;
}

/* libvirt's last error on this thread, on one line (a schema's complaint spans several). */
static const char *lv_error(void)
{
	static __thread char buf[1024];
	const char *m = virGetLastErrorMessage();

	g_strlcpy(buf, m && *m ? m : "unknown libvirt error", sizeof(buf));
	g_strdelimit(g_strchomp(buf), "\n\r\t", ' ');
	return buf;
}

/* libvirt's default event loop, on a thread of its own, for the lifecycle events and the
 * keepalive; registered once per process, before the first connection. */
static gpointer event_loop(gpointer data)
{
	(void)data;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			g_usleep(100 * 1000);
	return NULL;
}

static void events_start(void)
{
	static gsize once;

	if (g_once_init_enter(&once)) {
		virSetErrorFunc(NULL, quiet);
		virEventRegisterDefaultImpl();
		g_thread_unref(g_thread_new("libvirt-events", event_loop, NULL));
		g_once_init_leave(&once, 1);
	}
}

static int lv_connect(const struct libvirt_settings *s, virConnectPtr *ret, struct rt_error **err)
{
	virConnectPtr conn;

	events_start();
	conn = virConnectOpen(s->uri);
	if (!conn)
		return rt_make_error(err, 0, "cannot connect to libvirt at %s: %s", s->uri, lv_error());
	/* A daemon that stops answering is taken as gone after about boot_timeout, so that no
	 * call waits on it for ever (the test driver has no keepalive: -1, ignored). */
	virConnectSetKeepAlive(conn, 5, (int)(s->boot_timeout_s + 4) / 5);
	*ret = conn;
	return 0;
}

/* Asks the daemon's domain capabilities for the emulator, machine and KVM this backend would
 * use: a libvirt or QEMU without the mode's launch security says so here. */
static bool confidential(const void *settings, enum hv_confidential mode, char *why, size_t n)
{
	const struct libvirt_settings *s = settings;
	const char *machine = lv_machine(s, RV_ARCH_X86_64);
	struct rt_error *err = NULL;
	virConnectPtr conn = NULL;
	g_autofree char *xml = NULL;

	if (lv_connect(s, &conn, &err) < 0) {
		g_snprintf(why, n, "%s", err->msg);
		rt_error_free(&err);
		return false;
	}
	xml = virConnectGetDomainCapabilities(conn, *s->emulator ? s->emulator : NULL, "x86_64", machine, "kvm", 0);
	if (!xml)
		g_snprintf(why, n, "libvirt at %s gives no domain capabilities for kvm, %s: %s", s->uri, machine,
			   lv_error());
	else if (!lv_domcaps_launch_security(xml, cc_mode_name(mode)))
		g_snprintf(why, n, "libvirt at %s offers no `%s` launch security for kvm, %s (virsh domcapabilities)",
			   s->uri, cc_mode_name(mode), machine);
	virConnectClose(conn);
	return xml && lv_domcaps_launch_security(xml, cc_mode_name(mode));
}

/* `runvm check`: whether the daemon answers, its versions, and the domains it would be given. */
static void check_report(const void *settings, struct hv_check_sink *sink)
{
	const struct libvirt_settings *s = settings;
	struct rt_error *err = NULL;
	struct hv_host_caps caps;
	virConnectPtr conn = NULL;
	unsigned long lib = 0, hv = 0;
	g_autofree char *detail = NULL;

	if (lv_connect(s, &conn, &err) < 0) {
		sink->fact(sink, "libvirt", false, err->msg);
		rt_error_free(&err);
		return;
	}
	if (virConnectGetLibVersion(conn, &lib) == 0 && virConnectGetVersion(conn, &hv) == 0)
		detail = g_strdup_printf("%s: libvirt %lu.%lu.%lu, %s %lu.%lu.%lu", s->uri, lib / 1000000,
					 lib / 1000 % 1000, lib % 1000, virConnectGetType(conn), hv / 1000000,
					 hv / 1000 % 1000, hv % 1000);
	sink->fact(sink, "libvirt", true, detail ? detail : s->uri);
	g_clear_pointer(&detail, g_free);
	virConnectClose(conn);
	hv_host_probe("", &caps);
	detail = g_strdup_printf("type %s, machine %s (x86_64), %s (aarch64 under TCG)",
				 caps.kvm_usable ? "kvm" : "qemu (TCG)", lv_machine(s, RV_ARCH_X86_64),
				 lv_machine(s, RV_ARCH_AARCH64));
	sink->fact(sink, "libvirt domain", true, detail);
}

char *lv_cmdline(const struct hv_vm_config *cfg)
{
	bool tcg = cfg->accel != HV_ACCEL_KVM;
	g_autofree char *tsc = NULL;
	const char *base;

	/* As the qemu backend's cold boots: noapictimer and the host's TSC frequency spare an
	 * emulated x86 guest its timer calibrations. */
	if (cfg->arch == RV_ARCH_AARCH64)
		base = "console=ttyAMA0";
	else
		base = tcg ? "console=ttyS0 reboot=t noapictimer" : "console=ttyS0 reboot=t";
	if (cfg->arch != RV_ARCH_AARCH64 && tcg && cfg->host_tsc_khz)
		tsc = g_strdup_printf(" tsc_early_khz=%u", cfg->host_tsc_khz);
	return g_strdup_printf("%s%s%s%s", base, tsc ? tsc : "", cfg->cmdline && *cfg->cmdline ? " " : "",
			       cfg->cmdline ? cfg->cmdline : "");
}

static void watch_clear(void *p)
{
	struct lv_watch *w = p;

	g_mutex_clear(&w->lock);
	g_free(w->name);
	g_free(w->why);
	if (w->efd >= 0)
		close(w->efd);
}

static void watch_unref(void *p)
{
	g_atomic_rc_box_release_full(p, watch_clear);
}

static void mark(struct lv_watch *w, bool *flag)
{
	g_mutex_lock(&w->lock);
	*flag = true;
	g_mutex_unlock(&w->lock);
}

/* One of the watch's flags, read under its lock. */
static bool is_set(struct lv_watch *w, const bool *flag)
{
	bool v;

	g_mutex_lock(&w->lock);
	v = *flag;
	g_mutex_unlock(&w->lock);
	return v;
}

static void watch_end(struct lv_watch *w, int status, const char *why)
{
	g_mutex_lock(&w->lock);
	if (!w->ended) {
		w->ended = true;
		w->status = status;
		w->why = g_strdup(why);
		eventfd_write(w->efd, 1);
	}
	g_mutex_unlock(&w->lock);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct lv_watch *w = opaque;
	g_autofree char *why = NULL;

	(void)conn;
	if (strcmp(virDomainGetName(dom), w->name) != 0 ||
	    (event != VIR_DOMAIN_EVENT_STOPPED && event != VIR_DOMAIN_EVENT_CRASHED))
		return 0;
	mark(w, &w->stopped);
	if (event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
		watch_end(w, 0, NULL);
	else if (event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_DESTROYED) {
		/* Unless runvm asked for it: by `virsh destroy` or another client of the daemon. */
		g_mutex_lock(&w->lock);
		why = w->destroying ? NULL : g_strdup("libvirt domain destroyed from outside runvm (virsh destroy?)");
		g_mutex_unlock(&w->lock);
		watch_end(w, 128 + SIGKILL, why);
	} else {
		why = g_strdup_printf("libvirt domain %s (lifecycle event %d, detail %d)",
				      event == VIR_DOMAIN_EVENT_CRASHED ? "crashed" : "failed", event, detail);
		watch_end(w, 1, why);
	}
	return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	(void)conn;
	watch_end(opaque, 1,
		  reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "the connection to libvirt's daemon timed out"
							       : "the connection to libvirt's daemon was lost");
}

/* A pid from a pid file libvirt's QEMU driver keeps for the domain (@file: NAME.pid for QEMU,
 * ID-NAME-fsN-fs.pid for a virtiofsd), read through the daemon's root (it may live in a mount
 * namespace of its own). 0 when there is none. */
static pid_t pid_file(pid_t daemon, const char *file)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/root/run/libvirt/qemu/%s", (int)daemon, file);
	g_autofree char *text = NULL;
	char *end;
	long v;

	if (daemon <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	v = strtol(text, &end, 10);
	return v > 0 && v < INT32_MAX && (*end == '\0' || *end == '\n') ? (pid_t)v : 0;
}

/* This process's pid as the daemon's /proc names it: /proc is the host's here too. */
static pid_t own_host_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n <= 0)
		return getpid();
	buf[n] = '\0';
	return (pid_t)atoi(buf);
}

static void vm_free(struct hv_vm *vm)
{
	for (size_t i = 0; i < vm->n_taps; i++) {
		lv_tap_release(&vm->taps[i]);
		/* Persistent, so it outlived QEMU: gone with the VM, as the other backends' taps. */
		if (vm->taps[i].moved && lv_tap_delete_here(vm->tap_names[i]) < 0)
			rt_debug("libvirt: cannot delete tap %s", vm->tap_names[i]);
		g_free(vm->tap_names[i]);
	}
	if (vm->conn) {
		if (vm->event_id >= 0)
			virConnectDomainEventDeregisterAny(vm->conn, vm->event_id);
		if (vm->close_registered)
			virConnectUnregisterCloseCallback(vm->conn, on_close);
		if (vm->dom)
			virDomainFree(vm->dom);
		virConnectClose(vm->conn);
	}
	if (vm->watch)
		watch_unref(vm->watch);
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	if (vm->virtiofs_tags)
		g_ptr_array_unref(vm->virtiofs_tags);
	g_free(vm);
}

/* End the domain now, as runvm's own doing. */
static void kill_domain(struct hv_vm *vm)
{
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };

	mark(vm->watch, &vm->watch->destroying);
	watch_end(vm->watch, 128 + SIGKILL, NULL);
	if (vm->dom && virDomainDestroy(vm->dom) == 0) {
		mark(vm->watch, &vm->watch->stopped);
		return;
	}
	/* The daemon is gone (AUTODESTROY can no longer act) or refuses: QEMU itself, where we
	 * know it, and we wait for it to go (its reaper is the daemon's parent, not us). */
	if (vm->pidfd >= 0 && syscall(SYS_pidfd_send_signal, vm->pidfd, SIGKILL, NULL, 0) == 0 &&
	    poll(&p, 1, 5000) != 1)
		rt_debug("libvirt: QEMU (pid %d) has not ended 5 s after SIGKILL", (int)vm->pid);
}

static int make_taps(struct hv_vm *vm, const struct hv_vm_config *cfg, pid_t daemon, struct rt_error **err)
{
	for (size_t i = 0; i < cfg->n_nics; i++) {
		g_autofree char *name = g_strdup_printf("rvl%x-%zu", (unsigned)own_host_pid(), i);

		if (!cfg->nics[i].tap_name)
			return rt_make_error(err, EINVAL, "the libvirt backend takes NICs by name");
		if (lv_tap_make(daemon, name, &vm->taps[i], err) < 0)
			return -1;
		vm->tap_names[i] = g_strdup(cfg->nics[i].tap_name);
		vm->n_taps = i + 1;
	}
	return 0;
}

static int launch(const void *settings, const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err)
{
	const struct libvirt_settings *s = settings;
	g_autofree char *sock = lv_uri_socket(s->uri);
	g_autofree char *name = NULL, *cmdline = NULL, *xml = NULL, *share_root = NULL;
	const char *taps[LV_MAX_NICS];
	pid_t daemon = sock ? daemon_pid(sock) : 0;
	struct hv_vm *vm;
	struct lv_domain d;

	if (cfg->firmware || cfg->confidential != HV_CONFIDENTIAL_NONE)
		return rt_make_error(err, EOPNOTSUPP, "the libvirt backend boots plain guests from their kernel only");
	if (cfg->agent.kind != HV_ENDPOINT_PATH)
		return rt_make_error(err, EINVAL, "the libvirt backend needs the agent's channel as a socket path");
	if (cfg->n_nics > LV_MAX_NICS)
		return rt_make_error(err, 0, "%zu NICs asked for, the libvirt backend takes at most %d", cfg->n_nics,
				     LV_MAX_NICS);
	/* The tap is made in the daemon's network namespace, which only a local daemon has. */
	if (cfg->n_nics && daemon <= 0)
		return rt_make_error(err, 0,
				     "a networked container needs a local libvirt daemon (%s has none that runvm can "
				     "reach): run it with networking off (--network none) or use another backend",
				     s->uri);
	name = g_strdup_printf("%s%s", s->name_prefix, cfg->name ? cfg->name : "vm");
	vm = g_new0(struct hv_vm, 1);
	vm->event_id = -1;
	vm->pidfd = -1;
	vm->memory_mib = cfg->memory_mib;
	vm->watch = g_atomic_rc_box_new0(struct lv_watch);
	g_mutex_init(&vm->watch->lock);
	vm->watch->name = g_strdup(name);
	vm->watch->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->watch->efd < 0) {
		vm_free(vm);
		return rt_make_error(err, errno, "eventfd");
	}
	if (lv_connect(s, &vm->conn, err) < 0)
		goto fail;
	/* Before the domain exists, so that no end of it can go unseen; the callbacks filter by
	 * name. Each holds a reference to the watch, dropped by libvirt when it is done with it. */
	vm->event_id = virConnectDomainEventRegisterAny(vm->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
							g_atomic_rc_box_acquire(vm->watch), watch_unref);
	if (vm->event_id < 0) {
		watch_unref(vm->watch);
		rt_make_error(err, 0, "libvirt lifecycle events: %s", lv_error());
		goto fail;
	}
	if (virConnectRegisterCloseCallback(vm->conn, on_close, g_atomic_rc_box_acquire(vm->watch), watch_unref) < 0)
		watch_unref(vm->watch);
	else
		vm->close_registered = 1;
	if (make_taps(vm, cfg, daemon, err) < 0)
		goto fail;
	for (size_t i = 0; i < vm->n_taps; i++)
		taps[i] = vm->taps[i].name;
	/* The shares as this process sees them (its mount namespace holds the bind mounts' staging
	 * tmpfs), through its /proc root: QEMU resolves the path once, at its start. */
	share_root = daemon > 0 ? g_strdup_printf("/proc/%d/root", (int)own_host_pid()) : g_strdup("");
	cmdline = lv_cmdline(cfg);
	d = (struct lv_domain){
		.cfg = cfg,
		.name = name,
		.type = is_test_uri(s->uri)          ? "test"
			: cfg->accel == HV_ACCEL_KVM ? "kvm"
						     : "qemu",
		.machine = lv_machine(s, cfg->arch),
		.emulator = *s->emulator ? s->emulator : NULL,
		.cmdline = cmdline,
		.share_root = share_root,
		.taps = taps,
		.agent_socket = cfg->agent.path,
		.virtiofsd = lv_virtiofsd(s),
	};
	vm->virtiofs_tags = g_ptr_array_new_with_free_func(g_free);
	for (size_t i = 0; i < cfg->n_shares; i++)
		if (lv_share_virtiofs(&d, &cfg->shares[i]))
			g_ptr_array_add(vm->virtiofs_tags, g_strdup(cfg->shares[i].tag));
	xml = lv_domain_xml(&d);
	if (rt_log_debug_enabled())
		rt_debug("libvirt: domain XML:\n%s", xml);
	vm->dom = virDomainCreateXML(vm->conn, xml, VIR_DOMAIN_START_VALIDATE | s->start_flags);
	if (!vm->dom) {
		rt_make_error(err, 0, "libvirt cannot start domain %s: %s", name, lv_error());
		goto fail;
	}
	for (size_t i = 0; i < vm->n_taps; i++)
		if (lv_tap_hand_over(&vm->taps[i], vm->tap_names[i], err) < 0)
			goto fail;
	{
		g_autofree char *qemu = g_strdup_printf("%s.pid", name);

		vm->pid = pid_file(daemon, qemu);
	}
	for (size_t i = 0; i < cfg->n_shares && i < LV_MAX_SHARES; i++)
		if (lv_share_virtiofs(&d, &cfg->shares[i])) {
			g_autofree char *f = g_strdup_printf("%u-%s-fs%zu-fs.pid", virDomainGetID(vm->dom), name, i);
			pid_t p = pid_file(daemon, f);

			if (p > 0)
				vm->helpers[vm->n_helpers++] = p;
		}
	if (vm->pid > 0)
		vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
	rt_debug("libvirt: domain %s started, QEMU pid %d", name, (int)vm->pid);
	*ret_vm = vm;
	return 0;
fail:
	if (vm->dom)
		kill_domain(vm);
	vm_free(vm);
	return -1;
}

static int exit_fd(struct hv_vm *vm)
{
	return vm->watch->efd;
}

static int vm_wait(struct hv_vm *vm, int timeout_ms, int *ret_status, struct rt_error **err)
{
	struct pollfd p = { .fd = vm->watch->efd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return rt_make_error(err, errno, "poll");
	if (r == 0)
		return 0;
	g_mutex_lock(&vm->watch->lock);
	*ret_status = vm->watch->status;
	if (vm->watch->why && !vm->reported) {
		rt_warn("%s", vm->watch->why);
		vm->reported = true;
	}
	g_mutex_unlock(&vm->watch->lock);
	return 1;
}

static int stop(struct hv_vm *vm, int grace_ms, struct rt_error **err)
{
	int st, r;

	if (is_set(vm->watch, &vm->watch->stopped))
		return 0;
	/* QEMU ends cleanly on SIGTERM, which a graceful destroy sends (and waits for). */
	mark(vm->watch, &vm->watch->destroying);
	if (grace_ms > 0 && virDomainDestroyFlags(vm->dom, VIR_DOMAIN_DESTROY_GRACEFUL) == 0) {
		r = vm_wait(vm, grace_ms, &st, err);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	kill_domain(vm);
	return 0;
}

static int pause_vm(struct hv_vm *vm, struct rt_error **err)
{
	return virDomainSuspend(vm->dom) < 0 ? rt_make_error(err, 0, "libvirt: suspend: %s", lv_error()) : 0;
}

static int resume_vm(struct hv_vm *vm, struct rt_error **err)
{
	return virDomainResume(vm->dom) < 0 ? rt_make_error(err, 0, "libvirt: resume: %s", lv_error()) : 0;
}

static const char *share_fs(struct hv_vm *vm, const char *tag)
{
	for (guint i = 0; vm->virtiofs_tags && i < vm->virtiofs_tags->len; i++)
		if (strcmp(vm->virtiofs_tags->pdata[i], tag) == 0)
			return "virtiofs";
	return NULL;
}

static size_t host_pids(struct hv_vm *vm, pid_t *ret, size_t max)
{
	size_t n = 0;

	if (vm->pid <= 0)
		return 0;
	if (max > 0)
		ret[n++] = vm->pid;
	for (size_t i = 0; i < vm->n_helpers && n < max; i++)
		ret[n++] = vm->helpers[i];
	return 1 + vm->n_helpers;
}

static int stats(struct hv_vm *vm, struct hv_vm_stats *ret, struct rt_error **err)
{
	struct hv_vm_stats st = { .guest_ram_bytes = (unsigned long long)vm->memory_mib << 20 };
	virDomainInfo info;

	if (is_set(vm->watch, &vm->watch->ended))
		return rt_make_error(err, ESRCH, "VM has ended");
	if (vm->pidfd >= 0) {
		if (hv_proc_stats(vm->pidfd, &st, err) < 0)
			return -1;
	} else if (virDomainGetInfo(vm->dom, &info) == 0) {
		/* No process to read (the test driver, a remote daemon): libvirt's CPU time. */
		st.cpu_user_us = info.cpuTime / 1000;
	} else
		return rt_make_error(err, ESRCH, "libvirt: domain info: %s", lv_error());
	*ret = st;
	return 0;
}

static void destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	/* Also when the monitor was told the VM ended because the connection was lost: QEMU
	 * may still run. */
	if (!is_set(vm->watch, &vm->watch->stopped))
		kill_domain(vm);
	vm_free(vm);
}

const struct hv_backend_ops hv_libvirt_ops = {
	.name = "libvirt",
	/* QEMU's 9p server, as the qemu backend's: it bounds the fids a cached rootfs holds. */
	.features = HV_FEAT_PAUSE | HV_FEAT_EXTERNAL | HV_FEAT_CACHED_ROOTFS,
	.manual = true,
	/* The qemu backend's QEMU, plus what q35's PCI devices and SeaBIOS add. */
	.host_overhead_mib = 192,
	.parse_config = parse_config,
	.free_config = free_config,
	.probe = probe,
	.confidential = confidential,
	.check_report = check_report,
	.launch = launch,
	.exit_fd = exit_fd,
	.wait = vm_wait,
	.stop = stop,
	.pause = pause_vm,
	.resume = resume_vm,
	.share_fs = share_fs,
	.host_pids = host_pids,
	.stats = stats,
	.destroy = destroy,
};
