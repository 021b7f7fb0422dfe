/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "base/cleanup.h"
#include "runtime/arch.h"
#include "hypervisor-backends/backend.h"
#include "hypervisor-backends/hostcaps.h"
#include "protocol/agent-proto.h"
#include "runtime/cli.h"
#include "runtime/container.h"
#include "runtime/cgroup.h"
#include "runtime/ctl.h"
#include "runtime/hooks.h"
#include "runtime/lib/config.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/lib/state.h"
#include "runtime/lib/util.h"
#include "runtime/monitor.h"
#include "runtime/seccomp.h"

/* Would the container share the host's network stack? It would without a network namespace, or
 * with one that is ours (docker --network host names the host's: EXEC_ROOT/netns/default). A
 * VM cannot share a network stack. */
static bool shares_host_netns(const struct rt_spec *spec)
{
	struct stat ours, theirs;

	if (!spec->netns)
		return true;
	return spec->netns_path && stat(spec->netns_path, &theirs) == 0 && stat("/proc/self/ns/net", &ours) == 0 &&
		ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

int rt_container_prepare(struct rt_container *c, const struct rt_globals *g, const char *id, const char *bundle,
			 struct rt_error **err)
{
	g_autofree char *root = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	struct hv_host_caps caps;

	c->id = id;
	if (rt_check_id(id, err) < 0)
		return -1;
	c->bundle = g_canonicalize_filename(bundle, NULL);
	if (rt_spec_load(c->bundle, &c->spec, err) < 0 || rt_config_load(&c->config, err) < 0)
		return -1;
	if (shares_host_netns(c->spec))
		return rt_make_error(err, 0,
				     "the host's network namespace cannot be shared with a VM (docker --network host): "
				     "give the container a network namespace of its own");
	hv_host_probe("", &caps);
	if (rt_vm_spec_prepare(c->config, c->spec, &caps, g->backend, g->debug, &c->vs, &c->ops, &c->probe, err) < 0)
		return -1;
	rt_debug("backend %s, accelerator %s: %s", c->ops->name, hv_accel_name(c->probe.accel), c->probe.reason);
	if (rt_root_prepare(g->root, &root, err) < 0 || rt_state_dir_create(root, id, &c->state_dir, err) < 0)
		return -1;
	c->console_log = g_build_filename(c->state_dir, "console.log", NULL);
	c->vs.cfg.console_log = c->console_log;
	c->created = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
	return rt_state_write(c->state_dir,
			      &(struct rt_state){ .oci_version = c->spec->oci_version,
						  .id = (char *)id,
						  .status = "creating",
						  .bundle = c->bundle,
						  .rootfs = c->spec->rootfs,
						  .created = c->created,
						  .backend = (char *)c->ops->name,
						  .accel = (char *)hv_accel_name(c->probe.accel) },
			      err);
}

static int run_hooks(struct rt_container *c, enum rt_hook_kind kind, const char *status, struct rt_error **err)
{
	return rt_hooks_run(c->spec, kind, c->id, c->bundle, status, getpid(), err);
}

static int on_status(void *ctx, const char *status, struct rt_error **err)
{
	struct rt_container *c = ctx;
	struct rt_state st = {
		.oci_version = c->spec->oci_version,
		.id = (char *)c->id,
		.status = (char *)status,
		.pid = getpid(),
		.pid_start = rt_pid_start_time(getpid()),
		.bundle = c->bundle,
		.rootfs = c->spec->rootfs,
		.created = c->created,
		.backend = (char *)c->ops->name,
		.accel = (char *)hv_accel_name(c->probe.accel),
		.cgroups_path = c->cgroup_joined ? c->spec->cgroups_path : NULL,
		/* For `delete` after a monitor that could not take the redirect off (SIGKILL). */
		.netns_path = c->spec->netns_path,
		.net_ifindex = c->net.ifindex,
	};

	rt_debug("container %s", status);
	/* The network first: the namespace is complete once the prestart hooks have run (Docker
	 * 20.10) or once create has returned (Docker 26+ configures it in between). */
	if (strcmp(status, "starting") == 0)
		return (c->tap_fd >= 0 && rt_net_connect(c->spec, &c->net, err) < 0)
			? -1
			: run_hooks(c, RT_HOOK_START_CONTAINER, "created", err);
	/*
	 * The hooks of create see the VM up (the pid is the monitor's), the process not started.
	 * Their status is runtime-spec's: they run after lifecycle step 2, when the environment
	 * exists and the program has not run, which runtime.md calls `created` (`creating` is
	 * step 2 itself), and runtime-tools' hooks_stdin test asks `created` of prestart. runc
	 * 1.1.5 says `creating` to all three. startContainer (`created`) and poststop (`stopped`)
	 * agree with runc; poststart is `running` (after step 8), where runc 1.1.5 says `created`.
	 * Every hook here runs on the host in the monitor's pid namespace, so createContainer and
	 * startContainer get the monitor's pid too, where runc's, run in the container, get 1.
	 */
	if (strcmp(status, "created") == 0 &&
	    (run_hooks(c, RT_HOOK_PRESTART, "created", err) < 0 ||
	     run_hooks(c, RT_HOOK_CREATE_RUNTIME, "created", err) < 0 ||
	     run_hooks(c, RT_HOOK_CREATE_CONTAINER, "created", err) < 0))
		return -1;
	/* runc finds a missing program at create, once its mounts are made and the createContainer
	 * hooks have run (they may make it); `create` looked already where no hook could. `run`
	 * keeps the guest's word at start (its 127 or 126, as before). */
	if (strcmp(status, "created") == 0 && c->ready_fd >= 0 && rt_program_check(c->spec, err) < 0)
		return -1;
	if (rt_state_write(c->state_dir, &st, err) < 0)
		return -1;
	if (strcmp(status, "running") == 0 && run_hooks(c, RT_HOOK_POSTSTART, "running", err) < 0) {
		/* runtime-spec: a failed poststart hook is a warning; the container goes on. */
		rt_warn("%s", (*err)->msg);
		rt_error_free(err);
	}
	if (strcmp(status, "created") == 0 && c->ready_fd >= 0) {
		/* `create` may return now: the VM is up, the process not started. */
		if (write(c->ready_fd, "ok", 2) != 2)
			return rt_make_error(err, errno, "report to create");
		close(c->ready_fd);
		c->ready_fd = -1;
	}
	return 0;
}

/* The monitor lives in the container's network namespace (a new one, or the one named in
 * linux.namespaces), so that what the caller sets up in /proc/PID/ns/net is the container's,
 * never the host's. */
static int join_netns(const struct rt_spec *spec, struct rt_error **err)
{
	int fd;

	if (!spec->netns)
		return 0;
	if (!spec->netns_path)
		return unshare(CLONE_NEWNET) < 0 ? rt_make_error(err, errno, "create a network namespace") : 0;
	fd = open(spec->netns_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rt_make_error(err, errno, "open network namespace `%s`", spec->netns_path);
	if (setns(fd, CLONE_NEWNET) < 0) {
		int e = errno;

		close(fd);
		return rt_make_error(err, e, "join network namespace `%s`", spec->netns_path);
	}
	close(fd);
	return 0;
}

/*
 * Bind mounts reach the guest through one more share, STATE_DIR/mounts, in a mount namespace
 * of the monitor's own (it and the hypervisor are its only members, so the mounts vanish with
 * them and never show on the host). What the share exports is a small tmpfs mounted over that
 * directory, holding only mount N's target N, bind-mounted from mount N's source, and then
 * made read-only: the guest sees each bind source and nothing of --root, and whatever it
 * writes lands in a bind source (as the container's own writes would under runc) or nowhere.
 * A read-only bind ("ro", and "rro") is read-only here too, recursively, whatever the guest
 * does.
 */
static int stage_bind_mounts(struct rt_container *c, struct rt_error **err)
{
	const char *dir;
	bool any = false;

	for (size_t i = 0; i < c->spec->n_mounts; i++)
		any = any || c->spec->mounts[i].bind;
	if (!any)
		return 0;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return rt_make_error(err, errno, "create the monitor's mount namespace");
	c->vs.shares[1] = (struct hv_share){ .tag = RV_MOUNTS_TAG,
					     .host_path = dir = g_build_filename(c->state_dir, "mounts", NULL) };
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return rt_make_error(err, errno, "mkdir `%s`", dir);
	/* Room for the targets' inodes only; it is read-only before the guest exists anyway. */
	if (mount("runvm-mounts", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,nr_inodes=4096,mode=0700") <
	    0)
		return rt_make_error(err, errno, "mount a tmpfs on `%s`", dir);
	/* From here on rt_container_release() unmounts it, also when staging fails. */
	for (size_t i = 0; i < c->spec->n_mounts; i++) {
		const struct rt_mount *m = &c->spec->mounts[i];
		g_autofree char *target = NULL;
		struct stat st;
		bool rec = false;

		if (!m->bind)
			continue;
		for (char **o = m->options; *o; o++)
			rec = rec || strcmp(*o, "rbind") == 0;
		if (stat(m->source, &st) < 0)
			return rt_make_error(err, errno, "bind mount source `%s`", m->source);
		target = g_strdup_printf("%s/%zu", dir, i);
		if (S_ISDIR(st.st_mode) ? mkdir(target, 0700) < 0 : mknod(target, S_IFREG | 0600, 0) < 0)
			return rt_make_error(err, errno, "create `%s`", target);
		if (mount(m->source, target, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
			return rt_make_error(err, errno, "bind `%s`", m->source);
		/* MS_REMOUNT | MS_RDONLY would reach the top mount only, never the ones below it. */
		if (m->readonly &&
		    mount_setattr(AT_FDCWD, target, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW,
				  &(struct mount_attr){ .attr_set = MOUNT_ATTR_RDONLY }, sizeof(struct mount_attr)) < 0)
			return rt_make_error(err, errno, "make `%s` read-only", m->source);
	}
	/* Not recursive: the binds keep their own flags. */
	if (mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return rt_make_error(err, errno, "make `%s` read-only", dir);
	c->vs.cfg.n_shares = 2;
	return 0;
}

/* The debug log's account of what the VM cost the host, taken when the container's process has
 * ended and the VM still runs (the agent ends it once the channel closes). */
static void log_vm_stats(const struct rt_container *c)
{
	struct rt_error *err = NULL;
	struct hv_vm_stats st;

	if (!rt_log_debug_enabled())
		return;
	if (c->ops->stats(c->vm, &st, &err) < 0) {
		rt_debug("container exited; VM statistics: %s, ignoring", err->msg);
		rt_error_free(&err);
		return;
	}
	rt_debug("container exited; the VM: %llu MiB resident on the host for %llu MiB of guest RAM, CPU %llu ms user, "
		 "%llu ms system",
		 st.host_rss_bytes >> 20, st.guest_ram_bytes >> 20, st.cpu_user_us / 1000, st.cpu_system_us / 1000);
}

int rt_container_monitor(struct rt_container *c, bool autostart, int *ret_status, char **ret_agent_error,
			 struct rt_error **err)
{
	g_autofree char *ctl_path = g_build_filename(c->state_dir, "ctl.sock", NULL);
	struct rt_monitor_config mc;
	sigset_t fwd;
	int sp[2], vm_status, r;

	if (rt_ctl_listen(ctl_path, &c->listen_fd, err) < 0 || join_netns(c->spec, err) < 0 ||
	    stage_bind_mounts(c, err) < 0)
		return -1;
	if (c->spec->netns) {
		if (rt_net_tap_open(&c->tap_fd, err) < 0)
			return -1;
		c->vs.nic.tap_fd = c->tap_fd;
		c->vs.cfg.nics = &c->vs.nic;
		c->vs.cfg.n_nics = 1;
	}
	if (c->spec->seccomp_json &&
	    rt_seccomp_compile(c->spec->seccomp_json, c->vs.cfg.arch, &c->seccomp_bpf, &c->seccomp_len, err) < 0)
		return -1;
	/* Before the hypervisor starts, so that it is born in the container's cgroup too. */
	if (c->spec->cgroups_path && !rt_cgroup_path_supported(c->spec->cgroups_path))
		rt_warn("cgroupsPath `%s` is not a cgroupfs path, the monitor stays in its cgroup",
			c->spec->cgroups_path);
	else if (c->spec->cgroups_path) {
		if (rt_cgroup_enter(c->spec->cgroups_path, c->spec, rt_cgroup_memory_mib(c->ops, c->vs.cfg.memory_mib),
				    err) < 0)
			return -1;
		c->cgroup_joined = true;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return rt_make_error(err, errno, "socketpair");
	c->agent_fd = sp[0];
	if (fcntl(c->agent_fd, F_SETFL, O_NONBLOCK) < 0) {
		close(sp[1]);
		return rt_make_error(err, errno, "fcntl");
	}
	c->vs.cfg.agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_FD, .fd = sp[1] };

	/* Signals meant for the container queue up from here on, and are forwarded once its
	 * process exists. */
	rt_monitor_forwarded_signals(&fwd);
	if (sigprocmask(SIG_BLOCK, &fwd, &c->old_mask) < 0) {
		close(sp[1]);
		return rt_make_error(err, errno, "sigprocmask");
	}
	c->mask_set = true;
	c->signal_fd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
	if (c->signal_fd < 0) {
		close(sp[1]);
		return rt_make_error(err, errno, "signalfd");
	}

	r = c->ops->launch(rt_config_backend_settings(c->config, c->ops), &c->vs.cfg, &c->vm, err);
	/* The backend holds its own copy; ours would keep the channel open after a hypervisor
	 * process is gone. */
	close(sp[1]);
	if (r < 0)
		return rt_error_wrap(err, "start the VM");
	rt_debug("VM launched");

	mc = (struct rt_monitor_config){
		.ops = c->ops,
		.vm = c->vm,
		.spec = c->spec,
		.agent_fd = c->agent_fd,
		.signal_fd = c->signal_fd,
		.listen_fd = c->listen_fd,
		.stdin_fd = c->stdin_fd,
		.stdout_fd = c->stdout_fd,
		.stderr_fd = c->stderr_fd,
		.boot_timeout_ms = c->config->boot_timeout_s * 1000,
		.console_log = c->console_log,
		.autostart = autostart,
		.on_status = on_status,
		.ctx = c,
		.seccomp_bpf = c->seccomp_bpf,
		.seccomp_len = c->seccomp_len,
		.net = &c->net,
	};
	if (rt_monitor_run(&mc, ret_status, ret_agent_error, err) < 0)
		return -1;
	log_vm_stats(c);
	/* Hanging up tells the agent it may end the guest now (see agent-proto.h). */
	close(c->agent_fd);
	c->agent_fd = -1;
	/* The agent ends the guest right after EXIT; stop() covers a guest that does not. */
	if (c->ops->wait(c->vm, 2000, &vm_status, err) < 0 || c->ops->stop(c->vm, 500, err) < 0)
		return -1;
	rt_debug("VM ended");
	return 0;
}

/* With --debug, the end of the guest's console: its last 64 KiB (the log is bounded, but not
 * that small), one escaped debug line per console line, since the guest wrote it. */
static void dump_console(const char *path)
{
	enum { DUMP_TAIL = 64 * 1024, DUMP_LINE = 512 };
	g_autofree uint8_t *buf = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct stat sb;
	ssize_t n;

	if (!rt_log_debug_enabled() || !path)
		return;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0)
		return;
	buf = g_malloc(DUMP_TAIL);
	n = pread(fd, buf, DUMP_TAIL, sb.st_size > DUMP_TAIL ? sb.st_size - DUMP_TAIL : 0);
	if (n <= 0)
		return;
	rt_debug("guest console (last %zd bytes):", n);
	for (const uint8_t *l = buf, *end = buf + n; l < end;) {
		const uint8_t *nl = memchr(l, '\n', (size_t)(end - l));
		const uint8_t *e = nl ? nl : end;
		g_autofree char *line = rt_escape_text(l, (size_t)(e - l), DUMP_LINE);

		rt_debug("  %s", line);
		l = nl ? nl + 1 : end;
	}
}

void rt_container_release(struct rt_container *c)
{
	if (c->vm)
		c->ops->destroy(c->vm);
	c->vm = NULL;
	dump_console(c->console_log);
	/* `run` staged its bind mounts in its own namespace: let go of them (the tmpfs and the binds
	 * on it, at once) before removing. */
	if (c->vs.shares[1].host_path)
		umount2(c->vs.shares[1].host_path, MNT_DETACH | UMOUNT_NOFOLLOW);
	if (c->state_dir && !c->keep_state) {
		struct rt_error *err = NULL;

		if (rt_state_dir_remove(c->state_dir, &err) < 0) {
			rt_warn("%s", err->msg);
			rt_error_free(&err);
		}
		/* `run` (or a failed create) was in the cgroup itself: step out, then remove it. */
		if (c->cgroup_joined)
			rt_cgroup_remove(c->spec->cgroups_path, true);
	}
	if (c->mask_set)
		sigprocmask(SIG_SETMASK, &c->old_mask, NULL);
	c->mask_set = false;
	rt_net_release(&c->net);
	for (int *fds[] = { &c->agent_fd, &c->signal_fd, &c->listen_fd, &c->ready_fd, &c->tap_fd }, i = 0; i < 5; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	rt_spec_free(c->spec);
	rt_config_free(c->config);
	g_free(c->bundle);
	g_free(c->state_dir);
	g_free(c->console_log);
	g_free(c->created);
	g_free(c->seccomp_bpf);
	g_free((char *)c->vs.shares[1].host_path);
	c->seccomp_bpf = NULL;
	c->vs.shares[1].host_path = NULL;
	c->spec = NULL;
	c->config = NULL;
	c->bundle = c->state_dir = c->console_log = c->created = NULL;
}
