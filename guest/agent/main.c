/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runvm-agent: PID 1 of the runvm guest, the only file in its initramfs.
 *
 * It mounts the kernel filesystems, finds the virtio-serial port named RV_AGENT_PORT_NAME,
 * says HELLO, waits for RUN, sets the hostname, mounts the container's root filesystem (9p or
 * virtio-fs), sets up the network, starts the main process (proc 0) in it, and then relays
 * stdin/stdout/stderr, signals and terminal sizes for it and for every process EXEC starts
 * beside it, and DNS queries, until the main process ends. Then it kills what is left, sends
 * EXIT for every process (proc 0 last) and reboots, which ends the VM because the host runs
 * QEMU with -no-reboot.
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
 * The container, as with runc: proc 0 is PID 1 of a new PID namespace (clone(CLONE_NEWPID)),
 * and that process, before it becomes the container's program, sets the container up in the
 * agent's own mount namespace (which every process of the container shares, under a chroot):
 * the mounts (RUN's RV_ATTR_MOUNT list, or without one the built-in proc, sysfs, /dev, devpts
 * and shm), sysctls, readonly and masked paths, because a proc mount shows the PID namespace
 * of whoever mounts it. It then tells the agent over a socket that it is done, passing the pty
 * master when it has a terminal (the pty must come from the devpts it mounted); the agent
 * waits for that before it serves anything else, so an EXEC always finds the container set
 * up. EXEC'd processes are forked after setns() into that PID namespace. Mount destinations
 * are resolved component by component under ROOTFS, symlinks included, never leaving it, and
 * mounted onto /proc/self/fd/N of what was resolved. The agent stays the guest's PID 1 and
 * reaps everything.
 *
 * Per process (RUN and EXEC), the child applies, in runc's order: oom_score_adj and rlimits,
 * the chroot, umask, no_new_privs, seccomp (here when no_new_privs is off: it then needs
 * CAP_SYS_ADMIN), the bounding set, the user switch keeping capabilities, the capability sets
 * and ambient ones, and seccomp (here when no_new_privs is on: as late as possible).
 *
 * The network is the guest's one network namespace, which the container shares. Before proc 0
 * is forked (so that its net.* sysctls find the interface), the virtio-net NIC takes the
 * identity of the host's interface (RV_ATTR_NET_IF: name, MAC, MTU; then the addresses, up,
 * the routes), by ioctl since that is all it needs; without RV_ATTR_NET_IF the NIC is unbound
 * from its driver, so that only lo is left, as with runc and --network none. With
 * RV_ATTR_DNS_PROXY the agent listens on that loopback address, UDP port 53, and sends each
 * query to the host as RV_MSG_DNS under an ID that names its slot in a small table (the oldest
 * slot is reused, and a generation in the ID's upper bits keeps a stale answer from a new
 * client); each answer goes back to its client under the client's own ID.
 *
 * Memory, as runc with a memory cgroup: the guest's RAM is sized from the container's limit,
 * and at RUN the agent makes a cgroup v2 memory cgroup whose memory.max is what the guest then
 * has available less a small reserve (see cgroup_setup()). Proc 0 and every EXEC'd process
 * join it first thing after fork (then proc 0 makes a cgroup namespace rooted there, which
 * EXEC'd processes enter, so the container's own cgroup mount shows that cgroup as its root).
 * A process that fills memory meets the memcg OOM killer, which kills it alone (status 137),
 * long before the guest as a whole runs short. The hierarchy is mounted only while the agent
 * sets it up: it keeps the cgroup.procs fd, nothing shows in the container's mounts. Without
 * it (any failure, logged) the container runs on, under the global OOM killer only.
 *
 * Every byte from the host is bounded by rv_frame_parse()/rv_attr_next(); no input can make
 * the agent exit, and PID 1 must never exit (the kernel would panic), so every way out ends in
 * reboot(). Every fd is O_CLOEXEC but those dup2()ed onto a child's 0..2, and every fd in the
 * relay loop is non-blocking.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/time.h"
#include "protocol/agent-proto.h"

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
/* Where the agent mounts the RV_MOUNTS_TAG share, the sources of bind mounts. */
#define MOUNTS_DIR "/run/runvm-mounts"
/* Where the agent mounts the cgroup2 hierarchy while it sets up the container's cgroup. */
#define CGROUP_DIR "/run/runvm-cgroup"
#define CGROUP_NAME "container"
/* What the container's memory.max leaves of the guest's MemAvailable at RUN (see
 * cgroup_setup()), and the least memory.max worth setting. */
#define CGROUP_RESERVE_KIB (4 << 10)
#define CGROUP_MIN_KIB (8 << 10)
/* Bounds of what RUN and EXEC may carry. */
#define SECCOMP_MAX_INSNS 4096
#define RLIMIT_ATTR_LEN 20
#define CAPS_ATTR_LEN 40
/* The order of the sets in RV_ATTR_CAPS. */
enum { CAPS_BOUNDING, CAPS_EFFECTIVE, CAPS_INHERITABLE, CAPS_PERMITTED, CAPS_AMBIENT, CAPS_N };
/* virtio-net NICs looked at (the host gives the guest one). */
#define MAX_NICS 8
/* How long to wait for the NIC to be running once up (it takes milliseconds). */
#define LINK_WAIT_MS 1000
/* DNS proxy: queries in flight (a power of two: the slot is the low bits of the ID we send,
 * the rest is a generation), and the size of a DNS header (the ID is its first 2 bytes). */
#define DNS_SLOTS 64
#define DNS_HDR_LEN 12
/* Messages the DNS proxy logs at most (the console is slow; a client can make many). */
#define DNS_LOG_MAX 8

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
	/* The OCI process settings; each absent one leaves things as they are. */
	struct rlimit_req {
		uint32_t resource;
		struct rlimit lim;
	} *rlimits;
	size_t nrlimits;
	bool has_caps;
	uint64_t caps[CAPS_N];
	bool no_new_privs;
	bool has_umask;
	mode_t umask;
	bool has_oom_score_adj;
	int32_t oom_score_adj;
	struct sock_filter *seccomp; /* nseccomp instructions, or NULL */
	size_t nseccomp;
};

/* One of RUN's mounts: the attribute's copy, split in place at its newlines. */
struct mount_entry {
	char *type, *source, *dest, *options;
};

/* An IPv4 or IPv6 address with a prefix length: RV_ATTR_NET_ADDR, a route's destination. */
union net_ip {
	struct in_addr v4;
	struct in6_addr v6;
};
struct net_prefix {
	int family;		/* AF_INET or AF_INET6 */
	union net_ip ip;
	unsigned len;
};

struct net_addr {
	char *text;		/* the attribute, for messages */
	struct net_prefix pfx;
};

/* RV_ATTR_NET_ROUTE: the attribute's copy, split in place at its newline. */
struct net_route {
	char *dest;		/* "DEST/PREFIXLEN" (owns the copy) */
	const char *gw_text;	/* "" for on-link */
	struct net_prefix pfx;
	union net_ip gw;	/* of pfx.family, when gw_text is not "" */
};

/* What only RUN carries. */
struct run_config {
	char *hostname;		/* NULL: not given */
	bool virtiofs, readonly;
	struct mount_entry *mounts; /* none: the built-in set */
	size_t nmounts;
	char **masked, **ropaths, **sysctls;
	size_t nmasked, nropaths, nsysctls;
	/* The network: ifname "" (no RV_ATTR_NET_IF) means none but lo. */
	char ifname[IFNAMSIZ];
	uint8_t mac[6];
	uint32_t mtu;
	struct net_addr *addrs;
	size_t naddrs;
	struct net_route *routes; /* in order */
	size_t nroutes;
	bool has_dns_proxy;
	struct in_addr dns_proxy;
};

/* A DNS query relayed to the host, waiting for its answer. */
struct dns_query {
	bool used;
	uint16_t id;		/* the ID it went to the host with */
	uint16_t client_id;	/* the ID the client gave it */
	struct sockaddr_in client;
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
	int own_pidns;		/* the agent's PID namespace, to return to after an EXEC fork */
	int pidns;		/* the container's (proc 0's) PID namespace; -1 before it exists */
	int cg_procs;		/* the container cgroup's cgroup.procs; -1: no cgroup */
	int cgns;		/* the container's cgroup namespace; -1 before it exists */
	struct proc procs[MAX_PROCS]; /* [0] is proc 0 */
	int dns_fd;		/* the DNS proxy's UDP socket; -1: no proxy */
	unsigned dns_next;	/* the slot of the next query */
	unsigned dns_logged;	/* messages about DNS logged so far */
	struct dns_query dns[DNS_SLOTS]; /* [id % DNS_SLOTS] */
};

/* What the child writes to the exec-error pipe when it cannot exec (one write, < PIPE_BUF). A
 * set msg is the whole error, followed by strerror(err) unless err is 0. */
struct exec_failure {
	int err;
	char stage[12];
	char msg[240];
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
	free(c->rlimits);
	free(c->seccomp);
	*c = (struct proc_config){ 0 };
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* "TYPE\nSOURCE\nDEST\nOPTIONS", split in place in @s (which @m then owns). */
static int parse_mount(char *s, struct mount_entry *m)
{
	char *f[4];
	int i;

	f[0] = s;
	for (i = 1; i < 4; i++) {
		char *nl = strchr(f[i - 1], '\n');

		if (!nl)
			return -EINVAL;
		*nl = '\0';
		f[i] = nl + 1;
	}
	if (strchr(f[3], '\n') || !f[2][0])
		return -EINVAL;
	*m = (struct mount_entry){ .type = f[0], .source = f[1], .dest = f[2], .options = f[3] };
	return 0;
}

/* "key=value" whose key names a file under /proc/sys once its dots are slashes: no empty
 * component (which also rules out "." and "..", dots being separators). */
static bool sysctl_valid(const char *s)
{
	const char *eq = strchr(s, '='), *k;
	bool empty = true;

	if (!eq)
		return false;
	for (k = s; k < eq; k++) {
		if (*k == '.' || *k == '/') {
			if (empty)
				return false;
			empty = true;
		} else {
			empty = false;
		}
	}
	return !empty;
}

/* Decimal digits only (no sign, no space), at most @max. */
static int parse_uint(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 10)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* "ADDRESS/PREFIXLEN", IPv4 or IPv6. */
static int parse_prefix(const char *s, struct net_prefix *ret)
{
	const char *slash = strchr(s, '/');
	char buf[INET6_ADDRSTRLEN];
	struct net_prefix pf = { 0 };
	uint32_t len;

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	if (inet_pton(AF_INET, buf, &pf.ip.v4) == 1)
		pf.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &pf.ip.v6) == 1)
		pf.family = AF_INET6;
	else
		return -EINVAL;
	if (parse_uint(slash + 1, pf.family == AF_INET ? 32 : 128, &len) < 0)
		return -EINVAL;
	pf.len = len;
	*ret = pf;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "02:42:ac:11:00:02" */
static int parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	int i;

	if (strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, sizeof(m));
	return 0;
}

/* A name the kernel takes for a network interface (dev_valid_name()), and no ':', which would
 * make it an alias label. */
static bool ifname_valid(const char *s)
{
	if (!*s || strlen(s) >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s == ' ' || (*s >= '\t' && *s <= '\r'))
			return false;
	return true;
}

/* One of RUN's network attributes into @run, whose addrs and routes have room for it. Errors
 * go to @p. */
static int parse_net_attr(struct proc *p, const struct rv_attr *at, struct run_config *run)
{
	char *s = rv_attr_strdup(at), *f[3], *nl;
	struct net_route *rt;
	uint32_t mtu;
	int i;

	if (!s) {
		set_error(p, RV_EXIT_SETUP_FAILED, "malformed RUN message"); /* NUL inside, or OOM */
		return -EBADMSG;
	}
	switch (at->type) {
	case RV_ATTR_NET_IF:
		if (run->ifname[0]) {
			set_error(p, RV_EXIT_SETUP_FAILED, "malformed RUN message: more than one NET_IF");
			goto bad;
		}
		f[0] = s;
		for (i = 1; i < 3; i++) {
			nl = strchr(f[i - 1], '\n');
			if (!nl) {
				set_error(p, RV_EXIT_SETUP_FAILED, "malformed RUN message: a NET_IF is not NAME\\nMAC\\nMTU");
				goto bad;
			}
			*nl = '\0';
			f[i] = nl + 1;
		}
		if (!ifname_valid(f[0])) {
			set_error(p, RV_EXIT_SETUP_FAILED, "network: bad interface name `%.32s`", f[0]);
			goto bad;
		}
		if (parse_mac(f[1], run->mac) < 0) {
			set_error(p, RV_EXIT_SETUP_FAILED, "network: bad MAC address `%.32s`", f[1]);
			goto bad;
		}
		if (parse_uint(f[2], 65535, &mtu) < 0 || !mtu) {
			set_error(p, RV_EXIT_SETUP_FAILED, "network: bad MTU `%.32s`", f[2]);
			goto bad;
		}
		strcpy(run->ifname, f[0]);
		run->mtu = mtu;
		free(s);
		return 0;
	case RV_ATTR_NET_ADDR:
		if (parse_prefix(s, &run->addrs[run->naddrs].pfx) < 0) {
			set_error(p, RV_EXIT_SETUP_FAILED, "network: bad address `%.64s`, not ADDRESS/PREFIXLEN", s);
			goto bad;
		}
		run->addrs[run->naddrs++].text = s;
		return 0;
	case RV_ATTR_NET_ROUTE:
		rt = &run->routes[run->nroutes];
		nl = strchr(s, '\n');
		if (!nl || strchr(nl + 1, '\n')) {
			set_error(p, RV_EXIT_SETUP_FAILED, "malformed RUN message: a NET_ROUTE is not DEST/PREFIXLEN\\nGATEWAY");
			goto bad;
		}
		*nl = '\0';
		if (parse_prefix(s, &rt->pfx) < 0) {
			set_error(p, RV_EXIT_SETUP_FAILED, "network: bad route destination `%.64s`, not ADDRESS/PREFIXLEN", s);
			goto bad;
		}
		if (nl[1] && inet_pton(rt->pfx.family, nl + 1, &rt->gw) != 1) {
			set_error(p, RV_EXIT_SETUP_FAILED, "network: bad gateway `%.64s` for route %s", nl + 1, s);
			goto bad;
		}
		rt->dest = s;
		rt->gw_text = nl + 1;
		run->nroutes++;
		return 0;
	case RV_ATTR_DNS_PROXY:
		if (run->has_dns_proxy) {
			set_error(p, RV_EXIT_SETUP_FAILED, "malformed RUN message: more than one DNS_PROXY");
			goto bad;
		}
		/* Only a loopback address: the proxy must not take an address of the network. */
		if (inet_pton(AF_INET, s, &run->dns_proxy) != 1 || (ntohl(run->dns_proxy.s_addr) >> 24) != 127) {
			set_error(p, RV_EXIT_SETUP_FAILED,
				  "network: DNS proxy address `%.64s` is not an IPv4 address in 127.0.0.0/8", s);
			goto bad;
		}
		run->has_dns_proxy = true;
		free(s);
		return 0;
	default:
		break;
	}
	free(s);
	return 0;
bad:
	free(s);
	return -EINVAL;
}

/* Parse RUN (@run set: it takes the RUN-only attributes too) or EXEC; errors go to @p. */
static int parse_config(struct proc *p, const struct rv_frame *f, struct proc_config *c, struct run_config *run)
{
	const char *msg = run ? "RUN" : "EXEC";
	size_t pos = 0, nargs = 0, nenv = 0, ngids = 0, nrlimits = 0, nmounts = 0, nmasked = 0, nro = 0, nsysctl = 0;
	size_t naddrs = 0, nroutes = 0;
	struct rv_attr at;
	const char *s;
	size_t len, i;
	uint32_t v;
	int r;

	/* Count first so the arrays are allocated once: a 1 MiB RUN can hold 100k attributes. */
	while ((r = rv_attr_next(f, &pos, &at)) > 0) {
		nargs += at.type == RV_ATTR_ARG;
		nenv += at.type == RV_ATTR_ENV;
		ngids += at.type == RV_ATTR_GIDS;
		nrlimits += at.type == RV_ATTR_RLIMIT;
		nmounts += at.type == RV_ATTR_MOUNT;
		nmasked += at.type == RV_ATTR_MASKED_PATH;
		nro += at.type == RV_ATTR_READONLY_PATH;
		nsysctl += at.type == RV_ATTR_SYSCTL;
		naddrs += at.type == RV_ATTR_NET_ADDR;
		nroutes += at.type == RV_ATTR_NET_ROUTE;
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
	c->rlimits = calloc(nrlimits + 1, sizeof(*c->rlimits));
	if (!c->argv || !c->envp || !c->gids || !c->rlimits)
		goto oom;
	if (run) {
		run->mounts = calloc(nmounts + 1, sizeof(*run->mounts));
		run->masked = calloc(nmasked + 1, sizeof(char *));
		run->ropaths = calloc(nro + 1, sizeof(char *));
		run->sysctls = calloc(nsysctl + 1, sizeof(char *));
		run->addrs = calloc(naddrs + 1, sizeof(*run->addrs));
		run->routes = calloc(nroutes + 1, sizeof(*run->routes));
		if (!run->mounts || !run->masked || !run->ropaths || !run->sysctls || !run->addrs || !run->routes)
			goto oom;
	}

	pos = 0;
	while (rv_attr_next(f, &pos, &at) > 0) {
		switch (at.type) {
		case RV_ATTR_RLIMIT: {
			struct rlimit_req *rl = &c->rlimits[c->nrlimits++];

			if (at.len != RLIMIT_ATTR_LEN) {
				set_error(p, RV_EXIT_SETUP_FAILED, "malformed %s message: RLIMIT of %u bytes, not %d",
					  msg, at.len, RLIMIT_ATTR_LEN);
				return -EBADMSG;
			}
			rl->resource = get_le32(at.data);
			rl->lim.rlim_cur = get_le64(at.data + 4);
			rl->lim.rlim_max = get_le64(at.data + 12);
			break;
		}
		case RV_ATTR_CAPS:
			if (at.len != CAPS_ATTR_LEN) {
				set_error(p, RV_EXIT_SETUP_FAILED, "malformed %s message: CAPS of %u bytes, not %d", msg,
					  at.len, CAPS_ATTR_LEN);
				return -EBADMSG;
			}
			for (i = 0; i < CAPS_N; i++)
				c->caps[i] = get_le64(at.data + 8 * i);
			c->has_caps = true;
			break;
		case RV_ATTR_SECCOMP:
			if (at.len % sizeof(struct sock_filter) || at.len == 0 ||
			    at.len / sizeof(struct sock_filter) > SECCOMP_MAX_INSNS) {
				set_error(p, RV_EXIT_SETUP_FAILED,
					  "malformed %s message: SECCOMP of %u bytes, not 1 to %d instructions of 8",
					  msg, at.len, SECCOMP_MAX_INSNS);
				return -EBADMSG;
			}
			free(c->seccomp);
			c->nseccomp = at.len / sizeof(struct sock_filter);
			c->seccomp = calloc(c->nseccomp, sizeof(struct sock_filter));
			if (!c->seccomp)
				goto oom;
			/* struct sock_filter: u16 code, u8 jt, u8 jf, u32 k; little-endian like
			 * every integer of the protocol. */
			for (i = 0; i < c->nseccomp; i++) {
				const uint8_t *d = at.data + 8 * i;

				c->seccomp[i] = (struct sock_filter){
					.code = (uint16_t)(d[0] | d[1] << 8), .jt = d[2], .jf = d[3], .k = get_le32(d + 4),
				};
			}
			break;
		case RV_ATTR_NO_NEW_PRIVS:
		case RV_ATTR_UMASK:
		case RV_ATTR_OOM_SCORE_ADJ:
			if (rv_attr_u32(&at, &v) < 0)
				goto bad;
			if (at.type == RV_ATTR_NO_NEW_PRIVS) {
				c->no_new_privs = v != 0;
			} else if (at.type == RV_ATTR_UMASK) {
				c->umask = v & 07777;
				c->has_umask = true;
			} else {
				c->oom_score_adj = (int32_t)v;
				c->has_oom_score_adj = true;
			}
			break;
		case RV_ATTR_MOUNT:
		case RV_ATTR_MASKED_PATH:
		case RV_ATTR_READONLY_PATH:
		case RV_ATTR_SYSCTL: {
			char *dup;

			if (!run)
				break;
			dup = rv_attr_strdup(&at);
			if (!dup)
				goto bad;
			if (at.type == RV_ATTR_MOUNT) {
				if (parse_mount(dup, &run->mounts[run->nmounts]) < 0) {
					set_error(p, RV_EXIT_SETUP_FAILED,
						  "malformed %s message: a MOUNT is not TYPE\\nSOURCE\\nDEST\\nOPTIONS", msg);
					free(dup);
					return -EBADMSG;
				}
				run->nmounts++;
			} else if (at.type == RV_ATTR_MASKED_PATH) {
				run->masked[run->nmasked++] = dup;
			} else if (at.type == RV_ATTR_READONLY_PATH) {
				run->ropaths[run->nropaths++] = dup;
			} else {
				run->sysctls[run->nsysctls++] = dup;
				if (!sysctl_valid(dup)) {
					set_error(p, RV_EXIT_SETUP_FAILED, "sysctl `%.64s`: not key=value", dup);
					return -EINVAL;
				}
			}
			break;
		}
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
		case RV_ATTR_NET_IF:
		case RV_ATTR_NET_ADDR:
		case RV_ATTR_NET_ROUTE:
		case RV_ATTR_DNS_PROXY:
			if (!run)
				break;
			r = parse_net_attr(p, &at, run);
			if (r < 0)
				return r;
			break;
		default:
			break; /* newer hosts may send more */
		}
	}
	if (run && !run->ifname[0] && (run->naddrs || run->nroutes)) {
		set_error(p, RV_EXIT_SETUP_FAILED, "malformed RUN message: NET_ADDR or NET_ROUTE without NET_IF");
		return -EINVAL;
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

/*
 * Mount the container's root filesystem on ROOTFS. Without a mount list, also the built-in
 * set (all of it but proc, which the container's init mounts in its PID namespace); with one,
 * the container's init mounts the list, on a root mounted read-write then, and makes it
 * read-only afterwards when asked, as runc does, so that mount points can be created.
 */
static int mount_rootfs(struct proc *p0, const struct run_config *c)
{
	static const struct {
		const char *src, *dir, *type;
		unsigned long flags;
		const char *data;
	} m[] = {
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
	unsigned long flags = c->readonly && !c->nmounts ? MS_RDONLY : 0;
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
	for (i = 0; !c->nmounts && i < sizeof(m) / sizeof(m[0]); i++) {
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

/* A virtio-net NIC: its interface name and its virtio device's ("virtio1"). */
struct nic {
	char name[IFNAMSIZ];
	char dev[32];
};

static int nic_cmp(const void *x, const void *y)
{
	return strcmp(((const struct nic *)x)->name, ((const struct nic *)y)->name);
}

/* The basename of the symlink @path points to. */
static int link_base(const char *path, char *buf, size_t size, const char **ret)
{
	ssize_t n = readlink(path, buf, size - 1);
	const char *b;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	b = strrchr(buf, '/');
	*ret = b ? b + 1 : buf;
	return 0;
}

/* The interfaces whose device's driver is virtio_net, sorted by name. */
static size_t virtio_nics(struct nic *nics, size_t max)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;
	size_t n = 0;

	while (d && n < max && (de = readdir(d))) {
		char path[320], link[256];
		const char *base = "";

		if (de->d_name[0] == '.' || strlen(de->d_name) >= IFNAMSIZ)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", de->d_name);
		if (link_base(path, link, sizeof(link), &base) < 0 || strcmp(base, "virtio_net") != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/device", de->d_name);
		if (link_base(path, link, sizeof(link), &base) < 0 || strlen(base) >= sizeof(nics[n].dev))
			continue;
		strcpy(nics[n].name, de->d_name);
		strcpy(nics[n].dev, base);
		n++;
	}
	if (d)
		closedir(d);
	qsort(nics, n, sizeof(*nics), nic_cmp);
	return n;
}

/* No network: take the NICs from their driver, so that the container sees only lo (as runc
 * with --network none), not an interface it cannot use. */
static void detach_nics(const struct nic *nics, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int fd = open("/sys/bus/virtio/drivers/virtio_net/unbind", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, nics[i].dev, strlen(nics[i].dev)) < 0)
			logmsg("network: detaching %s (%s) from virtio_net, ignoring: %m", nics[i].name, nics[i].dev);
		if (fd >= 0)
			close(fd);
	}
}

static void ifr_set_name(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1));
}

static void sockaddr_in_set(struct sockaddr *sa, struct in_addr addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = addr };

	memcpy(sa, &sin, sizeof(sin));
}

static struct in_addr prefix_mask(unsigned len)
{
	return (struct in_addr){ .s_addr = htonl(len ? 0xffffffffu << (32 - len) : 0) };
}

/* The kernel's struct in6_ifreq (linux/ipv6.h, which does not mix with netinet/in.h). */
struct agent_in6_ifreq {
	struct in6_addr ifr6_addr;
	uint32_t ifr6_prefixlen;
	int ifr6_ifindex;
};

/* The network could not be set up as asked: the RUN fails (the container must not start with
 * half a network). Returns -@err. */
static int net_error(struct proc *p0, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int net_error(struct proc *p0, int err, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	set_error(p0, RV_EXIT_SETUP_FAILED, "network: %s: %s", what, strerror(err));
	return -err;
}

static int add_addr(struct proc *p0, const struct run_config *run, int fd4, int fd6, int ifindex,
		    const struct net_addr *ad, size_t *nv4)
{
	struct ifreq ifr;
	char label[IFNAMSIZ + 16];

	if (ad->pfx.family == AF_INET6) {
		struct agent_in6_ifreq r6 = { .ifr6_addr = ad->pfx.ip.v6, .ifr6_prefixlen = ad->pfx.len,
					      .ifr6_ifindex = ifindex };

		if (ioctl(fd6, SIOCSIFADDR, &r6) < 0 && errno != EEXIST)
			return net_error(p0, errno, "add address %s to %s", ad->text, run->ifname);
		return 0;
	}
	/* The first IPv4 address on the interface, the others on alias labels, as ifconfig. */
	if (*nv4)
		snprintf(label, sizeof(label), "%s:%u", run->ifname, (unsigned)*nv4);
	else
		snprintf(label, sizeof(label), "%s", run->ifname);
	if (strlen(label) >= IFNAMSIZ)
		return net_error(p0, ENAMETOOLONG, "add address %s to %s (as %s)", ad->text, run->ifname, label);
	ifr_set_name(&ifr, label);
	sockaddr_in_set(&ifr.ifr_addr, ad->pfx.ip.v4);
	if (ioctl(fd4, SIOCSIFADDR, &ifr) < 0)
		return net_error(p0, errno, "add address %s to %s", ad->text, run->ifname);
	ifr_set_name(&ifr, label);
	sockaddr_in_set(&ifr.ifr_netmask, prefix_mask(ad->pfx.len));
	if (ioctl(fd4, SIOCSIFNETMASK, &ifr) < 0)
		return net_error(p0, errno, "set the prefix of address %s on %s", ad->text, run->ifname);
	(*nv4)++;
	return 0;
}

static int add_route(struct proc *p0, const struct run_config *run, int fd4, int fd6, int ifindex,
		     const struct net_route *rt)
{
	bool gw = rt->gw_text[0] != '\0';
	int r;

	if (rt->pfx.family == AF_INET6) {
		struct in6_rtmsg m = {
			.rtmsg_dst = rt->pfx.ip.v6, .rtmsg_dst_len = rt->pfx.len,
			.rtmsg_flags = RTF_UP | (gw ? RTF_GATEWAY : 0), .rtmsg_ifindex = ifindex,
		};

		if (gw)
			m.rtmsg_gateway = rt->gw.v6;
		r = ioctl(fd6, SIOCADDRT, &m);
	} else {
		struct in_addr mask = prefix_mask(rt->pfx.len), dst = { rt->pfx.ip.v4.s_addr & mask.s_addr };
		struct rtentry e = { .rt_flags = RTF_UP, .rt_dev = (char *)run->ifname };

		/* Masked: the kernel refuses a destination with host bits, `ip route` too. */
		sockaddr_in_set(&e.rt_dst, dst);
		sockaddr_in_set(&e.rt_genmask, mask);
		if (gw) {
			sockaddr_in_set(&e.rt_gateway, rt->gw.v4);
			e.rt_flags |= RTF_GATEWAY;
		}
		if (rt->pfx.len == 32)
			e.rt_flags |= RTF_HOST;
		r = ioctl(fd4, SIOCADDRT, &e);
	}
	/* EEXIST: the kernel made it already (an address's prefix route). */
	if (r < 0 && errno != EEXIST)
		return net_error(p0, errno, "add route %s %s %s", rt->dest, gw ? "via" : "dev",
				 gw ? rt->gw_text : run->ifname);
	return 0;
}

/* Give the NIC @cur the host interface's identity, addresses and routes (RV_ATTR_NET_*). */
static int configure_nic(struct proc *p0, const struct run_config *run, const char *cur, int fd4, int fd6)
{
	struct ifreq ifr;
	size_t i, nv4 = 0;
	int ifindex, r;

	/* Renaming needs it down; the kernel brings up nothing itself, but make sure. */
	ifr_set_name(&ifr, cur);
	if (ioctl(fd4, SIOCGIFFLAGS, &ifr) < 0)
		return net_error(p0, errno, "get the flags of %s", cur);
	if (ifr.ifr_flags & IFF_UP) {
		ifr.ifr_flags &= ~IFF_UP;
		if (ioctl(fd4, SIOCSIFFLAGS, &ifr) < 0)
			return net_error(p0, errno, "take %s down", cur);
	}
	if (strcmp(cur, run->ifname) != 0) {
		ifr_set_name(&ifr, cur);
		memcpy(ifr.ifr_newname, run->ifname, strlen(run->ifname));
		if (ioctl(fd4, SIOCSIFNAME, &ifr) < 0)
			return net_error(p0, errno, "rename %s to %s", cur, run->ifname);
	}
	ifr_set_name(&ifr, run->ifname);
	if (ioctl(fd4, SIOCGIFINDEX, &ifr) < 0)
		return net_error(p0, errno, "get the index of %s", run->ifname);
	ifindex = ifr.ifr_ifindex;
	ifr_set_name(&ifr, run->ifname);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, run->mac, sizeof(run->mac));
	if (ioctl(fd4, SIOCSIFHWADDR, &ifr) < 0)
		return net_error(p0, errno, "set MAC address of %s", run->ifname);
	ifr_set_name(&ifr, run->ifname);
	ifr.ifr_mtu = (int)run->mtu;
	if (ioctl(fd4, SIOCSIFMTU, &ifr) < 0)
		return net_error(p0, errno, "set MTU %u of %s", run->mtu, run->ifname);
	if (fd6 >= 0) {
		/* As Docker adds its IPv6 addresses (IFA_F_NODAD): usable at once, not tentative
		 * for the second or two duplicate address detection takes. */
		char path[96];
		int fd;

		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", run->ifname);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) < 0)
			logmsg("network: %s, ignoring: %m", path);
		if (fd >= 0)
			close(fd);
	}
	for (i = 0; i < run->naddrs; i++) {
		r = add_addr(p0, run, fd4, fd6, ifindex, &run->addrs[i], &nv4);
		if (r < 0)
			return r;
	}
	ifr_set_name(&ifr, run->ifname);
	if (ioctl(fd4, SIOCGIFFLAGS, &ifr) < 0)
		return net_error(p0, errno, "get the flags of %s", run->ifname);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd4, SIOCSIFFLAGS, &ifr) < 0)
		return net_error(p0, errno, "bring up %s", run->ifname);
	for (i = 0; i < run->nroutes; i++) {
		r = add_route(p0, run, fd4, fd6, ifindex, &run->routes[i]);
		if (r < 0)
			return r;
	}
	/* The kernel marks the link operational (IFF_RUNNING) a little after IFF_UP, from a
	 * workqueue that runs at most once a second, and only then does IPv6 configure it
	 * (link-local address). IPv4 does not wait for it (frames flow as soon as the NIC is up,
	 * its carrier is on from probe), so only a container with IPv6 addresses waits, to find
	 * the link as a veth would be, running. Measured: up to ~300 ms under TCG. */
	if (fd6 < 0)
		return 0;
	for (i = 0; i < LINK_WAIT_MS / 5; i++, sleep_ms(5)) {
		ifr_set_name(&ifr, run->ifname);
		if (ioctl(fd4, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags & IFF_RUNNING))
			return 0;
	}
	logmsg("network: %s is not running after %d ms, ignoring", run->ifname, LINK_WAIT_MS);
	return 0;
}

/*
 * The container's network, in the guest's network namespace (the container's): the virtio NIC
 * configured as RUN says, or, without RV_ATTR_NET_IF, detached so that only lo is left.
 */
static int setup_network(struct proc *p0, const struct run_config *run)
{
	struct nic nics[MAX_NICS];
	size_t n = virtio_nics(nics, MAX_NICS), i;
	bool v6 = false;
	int fd4, fd6 = -1, r;

	if (!run->ifname[0]) {
		detach_nics(nics, n);
		return 0;
	}
	if (!n) {
		set_error(p0, RV_EXIT_SETUP_FAILED, "network: no virtio-net NIC in the guest for %s", run->ifname);
		return -ENODEV;
	}
	if (n > 1)
		logmsg("network: %zu virtio-net NICs, configuring %s as %s", n, nics[0].name, run->ifname);
	for (i = 0; i < run->naddrs; i++)
		v6 |= run->addrs[i].pfx.family == AF_INET6;
	for (i = 0; i < run->nroutes; i++)
		v6 |= run->routes[i].pfx.family == AF_INET6;
	fd4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd4 < 0)
		return net_error(p0, errno, "IPv4 socket");
	if (v6 && (fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		r = net_error(p0, errno, "IPv6 socket");
		close(fd4);
		return r;
	}
	r = configure_nic(p0, run, nics[0].name, fd4, fd6);
	close(fd4);
	if (fd6 >= 0)
		close(fd6);
	return r;
}

/* With RV_ATTR_DNS_PROXY: listen on its address, port 53 (see relay_dns_queries()). */
static int dns_proxy_start(struct agent *a, const struct run_config *run)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr = run->dns_proxy };
	char addr[INET_ADDRSTRLEN];
	int fd, e;

	if (!run->has_dns_proxy)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && bind(fd, (const struct sockaddr *)&sin, sizeof(sin)) == 0) {
		a->dns_fd = fd;
		return 0;
	}
	e = errno;
	if (fd >= 0)
		close(fd);
	inet_ntop(AF_INET, &run->dns_proxy, addr, sizeof(addr));
	set_error(&a->procs[0], RV_EXIT_SETUP_FAILED, "network: DNS proxy on %s:53: %s", addr, strerror(e));
	return -e;
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

/* Write @s to @path (a cgroup file). Returns 0 or -errno. */
static int write_file(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n != (ssize_t)len)
		r = n < 0 ? -errno : -EIO;
	close(fd);
	return r;
}

/*
 * The container's memory cgroup, made at RUN (see the top of the file). Returns its
 * cgroup.procs, O_CLOEXEC (each child writes "0" to it after fork), or -1 after logging why not.
 *
 * memory.max is the guest's MemAvailable now, less CGROUP_RESERVE_KIB. MemAvailable already
 * leaves out what the kernel and the agent hold and the kernel's free-page watermarks; the
 * reserve is for what grows outside the cgroup while the container runs: the agent's relay
 * queues, and the kernel memory the container uses but this kernel does not charge to its
 * cgroup (SLOB, so no CONFIG_MEMCG_KMEM: page tables, kernel stacks, pipe and socket buffers,
 * 9p requests). So the cgroup runs out, and the memcg OOM killer acts, while the guest still
 * has free memory: global reclaim (which thrashes every 9p-backed text page in the guest under
 * TCG) and the global OOM killer are not needed. (Measured: a 64 MiB limit, so 80 MiB of guest
 * RAM, gives ~54 MiB MemAvailable, so a memory.max of ~50 MiB; this kernel keeps ~10 MiB of
 * slab for itself, more than the 16 MiB of overhead in runtime/vmconfig.c allows for.)
 *
 * memory.high stays unset (max): throttling a process that fills memory only delays its kill.
 * memory.swap.max 0: the guest has no swap, and should it ever get some, the limit holds.
 * memory.oom.group stays 0: the OOM killer kills only the process it picks, as under runc.
 * vm.overcommit_* stay as they are: allocations succeed and the process is killed when it
 * touches too much (137), as under runc, rather than seeing malloc() fail.
 */
static int cgroup_setup(void)
{
	char buf[4096], val[32];
	const char *what, *s;
	unsigned long long avail;
	int fd = -1, r;

	r = read_small_file("/proc/meminfo", buf, sizeof(buf));
	if (r < 0) {
		logmsg("container cgroup: /proc/meminfo: %s (running without)", strerror(-r));
		return -1;
	}
	s = strstr(buf, "\nMemAvailable:");
	if (!s || sscanf(s, "\nMemAvailable: %llu", &avail) != 1 || avail < CGROUP_RESERVE_KIB + CGROUP_MIN_KIB) {
		logmsg("container cgroup: too little memory available (running without)");
		return -1;
	}
	snprintf(val, sizeof(val), "%llu", (avail - CGROUP_RESERVE_KIB) * 1024);
	mkdir_p(CGROUP_DIR);
	what = "mounting cgroup2";
	if (mount("cgroup2", CGROUP_DIR, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		r = -errno;
		goto out;
	}
	what = "enabling the memory controller";
	if ((r = write_file(CGROUP_DIR "/cgroup.subtree_control", "+memory")) < 0)
		goto out;
	what = "mkdir";
	if (mkdir(CGROUP_DIR "/" CGROUP_NAME, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	what = "memory.max";
	if ((r = write_file(CGROUP_DIR "/" CGROUP_NAME "/memory.max", val)) < 0)
		goto out;
	what = "memory.swap.max";
	r = write_file(CGROUP_DIR "/" CGROUP_NAME "/memory.swap.max", "0");
	if (r < 0 && r != -ENOENT)
		goto out;
	what = "cgroup.procs";
	fd = open(CGROUP_DIR "/" CGROUP_NAME "/cgroup.procs", O_WRONLY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
out:
	if (r < 0)
		logmsg("container cgroup: %s: %s (running without)", what, strerror(-r));
	/* The open fd is all the agent needs: nothing of this shows in the container's mounts. */
	umount2(CGROUP_DIR, MNT_DETACH);
	rmdir(CGROUP_DIR);
	return fd;
}

/*
 * In a child of the agent, first thing: join the container's cgroup, then its cgroup namespace
 * (@init, proc 0: a new one, rooted at the cgroup just joined, so the container sees that
 * cgroup as / in /proc/self/cgroup and in a cgroup2 mount of its own, as with runc and a
 * private cgroupns; an EXEC'd process: proc 0's). A failure is logged, the process runs on.
 */
static void join_cgroup(const struct agent *a, bool init)
{
	if (a->cg_procs < 0)
		return;
	if (write(a->cg_procs, "0", 1) != 1) {
		logmsg("joining the container's cgroup: %m");
		return;
	}
	if (init ? unshare(CLONE_NEWCGROUP) < 0 : a->cgns >= 0 && setns(a->cgns, CLONE_NEWCGROUP) < 0)
		logmsg("entering the container's cgroup namespace: %m");
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

static void __attribute__((noreturn)) child_failf(int fd, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void __attribute__((noreturn)) child_failf(int fd, int err, const char *fmt, ...)
{
	struct exec_failure e = { .err = err };
	va_list ap;

	strcpy(e.stage, "setup");
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	if (write(fd, &e, sizeof(e)) < 0) {
		/* the parent then reports the plain exit status */
	}
	_exit(RV_EXIT_SETUP_FAILED);
}

/* Open the directories of @done ("/a/b", known to be real directories) under @rootfd. */
static int reopen_dirs(int rootfd, const char *done)
{
	char buf[PATH_MAX], *name, *save = NULL;
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);

	snprintf(buf, sizeof(buf), "%s", done);
	for (name = strtok_r(buf, "/", &save); fd >= 0 && name; name = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		close(fd);
		fd = next;
	}
	return fd < 0 ? -errno : fd;
}

/*
 * Open @path under the directory @rootfd as an O_PATH fd, never leaving it: each symlink met
 * is read and resolved here as if @rootfd were /, and ".." stops at it (what securejoin does
 * for runc). @create 'd' or 'f': missing components are made on the way, directories, and
 * for the last one a directory or ('f') an empty file. Lookups cross mount points, so after a
 * mount on @path this opens the new mount's root. Returns the fd or -errno.
 */
static int open_in_root(int rootfd, const char *path, int create)
{
	char rest[PATH_MAX * 2], tmp[PATH_MAX * 2], link[PATH_MAX], done[PATH_MAX] = "";
	char *p = rest;
	int dirfd, fd, links = 0, r;

	if (strlen(path) >= sizeof(rest))
		return -ENAMETOOLONG;
	strcpy(rest, path);
	dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (dirfd < 0)
		return -errno;
	for (;;) {
		struct stat st;
		char *name, *end, *q;
		bool last;
		ssize_t n;

		while (*p == '/')
			p++;
		if (!*p)
			return dirfd; /* the root itself, or a trailing "..": a directory */
		name = p;
		end = strchrnul(p, '/');
		for (q = end; *q == '/'; q++)
			;
		last = !*q;
		p = *end ? end + 1 : end;
		*end = '\0';
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			char *slash = strrchr(done, '/');

			if (slash)
				*slash = '\0';
			close(dirfd);
			dirfd = reopen_dirs(rootfd, done);
			if (dirfd < 0)
				return dirfd;
			continue;
		}
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT || !create)
				goto fail;
			if (last && create == 'f') {
				fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (fd < 0 && errno != EEXIST)
					goto fail;
				if (fd >= 0)
					close(fd);
			} else if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST) {
				goto fail;
			}
			if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				goto fail;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > 40) {
				errno = ELOOP;
				goto fail;
			}
			n = readlinkat(dirfd, name, link, sizeof(link));
			if (n < 0)
				goto fail;
			if ((size_t)n >= sizeof(link) || (size_t)n + 1 + strlen(p) >= sizeof(tmp)) {
				errno = ENAMETOOLONG;
				goto fail;
			}
			link[n] = '\0';
			/* The rest of the path now starts with the link's target. */
			snprintf(tmp, sizeof(tmp), "%s/%s", link, p);
			strcpy(rest, tmp);
			p = rest;
			if (link[0] == '/') {
				done[0] = '\0';
				close(dirfd);
				dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
				if (dirfd < 0)
					return -errno;
			}
			continue;
		}
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
		if (fd < 0)
			goto fail;
		close(dirfd);
		if (last)
			return fd;
		if (strlen(done) + 1 + strlen(name) >= sizeof(done)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		strcat(done, "/");
		strcat(done, name);
		dirfd = fd;
	}
fail:
	r = -errno;
	close(dirfd);
	return r;
}

static const char *fd_path(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* A mount's options, split: mount(2) flags, propagation changes, recursive attributes, and the
 * rest as the filesystem's data. */
struct mount_opts {
	unsigned long flags;
	unsigned long prop[8];
	size_t nprop;
	uint64_t attr_set, attr_clr; /* mount_setattr(AT_RECURSIVE), for the "r" options */
	bool bind;
	char *data;		/* malloc'ed, "" when none */
};

static int parse_mount_options(const char *options, struct mount_opts *o)
{
	static const struct {
		const char *name;
		bool clear;
		unsigned long flag;
	} flags[] = {
		{ "async", true, MS_SYNCHRONOUS }, { "atime", true, MS_NOATIME }, { "bind", false, MS_BIND },
		{ "defaults", false, 0 }, { "dev", true, MS_NODEV }, { "diratime", true, MS_NODIRATIME },
		{ "dirsync", false, MS_DIRSYNC }, { "exec", true, MS_NOEXEC }, { "iversion", false, MS_I_VERSION },
		{ "lazytime", false, MS_LAZYTIME }, { "loud", true, MS_SILENT }, { "mand", false, MS_MANDLOCK },
		{ "noatime", false, MS_NOATIME }, { "nodev", false, MS_NODEV }, { "nodiratime", false, MS_NODIRATIME },
		{ "noexec", false, MS_NOEXEC }, { "noiversion", true, MS_I_VERSION }, { "nolazytime", true, MS_LAZYTIME },
		{ "nomand", true, MS_MANDLOCK }, { "norelatime", true, MS_RELATIME },
		{ "nostrictatime", true, MS_STRICTATIME }, { "nosuid", false, MS_NOSUID },
		{ "nosymfollow", false, MS_NOSYMFOLLOW }, { "rbind", false, MS_BIND | MS_REC },
		{ "relatime", false, MS_RELATIME }, { "remount", false, MS_REMOUNT }, { "ro", false, MS_RDONLY },
		{ "rw", true, MS_RDONLY }, { "silent", false, MS_SILENT }, { "strictatime", false, MS_STRICTATIME },
		{ "suid", true, MS_NOSUID }, { "symfollow", true, MS_NOSYMFOLLOW }, { "sync", false, MS_SYNCHRONOUS },
	};
	static const struct {
		const char *name;
		unsigned long flag;
	} props[] = {
		{ "private", MS_PRIVATE }, { "rprivate", MS_PRIVATE | MS_REC }, { "shared", MS_SHARED },
		{ "rshared", MS_SHARED | MS_REC }, { "slave", MS_SLAVE }, { "rslave", MS_SLAVE | MS_REC },
		{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
	};
	static const struct {
		const char *name;
		bool clear;
		uint64_t attr;
	} rattrs[] = {
		{ "rro", false, MOUNT_ATTR_RDONLY }, { "rrw", true, MOUNT_ATTR_RDONLY },
		{ "rnosuid", false, MOUNT_ATTR_NOSUID }, { "rsuid", true, MOUNT_ATTR_NOSUID },
		{ "rnodev", false, MOUNT_ATTR_NODEV }, { "rdev", true, MOUNT_ATTR_NODEV },
		{ "rnoexec", false, MOUNT_ATTR_NOEXEC }, { "rexec", true, MOUNT_ATTR_NOEXEC },
		{ "rnodiratime", false, MOUNT_ATTR_NODIRATIME }, { "rdiratime", true, MOUNT_ATTR_NODIRATIME },
		{ "rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW }, { "rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW },
	};
	char *copy, *opt, *save = NULL;
	size_t dlen = 0, i;

	*o = (struct mount_opts){ 0 };
	copy = strdup(options);
	o->data = calloc(1, strlen(options) + 1);
	if (!copy || !o->data) {
		free(copy);
		free(o->data);
		o->data = NULL;
		return -ENOMEM;
	}
	for (opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		bool known = false;

		for (i = 0; !known && i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strcmp(opt, flags[i].name))
				continue;
			known = true;
			if (flags[i].clear)
				o->flags &= ~flags[i].flag;
			else
				o->flags |= flags[i].flag;
		}
		for (i = 0; !known && i < sizeof(props) / sizeof(props[0]); i++) {
			if (strcmp(opt, props[i].name))
				continue;
			known = true;
			if (o->nprop < sizeof(o->prop) / sizeof(o->prop[0]))
				o->prop[o->nprop++] = props[i].flag;
		}
		for (i = 0; !known && i < sizeof(rattrs) / sizeof(rattrs[0]); i++) {
			if (strcmp(opt, rattrs[i].name))
				continue;
			known = true;
			if (rattrs[i].clear)
				o->attr_clr |= rattrs[i].attr;
			else
				o->attr_set |= rattrs[i].attr;
		}
		/* runc's own option, and mount(8)'s comments for helpers: not the kernel's. */
		if (!strcmp(opt, "tmpcopyup") || !strncasecmp(opt, "x-", 2))
			known = true;
		if (known)
			continue;
		if (dlen)
			o->data[dlen++] = ',';
		strcpy(o->data + dlen, opt);
		dlen += strlen(opt);
	}
	free(copy);
	o->bind = o->flags & MS_BIND;
	return 0;
}

/* Whether @path is "/dev" (however written: "//dev/", "/./dev"). */
static bool path_is_dev(const char *path)
{
	char buf[PATH_MAX], *name, *save = NULL;
	int n = 0;
	bool dev = false;

	snprintf(buf, sizeof(buf), "%s", path);
	for (name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		if (!strcmp(name, "."))
			continue;
		dev = !strcmp(name, "dev");
		n++;
	}
	return n == 1 && dev;
}

/* A /dev of the container's own (a tmpfs): what runc puts in it. @devfd: its root. */
static int populate_dev(int devfd)
{
	static const struct {
		const char *name;
		unsigned major, minor;
	} nodes[] = {
		{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
		{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" }, { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
	};
	size_t i;

	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (mknodat(devfd, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0 &&
		    errno != EEXIST)
			return -errno;
		/* Whatever the umask. */
		if (fchmodat(devfd, nodes[i].name, 0666, 0) < 0)
			return -errno;
	}
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][0], devfd, links[i][1]) < 0 && errno != EEXIST)
			return -errno;
	if ((mkdirat(devfd, "pts", 0755) < 0 && errno != EEXIST) || (mkdirat(devfd, "shm", 01777) < 0 && errno != EEXIST))
		return -errno;
	return 0;
}

/* The RV_MOUNTS_TAG share, mounted once (9p like the rootfs, else virtio-fs). Returns an fd of
 * its root or -errno. */
static int mounts_share(void)
{
	static int fd = -1;

	if (fd >= 0)
		return fd;
	if ((mkdir("/run", 0755) < 0 && errno != EEXIST) || (mkdir(MOUNTS_DIR, 0755) < 0 && errno != EEXIST))
		return -errno;
	if (mount(RV_MOUNTS_TAG, MOUNTS_DIR, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144,cache=mmap") < 0) {
		int e = errno; /* what 9p says is the telling one */

		if (mount(RV_MOUNTS_TAG, MOUNTS_DIR, "virtiofs", 0, NULL) < 0)
			return -e;
	}
	fd = open(MOUNTS_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * One of RUN's mounts, under @rootfd. Returns 0, or -errno with *what saying which step
 * failed (NULL: the mount itself).
 */
static int apply_mount(int rootfd, const struct mount_entry *m, const char **what)
{
	struct mount_opts o;
	const char *type = m->type;
	char target[32], source[32];
	int src = -1, dst = -1, top = -1, share, r;
	struct stat st = { .st_mode = S_IFDIR };
	size_t i;

	*what = NULL;
	r = parse_mount_options(m->options, &o);
	if (r < 0)
		return r;
	o.bind = o.bind || !strcmp(type, "bind");
	if (!strcmp(type, "cgroup"))
		type = "cgroup2"; /* the guest is the container: its own unified hierarchy, as runc
				   * mounts on a cgroup v2 host */
	if (o.bind) {
		*what = "the " RV_MOUNTS_TAG " share";
		share = mounts_share();
		if (share < 0) {
			r = share;
			goto out;
		}
		*what = "its source in the " RV_MOUNTS_TAG " share";
		src = open_in_root(share, m->source, 0);
		if (src < 0 || fstat(src, &st) < 0) {
			r = src < 0 ? src : -errno;
			goto out;
		}
	}
	*what = "creating the mount point";
	dst = open_in_root(rootfd, m->dest, o.bind && !S_ISDIR(st.st_mode) ? 'f' : 'd');
	if (dst < 0) {
		r = dst;
		goto out;
	}
	*what = NULL;
	if (o.bind) {
		if (mount(fd_path(source, src), fd_path(target, dst), NULL, MS_BIND | (o.flags & MS_REC), NULL) < 0)
			goto fail;
	} else if (mount(m->source, fd_path(target, dst), type[0] ? type : NULL, o.flags & ~MS_REC,
			 o.data[0] ? o.data : NULL) < 0) {
		goto fail;
	}
	/* From here on, what is mounted there (the fd above is what it covers). */
	*what = "reopening it";
	top = open_in_root(rootfd, m->dest, 0);
	if (top < 0) {
		r = top;
		goto out;
	}
	fd_path(target, top);
	/* A bind mount takes its flags from a second call. */
	*what = "remounting it with its flags";
	if (o.bind && (o.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)) &&
	    mount(NULL, target, NULL, (o.flags & ~MS_REC) | MS_BIND | MS_REMOUNT, NULL) < 0)
		goto fail;
	*what = "setting its propagation";
	for (i = 0; i < o.nprop; i++)
		if (mount(NULL, target, NULL, o.prop[i], NULL) < 0)
			goto fail;
	if (o.attr_set || o.attr_clr) {
		struct mount_attr attr = { .attr_set = o.attr_set, .attr_clr = o.attr_clr };

		*what = "setting its recursive flags";
		if (mount_setattr(top, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			goto fail;
	}
	*what = "populating it";
	if (!strcmp(type, "tmpfs") && path_is_dev(m->dest) && (r = populate_dev(top)) < 0)
		goto out;
	*what = NULL;
	r = 0;
	goto out;
fail:
	r = -errno;
out:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	if (top >= 0)
		close(top);
	free(o.data);
	return r;
}

/* linux.maskedPaths: /dev/null over a file, an empty read-only tmpfs over a directory. */
static int mask_path(int rootfd, const char *path)
{
	char target[32];
	struct stat st;
	int fd = open_in_root(rootfd, path, 0), r = 0;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	fd_path(target, fd);
	if (fstat(fd, &st) < 0 ||
	    (S_ISDIR(st.st_mode) ? mount("tmpfs", target, "tmpfs", MS_RDONLY, NULL)
				 : mount("/dev/null", target, NULL, MS_BIND, NULL)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* linux.readonlyPaths: bound onto themselves, then read-only with all beneath. */
static int readonly_path(int rootfd, const char *path)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	char target[32];
	int fd = open_in_root(rootfd, path, 0), top, r = 0;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	fd_path(target, fd);
	r = mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	top = open_in_root(rootfd, path, 0);
	if (top < 0)
		return top;
	if (mount_setattr(top, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		r = -errno;
	close(top);
	return r;
}

/* "a.b.c=value" into /proc/sys/a/b/c (the guest's: it is the container's kernel). */
static int write_sysctl(const char *kv)
{
	char path[PATH_MAX], *c;
	const char *eq = strchr(kv, '=');
	size_t len;
	int fd, r = 0;

	if (snprintf(path, sizeof(path), "/proc/sys/%.*s", (int)(eq - kv), kv) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (c = path + strlen("/proc/sys/"); *c; c++)
		if (*c == '.')
			*c = '/';
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = strlen(eq + 1);
	if (write(fd, eq + 1, len) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}

/* The container's setup, done by its init (PID 1 of its namespace) before anything else. */
static void setup_container(const struct run_config *run, int efd)
{
	const char *what;
	size_t i;
	int rootfd, r;

	if (!run->nmounts) {
		/* The built-in set's proc, here because the mounter's PID namespace is its. */
		r = mount_point(ROOTFS "/proc");
		if (r == 0 && mount("proc", ROOTFS "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			r = -errno;
		if (r < 0)
			child_failf(efd, -r, "mount proc on /proc");
	}
	rootfd = open(ROOTFS, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_failf(efd, errno, "open " ROOTFS);
	for (i = 0; i < run->nmounts; i++) {
		const struct mount_entry *m = &run->mounts[i];

		r = apply_mount(rootfd, m, &what);
		if (r == 0)
			continue;
		/* The guest kernel may lack what a cgroup mount asks for: go on without it. */
		if (!strcmp(m->type, "cgroup") || !strcmp(m->type, "cgroup2")) {
			logmsg("mount %s on %s%s%s: %s (skipped)", m->type, m->dest, what ? ": " : "", what ? what : "",
			       strerror(-r));
			continue;
		}
		child_failf(efd, -r, "mount %s on %s%s%s", m->type[0] ? m->type : "(no type)", m->dest,
			    what ? ": " : "", what ? what : "");
	}
	for (i = 0; i < run->nsysctls; i++)
		if ((r = write_sysctl(run->sysctls[i])) < 0)
			child_failf(efd, -r, "sysctl `%s`", run->sysctls[i]);
	for (i = 0; i < run->nropaths; i++)
		if ((r = readonly_path(rootfd, run->ropaths[i])) < 0)
			child_failf(efd, -r, "readonly path %s", run->ropaths[i]);
	for (i = 0; i < run->nmasked; i++)
		if ((r = mask_path(rootfd, run->masked[i])) < 0)
			child_failf(efd, -r, "masked path %s", run->masked[i]);
	if (run->nmounts && run->readonly &&
	    mount(NULL, ROOTFS, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		child_failf(efd, errno, "making the root filesystem read-only");
	close(rootfd);
}

static void install_seccomp(const struct proc_config *c, int efd)
{
	struct sock_fprog prog = { .len = (unsigned short)c->nseccomp, .filter = c->seccomp };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		child_failf(efd, errno, "installing the seccomp filter");
}

/* The highest capability the kernel knows (probing the bounding set, which holds them all
 * until we drop some). */
static int last_cap(void)
{
	int cap = 0;

	while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
		cap++;
	return cap;
}

/* After the user switch (made keeping the permitted set): the sets asked for, those the kernel
 * does not know left out (as runc warns and goes on). */
static void apply_caps(const struct proc_config *c, uint64_t known, int efd)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	uint64_t eff = c->caps[CAPS_EFFECTIVE] & known, inh = c->caps[CAPS_INHERITABLE] & known;
	uint64_t perm = c->caps[CAPS_PERMITTED] & known, amb = c->caps[CAPS_AMBIENT] & known;
	int cap;

	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		child_failf(efd, errno, "clearing keepcaps");
	d[0] = (struct __user_cap_data_struct){ (uint32_t)eff, (uint32_t)perm, (uint32_t)inh };
	d[1] = (struct __user_cap_data_struct){ (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) };
	if (syscall(SYS_capset, &h, d) < 0)
		child_failf(efd, errno, "setting the capabilities (capset)");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && amb)
		child_failf(efd, errno, "clearing the ambient capabilities");
	for (cap = 0; cap < 64; cap++)
		if ((amb >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			child_failf(efd, errno, "raising ambient capability %d", cap);
}

/* @fds: what becomes 0..2 (for a terminal, the pty slave thrice). */
static void __attribute__((noreturn)) child(const struct proc_config *c, const int fds[3], int efd)
{
	char *path_env[2] = { "PATH=" DEFAULT_PATH, NULL };
	uint64_t known = 0;
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
	/* While still root with every capability, and (oom_score_adj) the agent's /proc at hand. */
	if (c->has_oom_score_adj) {
		char v[16];
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), n;

		n = snprintf(v, sizeof(v), "%d", (int)c->oom_score_adj);
		if (fd < 0 || write(fd, v, n) != n)
			child_failf(efd, errno, "oom_score_adj %d", (int)c->oom_score_adj);
		close(fd);
	}
	for (i = 0; i < c->nrlimits; i++)
		if (setrlimit(c->rlimits[i].resource, &c->rlimits[i].lim) < 0)
			child_failf(efd, errno, "setrlimit %u", c->rlimits[i].resource);
	if (chroot(ROOTFS) < 0 || chdir("/") < 0)
		child_fail(efd, "chroot");
	/* Like runc: create a missing cwd, enter it as root first and, if root may not, again
	 * as the user (a directory on 9p may let only its owner in). */
	mkdir_p(c->cwd);
	in_cwd = chdir(c->cwd) == 0;
	if (!in_cwd && errno != EACCES && errno != EPERM)
		child_fail(efd, "chdir");
	if (c->has_umask)
		umask(c->umask);
	if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_failf(efd, errno, "setting no_new_privs");
	/* Without no_new_privs, installing a filter takes CAP_SYS_ADMIN: before the drop. */
	if (c->nseccomp && !c->no_new_privs)
		install_seccomp(c, efd);
	if (c->has_caps) {
		int cap, last = last_cap();

		known = last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1;
		for (cap = 0; cap <= last; cap++)
			if (!(c->caps[CAPS_BOUNDING] >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
				child_failf(efd, errno, "dropping capability %d from the bounding set", cap);
		/* Keep the permitted set across setuid() to a user other than root. */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			child_failf(efd, errno, "setting keepcaps");
	}
	if (setgroups(c->ngids, c->gids) < 0)
		child_fail(efd, "setgroups");
	if (setgid(c->gid) < 0)
		child_fail(efd, "setgid");
	if (setuid(c->uid) < 0)
		child_fail(efd, "setuid");
	if (c->has_caps)
		apply_caps(c, known, efd);
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
	/* With no_new_privs, as close to the exec as can be. */
	if (c->nseccomp && c->no_new_privs)
		install_seccomp(c, efd);
	execvpe(c->argv[0], c->argv, c->envp);
	child_fail(efd, "exec");
}

/*
 * A pty of the container's devpts for a process of @c: the master and, opened from it (never
 * by path), the slave, owned by the process's user and sized. Returns 0 or -errno with *what.
 */
static int open_pty(const struct proc_config *c, uint32_t id, int *ret_master, int *ret_slave, const char **what)
{
	int master, slave, unlock = 0, r;

	*what = "open /dev/pts/ptmx";
	master = open(ROOTFS "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (master < 0)
		return -errno;
	*what = "unlocking the pty";
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		goto fail;
	*what = "opening the pty";
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		goto fail;
	/* As login does: the user owns the tty (group tty, mode 0620 from the mount). */
	if (fchown(slave, c->uid, -1) < 0)
		logmsg("process %u: chown of its pty: %m", id);
	if (c->has_rows || c->has_cols) {
		struct winsize ws = { 0 };

		ioctl(master, TIOCGWINSZ, &ws);
		if (c->has_rows)
			ws.ws_row = c->rows;
		if (c->has_cols)
			ws.ws_col = c->cols;
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			logmsg("process %u: TIOCSWINSZ: %m", id);
	}
	*ret_master = master;
	*ret_slave = slave;
	return 0;
fail:
	r = -errno;
	close(master);
	return r;
}

/* The container's init to the agent: its setup is done; @fd (>= 0) rides along. */
static int send_ready(int sock, int fd)
{
	char byte = 1, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* The agent's side: 1 (with *ret_fd, or -1) when the init is ready, 0 when it failed first
 * (it exited: its error is on its exec-error pipe), -errno. Blocks. */
static int recv_ready(int sock, int *ret_fd)
{
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	*ret_fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
	return 1;
}

/*
 * The container's init, PID 1 of its PID namespace: set the container up, make the terminal
 * if there is to be one, tell the agent (@sock) and become proc 0's program. @fds: pipes for
 * 0..2, or -1 with a terminal.
 */
static void __attribute__((noreturn)) container_init(const struct run_config *run, const struct proc_config *c,
						     int fds[3], int sock, int efd)
{
	int master = -1, slave, r;
	const char *what;

	setup_container(run, efd);
	if (c->terminal) {
		r = open_pty(c, 0, &master, &slave, &what);
		if (r < 0)
			child_failf(efd, -r, "%s", what);
		fds[0] = fds[1] = fds[2] = slave;
	}
	r = send_ready(sock, master);
	if (r < 0)
		child_failf(efd, -r, "telling the agent the container is ready");
	close(sock);
	if (master >= 0)
		close(master);
	child(c, fds, efd);
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
		a->ending_at = rv_now_ms();
	}
	kill(-1, SIGKILL);
}

static void proc_exited(struct agent *a, struct proc *p, uint32_t status)
{
	if (p->exited)
		return;
	p->exited = true;
	p->exited_at = rv_now_ms();
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

/*
 * Fork the process of p->cfg: proc 0 (@run set) as the init of a new PID namespace, which sets
 * the container up before anything else (this waits for that), an EXEC'd one into that
 * namespace. Whether its exec worked comes later, on p->ep.
 */
static void spawn(struct agent *a, struct proc *p, const struct run_config *run)
{
	const struct proc_config *c = &p->cfg;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ep[2] = { -1, -1 }, sp[2] = { -1, -1 };
	int slave = -1, fds[3] = { -1, -1, -1 }, e, r;
	const char *what;
	pid_t pid;

	if (c->terminal && !run) {
		/* The container's devpts instance: the process sees its tty as /dev/pts/N. (proc
		 * 0's init makes its own, once it has mounted that devpts.) */
		r = open_pty(c, p->id, &out[0], &slave, &what);
		if (r < 0) {
			errno = -r;
			goto fail;
		}
		/* Its own fd for input, so that stdin and output close independently. */
		what = "dup";
		in[1] = fcntl(out[0], F_DUPFD_CLOEXEC, 3);
		if (in[1] < 0)
			goto fail;
		fds[0] = fds[1] = fds[2] = slave;
	} else if (!c->terminal) {
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
	if (run) {
		what = "socketpair";
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			goto fail;
		/* fork() with a new PID namespace: the child goes on here, as PID 1 of it. */
		what = "clone";
		pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_NEWPID | SIGCHLD), NULL, NULL, NULL, NULL);
	} else {
		/* setns() on a PID namespace is for the children forked after it. */
		what = "joining the container's PID namespace";
		if (a->pidns >= 0 && setns(a->pidns, CLONE_NEWPID) < 0)
			goto fail;
		what = "fork";
		pid = fork();
		e = errno;
		if (pid != 0 && a->pidns >= 0 && setns(a->own_pidns, CLONE_NEWPID) < 0)
			logmsg("returning to the agent's PID namespace: %m");
		errno = e;
	}
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		join_cgroup(a, run != NULL);
		if (run) {
			close(sp[0]);
			container_init(run, c, fds, sp[1], ep[1]);
		}
		child(c, fds, ep[1]);
	}
	close_fd(&slave);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&ep[1]);
	if (run) {
		char path[64];
		int fd;

		close_fd(&sp[1]);
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
		a->pidns = open(path, O_RDONLY | O_CLOEXEC);
		if (a->pidns < 0)
			logmsg("%s: %m", path);
		/* Until the container is set up: an EXEC must find it so. 0: it failed, and its
		 * exec-error pipe says why. */
		r = recv_ready(sp[0], &fd);
		close_fd(&sp[0]);
		if (r < 0)
			logmsg("waiting for the container's init: %s", strerror(-r));
		/* Its cgroup namespace, made by now, for EXEC'd processes to enter. */
		if (r > 0 && a->cg_procs >= 0) {
			snprintf(path, sizeof(path), "/proc/%d/ns/cgroup", (int)pid);
			a->cgns = open(path, O_RDONLY | O_CLOEXEC);
			if (a->cgns < 0)
				logmsg("%s: %m", path);
		}
		if (c->terminal && fd >= 0) {
			out[0] = fd;
			in[1] = fcntl(out[0], F_DUPFD_CLOEXEC, 3);
			if (in[1] < 0)
				logmsg("process %u: dup of its pty: %m", p->id);
		} else if (fd >= 0) {
			close(fd);
		}
	}
	p->pid = pid;
	p->tty = c->terminal;
	p->ep = ep[0];
	p->in_fd = in[1];
	p->out_fd[0] = out[0];
	p->out_fd[1] = err[0];
	set_nonblock(p->ep);
	if (p->in_fd >= 0)
		set_nonblock(p->in_fd);
	if (p->out_fd[0] >= 0)
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
	close_fd(&sp[0]);
	close_fd(&sp[1]);
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
	e.msg[sizeof(e.msg) - 1] = '\0';
	if (e.msg[0]) {
		if (e.err)
			set_error(p, status, "%s: %s", e.msg, strerror(e.err));
		else
			set_error(p, status, "%s", e.msg);
		proc_failed(a, p);
		return;
	}
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

static void dns_log(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dns_log(struct agent *a, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (a->dns_logged >= DNS_LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	logmsg("DNS proxy: %s%s", msg, ++a->dns_logged == DNS_LOG_MAX ? " (no more DNS messages)" : "");
}

/*
 * The ID a query in slot @slot goes to the host with: the slot in the low bits and a new
 * generation above, so that a late answer to the slot's previous query is not taken for this
 * one. The generation is random: Docker's resolver passes the ID on to the upstream server,
 * and an ID that could be guessed would make forged answers easier to get accepted.
 */
static uint16_t dns_new_id(const struct dns_query *q, uint16_t slot)
{
	uint16_t gen, old = q->id / DNS_SLOTS;

	if (getrandom(&gen, sizeof(gen), GRND_NONBLOCK) != sizeof(gen))
		gen = (uint16_t)(old + 1);
	gen %= 65536 / DNS_SLOTS;
	if (gen == old)
		gen = (uint16_t)((gen + 1) % (65536 / DNS_SLOTS));
	return (uint16_t)(gen * DNS_SLOTS + slot);
}

/* Queries from the container's resolvers (the socket is readable): each goes to the host as
 * RV_MSG_DNS, under an ID naming its slot; the oldest query loses its slot. */
static void relay_dns_queries(struct agent *a)
{
	uint8_t buf[RV_DNS_MAX + 1];
	int k;

	/* A bounded batch, so a flood of queries cannot starve the rest of the loop. */
	for (k = 0; k < 16; k++) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		struct dns_query *q;
		uint16_t id;
		/* MSG_TRUNC: the datagram's real length, to drop one too long. */
		ssize_t n = recvfrom(a->dns_fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fromlen);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				dns_log(a, "receiving a query, ignoring: %m");
			return;
		}
		if (n < DNS_HDR_LEN || n > RV_DNS_MAX || fromlen != sizeof(from) || from.sin_family != AF_INET)
			continue;
		q = &a->dns[a->dns_next++ % DNS_SLOTS];
		id = dns_new_id(q, (uint16_t)(q - a->dns));
		*q = (struct dns_query){ .used = true, .id = id, .client_id = (uint16_t)(buf[0] << 8 | buf[1]),
					 .client = from };
		buf[0] = (uint8_t)(id >> 8);
		buf[1] = (uint8_t)id;
		if (rv_frame_raw(&a->tx, RV_MSG_DNS, 0, buf, (size_t)n) < 0)
			channel_failed(-ENOMEM);
	}
}

/* An answer from the host: back to the client whose query had its ID, under the client's. */
static void handle_dns(struct agent *a, const struct rv_frame *f)
{
	uint8_t buf[RV_DNS_MAX];
	struct dns_query *q;
	uint16_t id;

	if (a->dns_fd < 0 || f->proc != 0) {
		log_ignored(a, f);
		return;
	}
	if (f->len < DNS_HDR_LEN || f->len > RV_DNS_MAX) {
		dns_log(a, "ignoring an answer of %u bytes", f->len);
		return;
	}
	id = (uint16_t)(f->payload[0] << 8 | f->payload[1]);
	q = &a->dns[id % DNS_SLOTS];
	/* Unknown, answered already, or stale: its slot has gone to a newer query. */
	if (!q->used || q->id != id)
		return;
	q->used = false;
	memcpy(buf, f->payload, f->len);
	buf[0] = (uint8_t)(q->client_id >> 8);
	buf[1] = (uint8_t)q->client_id;
	if (sendto(a->dns_fd, buf, f->len, MSG_DONTWAIT, (const struct sockaddr *)&q->client, sizeof(q->client)) < 0)
		dns_log(a, "answering port %u, ignoring: %m", ntohs(q->client.sin_port));
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
			case K_DNS:
				relay_dns_queries(a);
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
	deadline = rv_now_ms() + EXIT_LINGER_MS;
	for (;;) {
		struct pollfd p = { .fd = a->chan, .events = POLLIN };
		int64_t left = deadline - rv_now_ms();

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
	a.pidns = -1;
	a.cg_procs = -1;
	a.cgns = -1;
	a.dns_fd = -1;
	proc_init(&a.procs[0], 0);
	r = early_setup();
	if (r < 0)
		end_vm();
	a.own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (a.own_pidns < 0) {
		logmsg("/proc/self/ns/pid: %m");
		end_vm();
	}
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
	if (wait_run(&a, &run) < 0 || set_hostname(&a.procs[0], &run) < 0 || mount_rootfs(&a.procs[0], &run) < 0 ||
	    setup_network(&a.procs[0], &run) < 0 || dns_proxy_start(&a, &run) < 0)
		finish(&a);
	/* Last before proc 0: memory.max comes from what is left after the agent's setup. */
	a.cg_procs = cgroup_setup();
	spawn(&a, &a.procs[0], &run);
	relay(&a);
	finish(&a);
}
