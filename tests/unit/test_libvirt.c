/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt backend without a daemon: its domain XML against golden files (UPDATE_GOLDEN=1
 * rewrites them), validated by the installed libvirt's schema through the in-process test driver
 * (test:///default), and the backend's lifecycle plumbing against that driver: launch, the
 * domain under its name, pause and resume, a destroy from another connection seen through the
 * lifecycle events, and its refusals.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "base/error.h"
#include "hypervisor-backends/backend.h"
#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/libvirt/domain-xml.h"
#include "hypervisor-backends/libvirt/libvirt-backend.h"
#include "tdx/confidential.h"
#include "tests/unit/golden.h"
#include "tests/unit/tap.h"

#define GOLDEN_DIR "tests/unit/libvirt"

static void quiet(void *data, virErrorPtr e)
{
	(void)data;
	(void)e;
}

/* The installed libvirt's schema takes @xml (as a domain of the test driver's type). */
static bool schema_valid(virConnectPtr conn, const char *xml)
{
	g_autofree char *test_xml = NULL;
	g_auto(GStrv) parts = g_strsplit(xml, "<domain type=\"", 2);
	virDomainPtr d;
	const char *rest;

	if (!parts[1] || !(rest = strchr(parts[1], '"')))
		return false;
	test_xml = g_strconcat(parts[0], "<domain type=\"test", rest, NULL);
	d = virDomainDefineXMLFlags(conn, test_xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!d) {
		printf("# schema: %s\n", virGetLastErrorMessage());
		return false;
	}
	virDomainUndefine(d);
	virDomainFree(d);
	return true;
}

static struct hv_vm_config base_config(void)
{
	static const struct hv_share shares[] = {
		{ .tag = "rootfs", .host_path = "/var/lib/b/rootfs" },
		/* Text libxml2 must escape: the XML must never be pasted together. */
		{ .tag = "runvm-mounts", .host_path = "/run/runvm/a&b<c>'\"/mounts", .readonly = true },
	};
	static const struct hv_disk disks[] = { { .path = "/images/scratch.img", .readonly = true } };

	return (struct hv_vm_config){
		.name = "c0ffee",
		.arch = RV_ARCH_X86_64,
		.accel = HV_ACCEL_TCG,
		.vcpus = 2,
		.memory_mib = 512,
		.kernel = "/k/vmlinux",
		.initrd = "/k/initramfs.cpio",
		.cmdline = "quiet rv.x=<&>",
		.shares = shares,
		.n_shares = 2,
		.disks = disks,
		.n_disks = 1,
		.agent = { .kind = HV_ENDPOINT_PATH, .path = "/run/runvm/c0ffee/agent.sock" },
		.console_log = "/run/runvm/c0ffee/console.log",
		.host_tsc_khz = 2599995,
	};
}

static char *xml_for(const struct libvirt_settings *s, const struct hv_vm_config *cfg, const char *type,
		     const char *const *taps)
{
	g_autofree char *cmdline = lv_cmdline(cfg);
	struct lv_domain d = {
		.cfg = cfg,
		.name = "runvm-c0ffee",
		.type = type,
		.machine = lv_machine(s, cfg->arch),
		.emulator = NULL,
		.cmdline = cmdline,
		.share_root = "/proc/4242/root",
		.taps = taps,
		.agent_socket = cfg->agent.path,
	};

	return lv_domain_xml(&d);
}

static void test_xml(virConnectPtr conn)
{
	struct libvirt_settings s = { .uri = "qemu:///system", .machine = "", .emulator = "", .name_prefix = "runvm-" };
	const char *taps[] = { "rvl1a2b-0" };
	struct hv_nic nic = { .tap_fd = -1, .tap_name = "runvm-tap0" };
	struct hv_vm_config cfg = base_config();
	g_autofree char *tcg = NULL, *kvm = NULL, *arm = NULL, *plain = NULL;

	cfg.nics = &nic;
	cfg.n_nics = 1;
	tcg = xml_for(&s, &cfg, "qemu", taps);
	ok(golden(GOLDEN_DIR, "x86_64-tcg.xml", tcg), "x86_64 TCG domain XML matches its golden file");
	ok(strstr(tcg, "/run/runvm/a&amp;b&lt;c&gt;") && strstr(tcg, "rv.x=&lt;&amp;&gt;"),
	   "paths and the command line are escaped by libxml2");
	ok(strstr(tcg, "<source dir=\"/proc/4242/root/var/lib/b/rootfs\"/>") != NULL,
	   "shares are opened through the monitor's /proc root");
	ok(strstr(tcg, "noapictimer tsc_early_khz=2599995 quiet") != NULL,
	   "TCG x86 command line as the qemu backend's");
	ok(schema_valid(conn, tcg), "x86_64 TCG XML passes the installed schema");

	cfg.accel = HV_ACCEL_KVM;
	kvm = xml_for(&s, &cfg, "kvm", taps);
	ok(golden(GOLDEN_DIR, "x86_64-kvm.xml", kvm), "x86_64 KVM domain XML matches its golden file");
	ok(strstr(kvm, "host-passthrough") && !strstr(kvm, "noapictimer"), "KVM: the host's CPU, no TCG tweaks");
	ok(schema_valid(conn, kvm), "x86_64 KVM XML passes the installed schema");

	cfg.arch = RV_ARCH_AARCH64;
	cfg.accel = HV_ACCEL_TCG;
	cfg.kernel = "/k/Image";
	arm = xml_for(&s, &cfg, "qemu", taps);
	ok(golden(GOLDEN_DIR, "aarch64-tcg.xml", arm), "aarch64 TCG domain XML matches its golden file");
	ok(strstr(arm, "machine=\"virt\"") && strstr(arm, "<gic version=\"3\"/>") && strstr(arm, "console=ttyAMA0"),
	   "aarch64: virt with a GICv3, the PL011 console");
	ok(schema_valid(conn, arm), "aarch64 XML passes the installed schema");

	{
		struct hv_vm_config v = base_config();
		g_autofree char *cmdline = lv_cmdline(&v);
		struct lv_domain d = { .cfg = &v,
				       .name = "runvm-c0ffee",
				       .type = "qemu",
				       .machine = "q35",
				       .cmdline = cmdline,
				       .share_root = "",
				       .agent_socket = v.agent.path,
				       .virtiofsd = "/usr/libexec/virtiofsd" };
		g_autofree char *vfs = NULL;

		v.n_disks = 0;
		vfs = lv_domain_xml(&d);
		ok(golden(GOLDEN_DIR, "x86_64-virtiofs.xml", vfs), "x86_64 with virtio-fs matches its golden file");
		ok(lv_share_virtiofs(&d, &v.shares[0]) && !lv_share_virtiofs(&d, &v.shares[1]) &&
			   strstr(vfs, "<driver type=\"virtiofs\"/>") && strstr(vfs, "<access mode=\"shared\"/>"),
		   "virtio-fs for the writable share, with shared guest RAM; the read-only one stays 9p");
		ok(schema_valid(conn, vfs), "the virtio-fs XML passes the installed schema");
	}
	{
		struct libvirt_settings none = { .virtiofsd = "" }, given = { .virtiofsd = "/opt/virtiofsd" };

		ok(!lv_virtiofsd(&none) && strcmp(lv_virtiofsd(&given), "/opt/virtiofsd") == 0,
		   "virtiofsd: empty is 9p, a path is that virtiofsd");
	}

	/* Confidential guests, per mode: no shares (their rootfs is a verified disk). libvirt 9.0's
	 * schema knows sev only; the others are golden files alone (tdx/README.md). */
	{
		static const struct {
			enum hv_confidential mode;
			const char *golden;
		} modes[] = {
			{ HV_CONFIDENTIAL_SEV, "x86_64-sev.xml" },
			{ HV_CONFIDENTIAL_SEV_SNP, "x86_64-sev-snp.xml" },
			{ HV_CONFIDENTIAL_TDX, "x86_64-tdx.xml" },
		};
		struct hv_vm_config v = base_config();

		v.accel = HV_ACCEL_KVM;
		v.kernel = "/k/bzImage";
		v.firmware = "/usr/share/ovmf/OVMF.amdsev.fd";
		v.n_shares = 0;
		v.nics = &nic;
		v.n_nics = 1;
		v.cc = (struct hv_confidential_params){ .cbitpos = 51,
							.reduced_phys_bits = 1,
							.host_data = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=" };
		for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
			g_autofree char *x = NULL;

			v.confidential = modes[i].mode;
			x = xml_for(&s, &v, "kvm", taps);
			ok(golden(GOLDEN_DIR, modes[i].golden, x), "%s: the domain XML matches %s",
			   cc_mode_name(modes[i].mode), modes[i].golden);
			ok(strstr(x, "<loader readonly=\"yes\" type=\"rom\">/usr/share/ovmf/OVMF.amdsev.fd</loader>") &&
				   strstr(x, "<driver name=\"qemu\" type=\"raw\" iommu=\"on\"/>") &&
				   strstr(x, "<driver iommu=\"on\"/>") && !strstr(x, "<filesystem"),
			   "%s: booted through the firmware, virtio with the platform's DMA, nothing shared",
			   cc_mode_name(modes[i].mode));
		}
		v.confidential = HV_CONFIDENTIAL_SEV;
		{
			g_autofree char *x = xml_for(&s, &v, "kvm", taps);

			ok(strstr(x, "<launchSecurity type=\"sev\" kernelHashes=\"yes\">") &&
				   strstr(x, "<cbitpos>51</cbitpos>") &&
				   strstr(x, "<reducedPhysBits>1</reducedPhysBits>") &&
				   strstr(x, "<policy>0x1</policy>") && !strstr(x, "hostData"),
			   "sev: cbitpos, reduced physical bits, NODBG policy, kernel hashes");
			ok(schema_valid(conn, x), "sev: the XML passes the installed schema");
		}
	}

	cfg = base_config();
	cfg.n_disks = 0;
	cfg.console_log = NULL;
	s.machine = "pc-q35-7.2";
	plain = xml_for(&s, &cfg, "qemu", NULL);
	ok(!strstr(plain, "<interface") && !strstr(plain, "<disk") && !strstr(plain, "<serial") &&
		   strstr(plain, "machine=\"pc-q35-7.2\""),
	   "no NIC, disk or console unless asked for; the configured machine");
	ok(strstr(plain, "<memballoon model=\"none\"/>") && strstr(plain, "<controller type=\"usb\" model=\"none\"/>"),
	   "no balloon, no USB");
}

static void test_uri_socket(void)
{
	g_autofree char *sys = lv_uri_socket("qemu:///system");
	g_autofree char *param = lv_uri_socket("qemu:///system?socket=/tmp/x/libvirt-sock");
	g_autofree char *remote = lv_uri_socket("qemu+ssh://host/system");
	g_autofree char *test = lv_uri_socket("test:///default");

	ok(sys && g_str_has_prefix(sys, "/run/libvirt/"), "qemu:///system: the daemon's socket in /run/libvirt");
	ok(param && strcmp(param, "/tmp/x/libvirt-sock") == 0, "a socket= parameter wins");
	ok(!remote && !test, "remote and test URIs have no local socket");
}

static int parse(const char *const *keys, const char *const *values, size_t n, void **ret, struct rt_error **err)
{
	struct hv_config_group g = { .name = "libvirt", .n_keys = n, .keys = keys, .values = values };

	return hv_libvirt_ops.parse_config(&g, ret, err);
}

static void test_config_probe(void)
{
	const char *keys[] = { "uri", "boot_timeout" }, *values[] = { "qemu:///system?socket=/nonexistent/sock", "30" };
	const char *bad_keys[] = { "name_prefix" }, *bad_values[] = { "a/b" };
	const char *unknown[] = { "url" }, *unknown_v[] = { "x" };
	struct hv_host_caps caps = { .arch = rv_arch_host(), .kvm_usable = false, .kvm_reason = "no /dev/kvm" };
	struct rt_error *err = NULL;
	struct hv_probe_result pr;
	struct libvirt_settings *s = NULL;
	void *p = NULL;
	int r;

	ok(parse(keys, values, 2, &p, &err) == 0, "[libvirt] uri and boot_timeout parse");
	s = p;
	ok(s && s->boot_timeout_s == 30 && strcmp(s->name_prefix, "runvm-") == 0 &&
		   s->start_flags == VIR_DOMAIN_START_AUTODESTROY,
	   "defaults filled in; domains die with their monitor's connection");
	ok(hv_libvirt_ops.probe(s, &caps, caps.arch, HV_ACCEL_AUTO, &pr, &err) == 0 && !pr.usable &&
		   strstr(pr.reason, "/nonexistent/sock"),
	   "probe: no daemon, not usable, and says which socket: %s", pr.reason);
	hv_libvirt_ops.free_config(p);
	p = NULL;
	r = parse(bad_keys, bad_values, 1, &p, &err);
	ok(r < 0 && strstr(err->msg, "name_prefix"), "a bad name_prefix: %s", err ? err->msg : "accepted");
	rt_error_free(&err);
	r = parse(unknown, unknown_v, 1, &p, &err);
	ok(r < 0 && strstr(err->msg, "unknown key"), "an unknown key: %s", err ? err->msg : "accepted");
	rt_error_free(&err);
	ok(hv_libvirt_ops.manual && (hv_libvirt_ops.features & HV_FEAT_EXTERNAL),
	   "auto never picks it; QEMU is a daemon's");
}

/* The backend's lifecycle against the in-process test driver. */
static void test_lifecycle(void)
{
	const char *keys[] = { "uri" }, *values[] = { "test:///default" };
	struct hv_vm_config cfg = base_config();
	struct rt_error *err = NULL;
	struct hv_vm *vm = NULL;
	struct hv_vm_stats st;
	struct hv_nic nic = { .tap_fd = -1, .tap_name = "runvm-tap0" };
	virConnectPtr other;
	virDomainPtr d;
	void *s = NULL;
	int status = -1, state = 0, reason = 0, r;

	cfg.n_disks = 0;
	ok(parse(keys, values, 1, &s, &err) == 0, "test driver settings");
	ok(hv_libvirt_ops.launch(s, &cfg, &vm, &err) == 0, "launch a transient domain on test:///default%s%s",
	   err ? ": " : "", err ? err->msg : "");
	rt_error_free(&err);
	if (!vm)
		return;
	other = virConnectOpen("test:///default");
	d = other ? virDomainLookupByName(other, "runvm-c0ffee") : NULL;
	ok(d && virDomainGetState(d, &state, &reason, 0) == 0 && state == VIR_DOMAIN_RUNNING,
	   "the domain runs under the prefix and the container's ID");
	ok(d && !virDomainIsPersistent(d), "it is transient");
	ok(hv_libvirt_ops.pause(vm, &err) == 0 && virDomainGetState(d, &state, &reason, 0) == 0 &&
		   state == VIR_DOMAIN_PAUSED,
	   "pause suspends it");
	ok(hv_libvirt_ops.resume(vm, &err) == 0 && virDomainGetState(d, &state, &reason, 0) == 0 &&
		   state == VIR_DOMAIN_RUNNING,
	   "resume runs it again");
	ok(hv_libvirt_ops.stats(vm, &st, &err) == 0 && st.guest_ram_bytes == 512ull << 20, "stats: the guest's RAM");
	ok(hv_libvirt_ops.wait(vm, 0, &status, &err) == 0, "wait: still running");
	ok(d && virDomainDestroy(d) == 0, "destroyed from another connection (as by virsh destroy)");
	r = hv_libvirt_ops.wait(vm, 5000, &status, &err);
	ok(r == 1 && status == 128 + 9, "the lifecycle event ends the VM for the monitor, status %d", status);
	{
		struct pollfd p = { .fd = hv_libvirt_ops.exit_fd(vm), .events = POLLIN };

		ok(poll(&p, 1, 0) == 1, "exit_fd is readable");
	}
	ok(hv_libvirt_ops.stats(vm, &st, &err) < 0, "stats of an ended VM fail");
	rt_error_free(&err);
	hv_libvirt_ops.destroy(vm);
	vm = NULL;

	ok(hv_libvirt_ops.launch(s, &cfg, &vm, &err) == 0,
	   "a second launch under the same name, once the first is gone");
	rt_error_free(&err);
	ok(vm && hv_libvirt_ops.stop(vm, 100, &err) == 0 && hv_libvirt_ops.wait(vm, 0, &status, &err) == 1,
	   "stop ends it");
	hv_libvirt_ops.destroy(vm);
	vm = NULL;
	ok(!virDomainLookupByName(other, "runvm-c0ffee"), "nothing is left on the driver");

	cfg.agent = (struct hv_endpoint){ .kind = HV_ENDPOINT_FD, .fd = 3 };
	r = hv_libvirt_ops.launch(s, &cfg, &vm, &err);
	ok(r < 0 && strstr(err->msg, "socket path"), "an agent fd is refused: %s", err ? err->msg : "accepted");
	rt_error_free(&err);
	cfg = base_config();
	cfg.n_disks = 0;
	cfg.nics = &nic;
	cfg.n_nics = 1;
	r = hv_libvirt_ops.launch(s, &cfg, &vm, &err);
	ok(r < 0 && strstr(err->msg, "local libvirt daemon"), "a NIC without a local daemon is refused: %s",
	   err ? err->msg : "accepted");
	rt_error_free(&err);
	cfg = base_config();
	cfg.firmware = "/usr/share/ovmf/OVMF.fd";
	r = hv_libvirt_ops.launch(s, &cfg, &vm, &err);
	ok(r < 0 && err->status == EOPNOTSUPP, "firmware is refused: %s", err ? err->msg : "accepted");
	rt_error_free(&err);
	if (d)
		virDomainFree(d);
	if (other)
		virConnectClose(other);
	hv_libvirt_ops.free_config(s);
}

int main(void)
{
	virConnectPtr conn;

	virSetErrorFunc(NULL, quiet);
	conn = virConnectOpen("test:///default");
	ok(conn != NULL, "the test driver opens");
	if (conn) {
		test_xml(conn);
		virConnectClose(conn);
	}
	test_uri_socket();
	test_config_probe();
	test_lifecycle();
	return tap_done();
}
