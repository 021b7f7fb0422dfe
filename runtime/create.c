/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID`: boot the
 * container's VM and leave its monitor running, the process not yet started.
 *
 * The monitor is forked from this command, so that the caller (containerd's shim, a
 * subreaper) adopts it when we exit; its pid is the container's pid for the host and its exit
 * status the container's. It reports "ok" (or why not) on a pipe once the guest agent is up;
 * only then are the console sent and the pid file written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/arch.h"
#include "runtime/cli.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/lib/state.h"
#include "runtime/lib/util.h"

/* The forked monitor. Never returns. */
/* For `start` (runtime/lib/state.h): best effort, the log has the error already. */
static void note_error(const char *dir, const char *msg)
{
	g_autofree char *path = g_build_filename(dir, RT_STATE_ERROR, NULL);

	if (!g_file_set_contents_full(path, msg, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL))
		rt_debug("cannot record the error in `%s`, ignoring", path);
}

static void __attribute__((noreturn)) monitor_main(struct rt_container *c, int slave)
{
	g_autofree char *agent_error = NULL;
	struct rt_error *err = NULL;
	int status = 255;

	setsid();
	c->keep_state = true;
	if (slave >= 0) {
		/* The pty is the container's stdio. Ours must not hold the caller's output pipe,
		 * or the caller never sees EOF on it. Raw: the guest's own pty does the line
		 * discipline; the controlling terminal brings us SIGWINCH on resizes. */
		struct termios t;
		int devnull = open("/dev/null", O_RDWR);

		if (tcgetattr(slave, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(slave, TCSANOW, &t);
		}
		ioctl(slave, TIOCSCTTY, 0);
		for (int fd = 0; fd < 3; fd++)
			dup2(devnull, fd);
		if (devnull > 2)
			close(devnull);
		c->stdin_fd = slave;
	} else {
		c->stdin_fd = STDIN_FILENO;
		c->stdout_fd = STDOUT_FILENO;
		c->stderr_fd = STDERR_FILENO;
	}
	if (rt_container_monitor(c, false, &status, &agent_error, &err) < 0) {
		if (c->ready_fd >= 0) {
			/* The container never existed: take down what this process made too. */
			c->keep_state = false;
			/* Still in `create`: it reports the error. */
			if (write(c->ready_fd, err->msg, strlen(err->msg)) < 0)
				rt_log(RT_LOG_ERROR, "%s", err->msg);
		} else {
			rt_log(RT_LOG_ERROR, "%s", err->msg);
			note_error(c->state_dir, err->msg);
		}
		rt_error_free(&err);
		status = 255;
	} else if (agent_error) {
		rt_log(RT_LOG_ERROR, "%s", agent_error);
	}
	rt_container_release(c);
	_exit(status);
}

/* The monitor joins the container's cgroup (making it) after the fork: one that died without
 * tearing down (SIGKILLed during boot) leaves it to us. Only an empty one goes. */
static void remove_cgroup(const struct rt_spec *spec)
{
	if (spec->cgroups_path && rt_cgroup_path_supported(spec->cgroups_path))
		rt_cgroup_remove(spec->cgroups_path, false);
}

static bool has_hooks(const struct rt_spec *spec, enum rt_hook_kind kind)
{
	return spec->hooks[kind] && spec->hooks[kind]->len > 0;
}

enum { OPT_BUNDLE = 'b', OPT_PID_FILE = 256, OPT_CONSOLE_SOCKET, OPT_PRESERVE_FDS, OPT_IGNORED, OPT_IGNORED_ARG };

int rt_cmd_create(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, OPT_BUNDLE },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
		{ "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
		{ "pidfd-socket", required_argument, NULL, OPT_IGNORED_ARG },
		{ "no-pivot", no_argument, NULL, OPT_IGNORED },
		{ "no-new-keyring", no_argument, NULL, OPT_IGNORED },
		{ 0 },
	};
	__attribute__((cleanup(rt_container_release))) struct rt_container c = RT_CONTAINER_INIT;
	g_autofree char *pid_file = NULL;
	_cleanup_close_ int master = -EBADF, slave = -EBADF;
	g_autofree char *report = NULL;
	const char *bundle = ".", *console = NULL;
	int opt, ready[2];
	pid_t pid;

	while ((opt = rt_getopt(argc, argv, "b:", opts, "create", err)) != -1) {
		switch (opt) {
		case -2: return -1;
		case OPT_BUNDLE: bundle = optarg; break;
		/* Absolute before anything changes directory (runc does the same). */
		case OPT_PID_FILE: pid_file = g_canonicalize_filename(optarg, NULL); break;
		case OPT_CONSOLE_SOCKET: console = optarg; break;
		case OPT_PRESERVE_FDS:
			if (strcmp(optarg, "0") != 0)
				return rt_make_error(err, 0, "create: --preserve-fds is not supported");
			break;
		default: break;
		}
	}
	if (argc - optind != 1)
		return rt_make_error(err, 0, "create: expected exactly one container ID, got %d arguments",
				     argc - optind);
	if (rt_container_prepare(&c, g, argv[optind], bundle, err) < 0)
		return -1;
	if (c.spec->process.terminal && !console)
		return rt_make_error(err, 0, "cannot allocate tty if runc will detach without setting console socket");
	if (!c.spec->process.terminal && console)
		return rt_make_error(err, 0, "cannot use console socket if runc will not detach or allocate tty");
	if (c.spec->process.terminal && rt_open_pty(&master, &slave, err) < 0)
		return -1;
	/* A program that is surely missing fails create, as with runc. The monitor looks once the
	 * create hooks have run (one may make it); without such hooks nothing changes the answer
	 * before then, so look now and boot no VM for nothing. */
	if (!has_hooks(c.spec, RT_HOOK_PRESTART) && !has_hooks(c.spec, RT_HOOK_CREATE_RUNTIME) &&
	    !has_hooks(c.spec, RT_HOOK_CREATE_CONTAINER) && rt_program_check(c.spec, err) < 0)
		return -1;

	/* The monitor is born in the container's pid namespace (PID 1 of a new one) and time
	 * namespace; it enters the others itself. */
	if (rt_container_enter_child_namespaces(&c, err) < 0)
		return -1;
	if (pipe2(ready, O_CLOEXEC) < 0)
		return rt_make_error(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(ready[0]);
		close(ready[1]);
		return rt_make_error(err, errno, "fork");
	}
	if (pid == 0) {
		close(ready[0]);
		close(master);
		c.ready_fd = ready[1];
		monitor_main(&c, slave);
	}
	close(ready[1]);
	report = rt_read_report(ready[0]);
	if (strcmp(report, "ok") != 0) {
		/* The monitor tears itself down after reporting; wait so nothing is left. */
		waitpid(pid, NULL, 0);
		remove_cgroup(c.spec);
		return rt_make_error(err, 0, "%s", *report ? report : "the container's monitor died while creating it");
	}
	c.keep_state = true; /* from here on the container exists: `delete` removes it */
	if (master >= 0 && rt_send_console(console, master, err) < 0)
		goto fail;
	if (pid_file && rt_write_pid_file(pid_file, pid, err) < 0)
		goto fail;
	return 0;
fail:
	/* A container its caller cannot track is no use: take it down. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	remove_cgroup(c.spec);
	c.keep_state = false;
	return -1;
}
