/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host cgroup's memory limit: the guest's RAM plus the overhead of the backend that runs it,
 * never wrapped. */
#include "kvm/kvm-backend.h"
#include "qemu-lite/qemu-lite.h"
#include "runtime/cgroup.h"
#include "tests/unit/tap.h"

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
	return tap_done();
}
