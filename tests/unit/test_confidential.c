/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Confidential modes (tdx/confidential.c): what fake hosts offer, the strongest one, QEMU's
 * object list, libvirt's domain capabilities, and every refusal rt_vm_spec_prepare makes before
 * anything starts, with a stand-in QEMU that lists what the test wants.
 */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "base/error.h"
#include "hypervisor-backends/hostcaps.h"
#include "hypervisor-backends/libvirt/domain-xml.h"
#include "runtime/lib/config.h"
#include "runtime/lib/spec.h"
#include "runtime/vmconfig.h"
#include "tdx/confidential.h"
#include "tests/unit/files.h"
#include "tests/unit/tap.h"

static char *dir;

/* A fake host under dir/host: an AMD or Intel one with KVM, parameters as given ("" absent). */
static void host(struct hv_host_caps *c, const char *vendor_module, const char *sev, const char *snp, const char *tdx,
		 bool dev_sev, long vm_types)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s/host'", dir);

	if (system(cmd) != 0)
		fprintf(stderr, "cannot clear %s/host\n", dir);
	put_file(dir, "/host/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu svm vmx lm\n");
	put_file(dir, "/host/dev/kvm", "");
	if (vendor_module) {
		g_autofree char *m = g_strdup_printf("/host/sys/module/%s/refcnt", vendor_module);

		put_file(dir, m, "0\n");
	}
	if (*sev)
		put_file(dir, "/host/sys/module/kvm_amd/parameters/sev", sev);
	if (*snp)
		put_file(dir, "/host/sys/module/kvm_amd/parameters/sev_snp", snp);
	if (*tdx)
		put_file(dir, "/host/sys/module/kvm_intel/parameters/tdx", tdx);
	if (dev_sev)
		put_file(dir, "/host/dev/sev", "");
	{
		g_autofree char *root = g_strconcat(dir, "/host", NULL);

		hv_host_probe(root, c);
		cc_host_probe(root, vm_types, &c->cc);
	}
}

static bool offers(const struct hv_host_caps *c, enum hv_confidential m, const char *needle)
{
	char why[256] = "";
	bool r = cc_host_offers(&c->cc, m, why, sizeof(why));

	if (!needle)
		return r;
	if (!r && !strstr(why, needle))
		printf("# %s: %s\n", cc_mode_name(m), why);
	return !r && strstr(why, needle);
}

/* rt_vm_spec_prepare with @conf (the stand-in QEMU and files are added) and @annotation (or
 * NULL) on @c. Returns its result; *ret_msg the error's message (or "") and *ret_mode the mode. */
static int prepare(const struct hv_host_caps *c, const char *conf, const char *annotation, const char *backend,
		   char **ret_msg, enum hv_confidential *ret_mode)
{
	g_autofree char *full = g_strdup_printf("[runvm]\nkernel = %s/kernel\ninitrd = %s/kernel\n%s\n"
						"[qemu]\nbinary = %s/qemu\n",
						dir, dir, conf, dir);
	g_autofree char *json = g_strdup_printf(
		"{\"ociVersion\": \"1.0.2\", \"process\": {\"args\": [\"true\"], \"cwd\": \"/\"}, \"root\": "
		"{\"path\": \"rootfs\"}%s%s%s}",
		annotation ? ", \"annotations\": {\"io.runvm.confidential\": \"" : "", annotation ? annotation : "",
		annotation ? "\"}" : "");
	struct rt_config *config = NULL;
	struct rt_spec *spec = NULL;
	struct rt_error *err = NULL;
	const struct hv_backend_ops *ops;
	struct hv_probe_result pr;
	static struct rt_vm_spec vs;
	int r;

	r = rt_config_parse(full, "test.conf", &config, &err);
	if (r == 0)
		r = rt_spec_parse(json, strlen(json), dir, &spec, &err);
	if (r == 0)
		r = rt_vm_spec_prepare(config, spec, c, backend, false, &vs, &ops, &pr, &err);
	*ret_msg = g_strdup(err ? err->msg : "");
	*ret_mode = r == 0 ? vs.cfg.confidential : _HV_CONFIDENTIAL_MAX;
	rt_error_free(&err);
	rt_spec_free(spec);
	rt_config_free(config);
	return r;
}

/* prepare() must fail with @needle in its message. */
static void refused(const struct hv_host_caps *c, const char *conf, const char *annotation, const char *backend,
		    const char *needle, const char *what)
{
	g_autofree char *msg = NULL;
	enum hv_confidential m;
	int r = prepare(c, conf, annotation, backend, &msg, &m);

	ok(r < 0 && strstr(msg, needle), "%s: %s", what, msg);
}

/* The stand-in QEMU: `-object help` lists @objects (and a few others). */
static void qemu_lists(const char *objects)
{
	g_autofree char *script = g_strdup_printf(
		"#!/bin/sh\necho 'List of user creatable objects:'\nfor o in authz-list %s throttle-group; do echo \"  $o\"; done\n",
		objects);
	g_autofree char *p = g_strconcat(dir, "/qemu", NULL);

	g_file_set_contents(p, script, -1, NULL);
	g_chmod(p, 0755);
}

int main(void)
{
	struct hv_host_caps c;
	enum hv_confidential m;
	int r;
	g_autofree char *msg = NULL;
	g_autofree char *fw = NULL;
	g_autofree char *fw_conf = NULL;

	dir = g_dir_make_tmp("runvm-cc-XXXXXX", NULL);
	put_file(dir, "/kernel", "not a kernel: only its presence is checked");
	g_mkdir_with_parents(g_build_filename(dir, "rootfs", NULL), 0755);

	/* --- modes --- */
	ok(cc_mode_parse("sev-snp", &m) == 0 && m == HV_CONFIDENTIAL_SEV_SNP && !strcmp(cc_mode_name(m), "sev-snp"),
	   "sev-snp parses and prints back");
	ok(cc_mode_parse("auto", &m) == 0 && m == _HV_CONFIDENTIAL_MAX, "auto parses as the mode to resolve");
	ok(cc_mode_parse("SEV", &m) < 0 && cc_mode_parse("", &m) < 0 && cc_mode_parse("sev-es", &m) < 0,
	   "SEV, the empty string and sev-es are refused");

	/* --- what fake hosts offer --- */
	host(&c, NULL, "", "", "", false, 0);
	ok(offers(&c, HV_CONFIDENTIAL_SEV, "kvm_amd is not loaded") &&
		   offers(&c, HV_CONFIDENTIAL_TDX, "kvm_intel is not loaded") &&
		   cc_host_best(&c.cc) == HV_CONFIDENTIAL_NONE,
	   "no vendor module: nothing offered, each says which module");
	host(&c, "kvm_amd", "N\n", "", "", true, 0);
	ok(offers(&c, HV_CONFIDENTIAL_SEV, "kvm_amd.sev is off (/sys/module/kvm_amd/parameters/sev)"),
	   "kvm_amd.sev=N: SEV refused, naming the parameter");
	ok(offers(&c, HV_CONFIDENTIAL_SEV_SNP, "kvm_amd.sev_snp is not a parameter of this kernel's module"),
	   "no sev_snp parameter: an older kernel, said so");
	host(&c, "kvm_amd", "1\n", "N\n", "", false, 0);
	ok(offers(&c, HV_CONFIDENTIAL_SEV, "/dev/sev is missing"), "sev=1 but no /dev/sev: refused");
	host(&c, "kvm_amd", "1\n", "N\n", "", true, 0);
	ok(offers(&c, HV_CONFIDENTIAL_SEV, NULL) && cc_host_best(&c.cc) == HV_CONFIDENTIAL_SEV,
	   "sev=1 and /dev/sev on a KVM without VM types (before 6.10): SEV offered, the best");
	host(&c, "kvm_amd", "Y\n", "Y\n", "", true, 0);
	ok(offers(&c, HV_CONFIDENTIAL_SEV_SNP,
		  "KVM does not offer the SEV-SNP VM type (KVM_CAP_VM_TYPES is 0, without bit 4)"),
	   "sev_snp=Y on a KVM without VM types: SNP refused");
	host(&c, "kvm_amd", "Y\n", "Y\n", "", true, 0x1);
	ok(offers(&c, HV_CONFIDENTIAL_SEV_SNP, "KVM_CAP_VM_TYPES is 0x1, without bit 4") &&
		   offers(&c, HV_CONFIDENTIAL_SEV, "without bit 2"),
	   "VM types 0x1 (this machine's PVM): neither SNP nor SEV");
	host(&c, "kvm_amd", "Y\n", "Y\n", "", true, 0x1d);
	ok(offers(&c, HV_CONFIDENTIAL_SEV_SNP, NULL) && offers(&c, HV_CONFIDENTIAL_SEV, NULL) &&
		   cc_host_best(&c.cc) == HV_CONFIDENTIAL_SEV_SNP,
	   "an SNP host (VM types 0x1d): SNP and SEV offered, auto is sev-snp");
	ok(offers(&c, HV_CONFIDENTIAL_TDX, "kvm_intel is not loaded"), "...and TDX is not, on AMD");
	host(&c, "kvm_amd", "Y\n", "Y\n", "", true, -1);
	ok(offers(&c, HV_CONFIDENTIAL_SEV, "/dev/kvm cannot be opened"), "KVM not answering: refused, said so");
	host(&c, "kvm_intel", "", "", "N\n", false, 0x21);
	ok(offers(&c, HV_CONFIDENTIAL_TDX, "kvm_intel.tdx is off"), "kvm_intel.tdx=N: refused");
	host(&c, "kvm_intel", "", "", "Y\n", false, 0x1);
	ok(offers(&c, HV_CONFIDENTIAL_TDX, "without bit 5"), "tdx=Y but KVM without the TDX VM type: refused");
	host(&c, "kvm_intel", "", "", "Y\n", false, 0x21);
	ok(offers(&c, HV_CONFIDENTIAL_TDX, NULL) && cc_host_best(&c.cc) == HV_CONFIDENTIAL_TDX,
	   "a TDX host (VM types 0x21): TDX offered, auto is tdx");

	/* --- QEMU's and libvirt's answers --- */
	ok(cc_qemu_help_lists("List of user creatable objects:\n  sev-guest\n  secret\n", "sev-guest") &&
		   !cc_qemu_help_lists("List of user creatable objects:\n  sev-guest\n", "sev-snp-guest") &&
		   !cc_qemu_help_lists("  sev-snp-guest-x\n", "sev-snp-guest") &&
		   !cc_qemu_help_lists(NULL, "tdx-guest"),
	   "QEMU's object list: whole names only");
	ok(!strcmp(cc_qemu_object_type(HV_CONFIDENTIAL_TDX), "tdx-guest") && !cc_qemu_object_type(HV_CONFIDENTIAL_NONE),
	   "each mode's QEMU object");
	ok(lv_domcaps_launch_security("<domainCapabilities><features><sev supported='yes'><cbitpos>47</cbitpos></sev>"
				      "</features></domainCapabilities>",
				      "sev") &&
		   !lv_domcaps_launch_security("<domainCapabilities><features><sev supported='no'/></features>"
					       "</domainCapabilities>",
					       "sev") &&
		   !lv_domcaps_launch_security("<domainCapabilities><features><sev supported='yes'/></features>"
					       "</domainCapabilities>",
					       "sev-snp"),
	   "libvirt 9.0's <sev supported>: sev only");
	ok(lv_domcaps_launch_security("<domainCapabilities><features><launchSecurity supported='yes'><enum "
				      "name='sectype'><value>sev</value><value>sev-snp</value></enum></launchSecurity>"
				      "</features></domainCapabilities>",
				      "sev-snp") &&
		   !lv_domcaps_launch_security("<domainCapabilities><features><launchSecurity supported='no'><enum "
					       "name='sectype'><value>tdx</value></enum></launchSecurity></features>"
					       "</domainCapabilities>",
					       "tdx") &&
		   !lv_domcaps_launch_security("<domainCapabilities><features", "sev") &&
		   !lv_domcaps_launch_security(NULL, "sev"),
	   "libvirt's <launchSecurity> sectype list; unsupported, broken or no XML offers nothing");

	/* --- refusals before anything starts --- */
	host(&c, NULL, "", "", "", false, 0);
	qemu_lists("sev-guest");
	r = prepare(&c, "", NULL, "qemu", &msg, &m);
	ok(r == 0 && m == HV_CONFIDENTIAL_NONE, "no mode asked: an ordinary guest (%s)", msg);
	g_clear_pointer(&msg, g_free);
	refused(&c, "confidential = sev", NULL, "qemu", "confidential guest `sev`: sev needs an AMD host with KVM",
		"sev on a host without kvm_amd");
	refused(&c, "confidential = auto", NULL, "qemu",
		"confidential guest (auto): this host offers none: tdx: tdx needs an Intel host",
		"auto where nothing is");
	refused(&c, "", "tdx", "qemu", "confidential guest `tdx`: tdx needs an Intel host",
		"the annotation asks for tdx: refused as the configuration would be");
	refused(&c, "", "sev-es", "qemu", "annotation `io.runvm.confidential` must be none, sev, sev-snp, tdx or auto",
		"an unknown annotation value");
	refused(&c, "confidential = sev", "none", "qemu", "differs from confidential = sev in [runvm] of test.conf",
		"the annotation cannot lower the configured mode");
	refused(&c, "confidential = sev", "tdx", "qemu", "a container cannot change its configured protection",
		"...nor change it for another");
	refused(&c, "confidential = sev-es", NULL, "qemu",
		"[runvm] confidential must be none, sev, sev-snp, tdx or auto, not `sev-es`",
		"a bad configuration value");

	host(&c, "kvm_amd", "Y\n", "Y\n", "", true, 0x1d);
	refused(&c, "confidential = sev", NULL, "kvm", "the kvm backend launches none", "an SEV host, the kvm backend");
	refused(&c, "confidential = sev\naccel = tcg", NULL, "qemu",
		"needs KVM, and the qemu backend would use tcg here",
		"an SEV host, accel = tcg: refused, not emulated");
	qemu_lists("secret");
	refused(&c, "confidential = sev-snp", NULL, "qemu", "lacks the `sev-snp-guest` object (`-object help`)",
		"a QEMU without sev-snp-guest: refused, naming the object");
	qemu_lists("sev-guest sev-snp-guest");
	refused(&c, "confidential = auto\nfirmware_sev_snp = /nonexistent/OVMF.fd", NULL, "qemu",
		"confidential guest `sev-snp`: firmware `/nonexistent/OVMF.fd` (set firmware_sev_snp in [runvm] of test.conf)",
		"auto on an SNP host is sev-snp; its firmware missing: named");
	fw = g_strconcat(dir, "/OVMF.amdsev.fd", NULL);
	g_file_set_contents(fw, "firmware", -1, NULL);
	fw_conf = g_strdup_printf("confidential = sev\nfirmware_sev = %s", fw);
	refused(&c, fw_conf, NULL, "qemu", "runvm's guest kernel cannot run as one yet",
		"everything there: refused for want of a confidential guest kernel, never run as an ordinary VM");

	{
		g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return tap_done();
}
