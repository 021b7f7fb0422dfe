/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host cgroup of a container (cgroupfs driver, cgroup v1, hybrid or v2): the monitor and
 * the hypervisor it starts live in linux.cgroupsPath under every hierarchy, so that docker
 * stats reads the VM's cost and the limits bound it. linux.cgroupsPath is absolute (below each
 * hierarchy's root) or relative (below the caller's own cgroup in each v1 hierarchy, below its
 * parent on a v2 host), as runc's cgroupfs driver takes it.
 *
 * Every linux.resources member with a host meaning is set there as runc 1.1 sets it (the same
 * files, the same v1 -> v2 conversions, the same refusals: a value the kernel rejects, a
 * controller the host lacks), with two differences that come from the VM:
 *  - memory: the guest's RAM plus the backend's own overhead (struct
 *    hv_backend_ops.host_overhead_mib), so that a guest that fills its memory meets its own OOM
 *    killer, never gets its VMM killed by the host;
 *  - pids: the limit plus RT_CGROUP_PIDS_OVERHEAD, the monitor's and hypervisor's threads; the
 *    container's processes live in the guest, whose cgroup gets the limit itself.
 */
#ifndef RUNVM_CGROUP_H
#define RUNVM_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rt_error;
struct rt_spec;
struct rt_hugetlb;
struct rt_resources;
struct hv_backend_ops;

/* Tasks the host cgroup holds beyond the container's own processes (which are in the guest):
 * the monitor, the hypervisor's main, I/O and RCU threads, a vCPU thread each (64 at most) and
 * QEMU's worker pool (64 at most, busy under 9p). */
#define RT_CGROUP_PIDS_OVERHEAD 144

/* What to set in a container's host cgroup; zero or NULL leaves a value as it is. */
struct rt_cgroup_limits {
	unsigned long long mem_mib; /* host memory limit in MiB (rt_cgroup_memory_mib()); ULLONG_MAX: none */
	long long cpu_quota;        /* -1: none */
	unsigned long long cpu_period;
	unsigned long long cpu_shares;
	const char *cpuset_cpus, *cpuset_mems;
	long long pids; /* the host's pids.max (rt_cgroup_host_pids()); -1: max */
	unsigned blkio_weight;
	const struct rt_hugetlb *hugetlb;
	size_t n_hugetlb;
};

/* The host memory limit, in MiB, of a container whose guest has @guest_mib of RAM under @ops. */
unsigned long long rt_cgroup_memory_mib(const struct hv_backend_ops *ops, unsigned long long guest_mib);
/* The host pids.max for a container pids.limit (0: unset, < 0: max): the limit plus the VM's own
 * tasks, saturating. */
long long rt_cgroup_host_pids(long long limit);
/* The limits of @res for the host; @mem_mib is the host memory limit to set when res limits
 * memory. The strings stay @res's. */
void rt_cgroup_limits_from(const struct rt_resources *res, unsigned long long mem_mib, struct rt_cgroup_limits *ret);

/* runc's v1 -> v2 conversions (libcontainer/cgroups/utils.go): cpu.shares [2, 262144] to
 * cpu.weight [1, 10000], blkio.weight [10, 1000] to io.weight [1, 10000]; 0 stays 0 (unset). */
uint64_t rt_cgroup_shares_to_weight(uint64_t shares);
uint64_t rt_cgroup_blkio_to_io_weight(uint64_t weight);
/* cgroup v2's cpu.max for a quota and period (runc's shape: "max" for no quota, the period
 * only when set), or NULL when both are unset. */
char *rt_cgroup_cpu_max(long long quota, unsigned long long period);
/* The path inside one hierarchy of cgroupsPath @path: @path itself when absolute, else below
 * the caller's own cgroup there, @own (from /proc/self/cgroup), or below its parent when
 * @v2_host (runc's fs2: the caller's own cgroup has processes, so no controllers to give). */
char *rt_cgroup_inner_path(const char *path, const char *own, bool v2_host);
/* The cgroup of the line of /proc/PID/cgroup text @text whose hierarchy has the mount options
 * @opts ("rw,cpu,cpuacct", "rw,name=systemd"; @v2: the cgroup2 line "0::"), or NULL. */
char *rt_cgroup_own_in(const char *text, const char *opts, bool v2);

/* Is @path a cgroupfs path runvm handles ("/docker/ID", "machine/ID"; systemd's
 * "slice:prefix:name" is not)? */
int rt_cgroup_path_supported(const char *path);
/* Create @path under every hierarchy, apply @lim, and move the calling process in; with
 * @ret_dirs, the directories joined (one per hierarchy, for rt_cgroup_attach). A limit the host
 * cannot honour (the kernel refuses it, or no hierarchy has its controller) fails, as it fails
 * runc's create. */
int rt_cgroup_enter(const char *path, const struct rt_cgroup_limits *lim, GPtrArray **ret_dirs, struct rt_error **err);
/* Move process @pid (a hypervisor a daemon started) into @dirs, what rt_cgroup_enter joined. */
int rt_cgroup_attach(const GPtrArray *dirs, pid_t pid, struct rt_error **err);
/* Set @lim in the cgroups process @pid (the monitor) is in under @path. */
int rt_cgroup_update(pid_t pid, const char *path, const struct rt_cgroup_limits *lim, struct rt_error **err);
/* The directory of @pid's cgroup in the hierarchy that has @file (one of its controller's,
 * e.g. "cpuacct.usage", "memory.current"), or NULL. *@v2 says which version it is. */
char *rt_cgroup_dir_of(pid_t pid, const char *file, bool *v2);
/* Remove the leaf directories enter created, once nothing is left in them; with @leave the
 * calling process (a `run` that was in it) first moves to the root. Never fails. */
void rt_cgroup_remove(const char *path, bool leave);

#endif
