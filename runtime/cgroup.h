/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host cgroup of a container (cgroupfs driver, cgroup v1, hybrid or v2): the monitor and
 * the hypervisor it starts live in linux.cgroupsPath under every hierarchy, so that docker
 * stats reads the VM's cost and the limits bound it. The memory limit the host enforces is
 * the guest's RAM plus the backend's own overhead (struct hv_backend_ops.host_overhead_mib):
 * a guest that fills its memory meets its own OOM killer, never gets its VMM killed by the host.
 */
#ifndef RUNVM_CGROUP_H
#define RUNVM_CGROUP_H

#include <stdbool.h>

struct rt_error;
struct rt_spec;
struct hv_backend_ops;

/* The host memory limit, in MiB, of a container whose guest has @guest_mib of RAM under @ops. */
unsigned long long rt_cgroup_memory_mib(const struct hv_backend_ops *ops, unsigned long long guest_mib);

/* Is @path a cgroupfs path runvm handles ("/docker/ID"; systemd's "slice:prefix:name" is not)? */
int rt_cgroup_path_supported(const char *path);
/* Create @path under every hierarchy, apply the limits, and move the calling process in.
 * @mem_mib: the host memory limit (rt_cgroup_memory_mib()), set when the spec limits memory. */
int rt_cgroup_enter(const char *path, const struct rt_spec *spec, unsigned long long mem_mib, struct rt_error **err);
/* Set the host limits of an existing container cgroup: memory in MiB (0: leave it), CPU quota
 * and period (quota <= 0: leave it). */
int rt_cgroup_set_limits(const char *path, unsigned long long mem_mib, long long quota, unsigned long long period,
			 struct rt_error **err);
/* Remove the leaf directories enter created, once nothing is left in them; with @leave the
 * calling process (a `run` that was in it) first moves to the root. Never fails. */
void rt_cgroup_remove(const char *path, bool leave);

#endif
