/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What this host offers for running VMs, read from /proc, /sys and /dev. The root prefix lets
 * tests probe a fake tree.
 */
#ifndef RUNVM_HOSTCAPS_H
#define RUNVM_HOSTCAPS_H

#include <stdbool.h>

#include "hypervisor-backends/backend.h"
#include "tdx/confidential.h"

struct hv_host_caps {
	enum rv_arch arch; /* the host's own */
	bool cpu_virt;     /* vmx/svm flag (x86) */
	const char *cpu_virt_flag;
	bool kvm_dev;           /* /dev/kvm opens and answers KVM_GET_API_VERSION */
	bool kvm_pvm;           /* /dev/kvm is the PVM hypervisor: standard guests hang */
	const char *kvm_module; /* kvm_intel, kvm_amd, kvm_pvm, or NULL */
	bool kvm_usable;        /* KVM can run a standard guest of the host's architecture */
	char kvm_reason[200];   /* why (not) */
	bool tun;
	bool vhost_vsock;
	bool vhost_net;
	/* What it offers confidential guests (tdx/confidential.h: cc_host_offers says per mode) */
	struct cc_host cc;
	/* The host's TSC frequency (kHz) where it is constant and the kernel says it (x86: the
	 * bogomips of a constant, nonstop TSC are its kHz / 500), else 0. A TCG guest's TSC
	 * runs at the host's. */
	unsigned tsc_khz;
};

/* @root is prefixed to every path read ("" for the real host). Never fails: what cannot be
 * read counts as absent. */
void hv_host_probe(const char *root, struct hv_host_caps *ret);

#endif
