/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The virtio-serial channel to the host, and the wait for RUN (see channel.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest/agent/agent.h"
#include "guest/agent/channel.h"
#include "guest/agent/config.h"
#include "guest/agent/util.h"

/* How long to wait for the host to name the agent's port. */
#define PORT_WAIT_MS 5000

/* The port appears in sysfs at probe time but gets its name from the host a little later. */
int open_channel(int *ret_fd)
{
	int r = -ENOENT, i;

	for (i = 0; i < PORT_WAIT_MS / 10; i++, sleep_ms(10)) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[320], name[64];
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
			if (read_small_file(path, name, sizeof(name)) < 0 || strcmp(name, RV_AGENT_PORT_NAME "\n") != 0)
				continue;
			snprintf(path, sizeof(path), "/dev/%s", de->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
			if (fd >= 0) {
				closedir(d);
				*ret_fd = fd;
				return 0;
			}
			r = -errno;
		}
		if (d)
			closedir(d);
	}
	return r;
}

int chan_read(struct agent *a)
{
	uint8_t buf[65536];
	ssize_t n = read(a->chan, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	a->connected = true;
	return rv_buf_append(&a->rx, buf, n) < 0 ? -ENOMEM : 1;
}

int chan_flush(struct agent *a)
{
	int r = rv_buf_flush(&a->tx, a->chan);

	/* A virtio port only takes writes while the host is connected. */
	if (r == 0 && !rv_buf_pending(&a->tx))
		a->connected = true;
	return r;
}

void __attribute__((noreturn)) channel_failed(int r)
{
	logmsg("host channel: %s", r == -EPIPE ? "closed by the host" : strerror(-r));
	end_vm();
}

void log_ignored(struct agent *a, const struct rv_frame *f)
{
	if (!a->ignored)
		logmsg("ignoring %s for process %u (and any more)", rv_msg_type_name(f->type), f->proc);
	a->ignored = true;
}

void send_exit(struct agent *a, uint32_t id, uint32_t status, const char *err)
{
	size_t start;

	if (rv_frame_begin(&a->tx, RV_MSG_EXIT, id, &start) < 0 || rv_put_u32(&a->tx, RV_ATTR_STATUS, status) < 0 ||
	    (err && err[0] && rv_put_str(&a->tx, RV_ATTR_ERROR, err) < 0) || rv_frame_end(&a->tx, start) < 0)
		channel_failed(-ENOMEM);
}

void reject_exec(struct agent *a, uint32_t id, const char *fmt, ...)
{
	char err[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, sizeof(err), fmt, ap);
	va_end(ap);
	logmsg("process %u: %s", id, err);
	send_exit(a, id, RV_EXIT_SETUP_FAILED, err);
}

/* Say HELLO and wait for RUN. Frames the host pipelines after RUN stay in a->rx. */
int wait_run(struct agent *a, struct run_config *run)
{
	struct proc *p0 = &a->procs[0];
	struct rv_frame f;
	size_t start, used;
	int r;

	if (rv_frame_begin(&a->tx, RV_MSG_HELLO, 0, &start) < 0 ||
	    rv_put_u32(&a->tx, RV_ATTR_VERSION, RV_PROTO_VERSION) < 0 || rv_frame_end(&a->tx, start) < 0)
		channel_failed(-ENOMEM);
	for (;;) {
		struct pollfd p = { .fd = a->chan, .events = POLLIN };

		while ((r = rv_frame_parse(a->rx.data + a->rx.off, rv_buf_pending(&a->rx), &f, &used)) > 0) {
			if (f.type == RV_MSG_RUN && f.proc == 0) {
				r = proc_parse_config(p0, &f, run);
				rv_buf_consume(&a->rx, used);
				return r;
			}
			if (f.type == RV_MSG_EXEC && f.proc != 0)
				reject_exec(a, f.proc, "EXEC before RUN: no container to run it in");
			else
				log_ignored(a, &f);
			rv_buf_consume(&a->rx, used);
		}
		if (r < 0) {
			set_error(p0, RV_EXIT_SETUP_FAILED, "malformed frame from the host");
			return r;
		}
		r = chan_flush(a);
		if (r < 0)
			channel_failed(r);
		if (rv_buf_pending(&a->tx))
			p.events |= POLLOUT;
		if (poll(&p, 1, -1) < 0)
			continue;
		r = chan_read(a);
		if (r == -EPIPE && !a->connected) {
			/* The host has not opened its end yet: the port reads EOF until then. */
			sleep_ms(10);
			continue;
		}
		if (r < 0)
			channel_failed(r);
	}
}
