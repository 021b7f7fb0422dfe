/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Terminals: ptys of the container's own devpts instance. */
#ifndef RUNVM_AGENT_PTY_H
#define RUNVM_AGENT_PTY_H

#include <stdint.h>

struct proc_config;

/*
 * A pty of the container's devpts (@rootfd/dev/pts, @rootfd the container's root, in its mount
 * namespace) for a process of @c: the master and, opened from it (never by path), the slave,
 * owned by the process's user and sized. Returns 0 or -errno with *what.
 */
int open_pty(const struct proc_config *c, uint32_t id, int rootfd, int *ret_master, int *ret_slave, const char **what);

#endif
