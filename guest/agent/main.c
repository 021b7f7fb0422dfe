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
 * The container, as with runc: proc 0 is PID 1 of a new PID namespace (clone(CLONE_NEWPID),
 * with CLONE_NEWUSER for a user namespace, whose maps the agent writes), and that process,
 * before it becomes the container's program, makes the container's mount namespace (a copy of
 * the agent's, whose mounts are all shared as on a systemd host, with rootfsPropagation on /
 * and the rootfs bound onto itself: see prepare_root()) and sets the container up in it (every
 * process of the container enters it and chroots to ROOTFS): the mounts (RUN's RV_ATTR_MOUNT
 * list, or without one the built-in proc, sysfs, /dev, devpts and shm), linux.devices,
 * sysctls, readonly and masked paths, because a proc mount shows the PID namespace of whoever
 * mounts it. It then tells the agent over a socket that it is done, passing its root (an fd in
 * its mount namespace, under which the agent opens EXEC's ptys) and the pty master when it has
 * a terminal (the pty must come from the devpts it mounted); the agent waits for that before
 * it serves anything else, so an EXEC always finds the container set up. EXEC'd processes are
 * forked after setns() into that PID namespace and, once their limits are set, enter its user
 * and mount namespaces. Mount destinations
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
 * Devices (linux.resources.devices, RV_ATTR_DEV_RULE), as runc on a cgroup v2 host: the agent
 * loads a device cgroup program (devcg.c) and attaches it to that cgroup before any process
 * joins it. Here a failure, of the load or of the cgroup, ends the container at RUN: the rules
 * are never dropped.
 *
 * Every byte from the host is bounded by rv_frame_parse()/rv_attr_next(); no input can make
 * the agent exit, and PID 1 must never exit (the kernel would panic), so every way out ends in
 * reboot(). Every fd is O_CLOEXEC but those dup2()ed onto a child's 0..2, and every fd in the
 * relay loop is non-blocking.
 *
 * The files, one job each: main.c (this: PID 1's startup and its end), channel.c (the port to
 * the host, HELLO and RUN), config.c (RUN and EXEC decoded, without a system call: the part
 * the host can test and fuzz), rootfs.c and mounts.c (the root filesystem and the container's
 * mounts), net.c, dns.c (the DNS proxy), cgroup.c, process.c and pty.c (starting a process),
 * relay.c (the loop that serves the running container), agent.c (the process table).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/random.h>

#include "base/time.h"
#include "guest/agent/agent.h"
#include "guest/agent/cgroup.h"
#include "guest/agent/channel.h"
#include "guest/agent/devcg.h"
#include "guest/agent/devices.h"
#include "guest/agent/dns.h"
#include "guest/agent/mounts.h"
#include "guest/agent/net.h"
#include "guest/agent/process.h"
#include "guest/agent/relay.h"
#include "guest/agent/rootfs.h"
#include "guest/agent/util.h"

/* After EXIT is written, how long to wait for the host to hang up before rebooting: a write
 * to a virtio port returns once the data is in the virtqueue, not once QEMU has taken it, so
 * rebooting at once could lose the tail of the output and the EXIT frame itself. */
#define EXIT_LINGER_MS 2000

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
		/* Everything shared, as systemd makes a host's mounts, which is what runc's
		 * propagation settings act on (see prepare_root() in rootfs.c). What is mounted later
		 * (the rootfs, the shares) is shared too, each in a peer group of its own. */
		if (i == sizeof(m) / sizeof(m[0]) - 1 && mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0)
			logmsg("making the mounts shared: %m");
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

/*
 * Make this guest its own machine before anything of the container runs. A guest restored from
 * a template shares the template's CRNG state and clock with every other clone: credit the
 * host's entropy to the input pool and reseed the CRNG from it at once, and take the host's
 * time (a cold guest gains a clock finer than the RTC's second). Neither failure stops the
 * container: the kernel's own reseeding and the RTC remain, and the console says why.
 */
static void refresh_identity(const struct run_config *run)
{
	if (run->has_entropy) {
		struct {
			struct rand_pool_info info;
			uint8_t buf[RV_ENTROPY_LEN];
		} e = { .info = { .entropy_count = RV_ENTROPY_LEN * 8, .buf_size = RV_ENTROPY_LEN } };
		int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

		memcpy(e.buf, run->entropy, RV_ENTROPY_LEN);
		if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
			logmsg("reseeding the CRNG from the host: %m");
		if (fd >= 0)
			close(fd);
		explicit_bzero(&e, sizeof(e));
	}
	if (run->realtime_ns) {
		struct timespec ts = { .tv_sec = (time_t)(run->realtime_ns / 1000000000u),
				       .tv_nsec = (long)(run->realtime_ns % 1000000000u) };

		if (clock_settime(CLOCK_REALTIME, &ts) < 0)
			logmsg("setting the clock from the host: %m");
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

/* Report EXIT for proc 0, make sure the host has it, and end the VM. */
static void __attribute__((noreturn)) finish(struct agent *a)
{
	struct proc *p0 = &a->procs[0];
	size_t start, len = a->tx.len;
	int64_t deadline;

	/* Before EXIT: once the host has it, it may look at the rootfs. */
	sync();
	if (rv_frame_begin(&a->tx, RV_MSG_EXIT, 0, &start) < 0 || rv_put_u32(&a->tx, RV_ATTR_STATUS, p0->status) < 0 ||
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
	int r, devcg_prog = -1;

	a.chan = -1;
	a.sfd = -1;
	a.pidns = -1;
	a.cg_procs = -1;
	a.cgns = -1;
	a.mntns = -1;
	a.userns = -1;
	a.rootfd = -1;
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
	if (wait_run(&a, &run) < 0)
		finish(&a);
	refresh_identity(&run);
	if (set_hostname(&a.procs[0], &run) < 0 || mount_rootfs(&a.procs[0], &run) < 0 ||
	    setup_network(&a.procs[0], &run) < 0 || dns_proxy_start(&a, &run) < 0)
		finish(&a);
	if (run.ndev_rules) {
		char err[CONFIG_ERR_MAX];

		devcg_prog = devcg_load(run.dev_rules, run.ndev_rules, err, sizeof(err));
		if (devcg_prog < 0) {
			set_error(&a.procs[0], RV_EXIT_SETUP_FAILED, "%s", err);
			finish(&a);
		}
	}
	/* What the container's mount namespace copies from the agent's. */
	mounts_prepare(&run);
	devices_stage(&run);
	/* Last before proc 0: memory.max comes from what is left after the agent's setup. */
	a.cg_procs = cgroup_setup(run.pids_max, devcg_prog);
	/* Device rules are never dropped: without the cgroup they hold on, no container. */
	if (devcg_prog >= 0 && a.cg_procs < 0) {
		set_error(&a.procs[0], RV_EXIT_SETUP_FAILED,
			  "linux.resources.devices: the device rules could not be applied to the container's "
			  "cgroup in the guest (see the guest's console log)");
		finish(&a);
	}
	if (devcg_prog >= 0)
		close(devcg_prog);
	spawn(&a, &a.procs[0], &run);
	relay(&a);
	finish(&a);
}
