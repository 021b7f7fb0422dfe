/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The container's cgroup in the guest: memory and pids. */
#ifndef RUNVM_AGENT_CGROUP_H
#define RUNVM_AGENT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

/* Make the container's cgroup (see cgroup.c), with pids.max @pids_max (0: none) and the device
 * program @devcg_prog attached (-1: none). Returns its cgroup.procs, O_CLOEXEC, or -1 after
 * logging why not. */
int cgroup_setup(unsigned pids_max, int devcg_prog);
/* `runvm update` of the container's cgroup (see cgroup.c): pids.max @pids (UINT64_MAX: max)
 * when @set_pids, the memory limit @mem (bytes, UINT64_MAX: none) when @set_mem. Returns 0, or
 * -1 with why in @err (what came before the failure stays changed). */
int cgroup_update(bool set_pids, uint64_t pids, bool set_mem, uint64_t mem, char *err, size_t errlen);
/* In a child of the agent, first thing: join the container's cgroup and cgroup namespace
 * (@init: proc 0, which makes the namespace). A failure is logged, the process runs on. */
void join_cgroup(const struct agent *a, bool init);

#endif
