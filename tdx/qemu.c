/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>

#include "tdx/qemu.h"

/* The policies when the configuration gives none: SEV's NODBG (bit 0: no debug access to the
 * guest's memory); SNP's reserved bit 17 plus SMT allowed (bit 16), QEMU's default too; TDX's
 * SEPT_VE_DISABLE (bit 28), QEMU's default. */
#define SEV_POLICY_DEFAULT 0x1ull
#define SNP_POLICY_DEFAULT 0x30000ull
#define TDX_ATTRIBUTES_DEFAULT 0x10000000ull

unsigned long long cc_policy(enum hv_confidential mode, const struct hv_confidential_params *cc)
{
	if (cc->policy)
		return cc->policy;
	return mode == HV_CONFIDENTIAL_TDX        ? TDX_ATTRIBUTES_DEFAULT
		: mode == HV_CONFIDENTIAL_SEV_SNP ? SNP_POLICY_DEFAULT
						  : SEV_POLICY_DEFAULT;
}

const char *cc_qemu_machine_opts(enum hv_confidential mode)
{
	return mode == HV_CONFIDENTIAL_TDX ? ",confidential-guest-support=" CC_QEMU_OBJECT_ID ",kernel-irqchip=split"
					   : ",confidential-guest-support=" CC_QEMU_OBJECT_ID;
}

const char *cc_qemu_cpu(enum hv_confidential mode, const struct hv_confidential_params *cc)
{
	if (mode == HV_CONFIDENTIAL_SEV_SNP)
		return cc->cpu_model && *cc->cpu_model ? cc->cpu_model : "EPYC-v4";
	return mode == HV_CONFIDENTIAL_TDX ? "host,pmu=off" : "host";
}

char *cc_qemu_object(enum hv_confidential mode, const struct hv_confidential_params *cc)
{
	/* kernel-hashes=on: QEMU puts the hashes of the kernel, initrd and command line in the
	 * firmware's hash table page, which the launch measures: direct boot stays measured. */
	switch (mode) {
	case HV_CONFIDENTIAL_SEV:
		return g_strdup_printf("sev-guest,id=" CC_QEMU_OBJECT_ID
				       ",cbitpos=%u,reduced-phys-bits=%u,policy=%#llx,kernel-hashes=on",
				       cc->cbitpos, cc->reduced_phys_bits,
				       cc->policy ? cc->policy : SEV_POLICY_DEFAULT);
	case HV_CONFIDENTIAL_SEV_SNP:
		return g_strdup_printf("sev-snp-guest,id=" CC_QEMU_OBJECT_ID
				       ",cbitpos=%u,reduced-phys-bits=%u,policy=%#llx,kernel-hashes=on%s%s",
				       cc->cbitpos, cc->reduced_phys_bits, cc_policy(mode, cc),
				       cc->host_data ? ",host-data=" : "", cc->host_data ? cc->host_data : "");
	case HV_CONFIDENTIAL_TDX:
		return g_strdup_printf("tdx-guest,id=" CC_QEMU_OBJECT_ID ",attributes=%#llx%s%s", cc_policy(mode, cc),
				       cc->host_data ? ",mrconfigid=" : "", cc->host_data ? cc->host_data : "");
	default: return NULL;
	}
}
