/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Starting a process of the container (see process.h): the fork, the container's init, and in
 * the child, in runc's order, everything up to the exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "guest/agent/agent.h"
#include "guest/agent/cgroup.h"
#include "guest/agent/channel.h"
#include "guest/agent/process.h"
#include "guest/agent/pty.h"
#include "guest/agent/rootfs.h"
#include "guest/agent/util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What the child writes to the exec-error pipe when it cannot exec (one write, < PIPE_BUF). A
 * set msg is the whole error, followed by strerror(err) unless err is 0. */
struct exec_failure {
	int err;
	char stage[12];
	char msg[240];
};

static void __attribute__((noreturn)) child_fail(int fd, const char *stage)
{
	struct exec_failure e = { .err = errno };

	strncpy(e.stage, stage, sizeof(e.stage) - 1);
	if (write(fd, &e, sizeof(e)) < 0) {
		/* the parent then reports the plain exit status */
	}
	_exit(RV_EXIT_SETUP_FAILED);
}

void __attribute__((noreturn)) child_failf(int fd, int err, const char *fmt, ...)
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

	/* The kernel raises an ambient capability only if it is permitted and inheritable (EPERM
	 * otherwise); runc and crun go on without the others. buildah lists its caps as ambient with
	 * no inheritable set, so failing here would fail every buildah RUN step. */
	amb &= perm & inh;

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

/* What a child does besides @c: the container's namespaces an EXEC'd process joins (-1: none),
 * once its limits are set (from outside a user namespace, where raising one takes a capability
 * of the guest's), and whether proc 0's limits were set by the agent (see userns_setup()). */
struct child_ns {
	int userns, mntns;
	bool limits_set;
};

/* @fds: what becomes 0..2 (for a terminal, the pty slave thrice). */
static void __attribute__((noreturn))
child(const struct proc_config *c, const int fds[3], int efd, const struct child_ns *ns)
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
	if (!ns->limits_set && c->has_oom_score_adj) {
		char v[16];
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), n;

		n = snprintf(v, sizeof(v), "%d", (int)c->oom_score_adj);
		if (fd < 0 || write(fd, v, n) != n)
			child_failf(efd, errno, "oom_score_adj %d", (int)c->oom_score_adj);
		close(fd);
	}
	for (i = 0; !ns->limits_set && i < c->nrlimits; i++)
		if (setrlimit(c->rlimits[i].resource, &c->rlimits[i].lim) < 0)
			child_failf(efd, errno, "setrlimit %u", c->rlimits[i].resource);
	/* The user namespace first: the mount namespace is its (and setns() on a user namespace
	 * is refused to a chrooted caller). */
	if (ns->userns >= 0 && setns(ns->userns, CLONE_NEWUSER) < 0)
		child_failf(efd, errno, "joining the container's user namespace");
	if (ns->mntns >= 0 && setns(ns->mntns, CLONE_NEWNS) < 0)
		child_failf(efd, errno, "joining the container's mount namespace");
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

/* The container's init to the agent: its setup is done; its root @rootfd and the pty master
 * @master (-1: none) ride along. */
static int send_ready(int sock, int rootfd, int master)
{
	char byte = 1, cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf };
	int fds[2] = { rootfd, master }, n = master >= 0 ? 2 : 1;
	struct cmsghdr *cm;

	mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* The agent's side: 1 (with the fds, or -1) when the init is ready, 0 when it failed first
 * (it exited: its error is on its exec-error pipe), -errno. Blocks. */
static int recv_ready(int sock, int *ret_rootfd, int *ret_master)
{
	char byte, cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fds[2] = { -1, -1 };
	ssize_t n;

	*ret_rootfd = *ret_master = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    (cm->cmsg_len == CMSG_LEN(sizeof(int)) || cm->cmsg_len == CMSG_LEN(2 * sizeof(int))))
			memcpy(fds, CMSG_DATA(cm), cm->cmsg_len - CMSG_LEN(0));
	*ret_rootfd = fds[0];
	*ret_master = fds[1];
	return 1;
}

/* What the agent tells proc 0 once it has set up its user namespace: 0, or why not. */
struct userns_reply {
	int err;
	char what[60];
};

/*
 * The agent's side of proc 0's user namespace, as runc's parent does it: the maps (which only
 * a process outside may write), and the rlimits and oom_score_adj, which raising takes
 * capabilities of the guest's that nothing inside has. Returns the reply for proc 0.
 */
static struct userns_reply userns_setup(pid_t pid, const struct run_config *run, const struct proc_config *c)
{
	struct userns_reply rep = { 0 };
	char path[64], buf[ID_MAP_MAX * 36];
	size_t i, k;
	int r;

	for (k = 0; k < 2; k++) {
		const struct id_map *m = k ? run->gid_map : run->uid_map;
		size_t n = k ? run->ngid_map : run->nuid_map, len = 0;

		for (i = 0; i < n; i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].inside, m[i].outside,
						m[i].count);
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, k ? "gid_map" : "uid_map");
		if ((r = write_file(path, buf)) < 0) {
			rep.err = -r;
			snprintf(rep.what, sizeof(rep.what), "writing the user namespace's %s",
				 k ? "gid_map" : "uid_map");
			return rep;
		}
	}
	for (i = 0; i < c->nrlimits; i++)
		if (prlimit(pid, c->rlimits[i].resource, &c->rlimits[i].lim, NULL) < 0) {
			rep.err = errno;
			snprintf(rep.what, sizeof(rep.what), "setrlimit %u", c->rlimits[i].resource);
			return rep;
		}
	if (c->has_oom_score_adj) {
		char v[16];

		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)pid);
		snprintf(v, sizeof(v), "%d", (int)c->oom_score_adj);
		if ((r = write_file(path, v)) < 0) {
			rep.err = -r;
			snprintf(rep.what, sizeof(rep.what), "oom_score_adj %d", (int)c->oom_score_adj);
		}
	}
	return rep;
}

/* Proc 0's side: wait for the agent's reply, then become root of the namespace (its uid and gid
 * 0, no supplementary groups), as runc's init does before anything else. */
static void enter_userns(int sock, int efd)
{
	struct userns_reply rep;
	ssize_t n;

	do
		n = read(sock, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rep))
		child_failf(efd, n < 0 ? errno : 0, "waiting for the agent to set up the user namespace");
	rep.what[sizeof(rep.what) - 1] = '\0';
	if (rep.err)
		child_failf(efd, rep.err, "%s", rep.what);
	if (setresgid(0, 0, 0) < 0)
		child_failf(efd, errno, "becoming root in the user namespace (is gid 0 mapped?)");
	if (setgroups(0, NULL) < 0)
		child_failf(efd, errno, "clearing the groups in the user namespace");
	if (setresuid(0, 0, 0) < 0)
		child_failf(efd, errno, "becoming root in the user namespace (is uid 0 mapped?)");
}

/*
 * The container's init, PID 1 of its PID namespace: set the container up, make the terminal
 * if there is to be one, tell the agent (@sock) and become proc 0's program. @fds: pipes for
 * 0..2, or -1 with a terminal.
 */
static void __attribute__((noreturn))
container_init(const struct run_config *run, const struct proc_config *c, int fds[3], int sock, int efd)
{
	struct child_ns ns = { .userns = -1, .mntns = -1, .limits_set = run->userns };
	int master = -1, slave, rootfd, r;
	const char *what;

	if (run->userns)
		enter_userns(sock, efd);
	setup_container(run, efd);
	rootfd = open(ROOTFS, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_failf(efd, errno, "open " ROOTFS);
	if (c->terminal) {
		r = open_pty(c, 0, rootfd, &master, &slave, &what);
		if (r < 0)
			child_failf(efd, -r, "%s", what);
		fds[0] = fds[1] = fds[2] = slave;
	}
	r = send_ready(sock, rootfd, master);
	if (r < 0)
		child_failf(efd, -r, "telling the agent the container is ready");
	close(sock);
	close(rootfd);
	if (master >= 0)
		close(master);
	child(c, fds, efd, &ns);
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void spawn(struct agent *a, struct proc *p, const struct run_config *run)
{
	const struct proc_config *c = &p->cfg;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ep[2] = { -1, -1 }, sp[2] = { -1, -1 };
	int slave = -1, fds[3] = { -1, -1, -1 }, e, r;
	const char *what;
	pid_t pid;

	if (c->terminal && !run) {
		/* The container's devpts instance: the process sees its tty as /dev/pts/N. (proc
		 * 0's init makes its own, once it has mounted that devpts.) */
		r = open_pty(c, p->id, a->rootfd, &out[0], &slave, &what);
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
		/* fork() with a new PID namespace: the child goes on here, as PID 1 of it. With a user
		 * namespace, in the same call, so that the PID namespace is the user namespace's (as
		 * with runc: a proc mount needs that). */
		what = "clone";
		pid = (pid_t)syscall(SYS_clone,
				     (unsigned long)(CLONE_NEWPID | (run->userns ? CLONE_NEWUSER : 0) | SIGCHLD), NULL,
				     NULL, NULL, NULL);
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
		struct child_ns ns = { .userns = a->userns, .mntns = a->mntns };

		join_cgroup(a, run != NULL);
		if (run) {
			close(sp[0]);
			container_init(run, c, fds, sp[1], ep[1]);
		}
		child(c, fds, ep[1], &ns);
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
		if (run->userns) {
			struct userns_reply rep = userns_setup(pid, run, c);

			if (write(sp[0], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
				logmsg("telling the container's init its user namespace is ready: %m");
		}
		/* Until the container is set up: an EXEC must find it so. 0: it failed, and its
		 * exec-error pipe says why. */
		r = recv_ready(sp[0], &a->rootfd, &fd);
		close_fd(&sp[0]);
		if (r < 0)
			logmsg("waiting for the container's init: %s", strerror(-r));
		/* Its namespaces, for EXEC'd processes to enter. */
		if (r > 0) {
			snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
			a->mntns = open(path, O_RDONLY | O_CLOEXEC);
			if (a->mntns < 0)
				logmsg("%s: %m", path);
		}
		if (r > 0 && run->userns) {
			snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
			a->userns = open(path, O_RDONLY | O_CLOEXEC);
			if (a->userns < 0)
				logmsg("%s: %m", path);
		}
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

void check_started(struct agent *a, struct proc *p)
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
		proc_config_free(&p->cfg);
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
