/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host cgroup of a container (cgroupfs driver, cgroup v1, hybrid or v2): the monitor and
 * the hypervisor it starts live in linux.cgroupsPath under every hierarchy, so that docker
 * stats reads the VM's cost and the limits bound it. The memory limit the host enforces is
 * the guest's RAM plus RT_CGROUP_VMM_OVERHEAD_MIB for the hypervisor itself: a guest that
 * fills its memory meets its own OOM killer, never gets its VMM killed by the host.
 */
#ifndef RUNVM_CGROUP_H
#define RUNVM_CGROUP_H

#include <stdbool.h>

struct rt_error;
struct rt_spec;

/* QEMU under TCG: ~95 MiB measured with an idle 256 MiB guest (translation cache included),
 * with room for I/O buffers. */
#define RT_CGROUP_VMM_OVERHEAD_MIB 160

/* Is @path a cgroupfs path runvm handles ("/docker/ID"; systemd's "slice:prefix:name" is not)? */
int rt_cgroup_path_supported(const char *path);
/* Create @path under every hierarchy, apply the limits, and move the calling process in.
 * @guest_mib: the guest's RAM. */
int rt_cgroup_enter(const char *path, const struct rt_spec *spec, unsigned guest_mib, struct rt_error **err);
/* Set the host limits of an existing container cgroup: memory in MiB (0: leave it), CPU quota
 * and period (quota <= 0: leave it). */
int rt_cgroup_set_limits(const char *path, unsigned long long mem_mib, long long quota, unsigned long long period,
			 struct rt_error **err);
/* Remove the leaf directories enter created, once nothing is left in them; with @leave the
 * calling process (a `run` that was in it) first moves to the root. Never fails. */
void rt_cgroup_remove(const char *path, bool leave);

#endif
