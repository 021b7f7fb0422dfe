/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm run [--bundle DIR] ID`: create, start and wait for a container in the foreground,
 * then remove it. The runvm process is the container's monitor for its whole life. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "../hypervisor-backends/backend.h"
#include "../hypervisor-backends/hostcaps.h"
#include "../hypervisor-backends/registry.h"
#include "../protocol/agent-proto.h"
#include "cli.h"
#include "lib/cleanup.h"
#include "lib/config.h"
#include "lib/error.h"
#include "lib/log.h"
#include "lib/spec.h"
#include "lib/state.h"
#include "monitor.h"
#include "vmconfig.h"

struct run_ctx {
	struct rt_spec *spec;
	struct rt_config *config;
	char *state_dir;
	char *console_log;
	const struct hv_backend_ops *ops;
	struct hv_vm *vm;
	int agent_fd, agent_peer, signal_fd;
	sigset_t old_mask;
	bool mask_set;
};

static void dump_console(const char *path)
{
	g_autofree char *data = NULL;

	if (rt_log_debug_enabled() && path && g_file_get_contents(path, &data, NULL, NULL) && *data)
		rt_debug("guest console:\n%s", data);
}

/* Undo everything run did, in reverse: nothing of a container outlives `run`. */
static void run_ctx_release(struct run_ctx *c)
{
	if (c->vm)
		c->ops->destroy(c->vm);
	dump_console(c->console_log);
	if (c->state_dir)
		rt_state_dir_remove(c->state_dir);
	if (c->mask_set)
		sigprocmask(SIG_SETMASK, &c->old_mask, NULL);
	for (int *fd = &c->agent_fd; fd <= &c->signal_fd; fd++)
		if (*fd >= 0)
			close(*fd);
	rt_spec_free(c->spec);
	rt_config_free(c->config);
	g_free(c->state_dir);
	g_free(c->console_log);
}

static int write_pid_file(const char *path, struct rt_error **err)
{
	g_autofree char *pid = g_strdup_printf("%d", getpid());
	g_autoptr(GError) gerr = NULL;

	/* No trailing newline: containerd parses the file with strconv.Atoi. */
	if (!g_file_set_contents(path, pid, -1, &gerr))
		return rt_make_error(err, 0, "write pid file: %s", gerr->message);
	return 0;
}

static int start_vm(struct run_ctx *c, const struct rt_globals *g, const char *id, const char *bundle,
		    struct rt_error **err)
{
	g_autofree char *root = NULL;
	struct hv_host_caps caps;
	struct hv_probe_result probe;
	struct rt_vm_spec vs;
	int sp[2];
	sigset_t fwd;

	hv_host_probe("", &caps);
	if (rt_vm_spec_prepare(c->config, c->spec, &caps, g->backend, g->debug, &vs, &c->ops, &probe, err) < 0)
		return -1;
	rt_debug("backend %s, accelerator %s: %s", c->ops->name, hv_accel_name(probe.accel), probe.reason);

	if (rt_root_prepare(g->root, &root, err) < 0 || rt_state_dir_create(root, id, &c->state_dir, err) < 0)
		return -1;
	c->console_log = g_build_filename(c->state_dir, "console.log", NULL);
	vs.cfg.console_log = c->console_log;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return rt_make_error(err, errno, "socketpair");
	c->agent_fd = sp[0];
	c->agent_peer = sp[1];
	if (fcntl(c->agent_fd, F_SETFL, O_NONBLOCK) < 0)
		return rt_make_error(err, errno, "fcntl");
	vs.cfg.agent_fd = c->agent_peer;

	/* Signals meant for the container queue up from here on, and are forwarded once its
	 * process exists. */
	rt_monitor_forwarded_signals(&fwd);
	if (sigprocmask(SIG_BLOCK, &fwd, &c->old_mask) < 0)
		return rt_make_error(err, errno, "sigprocmask");
	c->mask_set = true;
	c->signal_fd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
	if (c->signal_fd < 0)
		return rt_make_error(err, errno, "signalfd");

	if (c->ops->launch(&vs.cfg, &c->vm, err) < 0)
		return rt_error_wrap(err, "start the VM");
	/* QEMU holds its own copy; ours would keep the channel open after QEMU is gone. */
	close(c->agent_peer);
	c->agent_peer = -1;

	return rt_state_write(c->state_dir,
			      &(struct rt_state){ .oci_version = c->spec->oci_version, .id = id, .status = "running",
						  .pid = getpid(), .bundle = bundle, .rootfs = c->spec->rootfs,
						  .backend = c->ops->name, .accel = hv_accel_name(probe.accel) },
			      err);
}

enum { OPT_BUNDLE = 'b', OPT_DETACH = 'd', OPT_PID_FILE = 256, OPT_CONSOLE_SOCKET, OPT_IGNORED };

int rt_cmd_run(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, OPT_BUNDLE },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "detach", no_argument, NULL, OPT_DETACH },
		{ "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
		{ "no-pivot", no_argument, NULL, OPT_IGNORED },
		{ "no-new-keyring", no_argument, NULL, OPT_IGNORED },
		{ "keep", no_argument, NULL, OPT_IGNORED },
		{ 0 },
	};
	__attribute__((cleanup(run_ctx_release))) struct run_ctx c = { .agent_fd = -1, .agent_peer = -1, .signal_fd = -1 };
	g_autofree char *bundle = NULL;
	g_autofree char *agent_error = NULL;
	const char *bundle_arg = ".", *pid_file = NULL, *id;
	int opt, status = 0, vm_status;
	struct rt_monitor m;

	while ((opt = rt_getopt(argc, argv, "b:d", opts, "run", err)) != -1) {
		switch (opt) {
		case -2:
			return -1;
		case OPT_BUNDLE: bundle_arg = optarg; break;
		case OPT_PID_FILE: pid_file = optarg; break;
		case OPT_DETACH:
			return rt_make_error(err, 0, "run: --detach is not supported yet (use create and start)");
		case OPT_CONSOLE_SOCKET:
			return rt_make_error(err, 0, "run: --console-socket is not supported yet (process.terminal must be false)");
		case OPT_IGNORED: break;
		}
	}
	if (argc - optind != 1)
		return rt_make_error(err, 0, "run: expected exactly one container ID, got %d arguments", argc - optind);
	id = argv[optind];
	if (rt_check_id(id, err) < 0)
		return -1;
	bundle = g_canonicalize_filename(bundle_arg, NULL);
	if (rt_spec_load(bundle, &c.spec, err) < 0)
		return -1;
	if (c.spec->terminal)
		return rt_make_error(err, 0, "process.terminal is true, but `runvm run` relays plain stdio only for now: "
					     "set it to false");
	if (rt_config_load(&c.config, err) < 0)
		return -1;

	if (start_vm(&c, g, id, bundle, err) < 0)
		return -1;
	if (pid_file && write_pid_file(pid_file, err) < 0)
		return -1;

	m = (struct rt_monitor){
		.ops = c.ops, .vm = c.vm, .agent_fd = c.agent_fd,
		.stdin_fd = STDIN_FILENO, .stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO,
		.signal_fd = c.signal_fd, .boot_timeout_ms = c.config->boot_timeout_s * 1000,
		.console_log = c.console_log,
	};
	if (rt_monitor_run(&m, c.spec, &status, &agent_error, err) < 0)
		return -1;
	/* Hanging up tells the agent it may end the guest now (see agent-proto.h). */
	close(c.agent_fd);
	c.agent_fd = -1;
	/* The agent ends the guest right after EXIT; stop() covers a guest that does not. */
	if (c.ops->wait(c.vm, 2000, &vm_status, err) < 0 || c.ops->stop(c.vm, 500, err) < 0)
		return -1;
	if (agent_error) {
		/* runc reports a failed exec the same way: a message, and the 12x status. */
		struct rt_error e = { .msg = agent_error };

		rt_log_fatal(&e);
	}
	return status;
}
