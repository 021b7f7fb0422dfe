/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>

#include "tdx/confidential.h"
#include "tdx/libvirt.h"
#include "tdx/qemu.h"

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static void child_u(xmlNodePtr parent, const char *name, unsigned v)
{
	g_autofree char *s = g_strdup_printf("%u", v);

	child(parent, name, s);
}

static void child_hex(xmlNodePtr parent, const char *name, unsigned long long v)
{
	g_autofree char *s = g_strdup_printf("%#llx", v);

	child(parent, name, s);
}

void cc_libvirt_launch_security(xmlNodePtr domain, enum hv_confidential mode, const struct hv_confidential_params *cc)
{
	xmlNodePtr ls;

	if (mode == HV_CONFIDENTIAL_NONE)
		return;
	ls = child(domain, "launchSecurity", NULL);
	xmlNewProp(ls, BAD_CAST "type", BAD_CAST cc_mode_name(mode));
	if (mode == HV_CONFIDENTIAL_TDX) {
		child_hex(ls, "policy", cc_policy(mode, cc));
		if (cc->host_data)
			child(ls, "mrConfigId", cc->host_data);
		return;
	}
	/* As QEMU's kernel-hashes=on (tdx/qemu.c): the direct boot's kernel, initrd and command
	 * line are measured through the firmware's hash table. */
	xmlNewProp(ls, BAD_CAST "kernelHashes", BAD_CAST "yes");
	child_u(ls, "cbitpos", cc->cbitpos);
	child_u(ls, "reducedPhysBits", cc->reduced_phys_bits);
	child_hex(ls, "policy", cc_policy(mode, cc));
	if (mode == HV_CONFIDENTIAL_SEV_SNP && cc->host_data)
		child(ls, "hostData", cc->host_data);
}

void cc_libvirt_loader(xmlNodePtr os, const char *firmware)
{
	xmlNodePtr l = child(os, "loader", firmware);

	xmlNewProp(l, BAD_CAST "readonly", BAD_CAST "yes");
	xmlNewProp(l, BAD_CAST "type", BAD_CAST "rom");
}
