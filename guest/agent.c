/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runvm-agent: PID 1 of the runvm guest, the only file in its initramfs.
 *
 * It mounts the kernel filesystems, finds the virtio-serial port named RV_AGENT_PORT_NAME,
 * says HELLO, waits for RUN, sets the hostname, mounts the container's root filesystem (9p or
 * virtio-fs), starts the main process (proc 0) in it, and then relays stdin/stdout/stderr,
 * signals and terminal sizes for it and for every process EXEC starts beside it, until the
 * main process ends. Then it kills what is left, sends EXIT for every process (proc 0 last)
 * and reboots, which ends the VM because the host runs QEMU with -no-reboot.
 *
 * Processes live in a bounded table (proc 0 and up to MAX_EXEC others). Each goes through:
 * forked, with a CLOEXEC exec-error pipe (ep) polled like any other fd; ep reads EOF: the
 * program runs, STARTED is sent and only then are its output fds polled, so STARTED precedes
 * its output; ep reads an exec_failure: EXIT with ERROR, no STARTED. Once reaped (waitpid(-1)
 * reaps every orphan too; pids are matched to the table) and its output has reached EOF, EXIT.
 * An EXEC'd process's background children may hold its output open: EXEC_DRAIN_MS after the
 * process itself has ended, what is readable is drained and EXIT sent anyway (as runc exec).
 *
 * A terminal is a pty of the container's own devpts instance (ROOTFS/dev/pts), so the process
 * sees /dev/pts/N; the slave is opened with TIOCGPTPEER, never by path.
 *
 * Every byte from the host is bounded by rv_frame_parse()/rv_attr_next(); no input can make
 * the agent exit, and PID 1 must never exit (the kernel would panic), so every way out ends in
 * reboot(). Every fd is O_CLOEXEC but those dup2()ed onto a child's 0..2, and every fd in the
 * relay loop is non-blocking.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent-proto.h"

/* Stop reading a source while this much is queued for its sink (backpressure). */
#define QUEUE_LIMIT (1u << 20)
#define PORT_WAIT_MS 5000
/* After EXIT is written, how long to wait for the host to hang up before rebooting: a write
 * to a virtio port returns once the data is in the virtqueue, not once QEMU has taken it, so
 * rebooting at once could lose the tail of the output and the EXIT frame itself. */
#define EXIT_LINGER_MS 2000
/* Processes EXEC may run at once, besides proc 0. */
#define MAX_EXEC 64
#define MAX_PROCS (MAX_EXEC + 1)
/* How long after an EXEC'd process ends its output may stay open (held by its background
 * children) before what is readable is drained and EXIT sent without waiting for EOF. */
#define EXEC_DRAIN_MS 100
/* Once proc 0 has ended and everything was killed, how long to wait for the rest to be reaped
 * and to reach EOF: only a process stuck in the kernel outlives SIGKILL that long. */
#define END_GRACE_MS 5000
#define HOSTNAME_MAX 64
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ROOTFS "/rootfs"

/* How to start one process: RUN (proc 0) or EXEC. */
struct proc_config {
	char **argv;		/* NULL-terminated, at least one entry */
	char **envp;		/* NULL-terminated */
	size_t argc, envc, ngids;
	char *cwd;
	uint32_t uid, gid;
	gid_t *gids;
	bool terminal;
	bool has_rows, has_cols;
	uint16_t rows, cols;
};

/* What only RUN carries. */
struct run_config {
	char *hostname;		/* NULL: not given */
	bool virtiofs, readonly;
};

struct proc {
	bool used;
	uint32_t id;		/* the host's process number; slot 0 is always proc 0 */
	pid_t pid;		/* 0 until forked */
	bool tty;		/* in_fd and out_fd[0] are the pty master */
	int ep;			/* exec-error pipe (read end) until the exec is known to be done */
	int in_fd;		/* stdin pipe (write end) or a dup of the master; -1 once closed */
	int out_fd[2];		/* stdout, stderr (read ends), or the master and -1; -1 at EOF */
	struct rv_buf stdin_q;	/* bytes for its stdin */
	bool stdin_eof;		/* pipe: close in_fd once stdin_q drains; tty: EOF char queued */
	bool exited;		/* reaped, or failed to start */
	int64_t exited_at;
	uint32_t status;	/* exit status to report */
	char err[256];		/* RV_ATTR_ERROR for EXIT; a set error also fixes the status */
	struct proc_config cfg;	/* until its exec is known to have worked or failed */
};

struct agent {
	int chan;		/* the virtio-serial port to the host */
	int sfd;		/* signalfd for SIGCHLD */
	struct rv_buf rx;	/* bytes from the host not yet parsed */
	struct rv_buf tx;	/* frames for the host */
	bool connected;		/* the host has taken or sent bytes: EOF now means it is gone */
	bool rx_dead;		/* protocol error: stop reading the channel */
	bool ignored;		/* logged a frame we ignore (once: the console is slow) */
	bool ending;		/* proc 0 has ended: the container goes down */
	int64_t ending_at;
	struct proc procs[MAX_PROCS]; /* [0] is proc 0 */
};

/* What the child writes to the exec-error pipe when it cannot exec. */
struct exec_failure {
	int err;
	char stage[12];
};

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	/* One write per line so lines from the kernel do not split ours. */
	n = snprintf(line, sizeof(line), "runvm-agent: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to complain */
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void __attribute__((noreturn)) end_vm(void)
{
	kill(-1, SIGKILL);
	sync();
	/* RB_AUTOBOOT, not RB_POWER_OFF: without ACPI a power-off only halts the CPU and QEMU
	 * keeps running, while a reset ends QEMU started with -no-reboot. */
	reboot(RB_AUTOBOOT);
	logmsg("reboot: %m");
	for (;;)
		pause();
}

static void set_error(struct proc *p, uint32_t status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct proc *p, uint32_t status, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0])
		return; /* the first error is the cause, later ones are consequences */
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	p->status = status;
	logmsg("process %u: %s", p->id, p->err);
}

/* Mount devtmpfs, proc and sysfs, and make sure fds 0..2 are open so no later fd lands there. */
static int early_setup(void)
{
	static const struct {
		const char *type, *dir;
		unsigned long flags;
	} m[] = {
		{ "devtmpfs", "/dev", MS_NOSUID },
		{ "proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC },
		{ "sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC },
	};
	size_t i;
	int fd;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		if (mkdir(m[i].dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		/* EBUSY: the kernel mounted it already (CONFIG_DEVTMPFS_MOUNT). */
		if (mount(m[i].type, m[i].dir, m[i].type, m[i].flags, NULL) < 0 && errno != EBUSY) {
			int r = -errno;

			logmsg("mount %s on %s: %s", m[i].type, m[i].dir, strerror(-r));
			return r;
		}
		if (i > 0)
			continue;
		/* Right after /dev: the kernel found no /dev/console, so stderr is closed. */
		for (fd = 0; fd < 3; fd++) {
			int nfd;

			if (fcntl(fd, F_GETFD) >= 0)
				continue;
			nfd = open("/dev/console", O_RDWR | O_NOCTTY);
			if (nfd < 0)
				nfd = open("/dev/null", O_RDWR);
			if (nfd < 0)
				return -errno;
			if (nfd != fd) {
				dup2(nfd, fd);
				close(nfd);
			}
		}
	}
	return 0;
}

/* Containers expect 127.0.0.1 to work even without a network. */
static void loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			logmsg("bringing up lo: %m");
	}
	close(fd);
}

static int read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The port appears in sysfs at probe time but gets its name from the host a little later. */
static int open_channel(int *ret_fd)
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
			if (read_small_file(path, name, sizeof(name)) < 0 ||
			    strcmp(name, RV_AGENT_PORT_NAME "\n") != 0)
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

/* Read what the channel has. 1: got bytes, 0: nothing now, -EPIPE: host not (or no longer)
 * connected, other -errno: the channel failed. */
static int chan_read(struct agent *a)
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

static int chan_flush(struct agent *a)
{
	int r = rv_buf_flush(&a->tx, a->chan);

	/* A virtio port only takes writes while the host is connected. */
	if (r == 0 && !rv_buf_pending(&a->tx))
		a->connected = true;
	return r;
}

static void __attribute__((noreturn)) channel_failed(int r)
{
	logmsg("host channel: %s", r == -EPIPE ? "closed by the host" : strerror(-r));
	end_vm();
}

static void log_ignored(struct agent *a, const struct rv_frame *f)
{
	if (!a->ignored)
		logmsg("ignoring %s for process %u (and any more)", rv_msg_type_name(f->type), f->proc);
	a->ignored = true;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void set_timeout(int *timeout, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (*timeout < 0 || ms < *timeout)
		*timeout = (int)ms;
}

static void send_exit(struct agent *a, uint32_t id, uint32_t status, const char *err)
{
	size_t start;

	if (rv_frame_begin(&a->tx, RV_MSG_EXIT, id, &start) < 0 || rv_put_u32(&a->tx, RV_ATTR_STATUS, status) < 0 ||
	    (err && err[0] && rv_put_str(&a->tx, RV_ATTR_ERROR, err) < 0) || rv_frame_end(&a->tx, start) < 0)
		channel_failed(-ENOMEM);
}

/* An EXEC that gets no process slot: EXIT 125 for its proc, nothing else changes. */
static void reject_exec(struct agent *a, uint32_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reject_exec(struct agent *a, uint32_t id, const char *fmt, ...)
{
	char err[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, sizeof(err), fmt, ap);
	va_end(ap);
	logmsg("process %u: %s", id, err);
	send_exit(a, id, RV_EXIT_SETUP_FAILED, err);
}

static void free_config(struct proc_config *c)
{
	size_t i;

	for (i = 0; c->argv && i < c->argc; i++)
		free(c->argv[i]);
	for (i = 0; c->envp && i < c->envc; i++)
		free(c->envp[i]);
	free(c->argv);
	free(c->envp);
	free(c->gids);
	free(c->cwd);
	*c = (struct proc_config){ 0 };
}

/* Parse RUN (@run set: it takes the RUN-only attributes too) or EXEC; errors go to @p. */
static int parse_config(struct proc *p, const struct rv_frame *f, struct proc_config *c, struct run_config *run)
{
	const char *msg = run ? "RUN" : "EXEC";
	size_t pos = 0, nargs = 0, nenv = 0, ngids = 0;
	struct rv_attr at;
	const char *s;
	size_t len;
	uint32_t v;
	int r;

	/* Count first so the arrays are allocated once: a 1 MiB RUN can hold 100k attributes. */
	while ((r = rv_attr_next(f, &pos, &at)) > 0) {
		nargs += at.type == RV_ATTR_ARG;
		nenv += at.type == RV_ATTR_ENV;
		ngids += at.type == RV_ATTR_GIDS;
	}
	if (r < 0)
		goto bad;
	if (!nargs) {
		set_error(p, RV_EXIT_SETUP_FAILED, "%s without ARG", msg);
		return -EINVAL;
	}
	c->argv = calloc(nargs + 1, sizeof(char *));
	c->envp = calloc(nenv + 1, sizeof(char *));
	c->gids = calloc(ngids + 1, sizeof(gid_t));
	if (!c->argv || !c->envp || !c->gids)
		goto oom;

	pos = 0;
	while (rv_attr_next(f, &pos, &at) > 0) {
		switch (at.type) {
		case RV_ATTR_ARG:
		case RV_ATTR_ENV:
		case RV_ATTR_CWD: {
			char *dup = rv_attr_strdup(&at);

			if (!dup)
				goto bad; /* NUL inside, or OOM */
			if (at.type == RV_ATTR_ARG)
				c->argv[c->argc++] = dup;
			else if (at.type == RV_ATTR_ENV)
				c->envp[c->envc++] = dup;
			else {
				free(c->cwd);
				c->cwd = dup;
			}
			break;
		}
		case RV_ATTR_UID:
		case RV_ATTR_GID:
		case RV_ATTR_GIDS:
		case RV_ATTR_TERMINAL:
		case RV_ATTR_ROWS:
		case RV_ATTR_COLS:
			if (rv_attr_u32(&at, &v) < 0)
				goto bad;
			if (at.type == RV_ATTR_UID)
				c->uid = v;
			else if (at.type == RV_ATTR_GID)
				c->gid = v;
			else if (at.type == RV_ATTR_GIDS)
				c->gids[c->ngids++] = v;
			else if (at.type == RV_ATTR_TERMINAL)
				c->terminal = v != 0;
			else if (at.type == RV_ATTR_ROWS) {
				c->rows = v > 0xffff ? 0xffff : v;
				c->has_rows = true;
			} else {
				c->cols = v > 0xffff ? 0xffff : v;
				c->has_cols = true;
			}
			break;
		case RV_ATTR_READONLY:
			if (!run)
				break;
			if (rv_attr_u32(&at, &v) < 0)
				goto bad;
			run->readonly = v != 0;
			break;
		case RV_ATTR_FSTYPE:
			if (!run)
				break;
			if (rv_attr_str(&at, &s, &len) < 0)
				goto bad;
			if (len == 2 && !memcmp(s, "9p", 2))
				run->virtiofs = false;
			else if (len == 8 && !memcmp(s, "virtiofs", 8))
				run->virtiofs = true;
			else {
				set_error(p, RV_EXIT_SETUP_FAILED, "unknown rootfs type `%.*s`",
					  (int)(len > 32 ? 32 : len), s);
				return -EINVAL;
			}
			break;
		case RV_ATTR_HOSTNAME:
			if (!run)
				break;
			if (rv_attr_str(&at, &s, &len) < 0)
				goto bad;
			if (len > HOSTNAME_MAX) {
				set_error(p, RV_EXIT_SETUP_FAILED, "hostname `%.32s...` is longer than %d bytes", s,
					  HOSTNAME_MAX);
				return -EINVAL;
			}
			free(run->hostname);
			if (!(run->hostname = strndup(s, len)))
				goto oom;
			break;
		default:
			break; /* newer hosts may send more */
		}
	}
	if (!c->cwd && !(c->cwd = strdup("/")))
		goto oom;
	if (c->cwd[0] != '/') {
		set_error(p, RV_EXIT_SETUP_FAILED, "cwd `%s` is not absolute", c->cwd);
		return -EINVAL;
	}
	return 0;
bad:
	set_error(p, RV_EXIT_SETUP_FAILED, "malformed %s message", msg);
	return -EBADMSG;
oom:
	set_error(p, RV_EXIT_SETUP_FAILED, "%s: out of memory", msg);
	return -ENOMEM;
}

/* Say HELLO and wait for RUN. Frames the host pipelines after RUN stay in a->rx. */
static int wait_run(struct agent *a, struct run_config *run)
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
				r = parse_config(p0, &f, &p0->cfg, run);
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

/* The guest is the container's UTS namespace. Empty: leave it, as runc does. */
static int set_hostname(struct proc *p0, const struct run_config *run)
{
	int r;

	if (!run->hostname || !run->hostname[0])
		return 0;
	if (sethostname(run->hostname, strlen(run->hostname)) == 0)
		return 0;
	r = -errno;
	set_error(p0, RV_EXIT_SETUP_FAILED, "sethostname `%s`: %s", run->hostname, strerror(-r));
	return r;
}

/* Create @path as a mount point unless it exists. 1: skip it (read-only rootfs), 0: mount. */
static int mount_point(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) == 0)
		return 0;
	/* EROFS: a read-only image without it; ENOENT: its parent was skipped that way. */
	if (errno == EROFS || errno == ENOENT)
		return 1;
	if (errno != EEXIST)
		return -errno;
	/* mount(2) follows symlinks: do not let the image point a mount outside the rootfs. */
	if (lstat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int mount_rootfs(struct proc *p0, const struct run_config *c)
{
	static const struct {
		const char *src, *dir, *type;
		unsigned long flags;
		const char *data;
	} m[] = {
		{ "proc", ROOTFS "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
		{ "sysfs", ROOTFS "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL },
		{ "/dev", ROOTFS "/dev", NULL, MS_BIND, NULL },
		{ "devpts", ROOTFS "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5" },
		{ "shm", ROOTFS "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777" },
	};
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
	};
	unsigned long flags = c->readonly ? MS_RDONLY : 0;
	size_t i;
	int r;

	if (mkdir(ROOTFS, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		set_error(p0, RV_EXIT_SETUP_FAILED, "mkdir " ROOTFS ": %s", strerror(-r));
		return r;
	}
	/* cache=mmap: no caching, so writes reach the host at once, like cache=none, but shared
	 * writable mmap works (cache=none only allows read-only shared mappings). */
	if (c->virtiofs)
		r = mount(RV_ROOTFS_TAG, ROOTFS, "virtiofs", flags, NULL);
	else
		r = mount(RV_ROOTFS_TAG, ROOTFS, "9p", flags,
			  "trans=virtio,version=9p2000.L,msize=262144,cache=mmap");
	if (r < 0) {
		r = -errno;
		set_error(p0, RV_EXIT_SETUP_FAILED, "mount rootfs (%s): %s", c->virtiofs ? "virtiofs" : "9p", strerror(-r));
		return r;
	}
	/* The links runc makes, in the guest's own /dev, which the container shares. */
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			logmsg("symlink %s: %m", links[i][1]);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		r = mount_point(m[i].dir);
		if (r > 0)
			continue;
		if (r == 0 && mount(m[i].src, m[i].dir, m[i].type, m[i].flags, m[i].data) < 0)
			r = -errno;
		if (r < 0) {
			set_error(p0, RV_EXIT_SETUP_FAILED, "mount %s on %s: %s", m[i].type ? m[i].type : "/dev",
				  m[i].dir + strlen(ROOTFS), strerror(-r));
			return r;
		}
	}
	return 0;
}

static void mkdir_p(const char *path)
{
	char buf[4096], *p;

	if (strlen(path) >= sizeof(buf))
		return; /* chdir reports ENAMETOOLONG */
	strcpy(buf, path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	mkdir(buf, 0755);
}

static void __attribute__((noreturn)) child_fail(int fd, const char *stage)
{
	struct exec_failure e = { .err = errno };

	strncpy(e.stage, stage, sizeof(e.stage) - 1);
	if (write(fd, &e, sizeof(e)) < 0) {
		/* the parent then reports the plain exit status */
	}
	_exit(RV_EXIT_SETUP_FAILED);
}

/* @fds: what becomes 0..2 (for a terminal, the pty slave thrice). */
static void __attribute__((noreturn)) child(const struct proc_config *c, const int fds[3], int efd)
{
	char *path_env[2] = { "PATH=" DEFAULT_PATH, NULL };
	sigset_t none;
	bool in_cwd;
	size_t i;
	int sig;

	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			child_fail(efd, "dup2");
	setsid();
	/* The pty becomes the controlling terminal of the new session. */
	if (c->terminal && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
		child_fail(efd, "TIOCSCTTY");
	if (chroot(ROOTFS) < 0 || chdir("/") < 0)
		child_fail(efd, "chroot");
	/* Like runc: create a missing cwd, enter it as root first and, if root may not, again
	 * as the user (a directory on 9p may let only its owner in). */
	mkdir_p(c->cwd);
	in_cwd = chdir(c->cwd) == 0;
	if (!in_cwd && errno != EACCES && errno != EPERM)
		child_fail(efd, "chdir");
	if (setgroups(c->ngids, c->gids) < 0)
		child_fail(efd, "setgroups");
	if (setgid(c->gid) < 0)
		child_fail(efd, "setgid");
	if (setuid(c->uid) < 0)
		child_fail(efd, "setuid");
	if (!in_cwd && chdir(c->cwd) < 0)
		child_fail(efd, "chdir");
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* execvpe() searches the PATH of our environ but passes envp: search the container's. */
	for (i = 0; i < c->envc; i++)
		if (!strncmp(c->envp[i], "PATH=", 5)) {
			path_env[0] = c->envp[i];
			break;
		}
	environ = path_env;
	execvpe(c->argv[0], c->argv, c->envp);
	child_fail(efd, "exec");
}

static void proc_init(struct proc *p, uint32_t id)
{
	*p = (struct proc){ .used = true, .id = id, .ep = -1, .in_fd = -1, .out_fd = { -1, -1 } };
}

static void proc_free(struct proc *p)
{
	close_fd(&p->ep);
	close_fd(&p->in_fd);
	close_fd(&p->out_fd[0]);
	close_fd(&p->out_fd[1]);
	rv_buf_free(&p->stdin_q);
	free_config(&p->cfg);
	p->used = false;
}

static struct proc *find_proc(struct agent *a, uint32_t id)
{
	size_t i;

	for (i = 0; i < MAX_PROCS; i++)
		if (a->procs[i].used && a->procs[i].id == id)
			return &a->procs[i];
	return NULL;
}

static void close_stdin(struct proc *p)
{
	close_fd(&p->in_fd);
	rv_buf_free(&p->stdin_q);
}

/* The container ends with its main process, as with runc: kill everything else. */
static void container_end(struct agent *a)
{
	if (!a->ending) {
		a->ending = true;
		a->ending_at = now_ms();
	}
	kill(-1, SIGKILL);
}

static void proc_exited(struct agent *a, struct proc *p, uint32_t status)
{
	if (p->exited)
		return;
	p->exited = true;
	p->exited_at = now_ms();
	if (!p->err[0])
		p->status = status;
	close_stdin(p);
	if (p == &a->procs[0])
		container_end(a);
}

/* It did not start (the error is set): nothing will come from its fds. */
static void proc_failed(struct agent *a, struct proc *p)
{
	close_fd(&p->ep);
	close_fd(&p->out_fd[0]);
	close_fd(&p->out_fd[1]);
	free_config(&p->cfg);
	proc_exited(a, p, p->status);
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Fork the process of p->cfg. Whether its exec worked comes later, on p->ep. */
static void spawn(struct agent *a, struct proc *p)
{
	const struct proc_config *c = &p->cfg;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int slave = -1, fds[3], unlock = 0, e;
	const char *what;
	pid_t pid;

	if (c->terminal) {
		/* The container's devpts instance: the process sees its tty as /dev/pts/N. */
		what = "open /dev/pts/ptmx";
		out[0] = open(ROOTFS "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		if (out[0] < 0)
			goto fail;
		what = "unlocking the pty";
		if (ioctl(out[0], TIOCSPTLCK, &unlock) < 0)
			goto fail;
		what = "opening the pty";
		slave = ioctl(out[0], TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			goto fail;
		/* As login does: the user owns the tty (group tty, mode 0620 from the mount). */
		if (fchown(slave, c->uid, -1) < 0)
			logmsg("process %u: chown of its pty: %m", p->id);
		if (c->has_rows || c->has_cols) {
			struct winsize ws = { 0 };

			ioctl(out[0], TIOCGWINSZ, &ws);
			if (c->has_rows)
				ws.ws_row = c->rows;
			if (c->has_cols)
				ws.ws_col = c->cols;
			if (ioctl(out[0], TIOCSWINSZ, &ws) < 0)
				logmsg("process %u: TIOCSWINSZ: %m", p->id);
		}
		/* Its own fd for input, so that stdin and output close independently. */
		what = "dup";
		in[1] = fcntl(out[0], F_DUPFD_CLOEXEC, 3);
		if (in[1] < 0)
			goto fail;
		fds[0] = fds[1] = fds[2] = slave;
	} else {
		what = "pipe";
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
			goto fail;
		fds[0] = in[0];
		fds[1] = out[1];
		fds[2] = err[1];
	}
	what = "pipe";
	if (pipe2(ep, O_CLOEXEC) < 0)
		goto fail;
	what = "fork";
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0)
		child(c, fds, ep[1]);
	close_fd(&slave);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&ep[1]);
	p->pid = pid;
	p->tty = c->terminal;
	p->ep = ep[0];
	p->in_fd = in[1];
	p->out_fd[0] = out[0];
	p->out_fd[1] = err[0];
	set_nonblock(p->ep);
	set_nonblock(p->in_fd);
	set_nonblock(p->out_fd[0]);
	if (p->out_fd[1] >= 0)
		set_nonblock(p->out_fd[1]);
	return;
fail:
	e = errno;
	set_error(p, RV_EXIT_SETUP_FAILED, "%s: %s", what, strerror(e));
	close_fd(&slave);
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	proc_failed(a, p);
}

/* p->ep is readable: EOF once the exec closed it (STARTED), or the child's exec_failure. */
static void check_started(struct agent *a, struct proc *p)
{
	const struct proc_config *c = &p->cfg;
	struct exec_failure e;
	uint32_t status = RV_EXIT_SETUP_FAILED;
	bool is_exec;
	const char *what;
	ssize_t n = read(p->ep, &e, sizeof(e));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	close_fd(&p->ep);
	if (n <= 0) {
		free_config(&p->cfg);
		if (rv_frame_raw(&a->tx, RV_MSG_STARTED, p->id, NULL, 0) < 0)
			channel_failed(-ENOMEM);
		return;
	}
	if (n != (ssize_t)sizeof(e)) {
		set_error(p, RV_EXIT_SETUP_FAILED, "process setup failed");
		proc_failed(a, p);
		return;
	}
	e.stage[sizeof(e.stage) - 1] = '\0';
	is_exec = !strcmp(e.stage, "exec");
	what = is_exec ? c->argv[0] : !strcmp(e.stage, "chdir") ? c->cwd : NULL;
	if (is_exec && (e.err == ENOENT || e.err == ENOTDIR))
		status = RV_EXIT_NOT_FOUND;
	else if (is_exec && (e.err == EACCES || e.err == EPERM || e.err == ENOEXEC || e.err == EISDIR))
		status = RV_EXIT_NOT_EXECUTABLE;
	if (what)
		set_error(p, status, "%s `%s`: %s", e.stage, what, strerror(e.err));
	else
		set_error(p, status, "%s: %s", e.stage, strerror(e.err));
	proc_failed(a, p);
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
	if (parse_config(p, f, &p->cfg, NULL) < 0)
		proc_failed(a, p);
	else
		spawn(a, p);
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
	p = find_proc(a, f->proc);
	if (!p) {
		log_ignored(a, f); /* unknown, or already reported */
		return;
	}
	switch (f->type) {
	case RV_MSG_STDIN:
		handle_stdin(a, p, f);
		break;
	case RV_MSG_SIGNAL:
		handle_signal(a, p, f);
		break;
	case RV_MSG_RESIZE:
		handle_resize(a, p, f);
		break;
	default:
		log_ignored(a, f);
		break;
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
	send_exit(a, p->id, p->status, p->err);
	proc_free(p);
	return true;
}

static void relay(struct agent *a)
{
	enum { K_EP, K_IN, K_OUT, K_ERR };
	struct pollfd pfd[2 + MAX_PROCS * 4];
	struct {
		struct proc *p;
		int kind;
	} of[2 + MAX_PROCS * 4];
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

		now = now_ms();
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
#define ADD(fd_, events_, kind_)                                                       \
	do {                                                                           \
		pfd[n] = (struct pollfd){ .fd = (fd_), .events = (events_) };          \
		of[n].p = p;                                                           \
		of[n].kind = (kind_);                                                  \
		n++;                                                                   \
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
			default:
				if (p->out_fd[of[i].kind - K_OUT] >= 0)
					pump_output(a, p, of[i].kind - K_OUT);
				break;
			}
		}
	}
}

/* Report EXIT for proc 0, make sure the host has it, and end the VM. */
static void __attribute__((noreturn)) finish(struct agent *a)
{
	struct proc *p0 = &a->procs[0];
	size_t start, len = a->tx.len;
	int64_t deadline;

	/* Before EXIT: once the host has it, it may look at the rootfs. */
	sync();
	if (rv_frame_begin(&a->tx, RV_MSG_EXIT, 0, &start) < 0 ||
	    rv_put_u32(&a->tx, RV_ATTR_STATUS, p0->status) < 0 ||
	    (p0->err[0] && rv_put_str(&a->tx, RV_ATTR_ERROR, p0->err) < 0) || rv_frame_end(&a->tx, start) < 0) {
		a->tx.len = len;
		logmsg("cannot build EXIT");
		end_vm();
	}
	while (rv_buf_pending(&a->tx)) {
		struct pollfd p = { .fd = a->chan, .events = POLLOUT };
		int r = rv_buf_flush(&a->tx, a->chan);

		if (r < 0)
			channel_failed(r);
		if (rv_buf_pending(&a->tx) && poll(&p, 1, -1) == 1 && !(p.revents & POLLOUT))
			channel_failed(-EPIPE);
	}
	/* Give QEMU time to take the queued buffers; the host hanging up ends the wait. */
	deadline = now_ms() + EXIT_LINGER_MS;
	for (;;) {
		struct pollfd p = { .fd = a->chan, .events = POLLIN };
		int64_t left = deadline - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			break;
		if (chan_read(a) < 0)
			break;
		rv_buf_consume(&a->rx, rv_buf_pending(&a->rx));
	}
	end_vm();
}

int main(void)
{
	/* Static: the process table is too big to want on the stack. */
	static struct agent a;
	struct run_config run = { 0 };
	sigset_t mask;
	int r;

	a.chan = -1;
	a.sfd = -1;
	proc_init(&a.procs[0], 0);
	r = early_setup();
	if (r < 0)
		end_vm();
	signal(SIGPIPE, SIG_IGN);
	/* Block before forking so no SIGCHLD is lost; the child unblocks. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	a.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (a.sfd < 0) {
		logmsg("signalfd: %m");
		end_vm();
	}
	loopback_up();
	r = open_channel(&a.chan);
	if (r < 0) {
		logmsg("no virtio port named " RV_AGENT_PORT_NAME ": %s", strerror(-r));
		end_vm();
	}
	if (wait_run(&a, &run) < 0 || set_hostname(&a.procs[0], &run) < 0 || mount_rootfs(&a.procs[0], &run) < 0)
		finish(&a);
	spawn(&a, &a.procs[0]);
	relay(&a);
	finish(&a);
}
