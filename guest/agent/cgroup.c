/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The container's cgroup in the guest: memory and pids (see cgroup.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/agent/agent.h"
#include "guest/agent/cgroup.h"
#include "guest/agent/devcg.h"
#include "guest/agent/util.h"

/* Where the agent mounts the cgroup2 hierarchy while it sets up the container's cgroup. */
#define CGROUP_DIR "/run/runvm-cgroup"
#define CGROUP_NAME "container"
/* What the container's memory.max leaves of the guest's MemAvailable at RUN (see
 * cgroup_setup()), and the least memory.max worth setting. */
#define CGROUP_RESERVE_KIB (4 << 10)
#define CGROUP_MIN_KIB (8 << 10)

/* For cgroup_update(): the container's cgroup directory (O_PATH, kept past the unmount, which
 * a lazy unmount allows), -1 without one; and the memory.max it got at RUN, in bytes. */
static int cg_dir = -1;
static unsigned long long cg_mem_max;

/*
 * The container's memory cgroup, made at RUN (see the top of main.c). Returns its
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
 *
 * pids.max is linux.resources.pids.limit (@pids_max; 0: none, max): the container's processes
 * are all here, so the limit bounds them as runc's pids cgroup bounds a container's on the
 * host (whose pids.max, runtime/cgroup.h, also counts the VM's own threads and so is higher).
 * Without a pids controller (an older guest kernel) the container runs without the limit.
 * @devcg_prog (-1: none) is the device program of linux.resources.devices (devcg.c), attached to
 * the cgroup before its cgroup.procs is opened: a failure there fails the whole setup.
 * vm.overcommit_* stay as they are: allocations succeed and the process is killed when it
 * touches too much (137), as under runc, rather than seeing malloc() fail.
 */
int cgroup_setup(unsigned pids_max, int devcg_prog)
{
	char buf[4096], val[32], pids[16];
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
	cg_mem_max = (avail - CGROUP_RESERVE_KIB) * 1024;
	snprintf(val, sizeof(val), "%llu", cg_mem_max);
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
	if (pids_max) {
		snprintf(pids, sizeof(pids), "%u", pids_max);
		/* Without it the memory limit still holds: said, not fatal. */
		if ((r = write_file(CGROUP_DIR "/cgroup.subtree_control", "+pids")) < 0 ||
		    (r = write_file(CGROUP_DIR "/" CGROUP_NAME "/pids.max", pids)) < 0)
			logmsg("container cgroup: pids.max %s: %s (running without)", pids, strerror(-r));
	}
	what = "memory.swap.max";
	r = write_file(CGROUP_DIR "/" CGROUP_NAME "/memory.swap.max", "0");
	if (r < 0 && r != -ENOENT)
		goto out;
	/* Before any process joins: none of the container's ever runs without the rules. */
	what = "attaching the device cgroup program";
	if (devcg_prog >= 0 && (r = devcg_attach(devcg_prog, CGROUP_DIR "/" CGROUP_NAME)) < 0)
		goto out;
	what = "cgroup.procs";
	fd = open(CGROUP_DIR "/" CGROUP_NAME "/cgroup.procs", O_WRONLY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	if (fd >= 0)
		cg_dir = open(CGROUP_DIR "/" CGROUP_NAME, O_PATH | O_DIRECTORY | O_CLOEXEC);
out:
	if (r < 0)
		logmsg("container cgroup: %s: %s (running without)", what, strerror(-r));
	/* The open fd is all the agent needs: nothing of this shows in the container's mounts. */
	umount2(CGROUP_DIR, MNT_DETACH);
	rmdir(CGROUP_DIR);
	return fd;
}

/*
 * `runvm update` (RV_MSG_UPDATE). pids.max as at RUN; the pids controller is enabled now if RUN
 * had no limit. memory.max follows cgroup_setup()'s rule: the guest's RAM stays as booted, so
 * what the container may hold is still at most what the guest had available at RUN less the
 * reserve (cg_mem_max): a larger limit, or none, gives that, a smaller one is set as asked (it
 * only leaves more outside the cgroup, so the reserve still holds), as runc sets memory.max
 * (below the current usage the kernel reclaims, then the memcg OOM killer acts). Below
 * CGROUP_MIN_KIB it is refused, as cgroup_setup() would not set one.
 */
int cgroup_update(bool set_pids, uint64_t pids, bool set_mem, uint64_t mem, char *err, size_t errlen)
{
	char val[32];
	int r;

	if (cg_dir < 0) {
		snprintf(err, errlen, "the container has no cgroup in the guest (the guest's console log says why)");
		return -1;
	}
	if (set_mem) {
		unsigned long long v = mem < cg_mem_max ? mem : cg_mem_max;

		if (v < (unsigned long long)CGROUP_MIN_KIB * 1024) {
			snprintf(err, errlen, "memory limit %llu is below the guest's least, %u bytes", v,
				 CGROUP_MIN_KIB * 1024);
			return -1;
		}
		snprintf(val, sizeof(val), "%llu", v);
		if ((r = write_file_at(cg_dir, "memory.max", val)) < 0) {
			snprintf(err, errlen, "memory.max %s: %s", val, strerror(-r));
			return -1;
		}
	}
	if (set_pids) {
		if (pids == UINT64_MAX)
			snprintf(val, sizeof(val), "max");
		else
			snprintf(val, sizeof(val), "%llu", (unsigned long long)pids);
		/* The hierarchy's root, the parent, enables the controller (a no-op if it is on). */
		if ((r = write_file_at(cg_dir, "../cgroup.subtree_control", "+pids")) < 0) {
			snprintf(err, errlen, "enabling the pids controller: %s", strerror(-r));
			return -1;
		}
		if ((r = write_file_at(cg_dir, "pids.max", val)) < 0) {
			snprintf(err, errlen, "pids.max %s: %s", val, strerror(-r));
			return -1;
		}
	}
	return 0;
}

/*
 * In a child of the agent, first thing: join the container's cgroup, then its cgroup namespace
 * (@init, proc 0: a new one, rooted at the cgroup just joined, so the container sees that
 * cgroup as / in /proc/self/cgroup and in a cgroup2 mount of its own, as with runc and a
 * private cgroupns; an EXEC'd process: proc 0's). A failure is logged, the process runs on.
 */
void join_cgroup(const struct agent *a, bool init)
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
