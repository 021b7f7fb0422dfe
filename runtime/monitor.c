/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/time.h"
#include "hypervisor-backends/backend.h"
#include "protocol/agent-proto.h"
#include "runtime/ctl.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/monitor.h"
#include "runtime/network.h"

/* Stop reading a process's input while this much is queued for the guest. */
#define INPUT_HIGH_WATER (256 * 1024)
/* Longest agent error message we pass on. */
#define AGENT_ERROR_MAX 1024
/* A SIGKILLed container whose guest does not report the death by then is ended by force. */
#define KILL_GRACE_MS 5000
#define MAX_PROCS 64
#define MAX_CLIENTS 64

struct proc {
	bool used;
	uint32_t id;
	int in_fd, out_fd, err_fd; /* -1 when absent; owned unless id == 0 */
	bool in_open;              /* still reading its input */
	bool terminal;
	int client; /* index of the exec client it reports to, or -1 */
	bool started;
};

struct client {
	int fd;   /* -1: slot free */
	int proc; /* index into procs of the exec it represents, or -1 */
};

struct rt_monitor {
	const struct rt_monitor_config *cfg; /* NULL when detached (tests) */
	struct rv_buf in;                    /* bytes of a guest frame not yet complete */
	struct rv_buf out;                   /* frames queued for the guest */
	bool hello, run_sent, exited;
	int status;
	char *error;
	struct proc procs[MAX_PROCS]; /* procs[0] is the main process */
	struct client clients[MAX_CLIENTS];
	uint32_t next_proc_id;
	int start_client;        /* client waiting for the main process to start, or -1 */
	long long kill_deadline; /* when to end a SIGKILLed container by force (0: none) */
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

static struct rt_monitor *monitor_new(const struct rt_monitor_config *cfg, int in_fd, int out_fd, int err_fd,
				      bool terminal)
{
	struct rt_monitor *m = g_new0(struct rt_monitor, 1);

	m->cfg = cfg;
	m->start_client = -1;
	m->next_proc_id = 1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		m->clients[i] = (struct client){ .fd = -1, .proc = -1 };
	for (int i = 0; i < MAX_PROCS; i++)
		m->procs[i] = (struct proc){ .in_fd = -1, .out_fd = -1, .err_fd = -1, .client = -1 };
	m->procs[0] = (struct proc){ .used = true,
				     .in_fd = in_fd,
				     .out_fd = out_fd,
				     .err_fd = err_fd,
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
	if (p != &m->procs[0]) {
		close_fd(&p->in_fd);
		close_fd(&p->out_fd);
		close_fd(&p->err_fd);
		if (p->client >= 0)
			m->clients[p->client].proc = -1;
		*p = (struct proc){ .in_fd = -1, .out_fd = -1, .err_fd = -1, .client = -1 };
	}
}

void rt_monitor_free(struct rt_monitor *m)
{
	if (!m)
		return;
	for (int i = 1; i < MAX_PROCS; i++)
		if (m->procs[i].used)
			proc_release(m, &m->procs[i]);
	for (int i = 0; i < MAX_CLIENTS; i++)
		close_fd(&m->clients[i].fd);
	rv_buf_free(&m->in);
	rv_buf_free(&m->out);
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
	struct rv_buf *out = &m->out;
	size_t start;
	int r = rv_frame_begin(out, type, id, &start);

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
			r = rv_put_str(out, RV_ATTR_FSTYPE, "9p");
		if (r == 0)
			r = rv_put_u32(out, RV_ATTR_READONLY, spec->rootfs_readonly);
		if (r == 0 && spec->hostname && *spec->hostname)
			r = rv_put_str(out, RV_ATTR_HOSTNAME, spec->hostname);
		if (r == 0)
			r = put_mounts(out, spec);
		if (r == 0 && m->cfg->net)
			r = put_network(out, m->cfg->net);
	}
	if (r == 0)
		r = rv_frame_end(out, start);
	return r;
}

static int queue_u32(struct rv_buf *out, enum rv_msg_type type, uint32_t proc, enum rv_attr_type a1, uint32_t v1,
		     enum rv_attr_type a2, uint32_t v2)
{
	size_t start;
	int r = rv_frame_begin(out, type, proc, &start);

	if (r == 0)
		r = rv_put_u32(out, a1, v1);
	if (r == 0 && a2)
		r = rv_put_u32(out, a2, v2);
	if (r == 0)
		r = rv_frame_end(out, start);
	return r;
}

static int queue_signal(struct rt_monitor *m, uint32_t proc, int sig)
{
	return queue_u32(&m->out, RV_MSG_SIGNAL, proc, RV_ATTR_SIGNO, (uint32_t)sig, 0, 0);
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
	return 0;
}

/* --- frames from the guest ----------------------------------------------------------------- */

/* Write all of @data to a process's output. A reader that went away (EPIPE) is not our
 * failure: the data is dropped, as it would be for runc. */
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
			close_fd(fd);
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
	m->hello = true;
	if (!m->cfg)
		return 0;
	if (m->cfg->on_status && m->cfg->on_status(m->cfg->ctx, "created", err) < 0)
		return -1;
	return m->cfg->autostart ? start_main(m, err) : 0;
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
	if (!p->started)
		reply_error(m, p->client, error ? error : "exec failed", (int)status);
	else
		reply(m, p->client, "{\"exit\":%u}", status);
	proc_release(m, p);
	return 0;
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
		else if (rv_frame_raw(&m->out, RV_MSG_DNS, 0, buf, (size_t)n) < 0)
			return;
	}
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
	p = find_proc(m, f->proc);
	if (!p)
		return rt_make_error(err, 0, "agent protocol error: frame for unknown process %u", f->proc);
	switch (f->type) {
	case RV_MSG_STDOUT: write_out(&p->out_fd, f->payload, f->len); return 0;
	case RV_MSG_STDERR: write_out(p->terminal ? &p->out_fd : &p->err_fd, f->payload, f->len); return 0;
	case RV_MSG_STARTED:
		if (p->started)
			return rt_make_error(err, 0, "agent protocol error: second STARTED for process %u", f->proc);
		p->started = true;
		if (p == &m->procs[0]) {
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
	if (queue_signal(m, 0, sig) < 0) {
		reply_error(m, client, "out of memory", -1);
		return;
	}
	/* SIGKILL must end the container even if the guest no longer listens. */
	if (sig == SIGKILL && !m->kill_deadline)
		m->kill_deadline = rv_now_ms() + KILL_GRACE_MS;
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

	if (r == 0 && m->cfg->on_status)
		r = m->cfg->on_status(m->cfg->ctx, pause ? "paused" : (m->procs[0].started ? "running" : "created"),
				      &err);
	if (r < 0) {
		reply_error(m, client, err->msg, -1);
		rt_error_free(&err);
		return;
	}
	reply(m, client, "{\"ok\":true}");
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
			    .out_fd = pr->terminal ? dup(fds[0]) : fds[1],
			    .err_fd = pr->terminal ? -1 : fds[2],
			    .terminal = pr->terminal,
			    .client = client };
	m->clients[client].proc = (int)(p - m->procs);
	tty_size(pr->terminal ? p->in_fd : -1, &rows, &cols);
	r = queue_process(m, RV_MSG_EXEC, p->id, pr, NULL, rows, cols);
	if (r < 0) {
		reply_error(m, client, "exec: process description too large", 255);
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
	} else if (strcmp(op, "signal") == 0 && cp >= 0) {
		int sig = (int)json_object_get_int_member_with_default(o, "signal", 0);

		if (sig >= 1 && sig <= 64)
			queue_signal(m, m->procs[cp].id, sig);
	} else if (strcmp(op, "resize") == 0 && cp >= 0) {
		queue_u32(&m->out, RV_MSG_RESIZE, m->procs[cp].id, RV_ATTR_ROWS,
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
	if (cp >= 0) {
		queue_signal(m, m->procs[cp].id, SIGKILL);
		m->procs[cp].client = -1;
	}
	if (m->start_client == client)
		m->start_client = -1;
	close_fd(&m->clients[client].fd);
	m->clients[client].proc = -1;
}

static void accept_client(struct rt_monitor *m)
{
	int fd = accept4(m->cfg->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

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
	if (rv_frame_raw(&m->out, RV_MSG_STDIN, p->id, buf, n > 0 ? (size_t)n : 0) < 0)
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
				queue_u32(&m->out, RV_MSG_RESIZE, 0, RV_ATTR_ROWS, rows, RV_ATTR_COLS, cols);
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
#define P_MAX (P_PROCS + MAX_PROCS)

int rt_monitor_run(const struct rt_monitor_config *cfg, int *ret_status, char **ret_agent_error, struct rt_error **err)
{
	bool terminal = cfg->spec->process.terminal;
	struct rt_monitor *m = monitor_new(cfg, cfg->stdin_fd, terminal ? cfg->stdin_fd : cfg->stdout_fd,
					   terminal ? -1 : cfg->stderr_fd, terminal);
	long long boot_deadline = rv_now_ms() + cfg->boot_timeout_ms;
	uint8_t buf[64 * 1024];
	struct pollfd p[P_MAX];
	int r = -1;

	while (!m->exited) {
		long long deadline = !m->hello ? boot_deadline : m->kill_deadline;
		int timeout = -1;

		if (deadline) {
			long long left = deadline - rv_now_ms();

			if (left <= 0 && !m->hello) {
				g_autofree char *tail = console_tail(cfg->console_log);

				rt_make_error(err, ETIMEDOUT, "guest agent did not start within %u s%s",
					      cfg->boot_timeout_ms / 1000, tail);
				goto out;
			}
			if (left <= 0) {
				rt_debug("the guest did not report the SIGKILLed process's end: ending the VM");
				m->exited = true;
				m->status = 128 + SIGKILL;
				break;
			}
			timeout = (int)left;
		}
		p[P_AGENT] = (struct pollfd){ .fd = cfg->agent_fd,
					      .events = POLLIN | (rv_buf_pending(&m->out) ? POLLOUT : 0) };
		p[P_VM] = (struct pollfd){ .fd = cfg->ops->exit_fd(cfg->vm), .events = POLLIN };
		p[P_SIGNAL] = (struct pollfd){ .fd = cfg->signal_fd, .events = POLLIN };
		/* Control requests wait until the guest is up: `create` has not returned before. */
		p[P_LISTEN] = (struct pollfd){ .fd = m->hello ? cfg->listen_fd : -1, .events = POLLIN };
		p[P_DNS] = (struct pollfd){ .fd = cfg->net && rv_buf_pending(&m->out) < INPUT_HIGH_WATER
						    ? cfg->net->dns_fd
						    : -1,
					    .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			p[P_CLIENTS + i] = (struct pollfd){ .fd = m->clients[i].fd, .events = POLLIN };
		for (int i = 0; i < MAX_PROCS; i++) {
			const struct proc *pr = &m->procs[i];
			bool want = pr->used && pr->in_open && pr->started &&
				rv_buf_pending(&m->out) < INPUT_HIGH_WATER;

			p[P_PROCS + i] = (struct pollfd){ .fd = want ? pr->in_fd : -1, .events = POLLIN };
		}
		if (poll(p, P_MAX, timeout) < 0) {
			if (errno == EINTR)
				continue;
			rt_make_error(err, errno, "poll");
			goto out;
		}

		if (p[P_SIGNAL].revents & POLLIN)
			handle_signal(m);
		if (p[P_AGENT].revents & (POLLIN | POLLHUP | POLLERR)) {
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
		if (p[P_LISTEN].revents & POLLIN)
			accept_client(m);
		if (p[P_DNS].fd >= 0 && p[P_DNS].revents)
			dns_answers(m);
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (p[P_CLIENTS + i].fd >= 0 && p[P_CLIENTS + i].revents)
				client_readable(m, i);
		for (int i = 0; i < MAX_PROCS; i++)
			if (p[P_PROCS + i].fd >= 0 && p[P_PROCS + i].revents)
				read_input(m, &m->procs[i]);

		if (rv_buf_pending(&m->out)) {
			int w = rv_buf_flush(&m->out, cfg->agent_fd);

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

	/* Exec'd processes the guest did not report (the VM is being ended): they are gone too. */
	for (int i = 1; i < MAX_PROCS; i++)
		if (m->procs[i].used) {
			if (m->procs[i].started)
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
