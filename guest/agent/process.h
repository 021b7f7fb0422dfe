/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Starting a process of the container: fork, setup in the child (user, caps, seccomp), exec. */
#ifndef RUNVM_AGENT_PROCESS_H
#define RUNVM_AGENT_PROCESS_H

struct agent;
struct proc;
struct run_config;

/* In the child, before exec: report @fmt (and strerror(@err) unless 0) on the exec-error
 * pipe @fd, and exit 125. */
void __attribute__((noreturn)) child_failf(int fd, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * Fork the process of p->cfg: proc 0 (@run set) as the init of a new PID namespace, which sets
 * the container up before anything else (this waits for that), an EXEC'd one into that
 * namespace. Whether its exec worked comes later, on p->ep.
 */
void spawn(struct agent *a, struct proc *p, const struct run_config *run);
/* p->ep is readable: EOF once the exec closed it (STARTED), or the child's exec_failure. */
void check_started(struct agent *a, struct proc *p);

#endif
