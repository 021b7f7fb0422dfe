/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib.h>
#include <linux/kvm.h>

#include "tdx/confidential.h"

static const char *const mode_names[_HV_CONFIDENTIAL_MAX] = {
	[HV_CONFIDENTIAL_NONE] = "none",
	[HV_CONFIDENTIAL_SEV] = "sev",
	[HV_CONFIDENTIAL_SEV_SNP] = "sev-snp",
	[HV_CONFIDENTIAL_TDX] = "tdx",
};

const char *cc_mode_name(enum hv_confidential mode)
{
	return mode < _HV_CONFIDENTIAL_MAX ? mode_names[mode] : "auto";
}

int cc_mode_parse(const char *s, enum hv_confidential *ret)
{
	for (int m = 0; m < _HV_CONFIDENTIAL_MAX; m++)
		if (strcmp(s, mode_names[m]) == 0) {
			*ret = m;
			return 0;
		}
	if (strcmp(s, "auto") != 0)
		return -EINVAL;
	*ret = _HV_CONFIDENTIAL_MAX;
	return 0;
}

long cc_kvm_vm_types(int kvm_fd)
{
	int r;

	if (kvm_fd < 0)
		return -1;
	/* An unknown capability reads 0: a KVM older than VM types (6.10). */
	r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, CC_KVM_CAP_VM_TYPES);
	return r < 0 ? -1 : r;
}

static int param(const char *root, const char *module, const char *name)
{
	g_autofree char *p = g_strdup_printf("%s/sys/module/%s/parameters/%s", root, module, name);
	g_autofree char *v = NULL;

	if (!g_file_get_contents(p, &v, NULL, NULL))
		return -1;
	return v[0] == 'Y' || v[0] == 'y' || v[0] == '1';
}

static bool exists(const char *root, const char *path)
{
	g_autofree char *p = g_strconcat(root, path, NULL);

	return access(p, F_OK) == 0;
}

void cc_host_probe(const char *root, long vm_types, struct cc_host *ret)
{
	*ret = (struct cc_host){
		.kvm_amd = exists(root, "/sys/module/kvm_amd"),
		.kvm_intel = exists(root, "/sys/module/kvm_intel"),
		.sev = param(root, "kvm_amd", "sev"),
		.sev_es = param(root, "kvm_amd", "sev_es"),
		.sev_snp = param(root, "kvm_amd", "sev_snp"),
		.tdx = param(root, "kvm_intel", "tdx"),
		.dev_sev = exists(root, "/dev/sev"),
		.vm_types = vm_types,
	};
}

/* The VM type @bit, where KVM lists its types; a KVM that does not list them has none of the
 * types after SEV (SNP came with 6.11, TDX with 6.16, both after KVM_CAP_VM_TYPES). */
static bool vm_type(const struct cc_host *h, int bit, bool legacy_ok, char *why, size_t n, const char *what)
{
	if (h->vm_types < 0) {
		g_snprintf(why, n, "/dev/kvm cannot be opened, so KVM cannot make a %s VM", what);
		return false;
	}
	if (h->vm_types == 0 && legacy_ok)
		return true;
	if (!(h->vm_types & (1l << bit))) {
		g_snprintf(why, n, "KVM does not offer the %s VM type (KVM_CAP_VM_TYPES is %#lx, without bit %d)", what,
			   (unsigned long)h->vm_types, bit);
		return false;
	}
	return true;
}

/* @p of kvm_@module is on; else why, naming the file. */
static bool param_on(int p, const char *module, const char *name, char *why, size_t n)
{
	if (p > 0)
		return true;
	g_snprintf(why, n, "%s.%s is %s (/sys/module/%s/parameters/%s)", module, name,
		   p == 0 ? "off" : "not a parameter of this kernel's module", module, name);
	return false;
}

bool cc_host_offers(const struct cc_host *h, enum hv_confidential mode, char *why, size_t n)
{
	switch (mode) {
	case HV_CONFIDENTIAL_NONE: return true;
	case HV_CONFIDENTIAL_SEV:
	case HV_CONFIDENTIAL_SEV_SNP: {
		bool snp = mode == HV_CONFIDENTIAL_SEV_SNP;

		if (!h->kvm_amd) {
			g_snprintf(why, n, "%s needs an AMD host with KVM: kvm_amd is not loaded", cc_mode_name(mode));
			return false;
		}
		if (!param_on(snp ? h->sev_snp : h->sev, "kvm_amd", snp ? "sev_snp" : "sev", why, n))
			return false;
		if (!h->dev_sev) {
			g_snprintf(why, n,
				   "/dev/sev is missing (the AMD Secure Processor's driver, ccp, is not bound)");
			return false;
		}
		return vm_type(h, snp ? CC_KVM_X86_SNP_VM : CC_KVM_X86_SEV_VM, !snp, why, n, snp ? "SEV-SNP" : "SEV");
	}
	case HV_CONFIDENTIAL_TDX:
		if (!h->kvm_intel) {
			g_snprintf(why, n, "tdx needs an Intel host with KVM: kvm_intel is not loaded");
			return false;
		}
		if (!param_on(h->tdx, "kvm_intel", "tdx", why, n))
			return false;
		return vm_type(h, CC_KVM_X86_TDX_VM, false, why, n, "TDX");
	default: g_snprintf(why, n, "unknown confidential mode %d", mode); return false;
	}
}

enum hv_confidential cc_host_best(const struct cc_host *h)
{
	static const enum hv_confidential strongest_first[] = {
		HV_CONFIDENTIAL_TDX,
		HV_CONFIDENTIAL_SEV_SNP,
		HV_CONFIDENTIAL_SEV,
	};
	char why[256];

	for (size_t i = 0; i < G_N_ELEMENTS(strongest_first); i++)
		if (cc_host_offers(h, strongest_first[i], why, sizeof(why)))
			return strongest_first[i];
	return HV_CONFIDENTIAL_NONE;
}

const char *cc_qemu_object_type(enum hv_confidential mode)
{
	static const char *const types[_HV_CONFIDENTIAL_MAX] = {
		[HV_CONFIDENTIAL_SEV] = "sev-guest",
		[HV_CONFIDENTIAL_SEV_SNP] = "sev-snp-guest",
		[HV_CONFIDENTIAL_TDX] = "tdx-guest",
	};

	return mode < _HV_CONFIDENTIAL_MAX ? types[mode] : NULL;
}

bool cc_qemu_help_lists(const char *help, const char *type)
{
	g_auto(GStrv) lines = g_strsplit(help ? help : "", "\n", -1);

	/* QEMU 7.2 to 10 print "List of user creatable objects:" and then one indented name a
	 * line. */
	for (char **l = lines; *l; l++)
		if (strcmp(g_strstrip(*l), type) == 0)
			return true;
	return false;
}
