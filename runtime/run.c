/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm run [--bundle DIR] ID`: create, start and wait for a container in the foreground,
 * then remove it. The runvm process is the container's monitor for its whole life, or, with a
 * pid or time namespace (fork_monitor), its parent. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/arch.h"
#include "runtime/cli.h"
#include "runtime/container.h"
#include "runtime/hooks.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/lib/util.h"
#include "runtime/monitor.h"

/*
 * The container's pid (or time) namespace takes effect in children only: with one, the monitor
 * is a child of this process, PID 1 of the new pid namespace, and the pid the pid file and the
 * state name. This process stays as runc's does for `run`: it forwards the signals it gets to
 * the monitor (which forwards them to the container) and exits with its status. Returns 0 in
 * the monitor, 1 with *@ret_status in this process once the monitor has ended.
 */
static int fork_monitor(const char *pid_file, int *ret_status, struct rt_error **err)
{
	sigset_t fwd, old;
	pid_t pid;
	int st;

	/* Blocked across the fork: what comes before the monitor reads its signalfd waits for it
	 * there (PID 1 of a namespace ignores a signal it has no handler for). */
	rt_monitor_forwarded_signals(&fwd);
	sigaddset(&fwd, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &fwd, &old) < 0)
		return rt_make_error(err, errno, "sigprocmask");
	pid = fork();
	if (pid < 0) {
		int e = errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		return rt_make_error(err, e, "fork");
	}
	if (pid == 0) {
		sigset_t chld;

		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		return 0;
	}
	if (pid_file && rt_write_pid_file(pid_file, pid, err) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	/* The container's stdio is the monitor's alone: its end is the caller's EOF. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (int fd = 0; devnull >= 0 && fd < 3; fd++)
		dup2(devnull, fd);
	if (devnull > 2)
		close(devnull);
	for (;;) {
		siginfo_t si;

		if (sigwaitinfo(&fwd, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			kill(pid, si.si_signo);
			continue;
		}
		if (waitpid(pid, &st, WNOHANG) == pid && (WIFEXITED(st) || WIFSIGNALED(st)))
			break;
	}
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 1;
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
	__attribute__((cleanup(rt_container_release))) struct rt_container c = RT_CONTAINER_INIT;
	g_autofree char *agent_error = NULL;
	const char *bundle = ".", *pid_file = NULL;
	int opt, r, status = 0;

	while ((opt = rt_getopt(argc, argv, "b:d", opts, "run", err)) != -1) {
		switch (opt) {
		case -2: return -1;
		case OPT_BUNDLE: bundle = optarg; break;
		case OPT_PID_FILE: pid_file = optarg; break;
		case OPT_DETACH: return rt_make_error(err, 0, "run: --detach is not supported (use create and start)");
		case OPT_CONSOLE_SOCKET:
			return rt_make_error(err, 0,
					     "run: --console-socket is not supported (process.terminal must be false)");
		case OPT_IGNORED: break;
		}
	}
	if (argc - optind != 1)
		return rt_make_error(err, 0, "run: expected exactly one container ID, got %d arguments", argc - optind);
	if (rt_container_prepare(&c, g, argv[optind], bundle, err) < 0)
		return -1;
	if (c.spec->process.terminal)
		return rt_make_error(err, 0,
				     "process.terminal is true, but `runvm run` relays plain stdio only: "
				     "set it to false, or use create with --console-socket");
	/* A program that is surely missing or not executable fails `run` as runc's does (status
	 * 1, its message) before a VM boots for nothing, not with the guest's 127 or 126 at
	 * start. With create hooks, once they have run (one may make the program): on_status. */
	if (rt_program_check_early(c.spec, err) < 0)
		return -1;
	r = rt_container_enter_child_namespaces(&c, err);
	if (r > 0) {
		r = fork_monitor(pid_file, &status, err);
		if (r > 0) {
			/* The monitor has removed what it made; one killed outright leaves its state
			 * directory, which goes here. Its console was its to show. */
			g_clear_pointer(&c.console_log, g_free);
			return status;
		}
	} else if (r == 0 && pid_file && rt_write_pid_file(pid_file, getpid(), err) < 0) {
		return -1;
	}
	if (r < 0)
		return -1;
	c.stdin_fd = STDIN_FILENO;
	c.stdout_fd = STDOUT_FILENO;
	c.stderr_fd = STDERR_FILENO;
	if (rt_container_monitor(&c, true, &status, &agent_error, err) < 0)
		return -1;
	if (rt_hooks_run(c.spec, RT_HOOK_POSTSTOP, c.id, c.bundle, "stopped", 0, err) < 0) {
		rt_warn("%s", (*err)->msg);
		rt_error_free(err);
	}
	if (agent_error) {
		/* runc reports a failed exec the same way: a message, and the 12x status. */
		struct rt_error e = { .msg = agent_error };

		rt_log_fatal(&e);
	}
	return status;
}
