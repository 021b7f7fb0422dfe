/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runvm-agent: PID 1 of the runvm guest, the only file in its initramfs.
 *
 * It mounts the kernel filesystems, finds the virtio-serial port named RV_AGENT_PORT_NAME,
 * says HELLO, waits for RUN, mounts the container's root filesystem (9p or virtio-fs), starts
 * the process in it and relays stdin/stdout/stderr and signals until the process ends. Then it
 * sends EXIT and reboots, which ends the VM because the host runs QEMU with -no-reboot.
 *
 * Every byte from the host is bounded by rv_frame_parse()/rv_attr_next(); no input can make
 * the agent exit, and PID 1 must never exit (the kernel would panic), so every way out ends in
 * reboot().
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
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ROOTFS "/rootfs"

struct run_config {
	char **argv;		/* NULL-terminated, at least one entry */
	char **envp;		/* NULL-terminated */
	size_t argc, envc, ngids;
	char *cwd;
	uint32_t uid, gid;
	gid_t *gids;
	bool virtiofs, readonly;
};

struct agent {
	int chan;		/* the virtio-serial port to the host */
	int sfd;		/* signalfd for SIGCHLD */
	int in_fd;		/* child's stdin (write end); -1 once closed */
	int out_fd[2];		/* child's stdout, stderr (read ends); -1 at EOF */
	struct rv_buf rx;	/* bytes from the host not yet parsed */
	struct rv_buf tx;	/* frames for the host */
	struct rv_buf stdin_q;	/* bytes for the child's stdin */
	bool connected;		/* the host has taken or sent bytes: EOF now means it is gone */
	bool stdin_eof;		/* close in_fd once stdin_q drains */
	bool rx_dead;		/* protocol error: stop reading the channel */
	bool ignored;		/* logged a frame we ignore (once: the console is slow) */
	pid_t pid;		/* the container's main process */
	bool exited;
	uint32_t status;	/* exit status to report */
	char err[256];		/* RV_ATTR_ERROR for EXIT; a set error also fixes the status */
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

static void set_error(struct agent *a, uint32_t status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct agent *a, uint32_t status, const char *fmt, ...)
{
	va_list ap;

	if (a->err[0])
		return; /* the first error is the cause, later ones are consequences */
	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	a->status = status;
	logmsg("%s", a->err);
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

static int parse_run(struct agent *a, const struct rv_frame *f, struct run_config *c)
{
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
		set_error(a, RV_EXIT_SETUP_FAILED, "RUN without ARG");
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
		case RV_ATTR_READONLY:
			if (rv_attr_u32(&at, &v) < 0)
				goto bad;
			if (at.type == RV_ATTR_UID)
				c->uid = v;
			else if (at.type == RV_ATTR_GID)
				c->gid = v;
			else if (at.type == RV_ATTR_GIDS)
				c->gids[c->ngids++] = v;
			else
				c->readonly = v != 0;
			break;
		case RV_ATTR_FSTYPE:
			if (rv_attr_str(&at, &s, &len) < 0)
				goto bad;
			if (len == 2 && !memcmp(s, "9p", 2))
				c->virtiofs = false;
			else if (len == 8 && !memcmp(s, "virtiofs", 8))
				c->virtiofs = true;
			else {
				set_error(a, RV_EXIT_SETUP_FAILED, "unknown rootfs type `%.*s`",
					  (int)(len > 32 ? 32 : len), s);
				return -EINVAL;
			}
			break;
		default:
			break; /* newer hosts may send more */
		}
	}
	if (!c->cwd && !(c->cwd = strdup("/")))
		goto oom;
	if (c->cwd[0] != '/') {
		set_error(a, RV_EXIT_SETUP_FAILED, "cwd `%s` is not absolute", c->cwd);
		return -EINVAL;
	}
	return 0;
bad:
	set_error(a, RV_EXIT_SETUP_FAILED, "malformed RUN message");
	return -EBADMSG;
oom:
	set_error(a, RV_EXIT_SETUP_FAILED, "RUN: out of memory");
	return -ENOMEM;
}

/* Say HELLO and wait for RUN. Frames the host pipelines after RUN stay in a->rx. */
static int wait_run(struct agent *a, struct run_config *c)
{
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
				r = parse_run(a, &f, c);
				rv_buf_consume(&a->rx, used);
				return r;
			}
			log_ignored(a, &f);
			rv_buf_consume(&a->rx, used);
		}
		if (r < 0) {
			set_error(a, RV_EXIT_SETUP_FAILED, "malformed frame from the host");
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

static int mount_rootfs(struct agent *a, const struct run_config *c)
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
		set_error(a, RV_EXIT_SETUP_FAILED, "mkdir " ROOTFS ": %s", strerror(-r));
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
		set_error(a, RV_EXIT_SETUP_FAILED, "mount rootfs (%s): %s", c->virtiofs ? "virtiofs" : "9p", strerror(-r));
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
			set_error(a, RV_EXIT_SETUP_FAILED, "mount %s on %s: %s", m[i].type ? m[i].type : "/dev",
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

static void __attribute__((noreturn)) child(const struct run_config *c, const int fds[3], int efd)
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

static int spawn(struct agent *a, const struct run_config *c)
{
	int in[2], out[2], err[2], ep[2], fds[3];
	struct exec_failure e;
	ssize_t n;
	int r;

	/* Failure paths leak fds: the VM ends right after. */
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0) {
		r = -errno;
		set_error(a, RV_EXIT_SETUP_FAILED, "pipe: %s", strerror(-r));
		return r;
	}
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = err[1];
	a->pid = fork();
	if (a->pid < 0) {
		r = -errno;
		set_error(a, RV_EXIT_SETUP_FAILED, "fork: %s", strerror(-r));
		return r;
	}
	if (a->pid == 0)
		child(c, fds, ep[1]);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(ep[1]);
	a->in_fd = in[1];
	a->out_fd[0] = out[0];
	a->out_fd[1] = err[0];
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);

	/* EOF: the exec succeeded and closed the CLOEXEC write end. */
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(e)) {
		uint32_t status = RV_EXIT_SETUP_FAILED;
		bool is_exec;
		const char *what;

		e.stage[sizeof(e.stage) - 1] = '\0';
		is_exec = !strcmp(e.stage, "exec");
		what = is_exec ? c->argv[0] : !strcmp(e.stage, "chdir") ? c->cwd : NULL;
		if (is_exec && (e.err == ENOENT || e.err == ENOTDIR))
			status = RV_EXIT_NOT_FOUND;
		else if (is_exec && (e.err == EACCES || e.err == EPERM || e.err == ENOEXEC || e.err == EISDIR))
			status = RV_EXIT_NOT_EXECUTABLE;
		if (what)
			set_error(a, status, "%s `%s`: %s", e.stage, what, strerror(e.err));
		else
			set_error(a, status, "%s: %s", e.stage, strerror(e.err));
	}
	return 0;
}

static void close_stdin(struct agent *a)
{
	if (a->in_fd >= 0)
		close(a->in_fd);
	a->in_fd = -1;
	rv_buf_free(&a->stdin_q);
}

/* A host that breaks the protocol gets its container killed and a 125. */
static void protocol_error(struct agent *a, const char *what)
{
	set_error(a, RV_EXIT_SETUP_FAILED, "%s", what);
	a->rx_dead = true;
	kill(-1, SIGKILL);
}

static void handle_frame(struct agent *a, const struct rv_frame *f)
{
	struct rv_attr at;
	uint32_t signo = 0;
	size_t pos = 0;
	int r;

	if (f->proc != 0) {
		log_ignored(a, f); /* no other processes yet */
		return;
	}
	switch (f->type) {
	case RV_MSG_STDIN:
		if (!f->len)
			a->stdin_eof = true;
		else if (a->in_fd >= 0 && !a->stdin_eof && rv_buf_append(&a->stdin_q, f->payload, f->len) < 0)
			protocol_error(a, "stdin: out of memory");
		break;
	case RV_MSG_SIGNAL:
		while ((r = rv_attr_next(f, &pos, &at)) > 0)
			if (at.type == RV_ATTR_SIGNO && (r = rv_attr_u32(&at, &signo)) < 0)
				break;
		if (r < 0 || !signo)
			protocol_error(a, "malformed SIGNAL message");
		else if (signo > 64)
			logmsg("ignoring signal %u", signo);
		else if (!a->exited)
			kill(a->pid, signo);
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
	int st;

	while (read(a->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	/* As PID 1 we inherit every orphan, so reap all, but report only the main process. */
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid != a->pid || a->exited)
			continue;
		a->exited = true;
		if (!a->err[0])
			a->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		/* The container ends with its main process, as with runc. */
		kill(-1, SIGKILL);
		close_stdin(a);
	}
}

static void pump_output(struct agent *a, int i)
{
	uint8_t buf[RV_PROTO_STREAM_CHUNK];
	ssize_t n = read(a->out_fd[i], buf, sizeof(buf));

	if (n > 0) {
		if (rv_frame_raw(&a->tx, i ? RV_MSG_STDERR : RV_MSG_STDOUT, 0, buf, n) < 0)
			channel_failed(-ENOMEM);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(a->out_fd[i]);
		a->out_fd[i] = -1;
	}
}

static void relay(struct agent *a)
{
	enum { P_CHAN, P_SIG, P_IN, P_OUT, P_ERR, P_N };
	struct pollfd p[P_N];
	struct rv_frame f;
	size_t used;
	int r, i;

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
		if (a->in_fd >= 0 && a->stdin_eof && !rv_buf_pending(&a->stdin_q))
			close_stdin(a);
		if (a->exited && a->out_fd[0] < 0 && a->out_fd[1] < 0)
			return;
		r = chan_flush(a);
		if (r < 0)
			channel_failed(r);

		p[P_CHAN].fd = a->chan;
		p[P_CHAN].events = rv_buf_pending(&a->tx) ? POLLOUT : 0;
		if (!a->rx_dead && rv_buf_pending(&a->stdin_q) <= QUEUE_LIMIT)
			p[P_CHAN].events |= POLLIN;
		p[P_SIG] = (struct pollfd){ .fd = a->sfd, .events = POLLIN };
		/* Even with no events asked, a pipe whose reader is gone polls POLLERR: we close it. */
		p[P_IN] = (struct pollfd){ .fd = a->in_fd,
					   .events = rv_buf_pending(&a->stdin_q) ? POLLOUT : 0 };
		/* Leave the pipes out entirely while the channel is backed up: a POLLHUP would
		 * otherwise wake us for data we must not read yet. */
		for (i = 0; i < 2; i++)
			p[P_OUT + i] = (struct pollfd){
				.fd = rv_buf_pending(&a->tx) <= QUEUE_LIMIT ? a->out_fd[i] : -1,
				.events = POLLIN,
			};
		if (a->exited)
			kill(-1, SIGKILL); /* catch what forked while we were killing */
		if (poll(p, P_N, a->exited ? 100 : -1) < 0)
			continue;

		if (p[P_CHAN].revents & POLLIN) {
			r = chan_read(a);
			if (r < 0)
				channel_failed(r);
		} else if (p[P_CHAN].revents & (POLLHUP | POLLERR)) {
			channel_failed(-EPIPE);
		}
		if (p[P_SIG].revents)
			reap(a);
		if (a->in_fd >= 0 && p[P_IN].revents) {
			r = rv_buf_flush(&a->stdin_q, a->in_fd);
			/* EPIPE: the process closed its stdin; the rest has nowhere to go. */
			if (r < 0 || (p[P_IN].revents & POLLERR))
				close_stdin(a);
		}
		for (i = 0; i < 2; i++)
			if (a->out_fd[i] >= 0 && p[P_OUT + i].revents)
				pump_output(a, i);
	}
}

/* Report EXIT, make sure the host has it, and end the VM. */
static void __attribute__((noreturn)) finish(struct agent *a)
{
	size_t start, len = a->tx.len;
	int64_t deadline;

	/* Before EXIT: once the host has it, it may look at the rootfs. */
	sync();
	if (rv_frame_begin(&a->tx, RV_MSG_EXIT, 0, &start) < 0 ||
	    rv_put_u32(&a->tx, RV_ATTR_STATUS, a->status) < 0 ||
	    (a->err[0] && rv_put_str(&a->tx, RV_ATTR_ERROR, a->err) < 0) || rv_frame_end(&a->tx, start) < 0) {
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
	struct agent a = { .chan = -1, .sfd = -1, .in_fd = -1, .out_fd = { -1, -1 } };
	struct run_config c = { 0 };
	sigset_t mask;
	int r;

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
	if (wait_run(&a, &c) < 0 || mount_rootfs(&a, &c) < 0 || spawn(&a, &c) < 0)
		finish(&a);
	relay(&a);
	finish(&a);
}
