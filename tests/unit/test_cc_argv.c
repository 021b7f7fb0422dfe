/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A confidential guest's QEMU command line, per mode, against golden files
 * (the .args files in tests/unit/confidential; UPDATE_GOLDEN=1 rewrites them), and the installed QEMU's own
 * parser on it where that QEMU has the mode's object: run with -S, it must get as far as asking
 * the hardware (KVM, /dev/sev), never stop at an option it does not know.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "qemu-lite/qemu-lite.h"
#include "tdx/confidential.h"
#include "tdx/qemu.h"
#include "tests/unit/golden.h"
#include "tests/unit/tap.h"

#define GOLDEN_DIR "tests/unit/confidential"

static bool has_pair(char **argv, const char *opt, const char *val)
{
	for (int i = 0; argv[i] && argv[i + 1]; i++)
		if (strcmp(argv[i], opt) == 0 && strcmp(argv[i + 1], val) == 0)
			return true;
	return false;
}

static bool has(char **argv, const char *needle)
{
	for (int i = 0; argv[i]; i++)
		if (strstr(argv[i], needle))
			return true;
	return false;
}

/* One argument a line, as the golden files keep them. */
static char *lines(char **argv)
{
	g_autofree char *joined = g_strjoinv("\n", argv);

	return g_strconcat(joined, "\n", NULL);
}

/* The installed QEMU on @argv with -S: its stderr, or NULL when it could not be run. */
static char *qemu_says(char **argv)
{
	g_autoptr(GPtrArray) a = g_ptr_array_new();
	g_autofree char *err = NULL;
	int status;

	g_ptr_array_add(a, "timeout");
	g_ptr_array_add(a, "20");
	for (int i = 0; argv[i]; i++)
		g_ptr_array_add(a, argv[i]);
	g_ptr_array_add(a, "-S");
	g_ptr_array_add(a, NULL);
	if (!g_spawn_sync(NULL, (char **)a->pdata, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_LEAVE_DESCRIPTORS_OPEN, NULL,
			  NULL, NULL, &err, &status, NULL))
		return NULL;
	return g_steal_pointer(&err);
}

int main(void)
{
	static const struct {
		enum hv_confidential mode;
		const char *golden;
	} modes[] = {
		{ HV_CONFIDENTIAL_SEV, "qemu-sev.args" },
		{ HV_CONFIDENTIAL_SEV_SNP, "qemu-sev-snp.args" },
		{ HV_CONFIDENTIAL_TDX, "qemu-tdx.args" },
	};
	struct hv_disk disk = { .path = "/var/cache/runvm/rootfs/0123.img", .readonly = true };
	struct hv_nic nic = { .tap_fd = 40 };
	struct qemu_settings qs = {
		.binary = "qemu-system-x86_64",
		.microvm_binary = "",
		.foreign_binary = { [RV_ARCH_X86_64] = "qemu-system-x86_64", [RV_ARCH_AARCH64] = "qemu-system-aarch64" },
	};
	struct hv_vm_config cfg = {
		.arch = RV_ARCH_X86_64,
		.accel = HV_ACCEL_KVM,
		.vcpus = 2,
		.memory_mib = 512,
		.kernel = "/usr/share/runvm/bzImage",
		.initrd = "/usr/share/runvm/initramfs.cpio",
		.firmware = "/usr/share/ovmf/OVMF,amdsev.fd",
		.cmdline = "quiet panic=-1 roothash=4e1b",
		.disks = &disk,
		.n_disks = 1,
		.nics = &nic,
		.n_nics = 1,
		.console_log = "/run/runvm/c1/console.log",
		.agent = { .kind = HV_ENDPOINT_FD, .fd = 7 },
		.cc = { .cbitpos = 51,
			.reduced_phys_bits = 1,
			.host_data = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=" },
	};
	int sv[2] = { -1, -1 }, qmp[2] = { -1, -1 };
	g_autofree char *list = NULL;
	int st;

	/* The pieces, then the whole command line per mode. */
	ok(!strcmp(cc_qemu_machine_opts(HV_CONFIDENTIAL_TDX), ",confidential-guest-support=cc0,kernel-irqchip=split") &&
		   !strcmp(cc_qemu_machine_opts(HV_CONFIDENTIAL_SEV), ",confidential-guest-support=cc0"),
	   "machine options: TDX splits the irqchip, SEV does not");
	ok(!strcmp(cc_qemu_cpu(HV_CONFIDENTIAL_SEV_SNP, &cfg.cc), "EPYC-v4") &&
		   !strcmp(cc_qemu_cpu(HV_CONFIDENTIAL_TDX, &cfg.cc), "host,pmu=off") &&
		   !strcmp(cc_qemu_cpu(HV_CONFIDENTIAL_SEV, &cfg.cc), "host"),
	   "CPU: SNP's fixed model (its VMSAs are measured), TDX without PMU, SEV the host's");
	cfg.cc.cpu_model = "EPYC-Milan";
	ok(!strcmp(cc_qemu_cpu(HV_CONFIDENTIAL_SEV_SNP, &cfg.cc), "EPYC-Milan"), "SNP: a configured model is used");
	cfg.cc.cpu_model = NULL;
	ok(!cc_qemu_object(HV_CONFIDENTIAL_NONE, &cfg.cc), "no object for an ordinary guest");
	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_auto(GStrv) argv = NULL;
		g_autofree char *text = NULL;
		const char *name = cc_mode_name(modes[i].mode);

		cfg.confidential = modes[i].mode;
		argv = qemu_lite_build_argv(&qs, &cfg, 3, 4, 5);
		text = lines(argv);
		ok(golden(GOLDEN_DIR, modes[i].golden, text), "%s: the command line matches %s", name, modes[i].golden);
		ok(has_pair(argv, "-bios", "/usr/share/ovmf/OVMF,,amdsev.fd") && has_pair(argv, "-accel", "kvm") &&
			   has_pair(argv, "-no-reboot", "-sandbox"),
		   "%s: booted through its firmware (comma escaped), KVM, no reboot", name);
		ok(!has(argv, "microvm") && !has(argv, "virtio-mmio") && !has(argv, "-device,") &&
			   has_pair(argv, "-device",
				    "virtio-blk-pci,drive=disk0,disable-legacy=on,iommu_platform=on") &&
			   has_pair(argv, "-device",
				    "virtio-serial-pci,max_ports=2,disable-legacy=on,iommu_platform=on"),
		   "%s: q35 with virtio over PCI, DMA through the platform", name);
	}
	cfg.cc.host_data = NULL;
	cfg.confidential = HV_CONFIDENTIAL_SEV_SNP;
	{
		g_autofree char *o = cc_qemu_object(HV_CONFIDENTIAL_SEV_SNP, &cfg.cc);

		ok(!strstr(o, "host-data"), "SNP without initdata: no host-data (%s)", o);
	}

	/* QEMU's parser, where the installed QEMU has the mode's object, on the real fds it names.
	 * No disk, NIC or console: their files and fds are the launch's, not the parser's. */
	if (!g_spawn_sync(
		    NULL,
		    (char *[]){ "qemu-system-x86_64", "-nodefaults", "-machine", "none", "-object", "help", NULL },
		    NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &list, NULL, &st, NULL))
		g_clear_pointer(&list, g_free);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, qmp) < 0)
		return ok(0, "socketpair"), tap_done();
	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
		enum hv_confidential m = modes[i].mode;
		const char *type = cc_qemu_object_type(m);
		g_autofree char *fw = g_strdup("/tmp/runvm-cc-fw-XXXXXX");
		g_autofree char *out = NULL;
		g_auto(GStrv) argv = NULL;
		struct hv_vm_config c = cfg;
		int fd;

		if (!cc_qemu_help_lists(list, type)) {
			printf("ok %d - # SKIP %s: the installed QEMU has no %s object (-object help)\n", ++tap_n,
			       cc_mode_name(m), type);
			continue;
		}
		if (access("/dev/kvm", R_OK | W_OK) < 0) {
			printf("ok %d - # SKIP %s: no /dev/kvm, so QEMU cannot get as far as the hardware check\n",
			       ++tap_n, cc_mode_name(m));
			continue;
		}
		fd = mkstemp(fw);
		if (fd >= 0)
			close(fd);
		c.confidential = m;
		c.firmware = c.kernel = c.initrd = fw;
		c.n_disks = c.n_nics = 0;
		c.console_log = NULL;
		argv = qemu_lite_build_argv(&qs, &c, sv[0], qmp[0], -1);
		out = qemu_says(argv);
		unlink(fw);
		ok(out && !strstr(out, "Invalid parameter") && !strstr(out, "Property") && !strstr(out, "not found") &&
			   (strstr(out, "sev") || strstr(out, "SEV") || strstr(out, "tdx") || strstr(out, "TDX")),
		   "%s: QEMU takes the machine, CPU and guest object and stops only at the hardware: %s",
		   cc_mode_name(m), out ? g_strstrip(out) : "(not run)");
	}

	/* The devices come after the accelerator, which stops above: the same command line without
	 * the guest object, under TCG, told over QMP to quit once it has made them all. */
	{
		g_autofree char *fw = g_strdup("/tmp/runvm-cc-fw-XXXXXX");
		int fd = mkstemp(fw);
		g_autoptr(GPtrArray) plain = g_ptr_array_new_with_free_func(g_free);
		g_auto(GStrv) argv = NULL;
		g_autofree char *out = NULL;
		struct hv_vm_config c = cfg;
		const char quit[] = "{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"quit\"}\n";

		/* 64 KiB of zeros: a BIOS image QEMU maps (it never runs: -S, then quit). */
		if (fd >= 0 && ftruncate(fd, 65536) == 0)
			close(fd);
		c.confidential = HV_CONFIDENTIAL_SEV;
		c.firmware = fw;
		c.n_nics = 0;
		c.console_log = NULL;
		disk.path = fw;
		argv = qemu_lite_build_argv(&qs, &c, sv[0], qmp[0], -1);
		for (int i = 0; argv[i]; i++) {
			const char *v = argv[i + 1];

			if (v &&
			    (!strcmp(argv[i], "-kernel") || !strcmp(argv[i], "-initrd") ||
			     !strcmp(argv[i], "-append") ||
			     (!strcmp(argv[i], "-object") && g_str_has_prefix(v, "sev-guest")))) {
				i++;
				continue;
			}
			if (v && (!strcmp(argv[i], "-accel") || !strcmp(argv[i], "-cpu"))) {
				g_ptr_array_add(plain, g_strdup(argv[i]));
				g_ptr_array_add(plain, g_strdup(!strcmp(argv[i], "-cpu") ? "max" : "tcg"));
				i++;
				continue;
			}
			if (v && !strcmp(argv[i], "-M")) {
				g_ptr_array_add(plain, g_strdup("-M"));
				g_ptr_array_add(plain, g_strdup("q35,memory-backend=ram"));
				i++;
				continue;
			}
			g_ptr_array_add(plain, g_strdup(argv[i]));
		}
		g_ptr_array_add(plain, NULL);
		ok(write(qmp[1], quit, sizeof(quit) - 1) == (ssize_t)sizeof(quit) - 1, "QMP quit queued");
		out = qemu_says((char **)plain->pdata);
		unlink(fw);
		ok(out && !*g_strstrip(out),
		   "the devices of a confidential guest (virtio-pci, platform DMA) are QEMU's: %s",
		   out ? (*out ? out : "made, then quit") : "(not run)");
	}
	return tap_done();
}
