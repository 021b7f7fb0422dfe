/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host cgroup's memory limit: the guest's RAM plus the overhead of the backend that runs it,
 * never wrapped. */
#include "kvm/kvm-backend.h"
#include "qemu-lite/qemu-lite.h"
#include "runtime/cgroup.h"
#include "tests/unit/tap.h"

#include <string.h>

#include <glib.h>

static int streq_free(char *got, const char *want)
{
	int r = got && want ? strcmp(got, want) == 0 : got == want;

	g_free(got);
	return r;
}

int main(void)
{
	/* A 128 MiB container: 144 MiB of guest RAM (RT_GUEST_MEM_OVERHEAD_MIB), as the docker
	 * suite asserts for QEMU. */
	ok(rt_cgroup_memory_mib(&hv_qemu_lite_ops, 128 + 16) == 128 + 16 + 160, "qemu: guest RAM + 160 MiB for QEMU");
	ok(rt_cgroup_memory_mib(&hv_kvm_ops, 128 + 16) == 128 + 16 + 32, "kvm: guest RAM + 32 MiB for runvm's own VMM");
	ok(hv_kvm_ops.host_overhead_mib < hv_qemu_lite_ops.host_overhead_mib,
	   "runvm's own VMM costs the host less than a QEMU");
	ok(rt_cgroup_memory_mib(&hv_qemu_lite_ops, ~0ULL - 1) == ~0ULL,
	   "a guest size near 2^64 MiB saturates instead of wrapping to a small limit");
	/* runc's v1 -> v2 conversions */
	ok(rt_cgroup_shares_to_weight(0) == 0, "cpu.shares unset: no cpu.weight");
	ok(rt_cgroup_shares_to_weight(2) == 1, "cpu.shares 2 -> cpu.weight 1");
	ok(rt_cgroup_shares_to_weight(1024) == 39, "cpu.shares 1024 (the default) -> cpu.weight 39, as runc");
	ok(rt_cgroup_shares_to_weight(262144) == 10000, "cpu.shares 262144 -> cpu.weight 10000");
	ok(rt_cgroup_shares_to_weight(1) > 10000, "cpu.shares 1 wraps as in runc's Go: a weight the kernel refuses");
	ok(rt_cgroup_blkio_to_io_weight(10) == 1 && rt_cgroup_blkio_to_io_weight(1000) == 10000 &&
		   rt_cgroup_blkio_to_io_weight(500) == 4950 && rt_cgroup_blkio_to_io_weight(0) == 0,
	   "blkio.weight 10/500/1000 -> io.weight 1/4950/10000, 0 stays unset");
	ok(streq_free(rt_cgroup_cpu_max(50000, 100000), "50000 100000"), "cpu.max: quota and period");
	ok(streq_free(rt_cgroup_cpu_max(-1, 100000), "max 100000"), "cpu.max: no quota is max");
	ok(streq_free(rt_cgroup_cpu_max(20000, 0), "20000"), "cpu.max: the period only when set");
	ok(streq_free(rt_cgroup_cpu_max(0, 0), NULL), "cpu.max: nothing set, nothing written");
	/* pids: the VM's own threads on top, saturating; unset and max stay so */
	ok(rt_cgroup_host_pids(20) == 20 + RT_CGROUP_PIDS_OVERHEAD, "host pids.max: the limit + the VM's threads");
	ok(rt_cgroup_host_pids(0) == 0 && rt_cgroup_host_pids(-1) == -1 && rt_cgroup_host_pids(-5) == -1,
	   "host pids.max: unset stays unset, any negative is max");
	ok(rt_cgroup_host_pids(0x7fffffffffffffffLL) == -1, "host pids.max: near 2^63 saturates to max");
	/* relative and absolute cgroupsPath */
	ok(streq_free(rt_cgroup_inner_path("/docker/x", "/user.slice", false), "/docker/x"),
	   "an absolute cgroupsPath is below the hierarchy's root");
	ok(streq_free(rt_cgroup_inner_path("a/b", "/user.slice", false), "/user.slice/a/b"),
	   "v1: a relative cgroupsPath is below the caller's own cgroup");
	ok(streq_free(rt_cgroup_inner_path("a/b", "/user.slice/session.scope", true), "/user.slice/a/b"),
	   "v2: a relative cgroupsPath is below the parent of the caller's cgroup (runc's fs2)");
	{
		const char *self = "9:name=systemd:/sys\n8:pids:/p\n4:memory:/process_api/x\n1:cpu,cpuacct:/c\n0::/u\n";
		g_autofree char *text = g_strcompress(self);

		ok(streq_free(rt_cgroup_own_in(text, "rw,memory", false), "/process_api/x"), "own cgroup: memory");
		ok(streq_free(rt_cgroup_own_in(text, "rw,cpu,cpuacct", false), "/c"),
		   "own cgroup: co-mounted cpu,cpuacct");
		ok(streq_free(rt_cgroup_own_in(text, "rw,name=systemd", false), "/sys"),
		   "own cgroup: a named hierarchy");
		ok(streq_free(rt_cgroup_own_in(text, "rw,nsdelegate", true), "/u"), "own cgroup: v2");
		ok(streq_free(rt_cgroup_own_in(text, "rw,hugetlb", false), NULL),
		   "own cgroup: none in a hierarchy not there");
	}
	ok(rt_cgroup_path_supported("/docker/x") && rt_cgroup_path_supported("machine/x") &&
		   !rt_cgroup_path_supported("system.slice:docker:x") && !rt_cgroup_path_supported("a/../b") &&
		   !rt_cgroup_path_supported(""),
	   "cgroupsPath: absolute and relative cgroupfs paths, not systemd's or one with ..");
	return tap_done();
}
