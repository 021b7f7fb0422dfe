/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The relay loop (see relay.h): frames from the host, the processes' stdio, their ends. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/time.h"
#include "guest/agent/agent.h"
#include "guest/agent/channel.h"
#include "guest/agent/dns.h"
#include "guest/agent/process.h"
#include "guest/agent/relay.h"
#include "guest/agent/rootfs.h"
#include "guest/agent/util.h"

/* Stop reading a source while this much is queued for its sink (backpressure). */
#define QUEUE_LIMIT (1u << 20)
/* How long after an EXEC'd process ends its output may stay open (held by its background
 * children) before what is readable is drained and EXIT sent without waiting for EOF. */
#define EXEC_DRAIN_MS 100
/* Once proc 0 has ended and everything was killed, how long to wait for the rest to be reaped
 * and to reach EOF: only a process stuck in the kernel outlives SIGKILL that long. */
#define END_GRACE_MS 5000

static void set_timeout(int *timeout, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (*timeout < 0 || ms < *timeout)
		*timeout = (int)ms;
}

/* A host that breaks the protocol gets its container killed and a 125. */
static void protocol_error(struct agent *a, const char *what)
{
	set_error(&a->procs[0], RV_EXIT_SETUP_FAILED, "%s", what);
	a->rx_dead = true;
	container_end(a);
}

static void handle_exec(struct agent *a, const struct rv_frame *f)
{
	struct proc *p = NULL;
	size_t i;

	if (f->proc == 0) {
		log_ignored(a, f); /* proc 0 is RUN's */
		return;
	}
	if (a->ending) {
		reject_exec(a, f->proc, "the container is stopping");
		return;
	}
	if (find_proc(a, f->proc)) {
		reject_exec(a, f->proc, "a process with this id is running");
		return;
	}
	for (i = 1; i < MAX_PROCS && !p; i++)
		if (!a->procs[i].used)
			p = &a->procs[i];
	if (!p) {
		reject_exec(a, f->proc, "too many processes (%d at most besides the main one)", MAX_EXEC);
		return;
	}
	proc_init(p, f->proc);
	if (proc_parse_config(p, f, NULL) < 0) {
		proc_failed(a, p);
		return;
	}
	/* `docker cp` into a running container writes the rootfs on the host: the new process
	 * must see it, not what the guest cached before (see rootfs.h). */
	rootfs_refresh();
	spawn(a, p, NULL);
}

static void handle_stdin(struct agent *a, struct proc *p, const struct rv_frame *f)
{
	if (p->in_fd < 0 || p->stdin_eof)
		return;
	if (f->len) {
		if (rv_buf_append(&p->stdin_q, f->payload, f->len) < 0)
			protocol_error(a, "stdin: out of memory");
		return;
	}
	p->stdin_eof = true;
	if (p->tty) {
		/* A terminal has no end of input: type its EOF character (^D) after the rest. */
		struct termios t;
		uint8_t eof = 4;

		if (tcgetattr(p->in_fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
			eof = t.c_cc[VEOF];
		if (rv_buf_append(&p->stdin_q, &eof, 1) < 0)
			protocol_error(a, "stdin: out of memory");
	}
}

static void handle_signal(struct agent *a, struct proc *p, const struct rv_frame *f)
{
	struct rv_attr at;
	uint32_t signo = 0;
	size_t pos = 0;
	int r;

	while ((r = rv_attr_next(f, &pos, &at)) > 0)
		if (at.type == RV_ATTR_SIGNO && (r = rv_attr_u32(&at, &signo)) < 0)
			break;
	if (r < 0 || !signo)
		protocol_error(a, "malformed SIGNAL message");
	else if (signo > 64)
		logmsg("ignoring signal %u", signo);
	else if (!p->exited && p->pid > 0)
		kill(p->pid, signo);
}

static void handle_resize(struct agent *a, struct proc *p, const struct rv_frame *f)
{
	struct winsize ws = { 0 };
	uint32_t rows = 0, cols = 0;
	bool has_rows = false, has_cols = false;
	struct rv_attr at;
	size_t pos = 0;
	int r, fd;

	while ((r = rv_attr_next(f, &pos, &at)) > 0) {
		if (at.type == RV_ATTR_ROWS) {
			if ((r = rv_attr_u32(&at, &rows)) < 0)
				break;
			has_rows = true;
		} else if (at.type == RV_ATTR_COLS) {
			if ((r = rv_attr_u32(&at, &cols)) < 0)
				break;
			has_cols = true;
		}
	}
	if (r < 0) {
		protocol_error(a, "malformed RESIZE message");
		return;
	}
	fd = p->out_fd[0] >= 0 ? p->out_fd[0] : p->in_fd;
	if (!p->tty || fd < 0) {
		log_ignored(a, f);
		return;
	}
	/* On the master, this sizes the slave and sends SIGWINCH to its foreground group. */
	ioctl(fd, TIOCGWINSZ, &ws);
	if (has_rows)
		ws.ws_row = rows > 0xffff ? 0xffff : rows;
	if (has_cols)
		ws.ws_col = cols > 0xffff ? 0xffff : cols;
	if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
		logmsg("process %u: TIOCSWINSZ: %m", p->id);
}

static void handle_frame(struct agent *a, const struct rv_frame *f)
{
	struct proc *p;

	if (f->type == RV_MSG_EXEC) {
		handle_exec(a, f);
		return;
	}
	if (f->type == RV_MSG_DNS) {
		handle_dns(a, f);
		return;
	}
	if (f->type == RV_MSG_UPDATE) {
		handle_update(a, f);
		return;
	}
	p = find_proc(a, f->proc);
	if (!p) {
		log_ignored(a, f); /* unknown, or already reported */
		return;
	}
	switch (f->type) {
	case RV_MSG_STDIN: handle_stdin(a, p, f); break;
	case RV_MSG_SIGNAL: handle_signal(a, p, f); break;
	case RV_MSG_RESIZE: handle_resize(a, p, f); break;
	default: log_ignored(a, f); break;
	}
}

static void reap(struct agent *a)
{
	struct signalfd_siginfo si;
	pid_t pid;
	size_t i;
	int st;

	while (read(a->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	/* As PID 1 we inherit every orphan, so reap all, but report only our processes. */
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < MAX_PROCS; i++) {
			struct proc *p = &a->procs[i];

			if (p->used && !p->exited && p->pid == pid) {
				proc_exited(a, p, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
				break;
			}
		}
}

/* Relay one read of output @i. Returns whether it got bytes; closes the fd at EOF (a pty
 * master reads EIO once the slave is closed everywhere). */
static bool pump_output(struct agent *a, struct proc *p, int i)
{
	uint8_t buf[RV_PROTO_STREAM_CHUNK];
	ssize_t n = read(p->out_fd[i], buf, sizeof(buf));

	if (n > 0) {
		if (rv_frame_raw(&a->tx, i ? RV_MSG_STDERR : RV_MSG_STDOUT, p->id, buf, n) < 0)
			channel_failed(-ENOMEM);
		return true;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		close_fd(&p->out_fd[i]);
	return false;
}

/* Take what is readable now, bounded (a writer may still be going), and stop there. */
static void drain_outputs(struct agent *a, struct proc *p)
{
	int i, k;

	for (i = 0; i < 2; i++) {
		for (k = 0; k < 32 && p->out_fd[i] >= 0 && pump_output(a, p, i); k++)
			;
		close_fd(&p->out_fd[i]);
	}
}

/* Stop waiting for @p (END_GRACE_MS after proc 0 ended: it is stuck in the kernel). */
static void proc_force_end(struct agent *a, struct proc *p)
{
	close_fd(&p->ep);
	proc_exited(a, p, 128 + SIGKILL);
	drain_outputs(a, p);
}

/* Send EXIT for an EXEC'd process that is done, and free its slot. */
static bool proc_try_finish(struct agent *a, struct proc *p, int64_t now, int *timeout)
{
	if (!p->exited || p->ep >= 0)
		return false;
	if (p->out_fd[0] >= 0 || p->out_fd[1] >= 0) {
		int64_t left = p->exited_at + EXEC_DRAIN_MS - now;

		if (left > 0) {
			set_timeout(timeout, left);
			return false;
		}
		drain_outputs(a, p);
	}
	/* Before EXIT, as for proc 0 (main.c): once the host has it, `docker cp` and `docker
	 * diff` may look at what the process wrote, which cache=loose may still hold dirty. */
	sync();
	send_exit(a, p->id, p->status, p->err);
	proc_free(p);
	return true;
}

void relay(struct agent *a)
{
	enum { K_EP, K_IN, K_OUT, K_ERR, K_DNS };
	struct pollfd pfd[3 + MAX_PROCS * 4];
	struct {
		struct proc *p;
		int kind;
	} of[3 + MAX_PROCS * 4];
	struct proc *p0 = &a->procs[0];
	struct rv_frame f;
	size_t used, queued, i, n, others;
	int64_t now;
	bool force;
	int r, timeout;

	for (;;) {
		while (!a->rx_dead &&
		       (r = rv_frame_parse(a->rx.data + a->rx.off, rv_buf_pending(&a->rx), &f, &used)) != 0) {
			if (r < 0) {
				protocol_error(a, "malformed frame from the host");
				break;
			}
			handle_frame(a, &f);
			rv_buf_consume(&a->rx, used);
		}

		now = rv_now_ms();
		force = a->ending && now - a->ending_at >= END_GRACE_MS;
		timeout = -1;
		others = 0;
		for (i = 0; i < MAX_PROCS; i++) {
			struct proc *p = &a->procs[i];

			if (!p->used)
				continue;
			if (!p->tty && p->in_fd >= 0 && p->stdin_eof && !rv_buf_pending(&p->stdin_q))
				close_stdin(p);
			if (force)
				proc_force_end(a, p);
			if (i > 0 && !proc_try_finish(a, p, now, &timeout))
				others++;
		}
		/* proc 0 is reported last, once every other process has been. */
		if (p0->exited && p0->ep < 0 && p0->out_fd[0] < 0 && p0->out_fd[1] < 0 && !others)
			return;
		r = chan_flush(a);
		if (r < 0)
			channel_failed(r);

		queued = 0;
		for (i = 0; i < MAX_PROCS; i++)
			if (a->procs[i].used)
				queued += rv_buf_pending(&a->procs[i].stdin_q);
		pfd[0] = (struct pollfd){ .fd = a->chan, .events = rv_buf_pending(&a->tx) ? POLLOUT : 0 };
		/* Backpressure: no more stdin from the host while the processes hold so much. */
		if (!a->rx_dead && queued <= QUEUE_LIMIT)
			pfd[0].events |= POLLIN;
		pfd[1] = (struct pollfd){ .fd = a->sfd, .events = POLLIN };
		n = 2;
#define ADD(fd_, events_, kind_)                                              \
	do {                                                                  \
		pfd[n] = (struct pollfd){ .fd = (fd_), .events = (events_) }; \
		of[n].p = p;                                                  \
		of[n].kind = (kind_);                                         \
		n++;                                                          \
	} while (0)
		for (i = 0; i < MAX_PROCS; i++) {
			struct proc *p = &a->procs[i];
			bool pending = rv_buf_pending(&p->stdin_q) > 0;

			if (!p->used)
				continue;
			if (p->ep >= 0)
				ADD(p->ep, POLLIN, K_EP);
			/* Even with no events asked, a pipe whose reader is gone polls POLLERR: we
			 * close it. A pty master polls POLLHUP once the slave is closed: ask for it
			 * only with bytes to write (which then fail). */
			if (p->in_fd >= 0 && (pending || !p->tty))
				ADD(p->in_fd, pending ? POLLOUT : 0, K_IN);
			/* Output only after STARTED. Leave it out entirely while the channel is
			 * backed up: a POLLHUP would otherwise wake us for data we must not read. */
			if (p->ep < 0 && rv_buf_pending(&a->tx) <= QUEUE_LIMIT) {
				if (p->out_fd[0] >= 0)
					ADD(p->out_fd[0], POLLIN, K_OUT);
				if (p->out_fd[1] >= 0)
					ADD(p->out_fd[1], POLLIN, K_ERR);
			}
		}
		/* Queries too wait while the channel is backed up (the kernel drops what does not
		 * fit the socket's buffer, and resolvers retry). */
		if (a->dns_fd >= 0 && rv_buf_pending(&a->tx) <= QUEUE_LIMIT) {
			struct proc *p = NULL;

			ADD(a->dns_fd, POLLIN, K_DNS);
		}
#undef ADD
		if (a->ending) {
			kill(-1, SIGKILL); /* catch what forked while we were killing */
			set_timeout(&timeout, 100);
			set_timeout(&timeout, a->ending_at + END_GRACE_MS - now);
		}
		if (poll(pfd, n, timeout) < 0)
			continue;

		if (pfd[0].revents & POLLIN) {
			r = chan_read(a);
			if (r < 0)
				channel_failed(r);
		} else if (pfd[0].revents & (POLLHUP | POLLERR)) {
			channel_failed(-EPIPE);
		}
		if (pfd[1].revents)
			reap(a);
		/* An earlier entry may have closed a later one's fd: each checks it still has it. */
		for (i = 2; i < n; i++) {
			struct proc *p = of[i].p;

			if (!pfd[i].revents)
				continue;
			switch (of[i].kind) {
			case K_EP:
				if (p->ep >= 0)
					check_started(a, p);
				break;
			case K_IN:
				if (p->in_fd < 0)
					break;
				r = rv_buf_flush(&p->stdin_q, p->in_fd);
				/* EPIPE/EIO: the process closed its stdin; the rest has nowhere to go. */
				if (r < 0 || (pfd[i].revents & POLLERR))
					close_stdin(p);
				break;
			case K_DNS: relay_dns_queries(a); break;
			default:
				if (p->out_fd[of[i].kind - K_OUT] >= 0)
					pump_output(a, p, of[i].kind - K_OUT);
				break;
			}
		}
	}
}
