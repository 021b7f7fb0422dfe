/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/cleanup.h"
#include "base/time.h"
#include "hypervisor-backends/backend.h"
#include "protocol/agent-proto.h"
#include "runtime/ctl.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/lib/util.h"
#include "runtime/monitor.h"
#include "runtime/network.h"

/*
 * Every queue is bounded, and nothing in the loop blocks without a deadline:
 *  - toward the guest, control frames (RUN, EXEC, SIGNAL, RESIZE) and data frames (STDIN, DNS)
 *    wait in separate queues; the wire takes one data frame at a time and every queued control
 *    frame before the next, so a signal waits behind one stream chunk at most, never behind
 *    a process's input. Input and DNS answers are read only while the data queue holds less
 *    than INPUT_HIGH_WATER; the control queue takes at most CTL_QUEUE_MAX (a SIGKILL that does
 *    not fit still arms the kill deadline).
 *  - toward stdio readers, each stream has its own queue, written without blocking (the
 *    reader's fd is reopened O_NONBLOCK, or sent to with MSG_DONTWAIT). While any stream
 *    holds OUTPUT_HIGH_WATER the agent channel is not read: the guest's writer blocks, as a
 *    runc container's does on a full pipe, and kill, exec, signals and deadlines are still
 *    served. A process's exit is reported once its output is out, or once its reader has
 *    taken nothing for OUTPUT_STALL_MS (the rest is dropped).
 *  - the guest's STARTED after a RUN is awaited for the boot timeout, then the container ends.
 *  - the console log is capped (console_bound) and only its tail is read (console_tail).
 */

/* Stop reading a process's input while this much is queued for the guest. */
#define INPUT_HIGH_WATER (256 * 1024)
/* Refuse control requests while this much control traffic waits for the guest. */
#define CTL_QUEUE_MAX (4 * 1024 * 1024)
/* Stop reading the agent channel while one stdio stream holds this much for its reader. */
#define OUTPUT_HIGH_WATER (256 * 1024)
/* A reader that has taken nothing for this long after its process ended loses the rest. */
#define OUTPUT_STALL_MS 5000
/* Longest agent error message we pass on. */
#define AGENT_ERROR_MAX 1024
/* A SIGKILLed container whose guest does not report the death by then is ended by force. */
#define KILL_GRACE_MS 5000
/* The console log: past CONSOLE_MAX bytes, only its newest CONSOLE_KEEP are kept, checked
 * every CONSOLE_CHECK_MS; CONSOLE_TAIL bytes of it are read for an error message, whose
 * console line is at most CONSOLE_LINE_MAX bytes once escaped. */
#define CONSOLE_MAX (1024 * 1024)
#define CONSOLE_KEEP (256 * 1024)
#define CONSOLE_CHECK_MS 1000
#define CONSOLE_TAIL (16 * 1024)
#define CONSOLE_LINE_MAX 512
/* An accept4 that fails for want of fds is retried after this long. */
#define ACCEPT_BACKOFF_MS 100
#define MAX_PROCS 64
#define MAX_CLIENTS 64
/* `update`s sent to the guest and not answered yet; more are refused. */
#define UPDATE_MAX 8

/* Output toward one stdio reader. */
struct sink {
	int fd;          /* ours (reopened or dup'ed), -1 when absent or the reader went away */
	bool sock;       /* a socket: sent to with MSG_DONTWAIT */
	bool blocking;   /* could not be made non-blocking: written PIPE_BUF at a time on POLLOUT */
	struct rv_buf q; /* what the reader has not taken yet */
	long long moved; /* when q last shrank, or last became non-empty */
};

struct proc {
	bool used;
	uint32_t id;
	int in_fd;            /* -1 when absent; owned unless id == 0 */
	bool in_open;         /* still reading its input */
	struct sink out, err; /* with a terminal, both streams go to out */
	bool terminal;
	int client; /* index of the exec client it reports to, or -1 */
	bool started;
	/* An exec'd process that ended, reported once its output is out (sink_idle). */
	bool ended;
	uint32_t end_status;
	char *end_error;
};

struct client {
	int fd;   /* -1: slot free */
	int proc; /* index into procs of the exec it represents, or -1 */
};

struct rt_monitor {
	const struct rt_monitor_config *cfg; /* NULL when detached (tests) */
	struct rv_buf in;                    /* bytes of a guest frame not yet complete */
	struct rv_buf wire;                  /* the frame(s) being written to the guest */
	struct rv_buf ctl;                   /* control frames queued for the guest */
	struct rv_buf data;                  /* stdin and DNS frames queued for the guest */
	bool hello, run_sent, exited;
	int status;
	char *error;
	struct proc procs[MAX_PROCS]; /* procs[0] is the main process */
	struct client clients[MAX_CLIENTS];
	uint32_t next_proc_id;
	int start_client;         /* client waiting for the main process to start, or -1 */
	long long kill_deadline;  /* when to end a SIGKILLed container by force (0: none) */
	long long start_deadline; /* when a RUN not yet STARTED ends the container (0: none) */
	int reserve_fd;           /* kept open for an accept4 when fds run out */
	long long accept_after;   /* no accept4 before then (out of fds) */
	int console_fd;           /* the console log, to keep it bounded, or -1 */
	long long console_next;   /* when to check its size next */
	bool paused;              /* the VM's vCPUs are stopped (ctl_pause) */
	/* Clients awaiting the guest's answers to the UPDATEs sent, oldest first, at
	 * update_fifo[update_head]; -1: nobody waits for that one (see ctl_update()). */
	int update_fifo[UPDATE_MAX];
	unsigned update_head, update_n;
	/* An update made before RUN, sent right after it (see ctl_update()). */
	bool held_pids, held_mem;
	uint64_t held_pids_v, held_mem_v;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void rt_monitor_forwarded_signals(sigset_t *ret)
{
	static const int sigs[] = { SIGHUP,  SIGINT,  SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM,
				    SIGALRM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH };

	sigemptyset(ret);
	for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++)
		sigaddset(ret, sigs[i]);
}

/* --- output toward stdio readers ------------------------------------------------------------ */

#define SINK_NONE ((struct sink){ .fd = -1 })

/* A reader's fd may be a blocking pipe or terminal that others share: O_NONBLOCK on it would
 * change it for them too. A pipe, FIFO or terminal is reopened through /proc/self/fd, a new
 * open file of the same object, made non-blocking; a socket gets MSG_DONTWAIT; a regular file
 * does not block. Whatever cannot be reopened is written PIPE_BUF bytes at a time when poll
 * says there is room, which a pipe takes without blocking. The caller keeps @fd. */
static struct sink sink_open(int fd)
{
	struct sink s = SINK_NONE;
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return s;
	if (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode)) {
		char self[64];

		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		s.fd = open(self, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	}
	if (s.fd < 0) {
		s.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		s.sock = S_ISSOCK(sb.st_mode);
		s.blocking = !s.sock && !S_ISREG(sb.st_mode) && !(fcntl(fd, F_GETFL) & O_NONBLOCK);
	}
	return s;
}

static void sink_close(struct sink *s)
{
	close_fd(&s->fd);
	rv_buf_free(&s->q);
}

/* Bytes the reader took now: > 0, 0 when it has no room, < 0 (-errno) when it is gone. */
static ssize_t sink_put(struct sink *s, const uint8_t *data, size_t len)
{
	ssize_t n;

	if (s->blocking) {
		struct pollfd p = { .fd = s->fd, .events = POLLOUT };

		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLOUT))
			return (p.revents & (POLLERR | POLLHUP)) ? -EPIPE : 0;
		len = MIN(len, (size_t)PIPE_BUF);
	}
	do
		n = s->sock ? send(s->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) : write(s->fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n;
}

/* Hand the reader what it takes; a reader that went away (EPIPE) is not our failure: the data
 * is dropped, as it would be for runc. */
static void sink_flush(struct sink *s)
{
	while (s->fd >= 0 && rv_buf_pending(&s->q)) {
		ssize_t n = sink_put(s, s->q.data + s->q.off, rv_buf_pending(&s->q));

		if (n < 0) {
			rt_debug("output fd %d: %s, dropping output", s->fd, strerror((int)-n));
			sink_close(s);
			return;
		}
		if (n == 0)
			return;
		rv_buf_consume(&s->q, (size_t)n);
		s->moved = rv_now_ms();
	}
}

/* Output from the guest: queued behind what the reader has not taken yet. The queue's bound
 * is kept by the caller, which stops reading the guest (OUTPUT_HIGH_WATER). */
static void sink_write(struct sink *s, const uint8_t *data, size_t len)
{
	if (s->fd < 0 || !len)
		return;
	if (!rv_buf_pending(&s->q))
		s->moved = rv_now_ms();
	if (rv_buf_append(&s->q, data, len) < 0) {
		rt_debug("output fd %d: out of memory, dropping output", s->fd);
		return;
	}
	sink_flush(s);
}

/* Nothing left for the reader, or it has taken nothing for OUTPUT_STALL_MS. */
static bool sink_idle(const struct sink *s, long long now)
{
	return s->fd < 0 || !rv_buf_pending(&s->q) || now - s->moved >= OUTPUT_STALL_MS;
}

static struct rt_monitor *monitor_new(const struct rt_monitor_config *cfg, int in_fd, int out_fd, int err_fd,
				      bool terminal)
{
	struct rt_monitor *m = g_new0(struct rt_monitor, 1);

	m->cfg = cfg;
	m->start_client = -1;
	m->next_proc_id = 1;
	m->reserve_fd = m->console_fd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		m->clients[i] = (struct client){ .fd = -1, .proc = -1 };
	for (int i = 0; i < MAX_PROCS; i++)
		m->procs[i] = (struct proc){ .in_fd = -1, .out = SINK_NONE, .err = SINK_NONE, .client = -1 };
	m->procs[0] = (struct proc){ .used = true,
				     .in_fd = in_fd,
				     .out = sink_open(out_fd),
				     .err = sink_open(err_fd),
				     .in_open = in_fd >= 0,
				     .terminal = terminal,
				     .client = -1 };
	return m;
}

struct rt_monitor *rt_monitor_new_detached(int stdout_fd, int stderr_fd)
{
	return monitor_new(NULL, -1, stdout_fd, stderr_fd, false);
}

static void proc_release(struct rt_monitor *m, struct proc *p)
{
	sink_close(&p->out);
	sink_close(&p->err);
	if (p != &m->procs[0]) {
		close_fd(&p->in_fd);
		if (p->client >= 0)
			m->clients[p->client].proc = -1;
		g_free(p->end_error);
		*p = (struct proc){ .in_fd = -1, .out = SINK_NONE, .err = SINK_NONE, .client = -1 };
	}
}

void rt_monitor_free(struct rt_monitor *m)
{
	if (!m)
		return;
	for (int i = 0; i < MAX_PROCS; i++)
		if (m->procs[i].used)
			proc_release(m, &m->procs[i]);
	for (int i = 0; i < MAX_CLIENTS; i++)
		close_fd(&m->clients[i].fd);
	close_fd(&m->reserve_fd);
	close_fd(&m->console_fd);
	rv_buf_free(&m->in);
	rv_buf_free(&m->wire);
	rv_buf_free(&m->ctl);
	rv_buf_free(&m->data);
	g_free(m->error);
	g_free(m);
}

/* --- replies to control clients ------------------------------------------------------------ */

static void reply(struct rt_monitor *m, int client, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply(struct rt_monitor *m, int client, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	struct rt_error *err = NULL;
	va_list ap;

	if (client < 0 || m->clients[client].fd < 0)
		return;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* A client that went away is noticed when its socket hangs up. */
	if (rt_ctl_send(m->clients[client].fd, msg, NULL, 0, &err) < 0)
		rt_error_free(&err);
}

static void reply_error(struct rt_monitor *m, int client, const char *msg, int status)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *json = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "error");
	json_builder_add_string_value(b, msg);
	if (status >= 0) {
		json_builder_set_member_name(b, "status");
		json_builder_add_int_value(b, status);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json = json_to_string(root, FALSE);
	reply(m, client, "%s", json);
}

/* --- frames to the guest ------------------------------------------------------------------- */

/* How the agent mounts the rootfs share: virtio-fs where the backend gives it so, else 9p, cached
 * where the backend's 9p server bounds what a guest's cached names hold. */
static const char *rootfs_fstype(const struct rt_monitor *m)
{
	const char *fs = m->cfg->ops->share_fs ? m->cfg->ops->share_fs(m->cfg->vm, RV_ROOTFS_TAG) : NULL;

	if (m->cfg->block_rootfs)
		return "verity";
	if (fs)
		return fs;
	return m->cfg->ops->features & HV_FEAT_CACHED_ROOTFS ? "9p" : "9p-uncached";
}

static int put_mounts(struct rv_buf *out, const struct rt_spec *spec)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < spec->n_mounts; i++) {
		const struct rt_mount *mt = &spec->mounts[i];
		g_autofree char *opts = g_strjoinv(",", mt->options);
		g_autofree char *val = NULL;

		/* A bind mount's source is its name in the RV_MOUNTS_TAG share: its index. */
		if (mt->bind)
			val = g_strdup_printf("%s\n%zu\n%s\n%s", mt->type ? mt->type : "bind", i, mt->destination,
					      opts);
		else
			val = g_strdup_printf("%s\n%s\n%s\n%s", mt->type ? mt->type : "", mt->source ? mt->source : "",
					      mt->destination, opts);
		r = rv_put_str(out, RV_ATTR_MOUNT, val);
	}
	for (char **p = spec->masked_paths; r == 0 && p && *p; p++)
		r = rv_put_str(out, RV_ATTR_MASKED_PATH, *p);
	for (char **p = spec->readonly_paths; r == 0 && p && *p; p++)
		r = rv_put_str(out, RV_ATTR_READONLY_PATH, *p);
	for (char **p = spec->sysctl; r == 0 && p && *p; p++)
		r = rv_put_str(out, RV_ATTR_SYSCTL, *p);
	return r;
}

/* What makes the guest its own machine (agent-proto.h): fresh entropy and the time. Sent to a
 * cold guest too, which then needs no RTC for a precise clock. */
static int put_identity(struct rv_buf *out)
{
	uint8_t v[MAX(RV_ENTROPY_LEN, 8)];
	struct timespec now;
	int r;

	if (getrandom(v, RV_ENTROPY_LEN, 0) != RV_ENTROPY_LEN)
		return -EIO;
	r = rv_put_bytes(out, RV_ATTR_ENTROPY, v, RV_ENTROPY_LEN);
	explicit_bzero(v, sizeof(v));
	clock_gettime(CLOCK_REALTIME, &now);
	rv_le64(v, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
	return r < 0 ? r : rv_put_bytes(out, RV_ATTR_REALTIME, v, 8);
}

/* What the guest applies inside the container: devices, the user namespace, propagation. */
static int put_guest_settings(struct rv_buf *out, const struct rt_spec *spec)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < spec->n_devices; i++) {
		const struct rt_device *d = &spec->devices[i];
		size_t plen = strlen(d->path);
		g_autofree uint8_t *v = g_malloc(RV_DEVICE_ATTR_LEN + plen);

		rv_le32(v, (uint8_t)d->type);
		rv_le32(v + 4, d->major);
		rv_le32(v + 8, d->minor);
		rv_le32(v + 12, d->mode);
		rv_le32(v + 16, d->uid);
		rv_le32(v + 20, d->gid);
		memcpy(v + RV_DEVICE_ATTR_LEN, d->path, plen);
		r = rv_put_bytes(out, RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + plen);
	}
	for (size_t i = 0; r == 0 && i < spec->n_dev_rules; i++) {
		const struct rt_dev_rule *d = &spec->dev_rules[i];
		uint8_t v[RV_DEV_RULE_ATTR_LEN];

		rv_le32(v, d->allow);
		rv_le32(v + 4, (uint8_t)d->type);
		rv_le32(v + 8, d->major);
		rv_le32(v + 12, d->minor);
		rv_le32(v + 16, d->access);
		r = rv_put_bytes(out, RV_ATTR_DEV_RULE, v, sizeof(v));
	}
	if (r == 0 && spec->userns)
		r = rv_put_u32(out, RV_ATTR_USERNS, 1);
	for (size_t k = 0; k < 2; k++) {
		const struct rt_id_mapping *m = k ? spec->gid_mappings : spec->uid_mappings;
		size_t n = k ? spec->n_gid_mappings : spec->n_uid_mappings;

		for (size_t i = 0; r == 0 && i < n; i++) {
			uint8_t v[RV_IDMAP_ATTR_LEN];

			rv_le32(v, m[i].container_id);
			rv_le32(v + 4, m[i].host_id);
			rv_le32(v + 8, m[i].size);
			r = rv_put_bytes(out, k ? RV_ATTR_GID_MAP : RV_ATTR_UID_MAP, v, sizeof(v));
		}
	}
	if (r == 0 && spec->rootfs_propagation)
		r = rv_put_str(out, RV_ATTR_ROOTFS_PROPAGATION, spec->rootfs_propagation);
	return r;
}

/* What applies to one process: limits, privileges, seccomp. */
static int put_process_settings(struct rv_buf *out, const struct rt_process *p, const uint8_t *bpf, size_t bpf_len)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < p->n_rlimits; i++) {
		uint8_t rl[20];

		rv_le32(rl, (uint32_t)p->rlimits[i].resource);
		rv_le64(rl + 4, p->rlimits[i].soft);
		rv_le64(rl + 12, p->rlimits[i].hard);
		r = rv_put_bytes(out, RV_ATTR_RLIMIT, rl, sizeof(rl));
	}
	if (r == 0 && p->has_caps) {
		uint8_t caps[40];

		for (int i = 0; i < 5; i++)
			rv_le64(caps + 8 * i, p->caps[i]);
		r = rv_put_bytes(out, RV_ATTR_CAPS, caps, sizeof(caps));
	}
	if (r == 0 && p->no_new_privs)
		r = rv_put_u32(out, RV_ATTR_NO_NEW_PRIVS, 1);
	if (r == 0 && p->has_umask)
		r = rv_put_u32(out, RV_ATTR_UMASK, p->umask);
	if (r == 0 && p->has_oom_score_adj)
		r = rv_put_u32(out, RV_ATTR_OOM_SCORE_ADJ, (uint32_t)p->oom_score_adj);
	if (r == 0 && bpf_len)
		r = rv_put_bytes(out, RV_ATTR_SECCOMP, bpf, bpf_len);
	return r;
}

/* The network the guest takes over (see network.h); nothing: loopback only. */
static int put_network(struct rv_buf *out, const struct rt_netcfg *net)
{
	int r = 0;

	if (net->ifname) {
		g_autofree char *nif = g_strdup_printf("%s\n%s\n%u", net->ifname, net->mac, net->mtu);

		r = rv_put_str(out, RV_ATTR_NET_IF, nif);
		for (unsigned i = 0; r == 0 && i < net->addrs->len; i++)
			r = rv_put_str(out, RV_ATTR_NET_ADDR, net->addrs->pdata[i]);
		for (unsigned i = 0; r == 0 && i < net->routes->len; i++)
			r = rv_put_str(out, RV_ATTR_NET_ROUTE, net->routes->pdata[i]);
		if (r == 0 && net->ipv6_disabled) {
			g_autofree char *sysctl = g_strdup_printf("net.ipv6.conf.%s.disable_ipv6=1", net->ifname);

			r = rv_put_str(out, RV_ATTR_SYSCTL, sysctl);
		}
	}
	if (r == 0 && net->dns)
		r = rv_put_str(out, RV_ATTR_DNS_PROXY, net->dns);
	return r;
}

static int queue_process(struct rt_monitor *m, enum rv_msg_type type, uint32_t id, const struct rt_process *p,
			 const struct rt_spec *spec, unsigned short rows, unsigned short cols)
{
	struct rv_buf *out = &m->ctl;
	size_t start;
	int r = rv_buf_pending(out) < CTL_QUEUE_MAX ? rv_frame_begin(out, type, id, &start) : -ENOBUFS;

	for (char **a = p->args; r == 0 && *a; a++)
		r = rv_put_str(out, RV_ATTR_ARG, *a);
	for (char **e = p->env; r == 0 && *e; e++)
		r = rv_put_str(out, RV_ATTR_ENV, *e);
	if (r == 0)
		r = rv_put_str(out, RV_ATTR_CWD, p->cwd);
	if (r == 0)
		r = rv_put_u32(out, RV_ATTR_UID, p->uid);
	if (r == 0)
		r = rv_put_u32(out, RV_ATTR_GID, p->gid);
	for (size_t i = 0; r == 0 && i < p->n_additional_gids; i++)
		r = rv_put_u32(out, RV_ATTR_GIDS, p->additional_gids[i]);
	if (r == 0 && p->terminal)
		r = rv_put_u32(out, RV_ATTR_TERMINAL, 1);
	if (r == 0 && rows && cols)
		r = rv_put_u32(out, RV_ATTR_ROWS, rows);
	if (r == 0 && rows && cols)
		r = rv_put_u32(out, RV_ATTR_COLS, cols);
	if (r == 0)
		r = put_process_settings(out, p, m->cfg->seccomp_bpf, m->cfg->seccomp_len);
	if (spec) {
		if (r == 0)
			r = put_identity(out);
		if (r == 0)
			r = rv_put_str(out, RV_ATTR_FSTYPE, rootfs_fstype(m));
		if (r == 0)
			r = rv_put_u32(out, RV_ATTR_READONLY, spec->rootfs_readonly);
		if (r == 0 && spec->hostname && *spec->hostname)
			r = rv_put_str(out, RV_ATTR_HOSTNAME, spec->hostname);
		if (r == 0)
			r = put_mounts(out, spec);
		if (r == 0)
			r = put_guest_settings(out, spec);
		if (r == 0 && m->cfg->net)
			r = put_network(out, m->cfg->net);
		/* The container's processes are the guest's: its cgroup takes their limit (the
		 * host's pids.max also counts the VM's own threads, runtime/cgroup.h). */
		if (r == 0 && spec->resources.pids_limit > 0)
			r = rv_put_u32(out, RV_ATTR_PIDS_MAX, (uint32_t)MIN(spec->resources.pids_limit, UINT32_MAX));
	}
	if (r == 0)
		r = rv_frame_end(out, start);
	else if (r != -ENOBUFS)
		out->len = start; /* no half-built frame left in the queue */
	return r;
}

static int queue_u32(struct rt_monitor *m, enum rv_msg_type type, uint32_t proc, enum rv_attr_type a1, uint32_t v1,
		     enum rv_attr_type a2, uint32_t v2)
{
	struct rv_buf *out = &m->ctl;
	size_t start;
	int r = rv_buf_pending(out) < CTL_QUEUE_MAX ? rv_frame_begin(out, type, proc, &start) : -ENOBUFS;

	if (r == 0)
		r = rv_put_u32(out, a1, v1);
	if (r == 0 && a2)
		r = rv_put_u32(out, a2, v2);
	if (r == 0)
		r = rv_frame_end(out, start);
	else if (r != -ENOBUFS)
		out->len = start;
	return r;
}

static int queue_signal(struct rt_monitor *m, uint32_t proc, int sig)
{
	return queue_u32(m, RV_MSG_SIGNAL, proc, RV_ATTR_SIGNO, (uint32_t)sig, 0, 0);
}

/* An UPDATE for the guest's container cgroup, whose answer goes to @client (-1: logged only). */
static int queue_update(struct rt_monitor *m, int client, bool set_pids, uint64_t pids, bool set_mem, uint64_t mem)
{
	struct rv_buf *out = &m->ctl;
	uint8_t v[8];
	size_t start;
	int r = m->update_n < UPDATE_MAX && rv_buf_pending(out) < CTL_QUEUE_MAX
		? rv_frame_begin(out, RV_MSG_UPDATE, 0, &start)
		: -ENOBUFS;

	if (r == 0 && set_pids) {
		rv_le64(v, pids);
		r = rv_put_bytes(out, RV_ATTR_PIDS_LIMIT, v, sizeof(v));
	}
	if (r == 0 && set_mem) {
		rv_le64(v, mem);
		r = rv_put_bytes(out, RV_ATTR_MEMORY_LIMIT, v, sizeof(v));
	}
	if (r == 0)
		r = rv_frame_end(out, start);
	else if (r != -ENOBUFS)
		out->len = start;
	if (r == 0)
		m->update_fifo[(m->update_head + m->update_n++) % UPDATE_MAX] = client;
	return r;
}

/* Move queued frames to the agent channel: every control frame first, then one data frame
 * (a stream chunk), then control again. The wire is refilled only once empty, so a frame is
 * never split by another. Returns 0 (possibly with bytes left: wait for POLLOUT) or -errno. */
static int flush_guest(struct rt_monitor *m, int fd)
{
	for (;;) {
		int r;

		if (!rv_buf_pending(&m->wire)) {
			struct rv_frame f;
			size_t used;

			if (rv_buf_pending(&m->ctl)) {
				struct rv_buf t = m->wire;

				m->wire = m->ctl;
				m->ctl = t;
			} else if (rv_buf_pending(&m->data) &&
				   rv_frame_parse(m->data.data + m->data.off, rv_buf_pending(&m->data), &f, &used) >
					   0) {
				if (rv_buf_append(&m->wire, m->data.data + m->data.off, used) < 0)
					return -ENOMEM;
				rv_buf_consume(&m->data, used);
			} else {
				return 0;
			}
		}
		r = rv_buf_flush(&m->wire, fd);
		if (r < 0 || rv_buf_pending(&m->wire))
			return r;
	}
}

static size_t guest_pending(const struct rt_monitor *m)
{
	return rv_buf_pending(&m->wire) + rv_buf_pending(&m->ctl) + rv_buf_pending(&m->data);
}

/* The size of the terminal behind @fd, or 0x0. */
static void tty_size(int fd, unsigned short *rows, unsigned short *cols)
{
	struct winsize ws = { 0 };

	if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	} else {
		*rows = *cols = 0;
	}
}

static int start_main(struct rt_monitor *m, struct rt_error **err)
{
	const struct proc *p0 = &m->procs[0];
	unsigned short rows, cols;

	/* startContainer hooks run before the process does. */
	if (m->cfg->on_status && m->cfg->on_status(m->cfg->ctx, "starting", err) < 0)
		return -1;
	tty_size(p0->terminal ? p0->in_fd : -1, &rows, &cols);
	if (queue_process(m, RV_MSG_RUN, 0, &m->cfg->spec->process, m->cfg->spec, rows, cols) < 0)
		return rt_make_error(err, EMSGSIZE, "process description too large for the agent channel");
	m->run_sent = true;
	/* The agent reads it once the container's cgroup exists, just after proc 0 is forked. */
	if ((m->held_pids || m->held_mem) &&
	    queue_update(m, -1, m->held_pids, m->held_pids_v, m->held_mem, m->held_mem_v) < 0)
		return rt_make_error(err, ENOBUFS, "the limits of an earlier update do not fit the agent channel");
	/* The agent had the boot timeout to come up; it has as long to start the process. */
	m->start_deadline = rv_now_ms() + m->cfg->boot_timeout_ms;
	return 0;
}

/* --- frames from the guest ----------------------------------------------------------------- */

static char *sanitize(const struct rv_attr *a)
{
	return rt_escape_text(a->data, a->len, AGENT_ERROR_MAX);
}

/* The agent is up (its HELLO, or the template's that the VM was restored from): the
 * container is created. */
static int agent_ready(struct rt_monitor *m, struct rt_error **err)
{
	m->hello = true;
	if (!m->cfg)
		return 0;
	if (m->cfg->on_status && m->cfg->on_status(m->cfg->ctx, "created", err) < 0)
		return -1;
	return m->cfg->autostart ? start_main(m, err) : 0;
}

static int handle_hello(struct rt_monitor *m, const struct rv_frame *f, struct rt_error **err)
{
	struct rv_attr a;
	size_t pos = 0;
	uint32_t version = 0;
	int r;

	if (m->hello)
		return rt_make_error(err, 0, "agent protocol error: second HELLO");
	while ((r = rv_attr_next(f, &pos, &a)) > 0)
		if (a.type == RV_ATTR_VERSION && rv_attr_u32(&a, &version) < 0)
			return rt_make_error(err, 0, "agent protocol error: malformed VERSION");
	if (r < 0)
		return rt_make_error(err, 0, "agent protocol error: malformed HELLO");
	if (version != RV_PROTO_VERSION)
		return rt_make_error(err, 0,
				     "guest agent speaks protocol version %u, runvm speaks %u (rebuild the initramfs)",
				     version, RV_PROTO_VERSION);
	return agent_ready(m, err);
}

static int handle_exit(struct rt_monitor *m, struct proc *p, const struct rv_frame *f, struct rt_error **err)
{
	g_autofree char *error = NULL;
	struct rv_attr a;
	size_t pos = 0;
	uint32_t status = UINT32_MAX;
	int r;

	while ((r = rv_attr_next(f, &pos, &a)) > 0) {
		if (a.type == RV_ATTR_STATUS) {
			if (rv_attr_u32(&a, &status) < 0)
				return rt_make_error(err, 0, "agent protocol error: malformed STATUS");
		} else if (a.type == RV_ATTR_ERROR) {
			g_free(error);
			error = sanitize(&a);
		}
	}
	if (r < 0)
		return rt_make_error(err, 0, "agent protocol error: malformed EXIT");
	if (status > 255)
		return rt_make_error(err, 0, "agent protocol error: EXIT without a valid status");
	if (error && !p->started && (status == RV_EXIT_NOT_FOUND || status == RV_EXIT_NOT_EXECUTABLE)) {
		/* Docker picks its exit code (127, 126) from runc's wording: keep it. */
		char *runc_style = g_strdup_printf("unable to start container process: %s (%s)",
						   status == RV_EXIT_NOT_FOUND ? "executable file not found in $PATH"
									       : "permission denied",
						   error);

		g_free(error);
		error = runc_style;
	}
	if (p == &m->procs[0]) {
		m->status = (int)status;
		m->error = g_steal_pointer(&error);
		m->exited = true;
		if (m->start_client >= 0)
			reply_error(m, m->start_client,
				    m->error ? m->error : "container process ended before it started", (int)status);
		return 0;
	}
	/* Reported once its output is out (proc_finish): the client may close the pipes then. */
	p->ended = true;
	p->end_status = status;
	p->end_error = g_steal_pointer(&error);
	p->in_open = false;
	return 0;
}

static void proc_report(struct rt_monitor *m, struct proc *p)
{
	if (!p->started)
		reply_error(m, p->client, p->end_error ? p->end_error : "exec failed", (int)p->end_status);
	else
		reply(m, p->client, "{\"exit\":%u}", p->end_status);
}

/* An exec'd process that ended, reported to its client once its reader has its output. */
static void proc_finish(struct rt_monitor *m, struct proc *p, long long now)
{
	if (!p->ended || !sink_idle(&p->out, now) || !sink_idle(&p->err, now))
		return;
	proc_report(m, p);
	proc_release(m, p);
}

static struct proc *find_proc(struct rt_monitor *m, uint32_t id)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (m->procs[i].used && m->procs[i].id == id)
			return &m->procs[i];
	return NULL;
}

/* A DNS query from the guest's proxy, for the resolver on the namespace's loopback. The
 * guest can only reach that one address and port; what it sends is the resolver's to judge. */
static void dns_query(struct rt_monitor *m, const struct rv_frame *f)
{
	int fd = m->cfg && m->cfg->net ? m->cfg->net->dns_fd : -1;

	if (fd < 0 || f->len < 12 || f->len > RV_DNS_MAX) {
		rt_debug("DNS query of %u bytes dropped", f->len);
		return;
	}
	if (send(fd, f->payload, f->len, MSG_DONTWAIT) < 0)
		rt_debug("DNS query: %s", strerror(errno));
}

/* Answers from the resolver go back to the guest's proxy, a few at a time. */
static void dns_answers(struct rt_monitor *m)
{
	uint8_t buf[RV_DNS_MAX + 1];

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(m->cfg->net->dns_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			return;
		if (n < 12 || n > RV_DNS_MAX)
			rt_debug("DNS answer of %zd bytes dropped", n);
		else if (rv_frame_raw(&m->data, RV_MSG_DNS, 0, buf, (size_t)n) < 0)
			return;
	}
}

/* The guest's answer to the oldest UPDATE not yet answered. */
static int handle_update(struct rt_monitor *m, const struct rv_frame *f, struct rt_error **err)
{
	g_autofree char *error = NULL;
	struct rv_attr a;
	size_t pos = 0;
	int client, r;

	if (f->proc != 0 || !m->update_n)
		return rt_make_error(err, 0, "agent protocol error: UPDATE answer without a request");
	while ((r = rv_attr_next(f, &pos, &a)) > 0)
		if (a.type == RV_ATTR_ERROR) {
			g_free(error);
			error = sanitize(&a); /* bounded and escaped: one line */
		}
	if (r < 0)
		return rt_make_error(err, 0, "agent protocol error: malformed UPDATE");
	client = m->update_fifo[m->update_head];
	m->update_head = (m->update_head + 1) % UPDATE_MAX;
	m->update_n--;
	if (!error) {
		reply(m, client, "{\"ok\":true}");
	} else if (client >= 0) {
		g_autofree char *msg = g_strdup_printf("the guest's cgroup: %s", error);

		reply_error(m, client, msg, -1);
	} else {
		rt_warn("update of the guest's cgroup: %s", error);
	}
	return 0;
}

static int handle_frame(struct rt_monitor *m, const struct rv_frame *f, struct rt_error **err)
{
	struct proc *p;

	if (f->type != RV_MSG_HELLO && !m->hello)
		return rt_make_error(err, 0, "agent protocol error: %s before HELLO", rv_msg_type_name(f->type));
	if (f->type == RV_MSG_HELLO)
		return f->proc == 0 ? handle_hello(m, f, err)
				    : rt_make_error(err, 0, "agent protocol error: HELLO for a process");
	if (f->type == RV_MSG_DNS) {
		dns_query(m, f);
		return 0;
	}
	if (f->type == RV_MSG_UPDATE)
		return handle_update(m, f, err);
	p = find_proc(m, f->proc);
	if (!p)
		return rt_make_error(err, 0, "agent protocol error: frame for unknown process %u", f->proc);
	switch (f->type) {
	case RV_MSG_STDOUT: sink_write(&p->out, f->payload, f->len); return 0;
	case RV_MSG_STDERR: sink_write(p->terminal ? &p->out : &p->err, f->payload, f->len); return 0;
	case RV_MSG_STARTED:
		if (p->started)
			return rt_make_error(err, 0, "agent protocol error: second STARTED for process %u", f->proc);
		if (p == &m->procs[0] && !m->run_sent)
			return rt_make_error(err, 0, "agent protocol error: STARTED before the process was started");
		p->started = true;
		if (p == &m->procs[0]) {
			m->start_deadline = 0;
			/* state.json says running (and poststart hooks have run, as with runc) before
			 * `start` returns: an exec right after it must find the container running. */
			int r = m->cfg && m->cfg->on_status ? m->cfg->on_status(m->cfg->ctx, "running", err) : 0;

			if (m->start_client >= 0)
				reply(m, m->start_client, "{\"ok\":true}");
			m->start_client = -1;
			return r;
		} else {
			reply(m, p->client, "{\"ok\":true}");
		}
		return 0;
	case RV_MSG_EXIT: return handle_exit(m, p, f, err);
	default:
		return rt_make_error(err, 0, "agent protocol error: unexpected %s from the guest",
				     rv_msg_type_name(f->type));
	}
}

int rt_monitor_feed(struct rt_monitor *m, const void *data, size_t len, struct rt_error **err)
{
	struct rv_frame f;
	size_t used;
	int r;

	if (m->exited)
		return 1; /* the guest has nothing more to say that we would act on */
	if (rv_buf_append(&m->in, data, len) < 0)
		return rt_make_error(err, ENOMEM, "agent channel");
	while ((r = rv_frame_parse(m->in.data + m->in.off, rv_buf_pending(&m->in), &f, &used)) > 0) {
		if (handle_frame(m, &f, err) < 0)
			return -1;
		rv_buf_consume(&m->in, used);
		if (m->exited)
			return 1;
	}
	if (r < 0)
		return rt_make_error(err, 0, "agent protocol error: malformed frame header");
	return 0;
}

/* --- control requests ---------------------------------------------------------------------- */

/* Signals whose default action leaves a process alone: for a container not yet started they
 * change nothing. */
static bool signal_is_harmless(int sig)
{
	return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

static void ctl_kill(struct rt_monitor *m, int client, int sig)
{
	if (sig < 1 || sig > 64) {
		reply_error(m, client, "invalid signal", -1);
		return;
	}
	if (!m->procs[0].started) {
		/* Created, not started: the process does not exist yet, and runc's waiting init
		 * would die of any signal that is not ignored by default. */
		reply(m, client, "{\"ok\":true}");
		if (!signal_is_harmless(sig)) {
			m->exited = true;
			m->status = 128 + sig;
		}
		return;
	}
	/* SIGKILL must end the container even if the guest no longer listens (or reads). */
	if (sig == SIGKILL && !m->kill_deadline)
		m->kill_deadline = rv_now_ms() + KILL_GRACE_MS;
	if (queue_signal(m, 0, sig) < 0 && sig != SIGKILL) {
		reply_error(m, client, "the guest is not taking control requests", -1);
		return;
	}
	reply(m, client, "{\"ok\":true}");
}

static void ctl_pause(struct rt_monitor *m, int client, bool pause)
{
	const struct hv_backend_ops *ops = m->cfg->ops;
	struct rt_error *err = NULL;
	int r;

	if (!(ops->features & HV_FEAT_PAUSE))
		r = rt_make_error(&err, EOPNOTSUPP, "the %s backend cannot pause a VM", ops->name);
	else
		r = pause ? ops->pause(m->cfg->vm, &err) : ops->resume(m->cfg->vm, &err);

	if (r == 0 && m->cfg->on_status &&
	    m->cfg->on_status(m->cfg->ctx, pause ? "paused" : (m->procs[0].started ? "running" : "created"), &err) <
		    0) {
		struct rt_error *undo = NULL;

		/* The state could not say so (--root full, say): put the VM back as the state has
		 * it, so that what `state` reports is what the container does. */
		if ((pause ? ops->resume(m->cfg->vm, &undo) : ops->pause(m->cfg->vm, &undo)) < 0) {
			rt_warn("%s", undo->msg);
			rt_error_free(&undo);
		}
		r = -1;
	}
	if (r < 0) {
		reply_error(m, client, err->msg, -1);
		rt_error_free(&err);
		return;
	}
	m->paused = pause;
	reply(m, client, "{\"ok\":true}");
}

/*
 * {"op":"update","pids":N,"memory":BYTES}, either member optional, -1: no limit. The host
 * cgroup is the caller's (runtime/update.c); this is the guest's container cgroup. The reply
 * waits for the agent's answer, so that a failure in the guest reaches the caller, except:
 *  - created, not started: the guest's cgroup is made at RUN; the limits are held and sent
 *    just after RUN (the agent reads them as the first request once proc 0 is set up), and
 *    the reply is at once.
 *  - paused: runc updates a paused container (its cgroup is there to write), and so does
 *    `docker update`, so refusing would break callers; but the stopped guest cannot answer,
 *    and waiting would hold the caller until someone resumes it. So the UPDATE is queued on
 *    the channel now and the reply is at once, {"ok":true,"queued":true}: the agent applies it
 *    as soon as its vCPUs run again, before the container, which cannot fork while frozen, has
 *    much chance to; a failure then is only logged.
 */
static void ctl_update(struct rt_monitor *m, int client, JsonObject *o)
{
	bool set_pids = json_object_has_member(o, "pids"), set_mem = json_object_has_member(o, "memory");
	int64_t pids = json_object_get_int_member_with_default(o, "pids", 0);
	int64_t mem = json_object_get_int_member_with_default(o, "memory", 0);
	uint64_t pv = pids < 0 ? UINT64_MAX : (uint64_t)pids, mv = mem < 0 ? UINT64_MAX : (uint64_t)mem;

	if ((set_pids && pids < 1 && pids != -1) || (set_mem && mem < 1 && mem != -1)) {
		reply_error(m, client, "update: invalid limits", -1);
		return;
	}
	if (m->exited) {
		reply_error(m, client, "container not running", -1);
		return;
	}
	if (!set_pids && !set_mem) {
		reply(m, client, "{\"ok\":true}");
		return;
	}
	if (!m->run_sent) {
		if (set_pids) {
			m->held_pids = true;
			m->held_pids_v = pv;
		}
		if (set_mem) {
			m->held_mem = true;
			m->held_mem_v = mv;
		}
		reply(m, client, "{\"ok\":true}");
		return;
	}
	if (queue_update(m, m->paused ? -1 : client, set_pids, pv, set_mem, mv) < 0) {
		reply_error(m, client, "update: the guest is not taking control requests", -1);
		return;
	}
	if (m->paused)
		reply(m, client, "{\"ok\":true,\"queued\":true}");
}

static void ctl_exec(struct rt_monitor *m, int client, JsonObject *o, int *fds, size_t nfds)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree char *pjson = NULL;
	struct rt_error *err = NULL;
	struct rt_process *pr = NULL;
	struct proc *p = NULL;
	JsonNode *pn = json_object_get_member(o, "process");
	unsigned short rows, cols;
	int r;

	if (!m->procs[0].started || m->exited) {
		reply_error(m, client, "cannot exec in a stopped container", 255);
		goto close_fds;
	}
	if (m->clients[client].proc >= 0) {
		reply_error(m, client, "one exec per connection", 255);
		goto close_fds;
	}
	if (!pn) {
		reply_error(m, client, "process property must not be empty", 255);
		goto close_fds;
	}
	json_generator_set_root(gen, pn);
	pjson = json_generator_to_data(gen, NULL);
	if (rt_process_parse(pjson, strlen(pjson), &pr, &err) < 0) {
		reply_error(m, client, err->msg, 255);
		rt_error_free(&err);
		goto close_fds;
	}
	if (nfds != (pr->terminal ? 1u : 3u)) {
		reply_error(m, client, "exec: wrong number of stdio descriptors", 255);
		goto out;
	}
	for (int i = 1; i < MAX_PROCS; i++)
		if (!m->procs[i].used) {
			p = &m->procs[i];
			break;
		}
	if (!p) {
		reply_error(m, client, "too many exec'd processes in this container", 255);
		goto out;
	}
	*p = (struct proc){ .used = true,
			    .id = m->next_proc_id++,
			    .in_fd = fds[0],
			    .in_open = true,
			    .out = sink_open(pr->terminal ? fds[0] : fds[1]),
			    .err = pr->terminal ? SINK_NONE : sink_open(fds[2]),
			    .terminal = pr->terminal,
			    .client = client };
	for (size_t i = 1; i < nfds; i++)
		close(fds[i]); /* the sinks hold their own */
	m->clients[client].proc = (int)(p - m->procs);
	tty_size(pr->terminal ? p->in_fd : -1, &rows, &cols);
	r = queue_process(m, RV_MSG_EXEC, p->id, pr, NULL, rows, cols);
	if (r < 0) {
		reply_error(m, client,
			    r == -ENOBUFS ? "exec: the guest is not taking control requests"
					  : "exec: process description too large",
			    255);
		proc_release(m, p);
	}
	rt_process_free(pr);
	return;
out:
	rt_process_free(pr);
close_fds:
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

static void ctl_message(struct rt_monitor *m, int client, const char *msg, int *fds, size_t nfds)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonNode *root;
	JsonObject *o;
	const char *op;
	int cp = m->clients[client].proc;

	if (!json_parser_load_from_data(parser, msg, -1, NULL) || !(root = json_parser_get_root(parser)) ||
	    !JSON_NODE_HOLDS_OBJECT(root)) {
		reply_error(m, client, "malformed control message", -1);
		goto close_fds;
	}
	o = json_node_get_object(root);
	op = json_object_get_string_member_with_default(o, "op", "");
	if (strcmp(op, "exec") == 0) {
		ctl_exec(m, client, o, fds, nfds);
		return;
	}
	if (strcmp(op, "start") == 0) {
		struct rt_error *err = NULL;

		if (m->run_sent)
			reply_error(m, client, "cannot start an already running container", -1);
		else if (start_main(m, &err) < 0) {
			reply_error(m, client, err->msg, -1);
			rt_error_free(&err);
		} else
			m->start_client = client;
	} else if (strcmp(op, "kill") == 0) {
		ctl_kill(m, client, (int)json_object_get_int_member_with_default(o, "signal", SIGTERM));
	} else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
		ctl_pause(m, client, op[0] == 'p');
	} else if (strcmp(op, "update") == 0) {
		ctl_update(m, client, o);
	} else if (strcmp(op, "signal") == 0 && cp >= 0 && !m->procs[cp].ended) {
		int sig = (int)json_object_get_int_member_with_default(o, "signal", 0);

		if (sig >= 1 && sig <= 64)
			queue_signal(m, m->procs[cp].id, sig);
	} else if (strcmp(op, "resize") == 0 && cp >= 0) {
		queue_u32(m, RV_MSG_RESIZE, m->procs[cp].id, RV_ATTR_ROWS,
			  (uint32_t)json_object_get_int_member_with_default(o, "rows", 0), RV_ATTR_COLS,
			  (uint32_t)json_object_get_int_member_with_default(o, "cols", 0));
	} else {
		reply_error(m, client, "unknown control request", -1);
	}
close_fds:
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

static void client_gone(struct rt_monitor *m, int client)
{
	int cp = m->clients[client].proc;

	/* The exec's representative died (the shim SIGKILLed it, say): its process goes too. */
	if (cp >= 0 && m->procs[cp].ended) {
		proc_release(m, &m->procs[cp]); /* nobody left to report its end to */
	} else if (cp >= 0) {
		queue_signal(m, m->procs[cp].id, SIGKILL);
		m->procs[cp].client = -1;
	}
	if (m->start_client == client)
		m->start_client = -1;
	for (unsigned i = 0; i < m->update_n; i++)
		if (m->update_fifo[(m->update_head + i) % UPDATE_MAX] == client)
			m->update_fifo[(m->update_head + i) % UPDATE_MAX] = -1;
	close_fd(&m->clients[client].fd);
	m->clients[client].proc = -1;
}

/* Out of fds (a guest can hold many through 9p fids), accept4 fails and the connection stays
 * in the backlog, so poll reports it again at once. The reserve fd is given up for it, and
 * taken back when fds are free again; with no reserve, accepting pauses ACCEPT_BACKOFF_MS. */
static void accept_client(struct rt_monitor *m)
{
	int fd = accept4(m->cfg->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
		if (m->reserve_fd >= 0) {
			close_fd(&m->reserve_fd);
			fd = accept4(m->cfg->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		}
		if (fd < 0) {
			rt_debug("accept: %s, backing off", strerror(errno));
			m->accept_after = rv_now_ms() + ACCEPT_BACKOFF_MS;
			return;
		}
	}
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->clients[i].fd < 0) {
			m->clients[i] = (struct client){ .fd = fd, .proc = -1 };
			return;
		}
	close(fd); /* full: the caller sees a hang-up and reports it */
}

static void client_readable(struct rt_monitor *m, int client)
{
	g_autofree char *msg = NULL;
	struct rt_error *err = NULL;
	int fds[RT_CTL_MAX_FDS];
	size_t nfds = 0;
	int r = rt_ctl_recv(m->clients[client].fd, &msg, fds, &nfds, &err);

	if (r < 0 && err && err->status == EAGAIN) {
		rt_error_free(&err);
		return;
	}
	rt_error_free(&err);
	if (r <= 0) {
		client_gone(m, client);
		return;
	}
	ctl_message(m, client, msg, fds, nfds);
}

/* --- the loop ------------------------------------------------------------------------------ */

/* What the guest console says about a guest that did not come up: the kernel's panic line if
 * there is one in the log's last CONSOLE_TAIL bytes, else the last line; escaped, as the guest
 * wrote it. Only the tail is read: the log is the guest's to fill. */
static char *console_tail(const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	g_autofree uint8_t *buf = NULL;
	g_autofree char *line = NULL;
	const uint8_t *last = NULL, *end;
	size_t last_len = 0;
	struct stat sb;
	ssize_t n;

	if (path)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return g_strdup("");
	buf = g_malloc(CONSOLE_TAIL);
	n = pread(fd, buf, CONSOLE_TAIL, sb.st_size > CONSOLE_TAIL ? sb.st_size - CONSOLE_TAIL : 0);
	if (n <= 0)
		return g_strdup("");
	end = buf + n;
	for (const uint8_t *l = buf; l < end;) {
		const uint8_t *nl = memchr(l, '\n', (size_t)(end - l));
		const uint8_t *e = nl ? nl : end;
		const uint8_t *next = nl ? nl + 1 : end;

		while (l < e && g_ascii_isspace(*l))
			l++;
		while (e > l && g_ascii_isspace(e[-1]))
			e--;
		if (memmem(l, (size_t)(e - l), "Kernel panic", 12)) {
			last = l, last_len = (size_t)(e - l);
			break;
		}
		if (e > l)
			last = l, last_len = (size_t)(e - l);
		l = next;
	}
	if (!last)
		return g_strdup("");
	line = rt_escape_text(last, last_len, CONSOLE_LINE_MAX);
	return g_strdup_printf(" (guest console: %s)", line);
}

/* The console log is written by the VMM (QEMU's file chardev, the kvm backend's console),
 * both opening it O_APPEND: a simple cap with the tail kept. Once the file passes CONSOLE_MAX,
 * its newest CONSOLE_KEEP bytes are moved to its start and the rest cut off; the writers carry
 * on at the new end. The check runs every CONSOLE_CHECK_MS, so the file can pass the cap by
 * what the guest writes in that time; bytes written during the move may be lost. */
static void console_bound(struct rt_monitor *m, long long now)
{
	g_autofree uint8_t *keep = NULL;
	struct stat sb;
	ssize_t n;

	if (!m->cfg->console_log || now < m->console_next)
		return;
	m->console_next = now + CONSOLE_CHECK_MS;
	if (m->console_fd < 0)
		m->console_fd = open(m->cfg->console_log, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (m->console_fd < 0 || fstat(m->console_fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size <= CONSOLE_MAX)
		return;
	keep = g_malloc(CONSOLE_KEEP);
	n = pread(m->console_fd, keep, CONSOLE_KEEP, sb.st_size - CONSOLE_KEEP);
	if (n < 0 || pwrite(m->console_fd, keep, (size_t)n, 0) != n)
		n = 0; /* the bound holds even then: drop it all */
	if (ftruncate(m->console_fd, n) < 0)
		rt_debug("console log: ftruncate: %s", strerror(errno));
}

static int vm_ended_error(struct rt_monitor *m, struct rt_error **err)
{
	g_autofree char *tail = console_tail(m->cfg->console_log);
	int st = -1;

	if (m->cfg->ops->wait(m->cfg->vm, 0, &st, err) < 0)
		return -1;
	return rt_make_error(err, 0, "VM exited %s (hypervisor status %d)%s",
			     m->run_sent ? "before the container's process ended" : "during boot", st, tail);
}

static void read_input(struct rt_monitor *m, struct proc *p)
{
	uint8_t buf[RV_PROTO_STREAM_CHUNK];
	ssize_t n = read(p->in_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	/* A read error counts as end of input, as a closed pipe would (a pty slave whose master
	 * is gone reads EIO). */
	if (n <= 0)
		p->in_open = false;
	if (rv_frame_raw(&m->data, RV_MSG_STDIN, p->id, buf, n > 0 ? (size_t)n : 0) < 0)
		p->in_open = false;
}

static void handle_signal(struct rt_monitor *m)
{
	struct signalfd_siginfo si;
	struct proc *p0 = &m->procs[0];

	while (read(m->cfg->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			unsigned short rows, cols;

			tty_size(p0->terminal ? p0->in_fd : -1, &rows, &cols);
			if (rows && cols && m->run_sent)
				queue_u32(m, RV_MSG_RESIZE, 0, RV_ATTR_ROWS, rows, RV_ATTR_COLS, cols);
		} else if (!m->run_sent) {
			/* Nothing runs yet: the signal ends the container, as `kill` would. */
			if (!signal_is_harmless((int)si.ssi_signo)) {
				m->exited = true;
				m->status = 128 + (int)si.ssi_signo;
			}
		} else {
			rt_debug("forwarding signal %u to the container", si.ssi_signo);
			queue_signal(m, 0, (int)si.ssi_signo);
		}
	}
}

enum { P_AGENT, P_VM, P_SIGNAL, P_LISTEN, P_DNS, P_FIXED };
#define P_CLIENTS P_FIXED
#define P_PROCS (P_FIXED + MAX_CLIENTS)
#define P_OUTS (P_PROCS + MAX_PROCS)
#define P_MAX (P_OUTS + 2 * MAX_PROCS)

/* A stdio reader that is behind by OUTPUT_HIGH_WATER: the guest is not read meanwhile. */
static bool output_full(const struct rt_monitor *m)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (rv_buf_pending(&m->procs[i].out.q) >= OUTPUT_HIGH_WATER ||
		    rv_buf_pending(&m->procs[i].err.q) >= OUTPUT_HIGH_WATER)
			return true;
	return false;
}

static void earliest(long long *t, long long deadline)
{
	if (deadline && (!*t || deadline < *t))
		*t = deadline;
}

/* How long poll may wait: until the next armed deadline, or for ever when none is. */
static int poll_timeout(const struct rt_monitor *m, long long boot_deadline, long long now)
{
	long long t = 0;

	earliest(&t, m->hello ? 0 : boot_deadline);
	earliest(&t, m->kill_deadline);
	earliest(&t, m->start_deadline);
	earliest(&t, m->accept_after > now ? m->accept_after : 0);
	earliest(&t, m->cfg->console_log ? m->console_next : 0);
	for (int i = 1; i < MAX_PROCS; i++) {
		const struct proc *p = &m->procs[i];

		if (p->used && p->ended) {
			earliest(&t, rv_buf_pending(&p->out.q) ? p->out.moved + OUTPUT_STALL_MS : 0);
			earliest(&t, rv_buf_pending(&p->err.q) ? p->err.moved + OUTPUT_STALL_MS : 0);
		}
	}
	return !t ? -1 : t <= now ? 0 : (int)MIN(t - now, (long long)INT_MAX);
}

/* poll() over the slots in use only: fewer to scan, and poll refuses more entries than
 * RLIMIT_NOFILE, which a monitor low on fds may be held to. */
static int poll_used(struct pollfd *p, size_t n, int timeout)
{
	struct pollfd q[P_MAX];
	size_t at[P_MAX], k = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		p[i].revents = 0;
		if (p[i].fd >= 0) {
			q[k] = p[i];
			at[k++] = i;
		}
	}
	r = poll(q, k, timeout);
	for (size_t i = 0; r > 0 && i < k; i++)
		p[at[i]].revents = q[i].revents;
	return r;
}

/* The main process ended: its output still goes out while its reader takes it. */
static void drain_output(struct rt_monitor *m)
{
	struct proc *p0 = &m->procs[0];

	for (;;) {
		struct pollfd p[2] = { { .fd = rv_buf_pending(&p0->out.q) ? p0->out.fd : -1, .events = POLLOUT },
				       { .fd = rv_buf_pending(&p0->err.q) ? p0->err.fd : -1, .events = POLLOUT } };
		long long now = rv_now_ms();

		if (sink_idle(&p0->out, now) && sink_idle(&p0->err, now))
			return;
		if (poll(p, 2, OUTPUT_STALL_MS) < 0 && errno != EINTR)
			return;
		sink_flush(&p0->out);
		sink_flush(&p0->err);
	}
}

int rt_monitor_run(const struct rt_monitor_config *cfg, int *ret_status, char **ret_agent_error, struct rt_error **err)
{
	bool terminal = cfg->spec->process.terminal;
	struct rt_monitor *m = monitor_new(cfg, cfg->stdin_fd, terminal ? cfg->stdin_fd : cfg->stdout_fd,
					   terminal ? -1 : cfg->stderr_fd, terminal);
	long long boot_deadline = rv_now_ms() + cfg->boot_timeout_ms;
	uint8_t buf[64 * 1024];
	struct pollfd p[P_MAX];
	int r = -1;

	/* A restored agent said HELLO to the template's maker, and waits for RUN. */
	if (cfg->ops->restored && cfg->ops->restored(cfg->vm) && agent_ready(m, err) < 0)
		goto out;
	while (!m->exited) {
		long long now = rv_now_ms();
		bool full = output_full(m);

		console_bound(m, now);
		if (!m->hello && now >= boot_deadline) {
			g_autofree char *tail = console_tail(cfg->console_log);

			rt_make_error(err, ETIMEDOUT, "guest agent did not start within %u s%s",
				      cfg->boot_timeout_ms / 1000, tail);
			goto out;
		}
		if (m->start_deadline && now >= m->start_deadline) {
			g_autofree char *tail = console_tail(cfg->console_log);

			rt_make_error(err, ETIMEDOUT,
				      "the guest agent did not start the container's process within %u s%s",
				      cfg->boot_timeout_ms / 1000, tail);
			reply_error(m, m->start_client, (*err)->msg, -1);
			goto out;
		}
		if (m->kill_deadline && now >= m->kill_deadline) {
			rt_debug("the guest did not report the SIGKILLed process's end: ending the VM");
			m->exited = true;
			m->status = 128 + SIGKILL;
			break;
		}
		for (int i = 1; i < MAX_PROCS; i++)
			if (m->procs[i].used)
				proc_finish(m, &m->procs[i], now);
		if (m->reserve_fd < 0)
			m->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		p[P_AGENT] = (struct pollfd){ .fd = cfg->agent_fd,
					      .events = (full ? 0 : POLLIN) | (guest_pending(m) ? POLLOUT : 0) };
		p[P_VM] = (struct pollfd){ .fd = cfg->ops->exit_fd(cfg->vm), .events = POLLIN };
		p[P_SIGNAL] = (struct pollfd){ .fd = cfg->signal_fd, .events = POLLIN };
		/* Control requests wait until the guest is up: `create` has not returned before. */
		p[P_LISTEN] = (struct pollfd){ .fd = m->hello && now >= m->accept_after ? cfg->listen_fd : -1,
					       .events = POLLIN };
		p[P_DNS] = (struct pollfd){ .fd = cfg->net && rv_buf_pending(&m->data) < INPUT_HIGH_WATER
						    ? cfg->net->dns_fd
						    : -1,
					    .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			p[P_CLIENTS + i] = (struct pollfd){ .fd = m->clients[i].fd, .events = POLLIN };
		for (int i = 0; i < MAX_PROCS; i++) {
			const struct proc *pr = &m->procs[i];
			bool want = pr->used && pr->in_open && pr->started &&
				rv_buf_pending(&m->data) < INPUT_HIGH_WATER;

			p[P_PROCS + i] = (struct pollfd){ .fd = want ? pr->in_fd : -1, .events = POLLIN };
			p[P_OUTS + 2 * i] = (struct pollfd){ .fd = rv_buf_pending(&pr->out.q) ? pr->out.fd : -1,
							     .events = POLLOUT };
			p[P_OUTS + 2 * i + 1] = (struct pollfd){ .fd = rv_buf_pending(&pr->err.q) ? pr->err.fd : -1,
								 .events = POLLOUT };
		}
		if (poll_used(p, P_MAX, poll_timeout(m, boot_deadline, now)) < 0) {
			if (errno == EINTR)
				continue;
			rt_make_error(err, errno, "poll");
			goto out;
		}

		if (p[P_SIGNAL].revents & POLLIN)
			handle_signal(m);
		if (!full && (p[P_AGENT].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(cfg->agent_fd, buf, sizeof(buf));

			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				/* The hypervisor closed the channel: it is exiting. Report that below. */
				if (cfg->ops->wait(cfg->vm, 2000, &(int){ 0 }, err) < 0)
					goto out;
				vm_ended_error(m, err);
				goto out;
			}
			if (rt_monitor_feed(m, buf, (size_t)n, err) < 0)
				goto out;
		}
		if (p[P_LISTEN].fd >= 0 && (p[P_LISTEN].revents & POLLIN))
			accept_client(m);
		if (p[P_DNS].fd >= 0 && p[P_DNS].revents)
			dns_answers(m);
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (p[P_CLIENTS + i].fd >= 0 && p[P_CLIENTS + i].revents)
				client_readable(m, i);
		for (int i = 0; i < MAX_PROCS; i++) {
			if (p[P_PROCS + i].fd >= 0 && p[P_PROCS + i].revents)
				read_input(m, &m->procs[i]);
			if (p[P_OUTS + 2 * i].fd >= 0 && p[P_OUTS + 2 * i].revents)
				sink_flush(&m->procs[i].out);
			if (p[P_OUTS + 2 * i + 1].fd >= 0 && p[P_OUTS + 2 * i + 1].revents)
				sink_flush(&m->procs[i].err);
		}

		if (guest_pending(m)) {
			int w = flush_guest(m, cfg->agent_fd);

			if (w < 0 && w != -EPIPE) {
				rt_make_error(err, -w, "write to the agent channel");
				goto out;
			}
		}

		if (p[P_VM].revents & POLLIN) {
			/* Whatever the guest sent before it ended is still in the socket. */
			ssize_t n;

			r = 0;
			while (r == 0 && (n = read(cfg->agent_fd, buf, sizeof(buf))) > 0)
				r = rt_monitor_feed(m, buf, (size_t)n, err);
			if (r > 0)
				break;
			if (r == 0)
				vm_ended_error(m, err);
			r = -1;
			goto out;
		}
	}

	drain_output(m);
	/* Exec'd processes the guest did not report (the VM is being ended): they are gone too. */
	for (int i = 1; i < MAX_PROCS; i++)
		if (m->procs[i].used) {
			if (m->procs[i].ended)
				proc_report(m, &m->procs[i]);
			else if (m->procs[i].started)
				reply(m, m->procs[i].client, "{\"exit\":%d}", 128 + SIGKILL);
			else
				reply_error(m, m->procs[i].client, "container not running", 255);
		}
	if (m->start_client >= 0)
		reply_error(m, m->start_client, "container process ended before it started", m->status);
	*ret_status = m->status;
	*ret_agent_error = g_steal_pointer(&m->error);
	r = 0;
out:
	rt_monitor_free(m);
	return r;
}
