/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The jail of a VMM process (Firecracker's jailer, in the child between fork and exec): a
 * mount namespace whose root is an empty read-only tmpfs holding only the paths the VMM needs,
 * bound at their own names (the system's /usr and libraries read-only, the guest's kernel,
 * initrd, shares, disks and console log, a few device nodes), a fresh /proc of its own pid
 * namespace, an unprivileged uid that keeps only the capabilities it still needs (ambient),
 * the rest gone from every set including the bounding set, no_new_privs, and a seccomp deny
 * list of what no VMM ever needs. SECURITY.md says what each backend's VMM sees.
 *
 * The jail is described in the parent (hv_jail_add*: these allocate, stat and may fail with an
 * rt_error) and entered in the child (hv_jail_enter: raw syscalls only, no allocation, safe
 * after fork in a threaded process; it fills a struct hv_jail_failure for the parent).
 */
#ifndef RUNVM_JAIL_H
#define RUNVM_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/capability.h>

struct rt_error;

#define HV_JAIL_MAX_PATHS 64

/* How a path is bound into the jail (MOUNT_ATTR_* beyond these are always set: nosuid). */
enum {
	HV_JAIL_RO = 1 << 0,     /* read-only, recursively */
	HV_JAIL_NODEV = 1 << 1,  /* device nodes inside do not open (a guest can mknod over 9p) */
	HV_JAIL_NOEXEC = 1 << 2, /* nothing inside is executed or mapped executable */
};

enum hv_jail_kind { HV_JAIL_DIR, HV_JAIL_FILE, HV_JAIL_LINK };

struct hv_jail_entry {
	char *path; /* absolute; the same name inside the jail as outside */
	char *link; /* HV_JAIL_LINK: the symbolic link's target (the host's /lib -> usr/lib) */
	enum hv_jail_kind kind;
	unsigned flags; /* HV_JAIL_* */
};

struct hv_jail {
	struct hv_jail_entry entries[HV_JAIL_MAX_PATHS];
	size_t n;
	bool proc; /* mount a /proc of the new pid namespace */
	char *cwd; /* where the VMM starts, when a path was relative to it; else "/" */
	uid_t uid; /* the uid and gid the VMM runs as */
	gid_t gid;
	cap_value_t keep[8]; /* the capabilities it keeps (every set), @n_keep of them */
	size_t n_keep;
	cap_t caps;             /* @keep as a libcap state, made by hv_jail_finish */
	unsigned seccomp_flags; /* HV_JAIL_DENY_* for the process's filter */
	uint8_t *bpf;           /* runvm's seccomp filter (hv_jail_seccomp_bpf) */
	size_t bpf_len;
};

/* Why entering the jail failed: sent up the exec error pipe as it is. */
struct hv_jail_failure {
	int err;
	char what[240];
};

/* The uid and gid a jailed VMM runs as ("nobody"): it owns no file on the host, and every
 * other jailed VMM that shares it sits in a pid namespace of its own, out of its reach. */
#define HV_JAIL_UID 65534
#define HV_JAIL_GID 65534

/* Flags of hv_jail_seccomp_bpf. */
enum {
	HV_JAIL_DENY_EXEC = 1 << 0, /* execve, execveat too (a thread that never starts programs) */
};

/* Run as HV_JAIL_UID and keep what a 9p passthrough server needs to create and change files
 * as the guest's uids would on the host: CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID
 * MKNOD SETFCAP (SECURITY.md). */
void hv_jail_keep_9p(struct hv_jail *j);

/* Bind @path (which must exist; relative to the current directory, or absolute) into @j with
 * @flags. */
int hv_jail_add(struct hv_jail *j, const char *path, unsigned flags, struct rt_error **err);

/* What every dynamically linked VMM needs: /usr, the library directories (or the host's
 * symbolic links to them), the dynamic linker's cache, /dev/null, /dev/zero, /dev/urandom,
 * /dev/random; /proc of its own. */
int hv_jail_add_system(struct hv_jail *j, struct rt_error **err);

/* Compute what the child needs (libcap state, the seccomp filter); after the last add. */
int hv_jail_finish(struct hv_jail *j, struct rt_error **err);

void hv_jail_clear(struct hv_jail *j);
#define _cleanup_jail_ __attribute__((cleanup(hv_jail_clear)))

/* In the child, itself created in new mount, pid and ipc namespaces: build the root, pivot
 * into it, drop to the jail's uid and capabilities, set no_new_privs and load the filter. On
 * failure returns -errno and fills @f. */
int hv_jail_enter(const struct hv_jail *j, struct hv_jail_failure *f);

/* runvm's seccomp deny list (default allow; what a VMM never does kills the process, as does
 * a syscall of another architecture), as BPF (g_free). */
int hv_jail_seccomp_bpf(unsigned flags, uint8_t **ret_bpf, size_t *ret_len, struct rt_error **err);

/* Load @bpf for the calling thread only (no TSYNC), as the kvm backend's vCPU and I/O threads
 * do at their start. No allocation: safe after fork. Returns 0 or -errno. */
int hv_jail_seccomp_load(const uint8_t *bpf, size_t len);

#endif
