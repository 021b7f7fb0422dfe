/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm check`: what this host can do, and what `run` would pick. Exits 1 when no backend
 * can run a container here. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include <glib.h>

#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/registry.h"
#include "runtime/cli.h"
#include "runtime/lib/config.h"
#include "base/error.h"
#include "runtime/vmconfig.h"

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static void print_file(const char *what, const char *path)
{
	printf("%-18s %s (%s)\n", what, path, access(path, R_OK) == 0 ? "present" : "MISSING");
}

int rt_cmd_check(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = { { 0 } };
	g_autoptr(GError) gerr = NULL;
	struct rt_config *config = NULL;
	struct hv_host_caps caps;
	const struct hv_backend_ops *ops;
	struct hv_probe_result pr;
	int c, r;

	while ((c = rt_getopt(argc, argv, "", opts, "check", err)) != -1)
		if (c == -2)
			return -1;
	if (optind != argc)
		return rt_make_error(err, 0, "check: takes no arguments");
	if (rt_config_load(&config, err) < 0)
		return -1;
	hv_host_probe("", &caps);

	printf("%-18s %s\n", "host architecture", rv_arch_name(caps.arch));
	printf("%-18s %s\n", "configuration", config->path ? config->path : "built-in defaults");
	printf("%-18s %s\n", "cpu virtualisation", caps.cpu_virt ? caps.cpu_virt_flag : "none (no vmx/svm flag)");
	printf("%-18s %s\n", "kvm module", caps.kvm_module ? caps.kvm_module : "none");
	printf("%-18s %s\n", "pvm", yes_no(caps.kvm_pvm));
	printf("%-18s %s: %s\n", "kvm usable", yes_no(caps.kvm_usable), caps.kvm_reason);
	/* What only a backend knows to look for (the binaries it would run, say). */
	for (size_t i = 0; hv_backends[i]; i++)
		if (hv_backends[i]->check_report)
			hv_backends[i]->check_report(config->backend_settings[i], stdout);
	printf("%-18s %s\n", "tun", yes_no(caps.tun));
	printf("%-18s %s\n", "vhost-vsock", yes_no(caps.vhost_vsock));
	printf("%-18s %s\n", "vhost-net", yes_no(caps.vhost_net));
	printf("%-18s %s\n", "tdx", yes_no(caps.tdx));
	printf("%-18s %s\n", "sev", yes_no(caps.sev));
	printf("%-18s %s\n", "sev-snp", yes_no(caps.sev_snp));
	/* Each guest architecture: what would run it, and its kernel and initramfs. */
	r = 1;
	for (enum rv_arch a = 0; a < _RV_ARCH_MAX; a++) {
		const char *kernel, *initrd;
		g_autofree char *name = g_strdup_printf("%s guest", rv_arch_name(a));

		rt_guest_files(config, &caps, a, &kernel, &initrd);
		if (rt_backend_choose(config, &caps, a, g->backend, &ops, &pr, err) < 0) {
			printf("%-18s none: %s\n", name, (*err)->msg);
			rt_error_free(err);
			continue;
		}
		printf("%-18s backend %s, accelerator %s: %s\n", name, ops->name, hv_accel_name(pr.accel), pr.reason);
		print_file("  kernel", kernel);
		print_file("  initrd", initrd);
		if (a == caps.arch) {
			printf("%-18s backend %s, accelerator %s, %s guest\n", "run would use", ops->name,
			       hv_accel_name(pr.accel), rv_arch_name(a));
			r = 0;
		}
	}
	rt_config_free(config);
	return r;
}
