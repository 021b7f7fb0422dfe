/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hypervisor driver interface (hypervisor-backends/README.md tells the contract in prose).
 * The runtime builds a plain-data struct hv_vm_config that every backend understands and hands
 * it to a backend, together with the backend's own settings, which the backend parsed itself
 * from its group of runvm.conf; backends never read config.json and the runtime never builds a
 * hypervisor command line. Fallible members take `struct rt_error **err` last and return < 0 on
 * failure (see base/error.h).
 */
#ifndef RUNVM_BACKEND_H
#define RUNVM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/arch.h"

struct rt_error;
struct hv_vm;
struct hv_host_caps;

enum hv_accel { HV_ACCEL_AUTO, HV_ACCEL_KVM, HV_ACCEL_TCG, _HV_ACCEL_MAX };

/* The trust model of the guest: an ordinary VM, or one whose memory the host cannot read (AMD
 * SEV, SEV-SNP, Intel TDX; tdx/confidential.h). */
enum hv_confidential {
	HV_CONFIDENTIAL_NONE,
	HV_CONFIDENTIAL_SEV,
	HV_CONFIDENTIAL_SEV_SNP,
	HV_CONFIDENTIAL_TDX,
	_HV_CONFIDENTIAL_MAX
};

/* A host directory shared into the guest under @tag. */
struct hv_share {
	const char *tag;
	const char *host_path;
	bool readonly;
};

/* A raw disk image or block device, a virtio-blk disk in the guest (vda, vdb, ... in order). */
struct hv_disk {
	const char *path;
	bool readonly;
};

/* A virtio-net NIC backed by the tap device @tap_fd (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR); the
 * caller keeps ownership of the fd. For a backend with HV_FEAT_EXTERNAL, whose hypervisor takes no
 * fd of ours, @tap_fd is -1 and the backend itself makes the tap, named @tap_name in the caller's
 * network namespace, and deletes it when the VM is destroyed. */
struct hv_nic {
	int tap_fd;
	const char *tap_name;
};

/* The host end of the agent channel, the guest's virtio-serial port RV_AGENT_PORT_NAME. */
enum hv_endpoint_kind { HV_ENDPOINT_FD, HV_ENDPOINT_PATH, _HV_ENDPOINT_MAX };
struct hv_endpoint {
	enum hv_endpoint_kind kind;
	int fd;           /* FD: a connected stream socket; the caller keeps ownership of it */
	const char *path; /* PATH: a listening AF_UNIX stream socket the backend connects to */
};

/* What a confidential guest's launch takes beyond an ordinary VM's (tdx/README.md). */
struct hv_confidential_params {
	/* SEV, SEV-SNP: the guest's C-bit and how many physical address bits it costs, as the
	 * host's CPUID 0x8000001f says (tdx/confidential.h: cc_host) */
	unsigned cbitpos, reduced_phys_bits;
	/* The guest policy (SEV, SNP) or TD attributes (TDX); 0: the technology's default */
	unsigned long long policy;
	/* SNP: the vCPU model, fixed because the VMSAs it shapes are measured ("EPYC-v4") */
	const char *cpu_model;
	/* The initdata digest, base64: SNP's host-data (32 bytes), TDX's mrconfigid (48); or NULL */
	const char *host_data;
};

struct hv_vm_config {
	const char *name; /* the container's ID, for backends whose VMs have names (libvirt) */
	enum rv_arch arch;
	enum hv_accel accel; /* what probe chose (never AUTO at launch) */
	unsigned vcpus;
	unsigned memory_mib;
	const char *kernel; /* vmlinux (PVH), bzImage or arm64 Image */
	const char *initrd;
	const char *firmware; /* booted through (confidential guests), or NULL: direct kernel boot */
	const char *cmdline;  /* extra kernel arguments, appended */
	const struct hv_share *shares;
	size_t n_shares;
	const struct hv_disk *disks;
	size_t n_disks;
	const struct hv_nic *nics;
	size_t n_nics;
	struct hv_endpoint agent;
	const char *console_log; /* file that receives the guest console, or NULL */
	enum hv_confidential confidential;
	struct hv_confidential_params cc; /* where confidential is not NONE */
	/* CLONE_NEWPID and CLONE_NEWIPC, where set: the VMM process stays in the caller's namespace
	 * of that type (one config.json names by path, which wins over the jail's private one)
	 * instead of one of its own. A mount namespace of its own is always made: the jail is built
	 * in it. */
	unsigned long vmm_shared_namespaces;
	/* VM templates (HV_FEAT_TEMPLATE): the directory the backend keeps them in, NULL to boot
	 * cold. A VM whose shape has a template starts by restoring it; one without gets one made
	 * first (a cold boot to the agent's HELLO, then saved), bounded by @template_timeout_ms. */
	const char *template_dir;
	unsigned template_timeout_ms;
	/* The host's TSC frequency in kHz (hostcaps.h), 0 if unknown: an emulated x86 guest is
	 * told it instead of calibrating its TSC against the PIT, which fails on a busy host and
	 * leaves the guest on a jiffies clock that ticks at HZ however idle it is. */
	unsigned host_tsc_khz;
};

/* What probe found: whether the backend can run a guest of the asked architecture here, with
 * which accelerator, and in words why (shown by `runvm check` and in errors). */
struct hv_probe_result {
	bool usable;
	enum hv_accel accel;
	char reason[256];
};

/* What a running VM costs the host, for debug logs and statistics. */
struct hv_vm_stats {
	unsigned long long host_rss_bytes; /* resident memory of the process(es) running the VM */
	unsigned long long cpu_user_us;    /* CPU time they used, user and system */
	unsigned long long cpu_system_us;
	unsigned long long guest_ram_bytes; /* the RAM the guest was given */
};

/* One group of runvm.conf as read: its keys in file order, values with blanks stripped. A
 * group absent from the file has no keys. */
struct hv_config_group {
	const char *name;
	size_t n_keys;
	const char *const *keys;
	const char *const *values;
};

/* What a backend supports beyond booting and stopping a VM (struct hv_backend_ops.features). */
enum {
	HV_FEAT_PAUSE = 1u << 0,  /* pause and resume freeze and thaw the vCPUs */
	HV_FEAT_RESIZE = 1u << 1, /* the guest's memory and vCPUs can change while it runs */
	/* launch restores VMs from templates (hv_vm_config.template_dir); restored and
	 * template_make are set */
	HV_FEAT_TEMPLATE = 1u << 2,
	/* its 9p server bounds what a guest's cached names hold (QEMU closes idle fids' fds past
	 * its limit), so the guest may cache its rootfs (9p cache=loose); without the bit the
	 * rootfs is uncached (cache=mmap), one fid per name in use only */
	HV_FEAT_CACHED_ROOTFS = 1u << 3,
	/*
	 * The hypervisor is started by a daemon (libvirtd), not by the backend: it inherits none
	 * of the caller's fds, namespaces or cgroup. The caller then gives the agent endpoint as a
	 * path it listens on (HV_ENDPOINT_PATH) and accepts once launch has returned, each NIC as a
	 * tap name (struct hv_nic), and moves host_pids(vm) into the container's cgroup.
	 */
	HV_FEAT_EXTERNAL = 1u << 4,
};

/*
 * Where a backend's check_report hook puts what it alone knows to look for (the binaries it would
 * run, say): `runvm check` writes each fact as a text line ("NAME  yes, DETAIL" or "NAME  no:
 * DETAIL") or, with --format json, as a member of the backend's object. @name is a short word
 * ("tcg"), @ok whether the thing is there, @detail what it is or why it is missing.
 */
struct hv_check_sink {
	void (*fact)(struct hv_check_sink *sink, const char *name, bool ok, const char *detail);
};

struct hv_backend_ops {
	/* The backend's name (`--backend`, [runvm] backend, state.json), and the name of the group
	 * of runvm.conf it reads ([qemu], [kvm]). */
	const char *name;
	unsigned features; /* HV_FEAT_* */
	/* `backend = auto` never picks it: only a configuration or --backend that names it (libvirt,
	 * which needs a daemon the host's operator runs). */
	bool manual;
	/* What the host spends on one VM beyond its guest RAM (the hypervisor process, its
	 * buffers): the host cgroup's memory limit adds it so that a guest that fills its memory
	 * meets its own OOM killer, never gets its VMM killed by the host. */
	unsigned host_overhead_mib;

	/*
	 * Read the backend's group of runvm.conf into its own settings, defaults filled in.
	 * Arguments: @group, never NULL (no keys when the file has no such group).
	 * Returns: 0 with *ret_settings (release with free_config), < 0 on an unknown key or a bad
	 * value, with an error that names the group and the key.
	 */
	int (*parse_config)(const struct hv_config_group *group, void **ret_settings, struct rt_error **err);
	void (*free_config)(void *settings); /* NULL-safe */

	/*
	 * Can this backend run a guest of @arch on this host, and how? Quick and bounded: it reads
	 * @caps and the file system, never boots or waits for anything.
	 * Arguments: @settings from parse_config, @caps the host capabilities (hv_host_probe()),
	 * @want the accelerator asked for (AUTO lets the backend choose).
	 * Returns: 0 with @ret filled (usable or not, always with a reason), < 0 on error.
	 */
	int (*probe)(const void *settings, const struct hv_host_caps *caps, enum rv_arch arch, enum hv_accel want,
		     struct hv_probe_result *ret, struct rt_error **err);

	/*
	 * Optional: can this backend launch a confidential guest of @mode (never NONE) of the host's
	 * architecture? It asks its hypervisor (the QEMU binary's objects, the daemon's domain
	 * capabilities), never guesses from versions. The host's own part (module parameters,
	 * devices, KVM's VM types) is the caller's (tdx/confidential.h). Returns true, or false
	 * with @why naming what is missing. Without the hook the backend has no confidential mode.
	 */
	bool (*confidential)(const void *settings, enum hv_confidential mode, char *why, size_t n);

	/* Optional: this backend's own facts for `runvm check`, each given to @sink (which prints
	 * them as text lines or JSON members; the backend does not know which). */
	void (*check_report)(const void *settings, struct hv_check_sink *sink);

	/*
	 * Boot a VM. On success *ret_vm is a running VM owned by the caller (release with
	 * destroy); @cfg's pointers need not outlive the call. On failure nothing is left behind:
	 * no process, no file created, the caller's fds as they were.
	 */
	int (*launch)(const void *settings, const struct hv_vm_config *cfg, struct hv_vm **ret_vm,
		      struct rt_error **err);

	/* Whether launch restored @vm from a template: its agent said HELLO before the snapshot,
	 * to the template's maker, and says nothing until it gets RUN. */
	bool (*restored)(struct hv_vm *vm);

	/*
	 * Make the template for @cfg's shape in cfg->template_dir unless a sound one is there
	 * (`runvm template create`). Returns 1 when one was made, 0 when one was there, < 0 on
	 * failure (nothing left behind).
	 */
	int (*template_make)(const void *settings, const struct hv_vm_config *cfg, struct rt_error **err);

	/* A file descriptor that becomes readable when the VM has ended (for poll). */
	int (*exit_fd)(struct hv_vm *vm);

	/*
	 * Wait up to @timeout_ms (-1: forever) for the VM to end. Returns 1 with the
	 * hypervisor's exit status in *ret_status, 0 on timeout, < 0 on error.
	 */
	int (*wait)(struct hv_vm *vm, int timeout_ms, int *ret_status, struct rt_error **err);

	/* End the VM: politely, then forcibly after @grace_ms. Returns once it has ended. */
	int (*stop)(struct hv_vm *vm, int grace_ms, struct rt_error **err);

	/* Freeze and thaw the guest's vCPUs: set exactly when features has HV_FEAT_PAUSE. */
	int (*pause)(struct hv_vm *vm, struct rt_error **err);
	int (*resume)(struct hv_vm *vm, struct rt_error **err);

	/* Optional: "virtiofs" when share @tag reaches the guest as virtio-fs, NULL for 9p (what
	 * every share is without the hook). */
	const char *(*share_fs)(struct hv_vm *vm, const char *tag);

	/* HV_FEAT_EXTERNAL: the processes that run the VM (the hypervisor, its helpers such as
	 * virtiofsd), in the host's pid namespace: up to @max in @ret. Returns how many there are;
	 * 0 when the daemon does not say (a remote or test connection). */
	size_t (*host_pids)(struct hv_vm *vm, pid_t *ret, size_t max);

	/* What the running VM costs the host now. Fails (ESRCH) once the VM has ended. */
	int (*stats)(struct hv_vm *vm, struct hv_vm_stats *ret, struct rt_error **err);

	/* Kill what is still running, reap it, free. NULL-safe, never fails. */
	void (*destroy)(struct hv_vm *vm);
};

const char *hv_accel_name(enum hv_accel accel);

#endif
