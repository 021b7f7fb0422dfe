/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What QEMU needs to launch a confidential guest: the machine's options, the CPU model, the
 * guest object (sev-guest, sev-snp-guest, tdx-guest) with the values that are measured, and the
 * virtio transport's flag for a guest whose memory the host cannot read. The qemu backend adds
 * them to its q35 command line (tdx/README.md lists the resulting argv per mode).
 */
#ifndef RUNVM_TDX_QEMU_H
#define RUNVM_TDX_QEMU_H

#include "hypervisor-backends/backend.h"

/* The id of the guest object, which the machine's confidential-guest-support names. */
#define CC_QEMU_OBJECT_ID "cc0"

/* The q35 machine options after "q35": ",confidential-guest-support=cc0", with TDX's split
 * irqchip (its LAPIC is the TDX module's, the IOAPIC QEMU's). Static. */
const char *cc_qemu_machine_opts(enum hv_confidential mode);
/* The -cpu value: SNP's fixed model (measured in its VMSAs), TDX's host without the PMU (which
 * a TD cannot use), host for SEV. Static, or @cc's model. */
const char *cc_qemu_cpu(enum hv_confidential mode, const struct hv_confidential_params *cc);
/* The guest policy (SEV, SNP) or TD attributes (TDX): @cc's, else the technology's default. */
unsigned long long cc_policy(enum hv_confidential mode, const struct hv_confidential_params *cc);
/* The -object value for @mode's guest object: its options in QEMU's key=value form, NULL for
 * none. The caller frees it. */
char *cc_qemu_object(enum hv_confidential mode, const struct hv_confidential_params *cc);
/* Appended to each virtio-pci device: the modern interface only, DMA through the platform's
 * (bounce-buffered, shared) pages: the guest cannot give the host its private memory. */
#define CC_QEMU_VIRTIO_OPTS ",disable-legacy=on,iommu_platform=on"

#endif
