/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What libvirt needs to launch a confidential guest, added to the libvirt backend's domain XML
 * (hypervisor-backends/libvirt/domain-xml.c) with libxml2: <launchSecurity> with the measured
 * values, the firmware as the <os>'s ROM loader, SNP's fixed CPU model, TDX's split irqchip.
 */
#ifndef RUNVM_TDX_LIBVIRT_H
#define RUNVM_TDX_LIBVIRT_H

#include <libxml/tree.h>

#include "hypervisor-backends/backend.h"

/* <launchSecurity type='sev|sev-snp|tdx'> under @domain; nothing for none. */
void cc_libvirt_launch_security(xmlNodePtr domain, enum hv_confidential mode, const struct hv_confidential_params *cc);
/* <loader readonly='yes' type='rom'>@firmware</loader> under @os: QEMU's -bios (TDVF cannot be
 * pflash; the SEV firmware, stateless, needs no variable store). */
void cc_libvirt_loader(xmlNodePtr os, const char *firmware);

#endif
