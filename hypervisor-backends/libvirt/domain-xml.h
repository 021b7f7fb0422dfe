/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt backend's domain XML, built with libxml2 (every text and attribute escaped by it,
 * never pasted into a string) from the driver interface's plain-data VM configuration and what
 * the backend decided around it (names, paths as the daemon sees them). A pure function, so that
 * the unit tests compare its output with golden files and validate it against the installed
 * schema. The confidential issue adds <launchSecurity> here.
 */
#ifndef RUNVM_LIBVIRT_DOMAIN_XML_H
#define RUNVM_LIBVIRT_DOMAIN_XML_H

#include <stdbool.h>
#include <stddef.h>

struct hv_vm_config;

struct lv_domain {
	const struct hv_vm_config *cfg; /* architecture, sizes, kernel, shares, disks, console */
	const char *name;               /* the domain's name: the prefix and the container's ID */
	const char *type;               /* "kvm", "qemu" (TCG), or "test" for the test driver */
	const char *machine;            /* q35, virt */
	const char *emulator;           /* QEMU binary, or NULL: libvirt's own choice for the arch */
	const char *cmdline;            /* the whole kernel command line */
	/* Prefixed to every share's host path: "/proc/PID/root" makes the daemon's QEMU open the
	 * directory in the caller's mount namespace. "" for none. */
	const char *share_root;
	const char *const *taps;  /* one tap name per NIC (cfg->n_nics), in the daemon's namespace */
	const char *agent_socket; /* the unix socket QEMU connects the agent's port to */
	const char *virtiofsd;    /* the virtiofsd libvirt starts for each virtio-fs share, or NULL: 9p */
};

/* Whether share @s reaches the guest as virtio-fs: where a virtiofsd is given, the rootfs, where
 * the guest's page cache pays, unless it is read-only (libvirt 9.0's virtio-fs has no read-only
 * mode; 9p's server enforces it). The bind mounts' share stays 9p, uncached, live both ways
 * (virtio-fs's attribute cache showed a host's change to a bind-mounted file at its old size). */
bool lv_share_virtiofs(const struct lv_domain *d, const struct hv_share *s);

/* The domain's XML document (g_free it). Never fails but for memory. */
char *lv_domain_xml(const struct lv_domain *d);

/* Whether libvirt's domain capabilities @xml (virConnectGetDomainCapabilities) offer launch
 * security @type ("sev", "sev-snp", "tdx"): listed as a `sectype` of a supported
 * <launchSecurity>, or, for sev, a supported <sev> (libvirt before the launchSecurity list).
 * Unparsable XML offers nothing. */
bool lv_domcaps_launch_security(const char *xml, const char *type);

#endif
