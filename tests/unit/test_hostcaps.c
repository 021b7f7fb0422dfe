/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host probing against fake /proc, /sys and /dev trees, and the backend choice it leads to. */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/registry.h"
#include "base/error.h"
#include "runtime/lib/config.h"
#include "tests/unit/files.h"
#include "tests/unit/tap.h"

static char *fake_host(const char *cpu_flag, const char *module, bool kvm_dev)
{
	char *root = g_dir_make_tmp("runvm-host-XXXXXX", NULL);
	g_autofree char *cpuinfo = g_strdup_printf("processor\t: 0\nflags\t\t: fpu sse2 %s lm\n", cpu_flag);

	put_file(root, "/proc/cpuinfo", cpuinfo);
	if (module) {
		g_autofree char *m = g_strdup_printf("/sys/module/%s/refcnt", module);

		put_file(root, m, "0\n");
	}
	if (kvm_dev)
		put_file(root, "/dev/kvm", "");
	put_file(root, "/dev/net/tun", "");
	return root;
}

static void rm_rf(const char *root)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", root);

	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
}

int main(void)
{
	struct rt_config *with_sh = NULL, *with_missing = NULL;
	const struct hv_backend_ops *ops;
	struct hv_probe_result pr;
	struct hv_host_caps c;
	struct rt_error *err = NULL;
	char *root;
	void **bins;

	/* Any binary in PATH stands in for QEMU. */
	if (rt_config_parse("[qemu]\nbinary = sh\nbinary_x86_64 = sh\n", "sh.conf", &with_sh, &err) < 0 ||
	    rt_config_parse("[qemu]\nbinary = qemu-system-does-not-exist\nbinary_x86_64 = qemu-system-does-not-exist\n",
			    "missing.conf", &with_missing, &err) < 0)
		return ok(0, "test configurations parse: %s", err->msg), tap_done();
	bins = with_sh->backend_settings;
	root = fake_host("", "kvm_pvm", true);
	hv_host_probe(root, &c);
	ok(c.kvm_dev && c.kvm_pvm && !c.kvm_usable && strstr(c.kvm_reason, "PVM"), "PVM host: KVM unusable: %s",
	   c.kvm_reason);
	ok(c.tun && !c.vhost_vsock, "tun present, vhost-vsock absent");
	ok(hv_backend_select(&c, "auto", "auto", RV_ARCH_X86_64, bins, &ops, &pr, &err) == 0 &&
		   pr.accel == HV_ACCEL_TCG,
	   "PVM host: auto picks TCG (%s)", pr.reason);
	ok(hv_backend_select(&c, "qemu", "kvm", RV_ARCH_X86_64, bins, &ops, &pr, &err) < 0 && err &&
		   strstr(err->msg, "PVM"),
	   "PVM host: asking for KVM fails with the reason: %s", err ? err->msg : "");
	rt_error_free(&err);
	rm_rf(root);
	g_free(root);

	root = fake_host("svm", "kvm_amd", true);
	hv_host_probe(root, &c);
	ok(c.cpu_virt && c.kvm_usable && !c.kvm_pvm, "AMD host with kvm_amd: KVM usable (%s)", c.kvm_reason);
	ok(hv_backend_select(&c, "auto", "auto", RV_ARCH_X86_64, bins, &ops, &pr, &err) == 0 &&
		   pr.accel == HV_ACCEL_KVM,
	   "KVM host: auto picks KVM");
	ok(hv_backend_select(&c, "auto", "tcg", RV_ARCH_X86_64, bins, &ops, &pr, &err) == 0 && pr.accel == HV_ACCEL_TCG,
	   "KVM host: accel=tcg is honoured");
	rm_rf(root);
	g_free(root);

	root = fake_host("vmx", NULL, false);
	hv_host_probe(root, &c);
	ok(!c.kvm_dev && !c.kvm_usable && strstr(c.kvm_reason, "missing"), "no /dev/kvm: %s", c.kvm_reason);
	put_file(root, "/sys/module/kvm_intel/parameters/tdx", "Y\n");
	hv_host_probe(root, &c);
	ok(c.cc.tdx == 1, "TDX parameter read");
	ok(c.tsc_khz == 0, "no constant, nonstop TSC: its frequency unknown");
	put_file(root, "/proc/cpuinfo",
		 "processor\t: 0\nflags\t\t: fpu constant_tsc nonstop_tsc vmx\nbogomips\t: 5199.99\n");
	hv_host_probe(root, &c);
	ok(c.arch != RV_ARCH_X86_64 || c.tsc_khz == 2599995, "a constant TSC's kHz from bogomips: %u", c.tsc_khz);
	put_file(root, "/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu constant_tsc nonstop_tsc\nbogomips\t: 1e12\n");
	hv_host_probe(root, &c);
	ok(c.tsc_khz == 0, "an impossible bogomips is no frequency");
	rm_rf(root);
	g_free(root);

	ok(hv_backend_select(&c, "firecracker", "auto", RV_ARCH_X86_64, bins, &ops, &pr, &err) < 0 && err &&
		   strstr(err->msg, "unknown backend"),
	   "unknown backend: %s", err ? err->msg : "");
	rt_error_free(&err);
	ok(hv_backend_select(&c, "auto", "auto", RV_ARCH_X86_64, with_missing->backend_settings, &ops, &pr, &err) < 0 &&
		   err && strstr(err->msg, "not found"),
	   "QEMU missing: %s", err ? err->msg : "");
	rt_error_free(&err);
	rt_config_free(with_sh);
	rt_config_free(with_missing);
	return tap_done();
}
