/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `runvm exec [--process FILE | ID CMD ARGS...] [--detach] [--pid-file P] [--tty]
 * [--console-socket S] [--cwd DIR] [--env K=V]... [--user UID[:GID]] ID`: run another process
 * in a running container.
 *
 * Each exec has a representative on the host: a process that stands for the guest process.
 * The caller signals it (every catchable signal is forwarded) and reaps it for the exit
 * status. It hands its stdio (or the pty slave) to the monitor with SCM_RIGHTS and keeps no
 * copy, so the caller sees EOF when the guest process's output ends. Without --detach the
 * exec command itself is the representative.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "runtime/cli.h"
#include "runtime/ctl.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/lib/state.h"
#include "runtime/lib/util.h"

#define EXEC_FAILED 255

struct exec_opts {
	const char *process_file, *console, *pid_file, *cwd, *user;
	GPtrArray *env;
	bool detach, tty;
};

/* A JSON array of strings: @a (NULL-terminated), then @more's. */
static JsonNode *string_array(char **a, GPtrArray *more)
{
	JsonArray *arr = json_array_new();
	JsonNode *n = json_node_new(JSON_NODE_ARRAY);

	for (; a && *a; a++)
		json_array_add_string_element(arr, *a);
	for (guint i = 0; more && i < more->len; i++)
		json_array_add_string_element(arr, more->pdata[i]);
	json_node_take_array(n, arr);
	return n;
}

/* The process to run, as JSON: the --process file, or, as runc does, the container's own
 * process (config.json's, so its capabilities, rlimits, noNewPrivileges, umask and the rest
 * apply to the exec'd process too) with the command line's args, env, cwd, user and tty. */
static int build_process(const struct exec_opts *o, const char *bundle, char **args, char **ret_json,
			 struct rt_process **ret, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *config = NULL;
	g_autofree char *data = NULL;
	g_autoptr(GError) gerr = NULL;
	struct rt_spec *spec = NULL;
	JsonObject *proc, *user;
	JsonNode *node;
	gsize len;

	if (o->process_file) {
		if (!g_file_get_contents(o->process_file, &data, &len, &gerr))
			return rt_make_error(err, 0, "exec: read `%s`: %s", o->process_file, gerr->message);
		if (rt_process_parse(data, len, ret, err) < 0)
			return -1;
		if (o->tty)
			(*ret)->terminal = true;
		*ret_json = g_steal_pointer(&data);
		return 0;
	}
	if (!args || !*args)
		return rt_make_error(err, 0, "exec: args must not be empty");
	/* rt_spec_load() checked config.json, its process and every member this reads. */
	if (rt_spec_load(bundle, &spec, err) < 0)
		return -1;
	config = g_build_filename(bundle, "config.json", NULL);
	if (!json_parser_load_from_file(parser, config, &gerr)) {
		rt_spec_free(spec);
		return rt_make_error(err, 0, "exec: read `%s`: %s", config, gerr->message);
	}
	proc = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "process");
	json_object_set_boolean_member(proc, "terminal", o->tty);
	json_object_set_member(proc, "args", string_array(args, NULL));
	json_object_set_member(proc, "env", string_array(spec->process.env, o->env));
	if (o->cwd)
		json_object_set_string_member(proc, "cwd", o->cwd);
	if (o->user) {
		unsigned long uid, gid;
		char *end;

		uid = strtoul(o->user, &end, 10);
		gid = *end == ':' ? strtoul(end + 1, &end, 10) : uid == 0 ? 0 : spec->process.gid;
		if (*end) {
			rt_spec_free(spec);
			return rt_make_error(err, 0, "exec: --user takes UID[:GID], not `%s`", o->user);
		}
		/* `user` may be absent or null in config.json: then --user makes it. */
		node = json_object_get_member(proc, "user");
		if (node && JSON_NODE_HOLDS_OBJECT(node)) {
			user = json_node_get_object(node);
		} else {
			user = json_object_new();
			json_object_set_object_member(proc, "user", user);
		}
		json_object_set_int_member(user, "uid", (gint64)uid);
		json_object_set_int_member(user, "gid", (gint64)gid);
	}
	rt_spec_free(spec);
	node = json_node_new(JSON_NODE_OBJECT);
	json_node_set_object(node, proc);
	data = json_to_string(node, FALSE);
	json_node_unref(node);
	if (rt_process_parse(data, strlen(data), ret, err) < 0)
		return -1;
	*ret_json = g_steal_pointer(&data);
	return 0;
}

/* Parse a reply; 1 with *ret_exit for {"exit":N}, 0 for {"ok":true}, < 0 for an error (its
 * "status", if any, in *ret_exit). */
static int parse_reply(const char *msg, int *ret_exit, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonNode *root;
	JsonObject *o;

	if (!json_parser_load_from_data(parser, msg, -1, NULL) || !(root = json_parser_get_root(parser)) ||
	    !JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "bad reply from the container's monitor");
	o = json_node_get_object(root);
	if (json_object_has_member(o, "error")) {
		*ret_exit = (int)json_object_get_int_member_with_default(o, "status", EXEC_FAILED);
		return rt_make_error(err, 0, "%s", json_object_get_string_member_with_default(o, "error", "?"));
	}
	if (json_object_has_member(o, "exit")) {
		*ret_exit = (int)json_object_get_int_member_with_default(o, "exit", EXEC_FAILED);
		return 1;
	}
	return 0;
}

/* Every signal but the unblockable ones, which the representative forwards. Blocked from before
 * the exec starts, so that none (a SIGWINCH from the caller's first resize) is lost before
 * the signalfd exists: they wait as pending. */
static void block_signals(sigset_t *ret)
{
	sigfillset(ret);
	sigdelset(ret, SIGKILL);
	sigdelset(ret, SIGSTOP);
	sigprocmask(SIG_BLOCK, ret, NULL);
}

/* The terminal's size to the guest process, if it has one. */
static void send_size(int sock, int tty_fd)
{
	struct winsize ws;
	g_autofree char *msg = NULL;
	struct rt_error *err = NULL;

	if (tty_fd < 0 || ioctl(tty_fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
		return;
	msg = g_strdup_printf("{\"op\":\"resize\",\"rows\":%u,\"cols\":%u}", ws.ws_row, ws.ws_col);
	if (rt_ctl_send(sock, msg, NULL, 0, &err) < 0)
		rt_error_free(&err);
}

/* The representative: wait for the process's end, forwarding signals and window sizes.
 * Returns its exit status. */
static int represent(int sock, int tty_fd)
{
	sigset_t all;
	_cleanup_close_ int sfd = -EBADF;

	block_signals(&all);
	sfd = signalfd(-1, &all, SFD_CLOEXEC);
	/* The caller may have sized the pty before we were listening; its SIGWINCH is pending, but
	 * it may also have sized it before the pty was ours to be signalled about. */
	send_size(sock, tty_fd);
	for (;;) {
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents) {
			g_autofree char *msg = NULL;
			struct rt_error *err = NULL;
			int status = EXEC_FAILED, r = rt_ctl_recv(sock, &msg, NULL, NULL, &err);

			if (r <= 0) {
				rt_error_free(&err);
				return EXEC_FAILED; /* the monitor went away with the container */
			}
			r = parse_reply(msg, &status, &err);
			rt_error_free(&err);
			if (r != 0)
				return status;
		}
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			g_autofree char *msg = NULL;
			struct rt_error *err = NULL;

			if (si.ssi_signo == SIGWINCH) {
				send_size(sock, tty_fd);
				continue;
			}
			if (si.ssi_signo == SIGCHLD)
				continue;
			msg = g_strdup_printf("{\"op\":\"signal\",\"signal\":%u}", si.ssi_signo);
			if (rt_ctl_send(sock, msg, NULL, 0, &err) < 0)
				rt_error_free(&err);
		}
	}
}

/* Connect, hand over the stdio and wait until the guest process runs. */
static int start_exec(const char *sock_path, const char *process_json, const struct rt_process *pr, int slave,
		      int *ret_sock, int *ret_status, struct rt_error **err)
{
	g_autofree char *msg = g_strdup_printf("{\"op\":\"exec\",\"process\":%s}", process_json);
	g_autofree char *reply = NULL;
	_cleanup_close_ int sock = -EBADF;
	int fds[3] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
	int r;

	if (pr->terminal)
		fds[0] = slave;
	/* The guest has RT_CTL_TIMEOUT_MS to start the process; then the wait is for its end. */
	if (rt_ctl_connect(sock_path, &sock, err) < 0 || rt_ctl_recv_timeout(sock, RT_CTL_TIMEOUT_MS, err) < 0 ||
	    rt_ctl_send(sock, msg, fds, pr->terminal ? 1 : 3, err) < 0)
		return -1;
	r = rt_ctl_recv(sock, &reply, NULL, NULL, err);
	if (r < 0 && (*err)->status == EAGAIN) {
		rt_error_free(err);
		return rt_make_error(err, 0, "exec: the guest did not start the process within %u s",
				     RT_CTL_TIMEOUT_MS / 1000);
	}
	if (r < 0 || (r > 0 && rt_ctl_recv_timeout(sock, 0, err) < 0))
		return -1;
	if (r == 0)
		return rt_make_error(err, 0, "cannot exec in a stopped container");
	r = parse_reply(reply, ret_status, err);
	if (r < 0)
		return -1;
	*ret_sock = TAKE_FD(sock);
	return 0;
}

enum {
	OPT_PROCESS = 'p',
	OPT_DETACH = 'd',
	OPT_TTY = 't',
	OPT_ENV = 'e',
	OPT_USER = 'u',
	OPT_PID_FILE = 256,
	OPT_CONSOLE,
	OPT_CWD,
	OPT_IGNORED,
	OPT_IGNORED_ARG
};

int rt_cmd_exec(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "process", required_argument, NULL, OPT_PROCESS },
		{ "detach", no_argument, NULL, OPT_DETACH },
		{ "tty", no_argument, NULL, OPT_TTY },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "user", required_argument, NULL, OPT_USER },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "console-socket", required_argument, NULL, OPT_CONSOLE },
		{ "cwd", required_argument, NULL, OPT_CWD },
		{ "pidfd-socket", required_argument, NULL, OPT_IGNORED_ARG },
		{ "preserve-fds", required_argument, NULL, OPT_IGNORED_ARG },
		{ "process-label", required_argument, NULL, OPT_IGNORED_ARG },
		{ "apparmor", required_argument, NULL, OPT_IGNORED_ARG },
		{ "cap", required_argument, NULL, OPT_IGNORED_ARG },
		{ "additional-gids", required_argument, NULL, OPT_IGNORED_ARG },
		{ "cgroup", required_argument, NULL, OPT_IGNORED_ARG },
		{ "no-new-privs", no_argument, NULL, OPT_IGNORED },
		{ "ignore-paused", no_argument, NULL, OPT_IGNORED },
		{ 0 },
	};
	g_autoptr(GPtrArray) env = g_ptr_array_new();
	struct exec_opts o = { .env = env };
	g_autofree char *dir = NULL;
	g_autofree char *sock_path = NULL;
	g_autofree char *process_json = NULL;
	g_autofree char *pid_file = NULL;
	g_autofree char *report = NULL;
	struct rt_process *pr = NULL;
	struct rt_state *st = NULL;
	_cleanup_close_ int sock = -EBADF, master = -EBADF, slave = -EBADF;
	int c, ready[2], status = EXEC_FAILED;
	pid_t pid;

	/* "+": the ID ends the options; what follows is the command. */
	while ((c = rt_getopt(argc, argv, "+p:dte:u:", opts, "exec", err)) != -1) {
		switch (c) {
		case -2: return -1;
		case OPT_PROCESS: o.process_file = optarg; break;
		case OPT_DETACH: o.detach = true; break;
		case OPT_TTY: o.tty = true; break;
		case OPT_ENV: g_ptr_array_add(env, optarg); break;
		case OPT_USER: o.user = optarg; break;
		case OPT_PID_FILE: pid_file = g_canonicalize_filename(optarg, NULL); break;
		case OPT_CONSOLE: o.console = optarg; break;
		case OPT_CWD: o.cwd = optarg; break;
		default: break;
		}
	}
	if (optind >= argc)
		return rt_make_error(err, 0, "exec: expected a container ID");
	if (rt_state_open(g->root, argv[optind], &dir, &st, NULL, err) < 0)
		return -1;
	if (strcmp(rt_state_status(st), "running") != 0) {
		bool stopped = strcmp(rt_state_status(st), "stopped") == 0;

		rt_state_free(st);
		return rt_make_error(err, 0, stopped ? "cannot exec in a stopped container" : "container not running");
	}
	if (build_process(&o, st->bundle, argv + optind + 1, &process_json, &pr, err) < 0) {
		rt_state_free(st);
		return -1;
	}
	rt_state_free(st);
	if (pr->terminal && !o.console) {
		rt_process_free(pr);
		return rt_make_error(err, 0, "cannot allocate tty if runc will detach without setting console socket");
	}
	if (!pr->terminal && o.console) {
		rt_process_free(pr);
		return rt_make_error(err, 0, "cannot use console socket if runc will not detach or allocate tty");
	}
	if (pr->terminal && rt_open_pty(&master, &slave, err) < 0) {
		rt_process_free(pr);
		return -1;
	}
	sock_path = g_build_filename(dir, "ctl.sock", NULL);

	if (!o.detach) {
		sigset_t blocked;
		int r;

		block_signals(&blocked);
		r = start_exec(sock_path, process_json, pr, slave, &sock, &status, err);

		if (r == 0 && master >= 0)
			r = rt_send_console(o.console, master, err);
		rt_process_free(pr);
		if (r < 0) {
			/* The process's own 126/127 when that is what failed, else ours. */
			rt_log_fatal(*err);
			rt_error_free(err);
			return status;
		}
		return represent(sock, slave);
	}

	/* --detach: fork the representative; report once the process runs. */
	if (pipe2(ready, O_CLOEXEC) < 0) {
		rt_process_free(pr);
		return rt_make_error(err, errno, "pipe");
	}
	pid = fork();
	if (pid < 0) {
		rt_process_free(pr);
		return rt_make_error(err, errno, "fork");
	}
	if (pid == 0) {
		struct rt_error *cerr = NULL;
		sigset_t blocked;
		int devnull;

		block_signals(&blocked);
		close(ready[0]);
		setsid();
		if (slave >= 0)
			ioctl(slave, TIOCSCTTY, 0); /* SIGWINCH when the caller resizes the pty */
		if (start_exec(sock_path, process_json, pr, slave, &sock, &status, &cerr) < 0) {
			if (write(ready[1], cerr->msg, strlen(cerr->msg)) < 0)
				_exit(EXEC_FAILED);
			_exit(EXEC_FAILED);
		}
		if (write(ready[1], "ok", 2) != 2)
			_exit(EXEC_FAILED);
		close(ready[1]);
		/* The monitor holds the stdio now; ours would keep the caller from seeing EOF. */
		devnull = open("/dev/null", O_RDWR);
		for (int fd = 0; fd < 3; fd++)
			dup2(devnull, fd);
		_exit(represent(sock, slave));
	}
	rt_process_free(pr);
	close(ready[1]);
	report = rt_read_report(ready[0]);
	if (strcmp(report, "ok") != 0)
		return rt_make_error(err, 0, "%s", *report ? report : "exec failed");
	if (master >= 0 && rt_send_console(o.console, master, err) < 0)
		goto fail;
	if (pid_file && rt_write_pid_file(pid_file, pid, err) < 0)
		goto fail;
	return 0;
fail:
	kill(pid, SIGKILL);
	return -1;
}
