/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's state, shared by its files: the process table and the channel (see main.c for
 * the whole design), and the helpers that keep the table consistent.
 */
#ifndef RUNVM_AGENT_AGENT_H
#define RUNVM_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "guest/agent/config.h"
#include "guest/agent/dns.h"
#include "protocol/agent-proto.h"

/* Processes EXEC may run at once, besides proc 0. */
#define MAX_EXEC 64
#define MAX_PROCS (MAX_EXEC + 1)
/* Where the container's root filesystem is mounted. */
#define ROOTFS "/rootfs"

struct proc {
	bool used;
	uint32_t id;           /* the host's process number; slot 0 is always proc 0 */
	pid_t pid;             /* 0 until forked */
	bool tty;              /* in_fd and out_fd[0] are the pty master */
	int ep;                /* exec-error pipe (read end) until the exec is known to be done */
	int in_fd;             /* stdin pipe (write end) or a dup of the master; -1 once closed */
	int out_fd[2];         /* stdout, stderr (read ends), or the master and -1; -1 at EOF */
	struct rv_buf stdin_q; /* bytes for its stdin */
	bool stdin_eof;        /* pipe: close in_fd once stdin_q drains; tty: EOF char queued */
	bool exited;           /* reaped, or failed to start */
	int64_t exited_at;
	uint32_t status;          /* exit status to report */
	char err[CONFIG_ERR_MAX]; /* RV_ATTR_ERROR for EXIT; a set error also fixes the status */
	struct proc_config cfg;   /* until its exec is known to have worked or failed */
};

struct agent {
	int chan;         /* the virtio-serial port to the host */
	int sfd;          /* signalfd for SIGCHLD */
	struct rv_buf rx; /* bytes from the host not yet parsed */
	struct rv_buf tx; /* frames for the host */
	bool connected;   /* the host has taken or sent bytes: EOF now means it is gone */
	bool rx_dead;     /* protocol error: stop reading the channel */
	bool ignored;     /* logged a frame we ignore (once: the console is slow) */
	bool ending;      /* proc 0 has ended: the container goes down */
	int64_t ending_at;
	int own_pidns;                   /* the agent's PID namespace, to return to after an EXEC fork */
	int pidns;                       /* the container's (proc 0's) PID namespace; -1 before it exists */
	int cg_procs;                    /* the container cgroup's cgroup.procs; -1: no cgroup */
	int cgns;                        /* the container's cgroup namespace; -1 before it exists */
	int mntns;                       /* the container's mount namespace; -1 before it exists */
	int userns;                      /* its user namespace; -1: none (or before it exists) */
	int rootfd;                      /* its root (ROOTFS in its mount namespace), O_PATH; -1 before */
	struct proc procs[MAX_PROCS];    /* [0] is proc 0 */
	int dns_fd;                      /* the DNS proxy's UDP socket; -1: no proxy */
	unsigned dns_next;               /* the slot of the next query */
	unsigned dns_logged;             /* messages about DNS logged so far */
	struct dns_query dns[DNS_SLOTS]; /* [id % DNS_SLOTS] */
};

/* Kill everything and reboot, which ends the VM. PID 1 never exits: every way out is this. */
void __attribute__((noreturn)) end_vm(void);
/* Record (and log) why @p fails, with the status to report; the first error wins. */
void set_error(struct proc *p, uint32_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void proc_init(struct proc *p, uint32_t id);
/* Decode RUN (@run set) or EXEC into p->cfg; a failure is @p's error (status 125). */
int proc_parse_config(struct proc *p, const struct rv_frame *f, struct run_config *run);
void proc_free(struct proc *p);
struct proc *find_proc(struct agent *a, uint32_t id);
void close_stdin(struct proc *p);
/* The container ends with its main process, as with runc: kill everything else. */
void container_end(struct agent *a);
void proc_exited(struct agent *a, struct proc *p, uint32_t status);
/* It did not start (the error is set): nothing will come from its fds. */
void proc_failed(struct agent *a, struct proc *p);
/* RV_MSG_UPDATE: change the container cgroup's limits, answer with UPDATE (ERROR on failure). */
void handle_update(struct agent *a, const struct rv_frame *f);

#endif
