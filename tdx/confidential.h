/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Confidential guests: the modes (none, sev, sev-snp, tdx; auto picks the strongest the host
 * offers), and what the host offers for each, read from the KVM module parameters, /dev/sev and
 * KVM_CAP_VM_TYPES. What a hypervisor binary or daemon supports is asked of it by its backend
 * (struct hv_backend_ops.confidential); tdx/README.md tells the whole design.
 *
 * This layer follows the systemd model: no error object, a reason in a caller's buffer.
 */
#ifndef RUNVM_TDX_CONFIDENTIAL_H
#define RUNVM_TDX_CONFIDENTIAL_H

#include <stdbool.h>
#include <stddef.h>

#include "hypervisor-backends/backend.h"

/* "none", "sev", "sev-snp", "tdx". */
const char *cc_mode_name(enum hv_confidential mode);
/* @s as a mode; "auto" gives _HV_CONFIDENTIAL_MAX (the caller resolves it with cc_host_best).
 * Returns 0, or -EINVAL for anything else. */
int cc_mode_parse(const char *s, enum hv_confidential *ret);

/* KVM_CAP_VM_TYPES's bits (arch/x86/include/uapi/asm/kvm.h; Debian 12's 6.1 headers lack them). */
#define CC_KVM_CAP_VM_TYPES 235
#define CC_KVM_X86_SEV_VM 2
#define CC_KVM_X86_SEV_ES_VM 3
#define CC_KVM_X86_SNP_VM 4
#define CC_KVM_X86_TDX_VM 5

struct cc_host {
	bool kvm_amd;   /* /sys/module/kvm_amd: an AMD host's KVM */
	bool kvm_intel; /* /sys/module/kvm_intel */
	/* The module parameters: 1 on (Y or 1), 0 off, -1 absent (a kernel without the feature) */
	int sev, sev_es, sev_snp, tdx;
	bool dev_sev; /* /dev/sev, the AMD Secure Processor's firmware interface QEMU opens */
	/* KVM_CHECK_EXTENSION(KVM_CAP_VM_TYPES): a bitmap of 1 << KVM_X86_*_VM; 0 where KVM does not
	 * know the capability (before 6.10: only the default VM and legacy SEV); -1 where /dev/kvm
	 * does not answer. */
	long vm_types;
};

/* The VM types KVM offers, asked of @kvm_fd, an open /dev/kvm, or -1 (cc_host.vm_types). */
long cc_kvm_vm_types(int kvm_fd);
/* Read the parameters and devices under @root ("" for the real host); @vm_types as
 * cc_kvm_vm_types gave it (tests pass their own). Never fails: what is unreadable is absent. */
void cc_host_probe(const char *root, long vm_types, struct cc_host *ret);
/* Whether @h can run a guest of @mode; if not, @why says what is missing, in one phrase. */
bool cc_host_offers(const struct cc_host *h, enum hv_confidential mode, char *why, size_t n);
/* The strongest mode @h offers (TDX, then SEV-SNP, then SEV), HV_CONFIDENTIAL_NONE if none. */
enum hv_confidential cc_host_best(const struct cc_host *h);

/* The QOM type of the QEMU object a mode's guest needs ("sev-guest", "sev-snp-guest",
 * "tdx-guest"), NULL for none. */
const char *cc_qemu_object_type(enum hv_confidential mode);
/* Whether QEMU's `-object help` output @help lists @type (a line of exactly that name). */
bool cc_qemu_help_lists(const char *help, const char *type);

#endif
