/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QEMU command line built from a VM config. */
#include <string.h>

#include <glib.h>

#include "qemu-lite/qemu-lite.h"
#include "tests/unit/tap.h"

static bool has_pair(char **argv, const char *opt, const char *val)
{
	for (int i = 0; argv[i] && argv[i + 1]; i++)
		if (strcmp(argv[i], opt) == 0 && strcmp(argv[i + 1], val) == 0)
			return true;
	return false;
}

int main(void)
{
	struct hv_share share = { .tag = "rootfs", .host_path = "/b/root,fs", .readonly = true };
	struct hv_vm_config cfg = {
		.arch = RV_ARCH_X86_64, .accel = HV_ACCEL_TCG, .vcpus = 2, .memory_mib = 300,
		.kernel = "/k/vmlinux", .initrd = "/k/initrd", .cmdline = "quiet", .shares = &share, .n_shares = 1,
		.console_log = "/s/console.log", .binary = "qemu-system-x86_64",
	};
	g_auto(GStrv) argv = qemu_lite_build_argv(&cfg, 3, 4, 5);

	ok(strcmp(argv[0], "qemu-system-x86_64") == 0, "binary first");
	ok(has_pair(argv, "-accel", "tcg,tb-size=32") && has_pair(argv, "-cpu", "max"), "TCG with -cpu max");
	ok(has_pair(argv, "-smp", "2") && has_pair(argv, "-m", "300"), "vCPUs and memory");
	ok(has_pair(argv, "-object", "memory-backend-ram,id=ram,size=300M,reserve=off"),
	   "guest RAM without a reservation (MAP_NORESERVE)");
	ok(has_pair(argv, "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off,memory-backend=ram"), "microvm without ACPI");
	ok(has_pair(argv, "-append", "console=ttyS0 reboot=t noapictimer quiet"), "kernel command line");
	ok(has_pair(argv, "-fsdev", "local,id=fs0,path=/b/root,,fs,security_model=passthrough,readonly=on"),
	   "9p share, comma escaped, read-only");
	ok(has_pair(argv, "-chardev", "socket,id=agent,fd=3") &&
		   has_pair(argv, "-device", "virtserialport,chardev=agent,name=runvm.agent"),
	   "agent channel on the inherited socket");
	ok(has_pair(argv, "-chardev", "socket,id=qmp,fd=4"), "QMP on the inherited socket");
	ok(g_strv_contains((const char *const *)argv, "-no-reboot"), "-no-reboot so the guest's reboot ends QEMU");
	ok(!g_strv_contains((const char *const *)argv, "-netdev"), "no NIC unless asked for");

	cfg.nic = true;
	{
		g_auto(GStrv) net = qemu_lite_build_argv(&cfg, 3, 4, 5);

		ok(has_pair(net, "-netdev", "tap,id=net0,fd=5") && has_pair(net, "-device", "virtio-net-device,netdev=net0"),
		   "virtio-net NIC on the inherited tap");
	}

	cfg.accel = HV_ACCEL_KVM;
	cfg.binary = "qemu-system-x86_64-microvm";
	{
		g_auto(GStrv) kvm = qemu_lite_build_argv(&cfg, 3, 4, 5);

		ok(has_pair(kvm, "-accel", "kvm") && has_pair(kvm, "-cpu", "host"), "KVM with -cpu host");
	}
	cfg.arch = RV_ARCH_AARCH64;
	cfg.accel = HV_ACCEL_TCG;
	cfg.binary = "qemu-system-aarch64";
	{
		g_auto(GStrv) arm = qemu_lite_build_argv(&cfg, 3, 4, 5);

		ok(has_pair(arm, "-M", "virt,gic-version=3,memory-backend=ram") && has_pair(arm, "-cpu", "max"), "aarch64: virt, GICv3, -cpu max");
		ok(has_pair(arm, "-append", "console=ttyAMA0 quiet"), "aarch64: PL011 console, no x86 arguments");
		ok(has_pair(arm, "-device", "virtio-net-device,netdev=net0") &&
			   has_pair(arm, "-device", "virtserialport,chardev=agent,name=runvm.agent"),
		   "aarch64: the same virtio-mmio devices");
	}
	return tap_done();
}
