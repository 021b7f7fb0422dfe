/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest NIC's tap for a hypervisor that a daemon starts in its own network namespace
 * (libvirtd runs QEMU in the host's), while the container's interface lives in the container's.
 * The tap is made persistent in the daemon's namespace under a temporary name, QEMU opens it
 * there by name (libvirt's <interface type='ethernet'> with managed='no'), and then it moves,
 * with QEMU's fd still on it, into the caller's namespace under the name the runtime looks for,
 * where the runtime connects it to the container's interface as for every backend (tc
 * redirect). Being persistent, it outlives QEMU: the backend deletes it when the VM is
 * destroyed, and `runvm delete` after a killed monitor.
 */
#ifndef RUNVM_LIBVIRT_TAP_H
#define RUNVM_LIBVIRT_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

struct rt_error;
struct nl_sock;

struct lv_tap {
	struct nl_sock *sk; /* a route netlink socket in the daemon's namespace */
	char name[IF_NAMESIZE];
	int ifindex; /* in the daemon's namespace */
	bool moved;  /* handed over to the caller's namespace */
};

/* Make the persistent tap @name in the network namespace of process @daemon_pid. */
int lv_tap_make(pid_t daemon_pid, const char *name, struct lv_tap *ret, struct rt_error **err);

/* Move it into the caller's network namespace, renamed @new_name (QEMU's fd stays on it). */
int lv_tap_hand_over(struct lv_tap *t, const char *new_name, struct rt_error **err);

/* Delete it where it is (not yet moved: in the daemon's namespace), and free. NULL-safe. */
void lv_tap_release(struct lv_tap *t);

/* Delete the tap @name in the caller's namespace, if one is there. Returns 0 or -errno. */
int lv_tap_delete_here(const char *name);

#endif
