/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
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

/*
 * The container's namespaces on the host (issue 13): the monitor, whose pid is the container's,
 * lives in them, as runc's container process does, so that what tools read in /proc/PID/ns is
 * the container's. For each type of linux.namespaces: a path is joined, a type without one gets a
 * new namespace, a type not listed is the caller's. The order is runc's (nsexec): every path is
 * opened first (a joined mount namespace may not have the others), joined in the order of
 * enum rt_ns_type, then the new ones are made; the cgroup namespace comes after the cgroup is
 * joined, so that its root is the container's cgroup. pid and time are the exceptions: only
 * children enter those, so `create` and `run` enter them just before they fork the monitor
 * (rt_container_enter_child_namespaces), which is then PID 1 of a new pid namespace.
 *
 * user: never on the host. Mappings are the guest's business (the guest's user namespace); the
 * monitor stays in the caller's user namespace, as root, which the VMM's jail needs.
 */

/* The monitor's pid for the host, or rather for the caller (its pid namespace): in a pid
 * namespace of its own the monitor is PID 1 there, and getpid() says 1. Read from /proc/self,
 * the caller's procfs (the monitor's mount namespaces, new or copied, keep it), before anything
 * else changes. */
static pid_t monitor_pid;

/* How long a daemon's hypervisor may take to connect the agent's channel once launch has
 * returned: it connects as it starts, so only a wedged one takes long. */
#define AGENT_ACCEPT_MS 10000

static pid_t host_pid(void)
{
	char buf[32];
	ssize_t n;

	if (monitor_pid > 0)
		return monitor_pid;
	n = readlink("/proc/self", buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		monitor_pid = (pid_t)g_ascii_strtoll(buf, NULL, 10);
	}
	if (monitor_pid <= 0)
		monitor_pid = getpid();
	return monitor_pid;
}

/* Whether the kernel has time namespaces (5.6 and later). Without them a listed "time" is left
 * out, as one more type the host lacks. */
static bool have_time_ns(void)
{
	return access("/proc/self/ns/time", F_OK) == 0;
}

/* What linux.namespaces asks of the host for @type: 0 nothing (not listed, or user, or a time
 * namespace this kernel lacks), else its CLONE_NEW* flag. */
static int ns_wanted(const struct rt_spec *spec, enum rt_ns_type type)
{
	if (!spec->namespaces[type].listed || type == RT_NS_USER || (type == RT_NS_TIME && !have_time_ns()))
		return 0;
	return rt_ns_clone_flag(type);
}

static const char *ns_name_of_flag(int flag)
{
	for (int t = 0; t < _RT_NS_MAX; t++)
		if (rt_ns_clone_flag(t) == flag)
			return rt_ns_proc_name(t);
	return "unknown";
}

/* Open @type's path, which must be a namespace of that type. runc's nsexec says "failed to open
 * PATH" and "failed to setns into ipc namespace: Invalid argument"; this says why. O_NONBLOCK:
 * a FIFO there must not hang us. */
static int open_ns_path(const struct rt_spec *spec, enum rt_ns_type type, int *ret_fd, struct rt_error **err)
{
	const char *path = spec->namespaces[type].path, *name = rt_ns_proc_name(type);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct statfs fs;
	int kind;

	if (fd < 0)
		return rt_make_error(err, errno, "namespace path: `%s`", path);
	if (fstatfs(fd, &fs) < 0 || fs.f_type != NSFS_MAGIC || (kind = ioctl(fd, NS_GET_NSTYPE)) < 0)
		return rt_make_error(err, 0, "failed to setns into %s namespace: `%s` is not a namespace", name, path);
	if (kind != rt_ns_clone_flag(type))
		return rt_make_error(err, 0, "failed to setns into %s namespace: `%s` is a %s namespace", name, path,
				     ns_name_of_flag(kind));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* At `create` and `run`, before anything exists: every path must be a namespace of its type
 * (one error line and nothing left, rather than a monitor that fails). A relative path is the
 * caller's, as runc takes it (containerd runs it in the bundle). */
static int check_namespaces(struct rt_spec *spec, struct rt_error **err)
{
	for (int t = 0; t < _RT_NS_MAX; t++) {
		struct rt_namespace *ns = &spec->namespaces[t];
		int fd;

		if (!ns->path || t == RT_NS_USER)
			continue;
		if (!g_path_is_absolute(ns->path)) {
			char *abs = g_canonicalize_filename(ns->path, NULL);

			g_free(ns->path);
			ns->path = abs;
			if (t == RT_NS_NET) {
				g_free(spec->netns_path);
				spec->netns_path = g_strdup(abs);
			}
		}
		if (open_ns_path(spec, t, &fd, err) < 0)
			return -1;
		close(fd);
	}
	return 0;
}

int rt_container_enter_child_namespaces(struct rt_container *c, struct rt_error **err)
{
	static const enum rt_ns_type types[] = { RT_NS_PID, RT_NS_TIME };
	int fds[G_N_ELEMENTS(types)], flags = 0, r = -1;
	bool any = false;

	/* They exist for the VMM, the monitor's child. A daemon's hypervisor (HV_FEAT_EXTERNAL)
	 * lives in the daemon's, whatever the monitor does; and the monitor, left in the caller's,
	 * names it by pid where the host does (its cgroup, its statistics). */
	if (c->ops->features & HV_FEAT_EXTERNAL) {
		rt_debug("the %s backend's hypervisor is a daemon's: no pid or time namespace for it", c->ops->name);
		return 0;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		fds[i] = -1;
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
		int flag = ns_wanted(c->spec, types[i]);

		if (!flag)
			continue;
		any = true;
		if (!c->spec->namespaces[types[i]].path)
			flags |= flag;
		else if (open_ns_path(c->spec, types[i], &fds[i], err) < 0)
			goto out;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (fds[i] >= 0 && setns(fds[i], rt_ns_clone_flag(types[i])) < 0) {
			rt_make_error(err, errno, "failed to setns into %s namespace `%s`", rt_ns_proc_name(types[i]),
				      c->spec->namespaces[types[i]].path);
			goto out;
		}
	if (flags && unshare(flags) < 0) {
		rt_make_error(err, errno, "create the container's pid or time namespace");
		goto out;
	}
	/* The VMM stays in a pid namespace named by path rather than one of its own. */
	if (c->spec->namespaces[RT_NS_PID].path)
		c->vs.cfg.vmm_shared_namespaces |= CLONE_NEWPID;
	r = any ? 1 : 0;
out:
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

/* The cgroup namespace the monitor came from, while it is in another: it steps out of the
 * container's cgroup from there (a cgroup v2 namespace cannot reach its root's parent). */
static int caller_cgroupns_fd = -1;

/* In the monitor: ipc, uts, net, mount. Paths joined first, all opened before the first
 * setns; then the new ones, in one unshare. @ret_cgroup_fd: the cgroup namespace path's fd, for
 * enter_cgroup_ns once the cgroup is joined. */
static int enter_namespaces(struct rt_container *c, int *ret_cgroup_fd, struct rt_error **err)
{
	static const enum rt_ns_type types[] = { RT_NS_IPC, RT_NS_UTS, RT_NS_NET, RT_NS_MOUNT, RT_NS_CGROUP };
	const struct rt_spec *spec = c->spec;
	int fds[G_N_ELEMENTS(types)], flags = 0, r = -1;
	g_autofree char *cwd = g_get_current_dir();

	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		fds[i] = -1;
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (ns_wanted(spec, types[i]) && spec->namespaces[types[i]].path &&
		    open_ns_path(spec, types[i], &fds[i], err) < 0)
			goto out;
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
		if (fds[i] < 0 || types[i] == RT_NS_CGROUP)
			continue;
		if (setns(fds[i], rt_ns_clone_flag(types[i])) < 0) {
			rt_make_error(err, errno, "failed to setns into %s namespace `%s`", rt_ns_proc_name(types[i]),
				      spec->namespaces[types[i]].path);
			goto out;
		}
		/* Joining a mount namespace moves us to its root: paths relative to where we were
		 * (the caller's) resolve there alike, if it has that directory. */
		if (types[i] == RT_NS_MOUNT && chdir(cwd) < 0)
			rt_debug("chdir `%s` in the joined mount namespace: %s, staying at its root", cwd,
				 strerror(errno));
	}
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (types[i] != RT_NS_CGROUP && !spec->namespaces[types[i]].path)
			flags |= ns_wanted(spec, types[i]);
	if (flags && unshare(flags) < 0) {
		rt_make_error(err, errno, "create the container's namespaces");
		goto out;
	}
	/* Ours alone: nothing mounted here (the bind mounts' staging) may show elsewhere. */
	if ((flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		rt_make_error(err, errno, "make the monitor's mount namespace private");
		goto out;
	}
	/* As runc does in a UTS namespace of the container's own (the guest's is set by the
	 * agent): what `nsenter -u -t PID hostname` shows. */
	if ((flags & CLONE_NEWUTS) && spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
		rt_make_error(err, errno, "sethostname");
		goto out;
	}
	if (spec->namespaces[RT_NS_IPC].path)
		c->vs.cfg.vmm_shared_namespaces |= CLONE_NEWIPC;
	*ret_cgroup_fd = fds[G_N_ELEMENTS(types) - 1];
	fds[G_N_ELEMENTS(types) - 1] = -1;
	r = 0;
out:
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

/* The cgroup namespace, once the monitor is in the container's cgroup: @fd's (a path), or a
 * new one rooted there. */
static int enter_cgroup_ns(const struct rt_spec *spec, int fd, struct rt_error **err)
{
	if (!ns_wanted(spec, RT_NS_CGROUP))
		return 0;
	caller_cgroupns_fd = open("/proc/self/ns/cgroup", O_RDONLY | O_CLOEXEC);
	if (caller_cgroupns_fd < 0)
		return rt_make_error(err, errno, "open /proc/self/ns/cgroup");
	if (fd >= 0 && setns(fd, CLONE_NEWCGROUP) < 0)
		return rt_make_error(err, errno, "failed to setns into cgroup namespace `%s`",
				     spec->namespaces[RT_NS_CGROUP].path);
	if (fd < 0 && unshare(CLONE_NEWCGROUP) < 0)
		return rt_make_error(err, errno, "create the container's cgroup namespace");
	return 0;
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
	if (check_namespaces(c->spec, err) < 0)
		return -1;
	hv_host_probe("", &caps);
	if (rt_vm_spec_prepare(c->config, c->spec, &caps, g->backend, g->debug, &c->vs, &c->ops, &c->probe, err) < 0)
		return -1;
	rt_debug("backend %s, accelerator %s: %s", c->ops->name, hv_accel_name(c->probe.accel), c->probe.reason);
	if (rt_root_prepare(g->root, &root, err) < 0 || rt_state_dir_create(root, id, &c->state_dir, err) < 0)
		return -1;
	c->console_log = g_build_filename(c->state_dir, "console.log", NULL);
	c->vs.cfg.console_log = c->console_log;
	c->vs.cfg.name = c->id;
	c->created = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
	return rt_state_write(c->state_dir,
			      &(struct rt_state){ .oci_version = c->spec->oci_version,
						  .id = (char *)id,
						  .status = "creating",
						  .bundle = c->bundle,
						  .rootfs = c->spec->rootfs,
						  .created = c->created,
						  .backend = (char *)c->ops->name,
						  .accel = (char *)hv_accel_name(c->probe.accel),
						  .annotations_json = c->spec->annotations_json },
			      err);
}

static int run_hooks(struct rt_container *c, enum rt_hook_kind kind, const char *status, struct rt_error **err)
{
	return rt_hooks_run(c->spec, kind, c->id, c->bundle, status, host_pid(), err);
}

static int on_status(void *ctx, const char *status, struct rt_error **err)
{
	struct rt_container *c = ctx;
	struct rt_state st = {
		.oci_version = c->spec->oci_version,
		.id = (char *)c->id,
		.status = (char *)status,
		.pid = host_pid(),
		.pid_start = rt_pid_start_time(host_pid()),
		.bundle = c->bundle,
		.rootfs = c->spec->rootfs,
		.created = c->created,
		.backend = (char *)c->ops->name,
		.accel = (char *)hv_accel_name(c->probe.accel),
		.cgroups_path = c->cgroup_joined ? c->spec->cgroups_path : NULL,
		/* For `delete` after a monitor that could not take the redirect off (SIGKILL). */
		.netns_path = c->spec->netns_path,
		.net_ifindex = c->net.ifindex,
		.annotations_json = c->spec->annotations_json,
	};

	rt_debug("container %s", status);
	/* The network first: the namespace is complete once the prestart hooks have run (Docker
	 * 20.10) or once create has returned (Docker 26+ configures it in between). */
	if (strcmp(status, "starting") == 0) {
		if (c->vs.cfg.n_nics > 0) {
			if (rt_net_connect(c->spec, &c->net, err) < 0)
				return -1;
			/* Recorded at once: a `delete` that SIGKILLs the monitor from here on (while
			 * start waits on a silent guest) must find the redirect to take it off. */
			st.status = "created";
			st.net_ifindex = c->net.ifindex;
			if (rt_state_write(c->state_dir, &st, err) < 0)
				return -1;
		}
		return run_hooks(c, RT_HOOK_START_CONTAINER, "created", err);
	}
	/*
	 * The hooks of create see the VM up (the pid is the monitor's), the process not started.
	 * Their status is runtime-spec's: they run after lifecycle step 2, when the environment
	 * exists and the program has not run, which runtime.md calls `created` (`creating` is
	 * step 2 itself), and runtime-tools' hooks_stdin test asks `created` of prestart. runc
	 * 1.1.5 says `creating` to all three. startContainer (`created`) and poststop (`stopped`)
	 * agree with runc; poststart is `running` (after step 8), where runc 1.1.5 says `created`.
	 * Every hook here runs on the host: prestart, createRuntime and poststart in the runtime's
	 * namespaces as runtime-spec says (rt_hooks_keep_runtime_namespaces: all but pid),
	 * createContainer and startContainer in the monitor's, the container's on the host. So they
	 * get the monitor's pid too, where runc's, run in the container, get 1.
	 */
	if (strcmp(status, "created") == 0 &&
	    (run_hooks(c, RT_HOOK_PRESTART, "created", err) < 0 ||
	     run_hooks(c, RT_HOOK_CREATE_RUNTIME, "created", err) < 0 ||
	     run_hooks(c, RT_HOOK_CREATE_CONTAINER, "created", err) < 0))
		return -1;
	/* runc finds a missing program at create, once its mounts are made and the createContainer
	 * hooks have run (they may make it); `create` and `run` looked already where no hook
	 * could (rt_program_check_early). */
	if (strcmp(status, "created") == 0 && rt_program_check(c->spec, err) < 0)
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
	/* A mount namespace of the container's own (enter_namespaces) takes them as it is. The
	 * caller's, or one that config.json names by path, is shared with others: the staging
	 * goes into a private copy of it (whose /proc/PID/ns/mnt is then the copy's). */
	if ((!c->spec->namespaces[RT_NS_MOUNT].listed || c->spec->namespaces[RT_NS_MOUNT].path) &&
	    (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0))
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
	c->vs.cfg.n_shares++;
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

/* The short names of the agents' sockets: a state directory's path (Docker's are long) can pass
 * the 108 bytes of a unix socket's address, which QEMU refuses. */
#define AGENT_LINK_DIR "/run/runvm-agent"

/* Drop the agent's socket and its short name once connected, or when the container goes. */
static void agent_unlink(struct rt_container *c)
{
	if (c->agent_link)
		unlink(c->agent_link);
	if (c->agent_sock)
		unlink(c->agent_sock);
	g_clear_pointer(&c->agent_link, g_free);
	g_clear_pointer(&c->agent_sock, g_free);
}

/*
 * HV_FEAT_EXTERNAL: listen where the daemon's QEMU connects the agent's port as it starts: the
 * socket in the state directory (root's alone), handed to QEMU as a symbolic link of a short
 * name in AGENT_LINK_DIR (root's alone too), which connect() follows.
 */
static int agent_listen(struct rt_container *c, int *ret_fd, struct rt_error **err)
{
	g_autofree char *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, c->state_dir, -1);

	c->agent_sock = g_build_filename(c->state_dir, "agent.sock", NULL);
	hash[32] = '\0';
	c->agent_link = g_strdup_printf(AGENT_LINK_DIR "/%s", hash);
	if (mkdir(AGENT_LINK_DIR, 0700) < 0 && errno != EEXIST)
		return rt_make_error(err, errno, "mkdir `%s`", AGENT_LINK_DIR);
	unlink(c->agent_link);
	if (symlink(c->agent_sock, c->agent_link) < 0)
		return rt_make_error(err, errno, "symlink `%s`", c->agent_link);
	if (rt_unix_listen(c->agent_sock, SOCK_STREAM, ret_fd, err) < 0)
		return -1;
	c->vs.cfg.agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_PATH, .path = c->agent_link };
	return 0;
}

/* HV_FEAT_EXTERNAL: the connection, made before launch returned; what connects is QEMU. */
static int accept_agent(struct rt_container *c, int listen_fd, struct rt_error **err)
{
	struct pollfd p = { .fd = listen_fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, AGENT_ACCEPT_MS);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return rt_make_error(err, r < 0 ? errno : ETIMEDOUT,
				     "the VM's hypervisor did not connect the agent's channel (`%s`) within %d ms",
				     c->agent_link, AGENT_ACCEPT_MS);
	c->agent_fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c->agent_fd < 0)
		return rt_make_error(err, errno, "accept the agent's channel");
	agent_unlink(c);
	return 0;
}

/* HV_FEAT_EXTERNAL: the daemon's QEMU (and virtiofsd) were born in the daemon's cgroups; the
 * container's limits (and `runvm update`'s) are the monitor's cgroup's, so they join it. */
static int attach_hypervisor(struct rt_container *c, struct rt_error **err)
{
	pid_t pids[16];
	size_t n = c->ops->host_pids ? c->ops->host_pids(c->vm, pids, G_N_ELEMENTS(pids)) : 0;

	if (!c->cgroup_joined)
		return 0;
	if (n == 0)
		rt_warn("the %s backend does not say which processes run the VM: they stay outside cgroupsPath `%s`",
			c->ops->name, c->spec->cgroups_path);
	for (size_t i = 0; i < MIN(n, G_N_ELEMENTS(pids)); i++)
		if (rt_cgroup_attach(c->cgroup_dirs, pids[i], err) < 0)
			return rt_error_wrap(err, "the VM's processes");
	return 0;
}

int rt_container_monitor(struct rt_container *c, bool autostart, int *ret_status, char **ret_agent_error,
			 struct rt_error **err)
{
	g_autofree char *ctl_path = g_build_filename(c->state_dir, "ctl.sock", NULL);
	struct rt_monitor_config mc;
	sigset_t fwd;
	int sp[2], vm_status, r;
	bool external = c->ops->features & HV_FEAT_EXTERNAL;

	_cleanup_close_ int cgroupns_fd = -EBADF, agent_listen_fd = -EBADF;

	host_pid();
	if (rt_ctl_listen(ctl_path, &c->listen_fd, err) < 0 || rt_hooks_keep_runtime_namespaces(err) < 0 ||
	    enter_namespaces(c, &cgroupns_fd, err) < 0 || stage_bind_mounts(c, err) < 0)
		return -1;
	if (c->spec->netns) {
		/* A daemon's QEMU takes no fd of ours: the backend makes the tap by its name. */
		if (external ? rt_net_tap_check(err) < 0 : rt_net_tap_open(&c->tap_fd, err) < 0)
			return -1;
		c->vs.nic = (struct hv_nic){ .tap_fd = c->tap_fd, .tap_name = external ? RT_NET_TAP : NULL };
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
		struct rt_cgroup_limits lim;

		rt_cgroup_limits_from(&c->spec->resources, rt_cgroup_memory_mib(c->ops, c->vs.cfg.memory_mib), &lim);
		if (rt_cgroup_enter(c->spec->cgroups_path, &lim, &c->cgroup_dirs, err) < 0)
			return -1;
		c->cgroup_joined = true;
	}
	if (enter_cgroup_ns(c->spec, cgroupns_fd, err) < 0)
		return -1;
	if (external) {
		sp[1] = -1;
		if (agent_listen(c, &agent_listen_fd, err) < 0)
			return -1;
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return rt_make_error(err, errno, "socketpair");
		c->agent_fd = sp[0];
		if (fcntl(c->agent_fd, F_SETFL, O_NONBLOCK) < 0) {
			close(sp[1]);
			return rt_make_error(err, errno, "fcntl");
		}
		c->vs.cfg.agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_FD, .fd = sp[1] };
	}

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
	if (sp[1] >= 0)
		close(sp[1]);
	if (r < 0)
		return rt_error_wrap(err, "start the VM");
	if (external && (accept_agent(c, agent_listen_fd, err) < 0 || attach_hypervisor(c, err) < 0))
		return -1;
	rt_debug("VM launched%s", c->ops->restored && c->ops->restored(c->vm) ? " from its template" : "");

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
		.block_rootfs = c->vs.block_rootfs,
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
		/* `run` (or a failed create) was in the cgroup itself: step out, then remove it,
		 * from the cgroup namespace it came from. */
		if (caller_cgroupns_fd >= 0 && setns(caller_cgroupns_fd, CLONE_NEWCGROUP) < 0)
			rt_debug("return to the caller's cgroup namespace: %s", strerror(errno));
		if (caller_cgroupns_fd >= 0)
			close(caller_cgroupns_fd);
		caller_cgroupns_fd = -1;
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
	g_clear_pointer(&c->cgroup_dirs, g_ptr_array_unref);
	agent_unlink(c);
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
