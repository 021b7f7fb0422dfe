/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VM templates for the qemu backend (template.h tells how; hypervisor-backends/template-store.h
 * what a template is and where it lives). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/time.h"
#include "hypervisor-backends/template-store.h"
#include "qemu-lite/template.h"

/* The shape a key covers: the template boot's command line, with placeholder paths (the key is
 * the shape, not where this machine keeps things), and the QEMU binary. @ret_argv and
 * @ret_binary are the caller's to free. */
static struct hv_template_shape shape_of(const struct qemu_settings *s, const struct hv_vm_config *cfg,
					 char ***ret_argv, char **ret_binary)
{
	g_autofree struct hv_share *shares = g_new0(struct hv_share, cfg->n_shares + 1);
	g_autofree struct hv_nic *nics = g_new0(struct hv_nic, cfg->n_nics + 1);
	struct qemu_argv_opts o = { .agent_fd = 3, .qmp_fd = 4, .tap_fd = 5, .incoming_fd = -1, .template_boot = true };
	struct hv_vm_config t = hv_template_config(cfg, "/T/empty", "/T/console", -1, shares, nics);

	*ret_argv = qemu_lite_build_argv_opts(s, &t, &o);
	*ret_binary = g_find_program_in_path((*ret_argv)[0]);
	return (struct hv_template_shape){ .shape = (const char *const *)*ret_argv, .hypervisor = *ret_binary };
}

static int boot(const void *ctx, const struct hv_vm_config *t, const char *build, struct hv_vm **ret_vm,
		struct rt_error **err)
{
	struct qemu_spawn_opts so = { .template_boot = true, .incoming_fd = -1 };

	(void)build;
	return qemu_lite_spawn(ctx, t, &so, ret_vm, err);
}

/* Save @vm's state into @build/state with QEMU's migration; returns once it has completed. */
static int save(const void *ctx, struct hv_vm *vm, const char *build, long long deadline, struct rt_error **err)
{
	g_autofree char *path = g_build_filename(build, "state", NULL);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	(void)ctx;
	if (fd < 0)
		return rt_make_error(err, errno, "create `%s`", path);
	/* While the guest runs: it is idle in the agent's poll, so the first pass leaves almost
	 * nothing dirty, and the state says "running", so a clone runs as soon as it is loaded. */
	if (qemu_lite_qmp(vm, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"template\"}}", fd, NULL, err) < 0 ||
	    qemu_lite_qmp(vm, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:template\"}}", -1, NULL, err) < 0)
		return -1;
	for (;;) {
		g_autoptr(JsonNode) ret = NULL;
		JsonObject *o;
		const char *status;

		if (qemu_lite_qmp(vm, "{\"execute\":\"query-migrate\"}", -1, &ret, err) < 0)
			return -1;
		o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
		status = o ? json_object_get_string_member_with_default(o, "status", "") : "";
		if (strcmp(status, "completed") == 0)
			break;
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)
			return rt_make_error(err, EIO, "saving the template failed: %s",
					     o ? json_object_get_string_member_with_default(o, "error-desc", status)
					       : status);
		if (rv_now_ms() >= deadline)
			return rt_make_error(err, ETIMEDOUT, "saving the template did not complete in time");
		g_usleep(5000);
	}
	if (fsync(fd) < 0)
		return rt_make_error(err, errno, "write `%s`", path);
	return 0;
}

/* The feeder's exit status when the state is not what meta.json says. */
#define FEED_CORRUPT 2
/* What the feeder holds back until the state's SHA-256 is known good: without the stream's
 * end, QEMU never runs what it loaded. */
#define FEED_TAIL 4096

static bool write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Write @st into @fd from a child process of the monitor's, so that QEMU reads the template
 * from a pipe and never holds its file. The state is hashed as it goes, and its last bytes are
 * written only once the hash is the one meta.json gives: the check costs no time of its own,
 * and a corrupt state is never run. Exits 0, FEED_CORRUPT, or 1 when QEMU stopped reading.
 */
static pid_t start_feeder(const struct hv_template_files *st, int fd)
{
	enum { CHUNK = 1 << 20 };
	const uint8_t *data = st->state;
	size_t body = st->state_len > FEED_TAIL ? st->state_len - FEED_TAIL : 0;
	GChecksum *sum;
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	syscall(SYS_close_range, 0, fd - 1, 0);
	syscall(SYS_close_range, fd + 1, ~0U, 0);
	sum = g_checksum_new(G_CHECKSUM_SHA256);
	for (size_t off = 0; off < body; off += CHUNK) {
		size_t n = MIN((size_t)CHUNK, body - off);

		g_checksum_update(sum, data + off, (gssize)n);
		if (!write_all(fd, data + off, n))
			_exit(1);
	}
	g_checksum_update(sum, data + body, (gssize)(st->state_len - body));
	if (strcmp(g_checksum_get_string(sum), st->state_sha256) != 0)
		_exit(FEED_CORRUPT);
	_exit(write_all(fd, data + body, st->state_len - body) ? 0 : 1);
}

/* Restore @cfg's VM from @st: 1 restored, 0 corrupt (discarded, nothing left running). */
static int feed(const void *ctx, const struct hv_vm_config *cfg, const char *key, const struct hv_template_files *st,
		struct hv_vm **ret_vm, struct rt_error **err)
{
	struct qemu_spawn_opts so = { .incoming_fd = -1 };
	_cleanup_close_ int feeder_fd = -EBADF;
	struct hv_vm *vm = NULL;
	int pipefd[2], status = -1, r;
	struct pollfd p;
	pid_t feeder;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return rt_make_error(err, errno, "pipe");
	feeder = start_feeder(st, pipefd[1]);
	close(pipefd[1]);
	if (feeder < 0) {
		close(pipefd[0]);
		return rt_make_error(err, errno, "fork");
	}
	so.incoming_fd = pipefd[0];
	r = qemu_lite_spawn(ctx, cfg, &so, &vm, err);
	/* Only QEMU reads the pipe now: a failed spawn leaves no reader, and the feeder ends. */
	close(pipefd[0]);
	feeder_fd = (int)syscall(SYS_pidfd_open, feeder, 0);
	p = (struct pollfd){ .fd = feeder_fd, .events = POLLIN };
	if (r == 0 && (feeder_fd < 0 || poll(&p, 1, (int)cfg->template_timeout_ms) != 1)) {
		kill(feeder, SIGKILL);
		r = rt_make_error(err, ETIMEDOUT, "QEMU did not load template %s in time", key);
	}
	while (waitpid(feeder, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == FEED_CORRUPT) {
		hv_qemu_lite_ops.destroy(vm);
		return 0;
	}
	if (r < 0) {
		hv_qemu_lite_ops.destroy(vm);
		return -1;
	}
	/* Anything else (QEMU refused the stream) shows as the VM's end, with QEMU's words in the
	 * console log. */
	*ret_vm = vm;
	return 1;
}

static const struct hv_template_backend qemu_templates = {
	.name = "qemu",
	.ops = &hv_qemu_lite_ops,
	.boot = boot,
	.save = save,
	.restore = feed,
};

int qemu_template_make(const struct qemu_settings *s, const struct hv_vm_config *cfg, struct rt_error **err)
{
	g_auto(GStrv) argv = NULL;
	g_autofree char *binary = NULL;
	struct hv_template_shape shape = shape_of(s, cfg, &argv, &binary);

	return hv_template_make(&qemu_templates, s, &shape, cfg, err);
}

int qemu_template_restore(const struct qemu_settings *s, const struct hv_vm_config *cfg, struct hv_vm **ret_vm,
			  struct rt_error **err)
{
	g_auto(GStrv) argv = NULL;
	g_autofree char *binary = NULL;
	struct hv_template_shape shape = shape_of(s, cfg, &argv, &binary);

	return hv_template_restore(&qemu_templates, s, &shape, cfg, ret_vm, err);
}
