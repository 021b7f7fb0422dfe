/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/time.h"
#include "runtime/hooks.h"
#include "base/error.h"
#include "base/log.h"

/* What a failing hook printed, quoted in the error: enough to explain, bounded. */
#define HOOK_OUTPUT_MAX 2048

/*
 * The runtime's namespaces (rt_hooks_keep_runtime_namespaces), mount last: entering it moves
 * the hook to its root, and the path of the directory it ran in is taken again from there.
 * Not the pid (the monitor cannot leave a pid namespace for its parent's, so a hook forked by
 * it stays in the container's: the state's pid still names the monitor in the host's /proc,
 * the runtime's mount namespace's) nor time (entered before the monitor was forked).
 */
static const enum rt_ns_type runtime_ns_types[] = { RT_NS_IPC, RT_NS_UTS, RT_NS_NET, RT_NS_CGROUP, RT_NS_MOUNT };
static int runtime_ns_fds[G_N_ELEMENTS(runtime_ns_types)] = { -1, -1, -1, -1, -1 };
static char *runtime_cwd;

int rt_hooks_keep_runtime_namespaces(struct rt_error **err)
{
	for (size_t i = 0; i < G_N_ELEMENTS(runtime_ns_types); i++) {
		g_autofree char *path = g_strdup_printf("/proc/self/ns/%s", rt_ns_proc_name(runtime_ns_types[i]));

		if (runtime_ns_fds[i] >= 0)
			continue;
		runtime_ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (runtime_ns_fds[i] < 0)
			return rt_make_error(err, errno, "open %s", path);
	}
	if (!runtime_cwd)
		runtime_cwd = g_get_current_dir();
	return 0;
}

static bool in_runtime_namespaces(enum rt_hook_kind kind)
{
	return kind == RT_HOOK_PRESTART || kind == RT_HOOK_CREATE_RUNTIME || kind == RT_HOOK_POSTSTART ||
		kind == RT_HOOK_POSTSTOP;
}

/* In the hook's child, before its exec: into each kept namespace that is not already ours.
 * Returns what failed, or NULL. */
static const char *enter_runtime_namespaces(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(runtime_ns_types); i++) {
		char self[32];
		struct stat want, cur;

		if (runtime_ns_fds[i] < 0)
			continue;
		snprintf(self, sizeof(self), "/proc/self/ns/%s", rt_ns_proc_name(runtime_ns_types[i]));
		if (fstat(runtime_ns_fds[i], &want) == 0 && stat(self, &cur) == 0 && want.st_ino == cur.st_ino &&
		    want.st_dev == cur.st_dev)
			continue;
		if (setns(runtime_ns_fds[i], rt_ns_clone_flag(runtime_ns_types[i])) < 0)
			return rt_ns_proc_name(runtime_ns_types[i]);
		if (runtime_ns_types[i] == RT_NS_MOUNT && runtime_cwd && chdir(runtime_cwd) < 0)
			return "mnt (its working directory)";
	}
	return NULL;
}

/* runtime-spec's state, with runc's members in runc's order: `pid` left out when there is
 * none (poststop), `annotations` when empty. */
static char *state_json(const struct rt_spec *spec, const char *id, const char *bundle, const char *status, pid_t pid,
			JsonNode *annotations)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "ociVersion");
	json_builder_add_string_value(b, spec->oci_version);
	json_builder_set_member_name(b, "id");
	json_builder_add_string_value(b, id);
	json_builder_set_member_name(b, "status");
	json_builder_add_string_value(b, status);
	if (pid > 0) {
		json_builder_set_member_name(b, "pid");
		json_builder_add_int_value(b, pid);
	}
	json_builder_set_member_name(b, "bundle");
	json_builder_add_string_value(b, bundle);
	if (annotations) {
		json_builder_set_member_name(b, "annotations");
		json_builder_add_value(b, json_node_copy(annotations));
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return json_to_string(root, FALSE);
}

static int run_one(const struct rt_hook *h, enum rt_hook_kind kind, const char *state, struct rt_error **err)
{
	g_autoptr(GString) output = g_string_new(NULL);
	long long deadline = h->timeout_s ? rv_now_ms() + h->timeout_s * 1000LL : 0;
	int in[2], out[2], pidfd, st = 0;
	bool timed_out = false;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return rt_make_error(err, errno, "pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return rt_make_error(err, errno, "pipe");
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return rt_make_error(err, e, "fork");
	}
	if (pid == 0) {
		char *argv0[] = { h->path, NULL };
		const char *ns = in_runtime_namespaces(kind) ? enter_runtime_namespaces() : NULL;
		int ns_errno = errno;
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Its own process group, so that a timeout ends whatever the hook started too. */
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		if (ns) {
			dprintf(2, "cannot enter the runtime's %s namespace: %s", ns, strerror(ns_errno));
			_exit(127);
		}
		execve(h->path, h->args[0] ? h->args : argv0, h->env);
		dprintf(2, "cannot execute the hook");
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* The state is small: it fits the pipe, and a hook that does not read it is fine. */
	if (write(in[1], state, strlen(state)) < 0)
		rt_debug("hook %s: stdin: %s", h->path, strerror(errno));
	close(in[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
		int timeout = deadline ? (int)MAX(0, deadline - rv_now_ms()) : -1;
		char buf[512];
		ssize_t n;

		if (deadline && timeout == 0) {
			timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			break;
		while ((n = read(out[0], buf, sizeof(buf))) > 0)
			if (output->len < HOOK_OUTPUT_MAX)
				g_string_append_len(output, buf, MIN((size_t)n, HOOK_OUTPUT_MAX - output->len));
		/* The hook has exited (its children may keep the pipe open: do not wait for EOF). */
		if (p[1].revents || n == 0)
			break;
	}
	waitpid(pid, &st, 0);
	close(out[0]);
	if (pidfd >= 0)
		close(pidfd);
	g_strstrip(output->str);
	for (char *c = output->str; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (timed_out)
		return rt_make_error(err, 0, "%s hook `%s` timed out after %d s", rt_hook_kind_name(kind), h->path,
				     h->timeout_s);
	if (WIFSIGNALED(st))
		return rt_make_error(err, 0, "%s hook `%s` killed by signal %d%s%s", rt_hook_kind_name(kind), h->path,
				     WTERMSIG(st), *output->str ? ": " : "", output->str);
	if (WEXITSTATUS(st) != 0)
		return rt_make_error(err, 0, "%s hook `%s` failed with status %d%s%s", rt_hook_kind_name(kind), h->path,
				     WEXITSTATUS(st), *output->str ? ": " : "", output->str);
	return 0;
}

int rt_hooks_run(const struct rt_spec *spec, enum rt_hook_kind kind, const char *id, const char *bundle,
		 const char *status, pid_t pid, struct rt_error **err)
{
	g_autoptr(JsonNode) annotations = NULL;
	g_autofree char *state = NULL;
	GPtrArray *hooks = spec->hooks[kind];

	if (!hooks || !hooks->len)
		return 0;
	/* Checked by the spec's parser: an object of strings, or none. */
	if (spec->annotations_json)
		annotations = json_from_string(spec->annotations_json, NULL);
	state = state_json(spec, id, bundle, status, pid, annotations);
	for (guint i = 0; i < hooks->len; i++)
		if (run_one(hooks->pdata[i], kind, state, err) < 0)
			return -1;
	return 0;
}
