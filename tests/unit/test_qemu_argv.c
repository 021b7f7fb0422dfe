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
	struct hv_nic nics[2] = { { .tap_fd = 40 }, { .tap_fd = 41 } };
	struct qemu_settings qs = {
		.binary = "qemu-system-x86_64",
		.microvm_binary = "",
		.foreign_binary = { [RV_ARCH_X86_64] = "/opt/x86/qemu", [RV_ARCH_AARCH64] = "qemu-system-aarch64" },
	};
	struct hv_vm_config cfg = {
		.arch = RV_ARCH_X86_64,
		.accel = HV_ACCEL_TCG,
		.vcpus = 2,
		.memory_mib = 300,
		.kernel = "/k/vmlinux",
		.initrd = "/k/initrd",
		.cmdline = "quiet",
		.shares = &share,
		.n_shares = 1,
		.console_log = "/s/console.log",
		.agent = { .kind = HV_ENDPOINT_FD, .fd = 7 },
	};
	bool native = rv_arch_host() == RV_ARCH_X86_64;
	g_auto(GStrv) argv = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

	ok(strcmp(argv[0], native ? "qemu-system-x86_64" : "/opt/x86/qemu") == 0, "binary first");
	ok(has_pair(argv, "-accel", "tcg,tb-size=32") && has_pair(argv, "-cpu", "max"), "TCG with -cpu max");
	ok(has_pair(argv, "-smp", "2") && has_pair(argv, "-m", "300"), "vCPUs and memory");
	ok(has_pair(argv, "-object", "memory-backend-ram,id=ram,size=300M,reserve=off"),
	   "guest RAM without a reservation (MAP_NORESERVE)");
	ok(has_pair(argv, "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off,memory-backend=ram"),
	   "microvm without ACPI");
	ok(has_pair(argv, "-append", "console=ttyS0 reboot=t noapictimer quiet"), "kernel command line");
	{
		struct hv_vm_config c = cfg;
		g_auto(GStrv) t = NULL;

		c.host_tsc_khz = 2599995;
		t = qemu_lite_build_argv(&qs, &c, 3, 4, 5);
		ok(has_pair(t, "-append", "console=ttyS0 reboot=t noapictimer tsc_early_khz=2599995 quiet"),
		   "an emulated guest is told the host's TSC frequency");
		c.accel = HV_ACCEL_KVM;
		g_strfreev(t);
		t = qemu_lite_build_argv(&qs, &c, 3, 4, 5);
		ok(!has_pair(t, "-append", "console=ttyS0 reboot=t tsc_early_khz=2599995 quiet") &&
			   has_pair(t, "-append", "console=ttyS0 reboot=t quiet"),
		   "a KVM guest is not (it has kvm-clock)");
	}
	{
		struct qemu_argv_opts tb = {
			.agent_fd = 3, .qmp_fd = 4, .tap_fd = 5, .incoming_fd = -1, .template_boot = true
		};
		struct qemu_argv_opts in = { .agent_fd = 3, .qmp_fd = 4, .tap_fd = 5, .incoming_fd = 13 };
		g_auto(GStrv) t = qemu_lite_build_argv_opts(&qs, &cfg, &tb);
		g_auto(GStrv) r = qemu_lite_build_argv_opts(&qs, &cfg, &in);

		ok(has_pair(t, "-append", "console=ttyS0 reboot=t quiet") &&
			   has_pair(r, "-append", "console=ttyS0 reboot=t quiet"),
		   "a template's boot and its restore keep the APIC timer (an idle guest wakes less)");
		ok(has_pair(r, "-incoming", "fd:13") && !g_strv_contains((const char *const *)t, "-incoming"),
		   "a restore reads the template from its fd, a template boot from nothing");
	}
	ok(has_pair(argv, "-fsdev", "local,id=fs0,path=/b/root,,fs,security_model=passthrough,readonly=on"),
	   "9p share, comma escaped, read-only");
	ok(has_pair(argv, "-chardev", "socket,id=agent,fd=3") &&
		   has_pair(argv, "-device", "virtserialport,chardev=agent,name=runvm.agent"),
	   "agent channel on the inherited socket");
	ok(has_pair(argv, "-chardev", "socket,id=qmp,fd=4"), "QMP on the inherited socket");
	ok(g_strv_contains((const char *const *)argv, "-no-reboot"), "-no-reboot so the guest's reboot ends QEMU");
	ok(has_pair(argv, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"),
	   "QEMU's own seccomp sandbox, everything it can deny denied");
	ok(!g_strv_contains((const char *const *)argv, "-netdev"), "no NIC unless asked for");
	ok(!g_strv_contains((const char *const *)argv, "-drive"), "no disk unless asked for");

	cfg.nics = nics;
	cfg.n_nics = 1;
	{
		g_auto(GStrv) net = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(has_pair(net, "-netdev", "tap,id=net0,fd=5") &&
			   has_pair(net, "-device", "virtio-net-device,netdev=net0"),
		   "virtio-net NIC on the inherited tap");
	}
	cfg.n_nics = 2;
	{
		g_auto(GStrv) net = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(has_pair(net, "-netdev", "tap,id=net1,fd=6") &&
			   has_pair(net, "-device", "virtio-net-device,netdev=net1"),
		   "a second NIC on the next inherited fd");
	}
	cfg.n_nics = 1;
	{
		struct hv_disk disks[2] = { { .path = "/d/root,img", .readonly = false },
					    { .path = "/d/ro.img", .readonly = true } };
		g_auto(GStrv) d = NULL;

		cfg.disks = disks;
		cfg.n_disks = 2;
		d = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);
		ok(has_pair(d, "-drive", "file=/d/root,,img,format=raw,if=none,id=disk0") &&
			   has_pair(d, "-device", "virtio-blk-device,drive=disk0"),
		   "a disk gives a raw drive on virtio-blk, comma escaped");
		ok(has_pair(d, "-drive", "file=/d/ro.img,format=raw,if=none,id=disk1,readonly=on") &&
			   has_pair(d, "-device", "virtio-blk-device,drive=disk1"),
		   "a read-only disk gives a read-only drive");
		cfg.disks = NULL;
		cfg.n_disks = 0;
	}
	cfg.agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_PATH, .path = "/run/a,gent.sock" };
	{
		g_auto(GStrv) p = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(has_pair(p, "-chardev", "socket,id=agent,path=/run/a,,gent.sock") &&
			   !has_pair(p, "-chardev", "socket,id=agent,fd=3"),
		   "agent channel given as a path: QEMU connects to it");
	}
	cfg.agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_FD, .fd = 7 };

	/* The binary comes from the [qemu] settings. */
	qs.binary = "/opt/qemu/bin/qemu-system-x86_64";
	{
		g_auto(GStrv) b = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(!native || strcmp(b[0], "/opt/qemu/bin/qemu-system-x86_64") == 0, "[qemu] binary is run: %s", b[0]);
	}
	cfg.accel = HV_ACCEL_KVM;
	qs.microvm_binary = "qemu-system-x86_64-microvm-not-installed";
	{
		g_auto(GStrv) kvm = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(has_pair(kvm, "-accel", "kvm") && has_pair(kvm, "-cpu", "host"), "KVM with -cpu host");
		ok(!native || strcmp(kvm[0], "/opt/qemu/bin/qemu-system-x86_64") == 0,
		   "KVM: a microvm_binary that is not installed falls back to the full binary");
	}
	qs.microvm_binary = "sh"; /* any program in PATH stands in for the slim build */
	{
		g_auto(GStrv) kvm = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(!native || strcmp(kvm[0], "sh") == 0, "KVM: an installed microvm_binary is preferred");
	}
	cfg.accel = HV_ACCEL_TCG;
	{
		g_auto(GStrv) tcg = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(!native || strcmp(tcg[0], "/opt/qemu/bin/qemu-system-x86_64") == 0,
		   "TCG never runs the KVM-only build");
	}
	cfg.arch = RV_ARCH_AARCH64;
	cfg.accel = HV_ACCEL_TCG;
	qs.foreign_binary[RV_ARCH_AARCH64] = "/opt/arm/qemu-system-aarch64";
	{
		g_auto(GStrv) arm = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);

		ok(native ? strcmp(arm[0], "/opt/arm/qemu-system-aarch64") == 0 : strcmp(arm[0], qs.binary) == 0,
		   "a foreign architecture's guest runs [qemu] binary_<arch>: %s", arm[0]);

		ok(has_pair(arm, "-M", "virt,gic-version=3,memory-backend=ram") && has_pair(arm, "-cpu", "max"),
		   "aarch64: virt, GICv3, -cpu max");
		ok(has_pair(arm, "-append", "console=ttyAMA0 quiet"), "aarch64: PL011 console, no x86 arguments");
		ok(has_pair(arm, "-device", "virtio-net-device,netdev=net0") &&
			   has_pair(arm, "-device", "virtserialport,chardev=agent,name=runvm.agent"),
		   "aarch64: the same virtio-mmio devices");
	}
	return tap_done();
}
