/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hypervisor driver interface. The runtime builds a plain-data struct hv_vm_config and
 * hands it to a backend; backends never read config.json and the runtime never builds a
 * hypervisor command line. Fallible members take `struct rt_error **err` last and return < 0
 * on failure (see base/error.h).
 */
#ifndef RUNVM_BACKEND_H
#define RUNVM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arch.h"

struct rt_error;
struct hv_vm;
struct hv_host_caps;

enum hv_accel { HV_ACCEL_AUTO, HV_ACCEL_KVM, HV_ACCEL_TCG, _HV_ACCEL_MAX };

/* A host directory shared into the guest under @tag. */
struct hv_share {
	const char *tag;
	const char *host_path;
	bool readonly;
};

struct hv_vm_config {
	enum rv_arch arch;
	enum hv_accel accel;       /* what probe chose (never AUTO at launch) */
	unsigned vcpus;
	unsigned memory_mib;
	const char *kernel;        /* vmlinux (PVH) or bzImage */
	const char *initrd;
	const char *cmdline;       /* extra kernel arguments, appended */
	const struct hv_share *shares;
	size_t n_shares;
	/* A connected stream socket. The backend wires its peer to the guest's virtio-serial port
	 * RV_AGENT_PORT_NAME; the caller keeps ownership of this end. */
	int agent_fd;
	/* With @nic, the guest gets a virtio-net NIC on the tap device @tap_fd (IFF_TAP |
	 * IFF_NO_PI); the caller keeps ownership of the fd. */
	bool nic;
	int tap_fd;
	const char *console_log;   /* file that receives the guest console */
	const char *binary;        /* the hypervisor binary to run, when the backend runs one */
	bool huge_pages;           /* kvm: guest RAM in transparent huge pages */
};

/* What probe found: whether the backend can run a guest of the asked architecture here, with
 * which accelerator, and in words why (shown by `runvm check` and in errors). */
struct hv_probe_result {
	bool usable;
	enum hv_accel accel;
	const char *binary;        /* static string or owned by the config; may be NULL */
	char reason[256];
};

struct hv_backend_ops {
	const char *name;

	/*
	 * Can this backend run a guest of @arch on this host, and how?
	 * Arguments: @caps the host capabilities (hv_host_probe()), @want the accelerator asked
	 * for (AUTO lets the backend choose), @binaries the configured hypervisor binaries
	 * (full, then KVM-only; either may be NULL).
	 * Returns: 0 with @ret filled (usable or not, always with a reason), < 0 on error.
	 */
	int (*probe)(const struct hv_host_caps *caps, enum rv_arch arch, enum hv_accel want,
		     const char *const binaries[2], struct hv_probe_result *ret, struct rt_error **err);

	/*
	 * Boot a VM. On success *ret_vm is a running VM owned by the caller (release with
	 * destroy). On failure nothing is left behind: no process, no file.
	 */
	int (*launch)(const struct hv_vm_config *cfg, struct hv_vm **ret_vm, struct rt_error **err);

	/* A file descriptor that becomes readable when the VM has ended (for poll). */
	int (*exit_fd)(struct hv_vm *vm);

	/*
	 * Wait up to @timeout_ms (-1: forever) for the VM to end. Returns 1 with the
	 * hypervisor's exit status in *ret_status, 0 on timeout, < 0 on error.
	 */
	int (*wait)(struct hv_vm *vm, int timeout_ms, int *ret_status, struct rt_error **err);

	/* End the VM: politely, then forcibly after @grace_ms. Returns once it has ended. */
	int (*stop)(struct hv_vm *vm, int grace_ms, struct rt_error **err);

	/* Freeze and thaw the guest's vCPUs. */
	int (*pause)(struct hv_vm *vm, struct rt_error **err);
	int (*resume)(struct hv_vm *vm, struct rt_error **err);

	/* Optional (NULL when unsupported): save the paused VM to @path, and restore one. */
	int (*snapshot)(struct hv_vm *vm, const char *path, struct rt_error **err);
	int (*restore)(const struct hv_vm_config *cfg, const char *path, struct hv_vm **ret_vm,
		       struct rt_error **err);

	/* Kill what is still running, reap it, free. NULL-safe, never fails. */
	void (*destroy)(struct hv_vm *vm);
};

const char *hv_accel_name(enum hv_accel accel);

#endif
