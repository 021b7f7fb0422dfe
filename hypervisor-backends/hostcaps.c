/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <glib.h>
#include <linux/kvm.h>

#include "base/cleanup.h"
#include "hypervisor-backends/hostcaps.h"

static bool path_exists(const char *root, const char *path)
{
	g_autofree char *p = g_strconcat(root, path, NULL);

	return access(p, F_OK) == 0;
}

/* Whether the first CPU of @cpuinfo (its text, NULL when unreadable) has @flag: the first
 * CPU speaks for all. */
static bool cpuinfo_has_flag(const char *cpuinfo, const char *flag)
{
	const char *line = cpuinfo ? strstr(cpuinfo, "\nflags") : NULL;
	const char *end = line ? strchrnul(line + 1, '\n') : NULL;
	const char *colon = line ? memchr(line, ':', (size_t)(end - line)) : NULL;
	g_autofree char *flags = colon ? g_strndup(colon + 1, (size_t)(end - colon - 1)) : NULL;
	g_auto(GStrv) words = flags ? g_strsplit_set(flags, " \t", -1) : NULL;

	return words && g_strv_contains((const char *const *)words, flag);
}

/* The first CPU's bogomips * 500, where its TSC is constant and nonstop: x86 Linux derives
 * loops_per_jiffy, and so bogomips, from tsc_khz. 0 where that does not hold. */
static unsigned cpuinfo_tsc_khz(const char *cpuinfo)
{
	const char *line = cpuinfo ? strstr(cpuinfo, "\nbogomips") : NULL;
	const char *colon = line ? strchr(line, ':') : NULL;
	double bogomips;

	if (!cpuinfo_has_flag(cpuinfo, "constant_tsc") || !cpuinfo_has_flag(cpuinfo, "nonstop_tsc") || !colon)
		return 0;
	bogomips = g_ascii_strtod(colon + 1, NULL);
	/* 1 MHz to 100 GHz: anything else is not a TSC's. */
	return bogomips >= 2 && bogomips <= 200000 ? (unsigned)(bogomips * 500 + 0.5) : 0;
}

/* Whether /dev/kvm opens and answers; and, asked on the same fd, the VM types it offers
 * (cc_kvm_vm_types; a fake tree's plain file offers none). */
static bool kvm_dev_works(const char *root, long *ret_vm_types)
{
	g_autofree char *p = g_strconcat(root, "/dev/kvm", NULL);
	_cleanup_close_ int fd = open(p, O_RDWR | O_CLOEXEC);

	*ret_vm_types = 0;
	if (fd < 0) {
		*ret_vm_types = -1;
		return false;
	}
	if (*root) /* a fake tree holds a plain file: its existence is what is being tested */
		return true;
	*ret_vm_types = cc_kvm_vm_types(fd);
	return ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
}

void hv_host_probe(const char *root, struct hv_host_caps *ret)
{
	g_autofree char *cpuinfo_path = g_strconcat(root, "/proc/cpuinfo", NULL);
	g_autofree char *cpuinfo = NULL;
	struct hv_host_caps c = { 0 };
	struct utsname u;
	long vm_types;

	c.arch = uname(&u) == 0 && strcmp(u.machine, "aarch64") == 0 ? RV_ARCH_AARCH64 : RV_ARCH_X86_64;
	/* Read once: it is long on a host with many CPUs, and every container start probes. */
	if (!g_file_get_contents(cpuinfo_path, &cpuinfo, NULL, NULL))
		cpuinfo = NULL;
	if (cpuinfo_has_flag(cpuinfo, "vmx"))
		c.cpu_virt_flag = "vmx";
	else if (cpuinfo_has_flag(cpuinfo, "svm"))
		c.cpu_virt_flag = "svm";
	c.cpu_virt = c.cpu_virt_flag != NULL;
	c.kvm_dev = kvm_dev_works(root, &vm_types);
	if (path_exists(root, "/sys/module/kvm_pvm"))
		c.kvm_module = "kvm_pvm";
	else if (path_exists(root, "/sys/module/kvm_intel"))
		c.kvm_module = "kvm_intel";
	else if (path_exists(root, "/sys/module/kvm_amd"))
		c.kvm_module = "kvm_amd";
	c.kvm_pvm = c.kvm_module && strcmp(c.kvm_module, "kvm_pvm") == 0;

	/* The existence of /dev/kvm proves little: under PVM it opens and answers, but a standard
	 * guest hangs during boot. Only a hardware KVM module (or arm64 KVM, built in) counts. */
	if (!c.kvm_dev)
		g_strlcpy(c.kvm_reason, "/dev/kvm is missing or cannot be opened", sizeof(c.kvm_reason));
	else if (c.kvm_pvm)
		g_strlcpy(c.kvm_reason, "/dev/kvm is the PVM hypervisor (kvm_pvm), which runs only PVM guest kernels",
			  sizeof(c.kvm_reason));
	else if (c.arch == RV_ARCH_X86_64 && !c.kvm_module)
		g_strlcpy(c.kvm_reason, "/dev/kvm is not backed by kvm_intel or kvm_amd", sizeof(c.kvm_reason));
	else {
		c.kvm_usable = true;
		g_snprintf(c.kvm_reason, sizeof(c.kvm_reason), "/dev/kvm works (%s)",
			   c.kvm_module ? c.kvm_module : "built in");
	}

	c.tun = path_exists(root, "/dev/net/tun");
	c.vhost_vsock = path_exists(root, "/dev/vhost-vsock");
	c.vhost_net = path_exists(root, "/dev/vhost-net");
	cc_host_probe(root, vm_types, &c.cc);
	if (c.arch == RV_ARCH_X86_64)
		c.tsc_khz = cpuinfo_tsc_khz(cpuinfo);
	*ret = c;
}
