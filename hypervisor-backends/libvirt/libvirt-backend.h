/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt backend: each container's VM a transient libvirt domain (q35 or virt, direct
 * kernel boot, 9p shares, the agent on a virtio-serial channel), its XML built by domain-xml.c,
 * its life driven through libvirt's C API and watched through its lifecycle events. QEMU is
 * libvirtd's child, not ours (HV_FEAT_EXTERNAL): the runtime listens for the agent's channel,
 * the guest NIC's tap is moved from the daemon's network namespace into the container's
 * (tap.h), and the runtime moves QEMU into the container's cgroup. README.md in this folder
 * tells the design.
 */
#ifndef RUNVM_LIBVIRT_BACKEND_H
#define RUNVM_LIBVIRT_BACKEND_H

#include <stdbool.h>

#include "base/arch.h"
#include "hypervisor-backends/backend.h"

extern const struct hv_backend_ops hv_libvirt_ops;

/* The [libvirt] group of runvm.conf (configs/runvm.conf documents the keys). */
struct libvirt_settings {
	char *uri;               /* the connection, qemu:///system by default */
	char *machine;           /* "" : q35 (x86_64), virt (aarch64) */
	char *emulator;          /* "" : libvirt's QEMU for the guest's architecture */
	char *name_prefix;       /* a domain is named prefix + container ID */
	unsigned boot_timeout_s; /* a daemon silent this long is taken as gone (libvirt's keepalive) */
	/* virtio-fs for the shares: "auto" (LV_VIRTIOFSD where it is installed, else 9p), "" (9p),
	 * or the virtiofsd libvirt starts for each share */
	char *virtiofsd;
	/* Start flags beyond VIR_DOMAIN_START_VALIDATE: AUTODESTROY, but for the test driver,
	 * which refuses it. Exposed for tests. */
	unsigned start_flags;
};

/* The maintained (Rust) virtiofsd, Debian's package `virtiofsd` (Debian 13; not Debian 12's). */
#define LV_VIRTIOFSD "/usr/libexec/virtiofsd"

/* The virtiofsd the shares are served by, or NULL: 9p. */
const char *lv_virtiofsd(const struct libvirt_settings *s);

/* The machine type for @arch: the configured one, else q35 or virt. */
const char *lv_machine(const struct libvirt_settings *s, enum rv_arch arch);

/* The whole kernel command line the domain boots with. */
char *lv_cmdline(const struct hv_vm_config *cfg);

/* The unix socket a local URI reaches its daemon at (qemu:///system, qemu:///session, a
 * ?socket= parameter), or NULL for a remote or test one. */
char *lv_uri_socket(const char *uri);

#endif
