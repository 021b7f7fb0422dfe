/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "../hypervisor-backends/backend.h"
#include "../protocol/agent-proto.h"
#include "lib/error.h"
#include "lib/log.h"
#include "lib/spec.h"
#include "monitor.h"

/* Stop reading stdin while this much is queued for the guest. */
#define STDIN_HIGH_WATER (256 * 1024)
/* Longest agent error message we show. */
#define AGENT_ERROR_MAX 1024
/* After EXIT the agent reboots the guest, which ends QEMU within milliseconds. */
#define VM_EXIT_GRACE_MS 2000

struct rt_agent_stream {
	struct rv_buf in; /* bytes of a frame not yet complete */
	int stdout_fd, stderr_fd;
	bool hello, exited;
	int status;
	char *error;
};

struct rt_agent_stream *rt_agent_stream_new(int stdout_fd, int stderr_fd)
{
	struct rt_agent_stream *s = g_new0(struct rt_agent_stream, 1);

	s->stdout_fd = stdout_fd;
	s->stderr_fd = stderr_fd;
	return s;
}

void rt_agent_stream_free(struct rt_agent_stream *s)
{
	if (!s)
		return;
	rv_buf_free(&s->in);
	g_free(s->error);
	g_free(s);
}

/* Write all of @data to the container's stdout/stderr. A reader that went away (EPIPE) is
 * not our failure: the data is dropped, as it would be for runc. */
static void write_out(int *fd, const uint8_t *data, size_t len)
{
	while (len && *fd >= 0) {
		ssize_t n = write(*fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = *fd, .events = POLLOUT };

			poll(&p, 1, -1);
			continue;
		}
		if (n < 0) {
			rt_debug("output fd %d: %s, dropping output", *fd, strerror(errno));
			*fd = -1;
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

/* A guest-supplied message made fit for one line of a terminal. */
static char *sanitize(const struct rv_attr *a)
{
	size_t n = MIN(a->len, AGENT_ERROR_MAX);
	char *s = g_malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		s[i] = g_ascii_isprint(a->data[i]) ? (char)a->data[i] : '?';
	s[n] = '\0';
	return s;
}

static int handle_hello(struct rt_agent_stream *s, const struct rv_frame *f, struct rt_error **err)
{
	struct rv_attr a;
	size_t pos = 0;
	uint32_t version = 0;
	int r;

	if (s->hello)
		return rt_make_error(err, 0, "agent protocol error: second HELLO");
	while ((r = rv_attr_next(f, &pos, &a)) > 0)
		if (a.type == RV_ATTR_VERSION && rv_attr_u32(&a, &version) < 0)
			return rt_make_error(err, 0, "agent protocol error: malformed VERSION");
	if (r < 0)
		return rt_make_error(err, 0, "agent protocol error: malformed HELLO");
	if (version != RV_PROTO_VERSION)
		return rt_make_error(err, 0, "guest agent speaks protocol version %u, runvm speaks %u (rebuild the initramfs)",
				     version, RV_PROTO_VERSION);
	s->hello = true;
	return 0;
}

static int handle_exit(struct rt_agent_stream *s, const struct rv_frame *f, struct rt_error **err)
{
	struct rv_attr a;
	size_t pos = 0;
	uint32_t status = UINT32_MAX;
	int r;

	while ((r = rv_attr_next(f, &pos, &a)) > 0) {
		if (a.type == RV_ATTR_STATUS) {
			if (rv_attr_u32(&a, &status) < 0)
				return rt_make_error(err, 0, "agent protocol error: malformed STATUS");
		} else if (a.type == RV_ATTR_ERROR) {
			g_free(s->error);
			s->error = sanitize(&a);
		}
	}
	if (r < 0)
		return rt_make_error(err, 0, "agent protocol error: malformed EXIT");
	if (status > 255)
		return rt_make_error(err, 0, "agent protocol error: EXIT without a valid status");
	s->status = (int)status;
	s->exited = true;
	return 0;
}

static int handle_frame(struct rt_agent_stream *s, const struct rv_frame *f, struct rt_error **err)
{
	if (f->type != RV_MSG_HELLO && !s->hello)
		return rt_make_error(err, 0, "agent protocol error: %s before HELLO", rv_msg_type_name(f->type));
	if (f->proc != 0)
		return rt_make_error(err, 0, "agent protocol error: frame for unknown process %u", f->proc);
	switch (f->type) {
	case RV_MSG_HELLO:
		return handle_hello(s, f, err);
	case RV_MSG_STDOUT:
		write_out(&s->stdout_fd, f->payload, f->len);
		return 0;
	case RV_MSG_STDERR:
		write_out(&s->stderr_fd, f->payload, f->len);
		return 0;
	case RV_MSG_EXIT:
		return handle_exit(s, f, err);
	default:
		return rt_make_error(err, 0, "agent protocol error: unexpected %s from the guest",
				     rv_msg_type_name(f->type));
	}
}

int rt_agent_stream_feed(struct rt_agent_stream *s, const void *data, size_t len, struct rt_error **err)
{
	struct rv_buf *in = &s->in;
	struct rv_frame f;
	size_t used;
	int r;

	if (s->exited)
		return 1; /* the guest has nothing more to say that we would act on */
	if (rv_buf_append(in, data, len) < 0)
		return rt_make_error(err, ENOMEM, "agent channel");
	while ((r = rv_frame_parse(in->data + in->off, rv_buf_pending(in), &f, &used)) > 0) {
		if (handle_frame(s, &f, err) < 0)
			return -1;
		rv_buf_consume(in, used);
		if (s->exited)
			return 1;
	}
	if (r < 0)
		return rt_make_error(err, 0, "agent protocol error: malformed frame header");
	return 0;
}

void rt_monitor_forwarded_signals(sigset_t *ret)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM,
				    SIGALRM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU };

	sigemptyset(ret);
	for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++)
		sigaddset(ret, sigs[i]);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* What the guest console says about a guest that did not come up: the kernel's panic line if
 * there is one, else the last line. */
static char *console_tail(const char *path)
{
	g_autofree char *data = NULL;
	g_auto(GStrv) lines = NULL;
	const char *last = NULL;

	if (!path || !g_file_get_contents(path, &data, NULL, NULL))
		return g_strdup("");
	lines = g_strsplit(data, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_strstrip(*l);
		if (strstr(*l, "Kernel panic")) {
			last = *l;
			break;
		}
		if (**l)
			last = *l;
	}
	return last ? g_strdup_printf(" (guest console: %s)", last) : g_strdup("");
}

static int vm_ended_error(struct rt_monitor *m, const char *when, struct rt_error **err)
{
	g_autofree char *tail = console_tail(m->console_log);
	int st = -1;

	if (m->ops->wait(m->vm, 0, &st, err) < 0)
		return -1;
	return rt_make_error(err, 0, "VM exited %s (hypervisor status %d)%s", when, st, tail);
}

static int queue_run(struct rv_buf *out, const struct rt_spec *spec)
{
	size_t start;
	int r = rv_frame_begin(out, RV_MSG_RUN, 0, &start);

	for (char **a = spec->args; r == 0 && *a; a++)
		r = rv_put_str(out, RV_ATTR_ARG, *a);
	for (char **e = spec->env; r == 0 && *e; e++)
		r = rv_put_str(out, RV_ATTR_ENV, *e);
	if (r == 0)
		r = rv_put_str(out, RV_ATTR_CWD, spec->cwd);
	if (r == 0)
		r = rv_put_u32(out, RV_ATTR_UID, spec->uid);
	if (r == 0)
		r = rv_put_u32(out, RV_ATTR_GID, spec->gid);
	for (size_t i = 0; r == 0 && i < spec->n_additional_gids; i++)
		r = rv_put_u32(out, RV_ATTR_GIDS, spec->additional_gids[i]);
	if (r == 0)
		r = rv_put_str(out, RV_ATTR_FSTYPE, "9p");
	if (r == 0)
		r = rv_put_u32(out, RV_ATTR_READONLY, spec->rootfs_readonly);
	if (r == 0)
		r = rv_frame_end(out, start);
	return r;
}

static int queue_signal(struct rv_buf *out, uint32_t signo)
{
	size_t start;
	int r = rv_frame_begin(out, RV_MSG_SIGNAL, 0, &start);

	if (r == 0)
		r = rv_put_u32(out, RV_ATTR_SIGNO, signo);
	if (r == 0)
		r = rv_frame_end(out, start);
	return r;
}

enum { P_AGENT, P_VM, P_SIGNAL, P_STDIN, _P_MAX };

int rt_monitor_run(struct rt_monitor *m, const struct rt_spec *spec, int *ret_status, char **ret_agent_error,
		   struct rt_error **err)
{
	struct rt_agent_stream *s = rt_agent_stream_new(m->stdout_fd, m->stderr_fd);
	struct rv_buf out = { 0 };
	long long deadline = now_ms() + m->boot_timeout_ms;
	bool stdin_open = m->stdin_fd >= 0, run_sent = false;
	uint8_t buf[64 * 1024];
	int r = -1;

	for (;;) {
		struct pollfd p[_P_MAX] = {
			[P_AGENT] = { .fd = m->agent_fd, .events = POLLIN | (rv_buf_pending(&out) ? POLLOUT : 0) },
			[P_VM] = { .fd = m->ops->exit_fd(m->vm), .events = POLLIN },
			[P_SIGNAL] = { .fd = m->signal_fd, .events = POLLIN },
			/* stdin waits until the process exists and the guest keeps up */
			[P_STDIN] = { .fd = run_sent && stdin_open && rv_buf_pending(&out) < STDIN_HIGH_WATER ? m->stdin_fd : -1,
				      .events = POLLIN },
		};
		int timeout = -1;

		if (!s->hello) {
			long long left = deadline - now_ms();

			if (left <= 0) {
				g_autofree char *tail = console_tail(m->console_log);

				rt_make_error(err, ETIMEDOUT, "guest agent did not start within %u s%s",
					      m->boot_timeout_ms / 1000, tail);
				goto out;
			}
			timeout = (int)left;
		}
		if (poll(p, _P_MAX, timeout) < 0) {
			if (errno == EINTR)
				continue;
			rt_make_error(err, errno, "poll");
			goto out;
		}

		if (p[P_SIGNAL].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(m->signal_fd, &si, sizeof(si)) == sizeof(si)) {
				if (!run_sent) {
					rt_make_error(err, 0, "interrupted by signal %u while the VM was booting", si.ssi_signo);
					goto out;
				}
				rt_debug("forwarding signal %u to the container", si.ssi_signo);
				if (queue_signal(&out, si.ssi_signo) < 0) {
					rt_make_error(err, ENOMEM, "queue signal");
					goto out;
				}
			}
		}

		if (p[P_AGENT].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(m->agent_fd, buf, sizeof(buf));

			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				/* QEMU closed the channel: it is exiting. Report that below. */
				if (m->ops->wait(m->vm, VM_EXIT_GRACE_MS, &(int){ 0 }, err) < 0)
					goto out;
				vm_ended_error(m, run_sent ? "before the container's process ended" : "during boot", err);
				goto out;
			}
			r = rt_agent_stream_feed(s, buf, (size_t)n, err);
			if (r < 0)
				goto out;
			if (r > 0)
				break;
			r = -1;
			if (s->hello && !run_sent) {
				if (queue_run(&out, spec) < 0) {
					rt_make_error(err, EMSGSIZE, "process description too large for the agent channel");
					goto out;
				}
				run_sent = true;
			}
		}

		/* POLLNVAL: runvm was started with fd 0 closed, which is end of input too. */
		if (p[P_STDIN].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
			ssize_t n = read(m->stdin_fd, buf, RV_PROTO_STREAM_CHUNK);

			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			/* A read error counts as end of input, as a closed pipe would. */
			if (n <= 0)
				stdin_open = false;
			if (rv_frame_raw(&out, RV_MSG_STDIN, 0, buf, n > 0 ? (size_t)n : 0) < 0) {
				rt_make_error(err, ENOMEM, "queue stdin");
				goto out;
			}
		}

		if (rv_buf_pending(&out)) {
			int w = rv_buf_flush(&out, m->agent_fd);

			if (w < 0 && w != -EPIPE) {
				rt_make_error(err, -w, "write to the agent channel");
				goto out;
			}
		}

		if (p[P_VM].revents & POLLIN) {
			/* Whatever the guest sent before it ended is still in the socket. */
			ssize_t n;

			r = 0;
			while (r == 0 && (n = read(m->agent_fd, buf, sizeof(buf))) > 0)
				r = rt_agent_stream_feed(s, buf, (size_t)n, err);
			if (r > 0)
				break;
			if (r == 0)
				vm_ended_error(m, run_sent ? "before the container's process ended" : "during boot", err);
			r = -1;
			goto out;
		}
	}

	*ret_status = s->status;
	*ret_agent_error = g_steal_pointer(&s->error);
	r = 0;
out:
	rv_buf_free(&out);
	rt_agent_stream_free(s);
	return r;
}
