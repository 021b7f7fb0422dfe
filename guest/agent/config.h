/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * RUN and EXEC, decoded: a pure function from a frame's payload to plain structs. It makes no
 * system call (it only allocates), so that it runs on the host, in tests/unit/test_agent_run.c
 * and under the fuzzer (tests/fuzz/fuzz_agent_run.c). Everything it hands back is bounded,
 * NUL-terminated and checked as far as it can be without the guest; what acts on it (mounts,
 * network, process setup) happens afterwards, in the other files, from these structs.
 *
 * Under TDX or SEV-SNP the host is not trusted by the guest, so this is attack surface: any
 * byte sequence gives a struct or -errno with a message, never a crash or an abort.
 */
#ifndef RUNVM_AGENT_CONFIG_H
#define RUNVM_AGENT_CONFIG_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "protocol/agent-proto.h"

struct rv_frame;

/* Bounds of what RUN and EXEC may carry, besides the frame's RV_PROTO_MAX_PAYLOAD. */
#define HOSTNAME_MAX 64
#define SECCOMP_MAX_INSNS 4096
#define RLIMIT_ATTR_LEN 20
#define CAPS_ATTR_LEN 40
/* Entries of each repeated attribute (ARG, ENV, GIDS, MOUNT, ...): NGROUPS_MAX, the most
 * setgroups() takes, and far more than a container has of any of them. */
#define CONFIG_LIST_MAX 65536
/* The longest ARG or ENV, in bytes: exec refuses a string of MAX_ARG_STRLEN (32 pages of 4 KiB,
 * which both guest kernels have) with its NUL, E2BIG. */
#define CONFIG_ARG_MAX (32 * 4096 - 1)
/* The size of the message config_parse() writes on failure (that of a process's error). */
#define CONFIG_ERR_MAX 256
/* The order of the sets in RV_ATTR_CAPS. */
enum { CAPS_BOUNDING, CAPS_EFFECTIVE, CAPS_INHERITABLE, CAPS_PERMITTED, CAPS_AMBIENT, CAPS_N };

/* How to start one process: RUN (proc 0) or EXEC. */
struct proc_config {
	char **argv; /* NULL-terminated, at least one entry */
	char **envp; /* NULL-terminated */
	size_t argc, envc, ngids;
	char *cwd; /* absolute, shorter than PATH_MAX */
	uint32_t uid, gid;
	gid_t *gids;
	bool terminal;
	bool has_rows, has_cols;
	uint16_t rows, cols;
	/* The OCI process settings; each absent one leaves things as they are. */
	struct rlimit_req {
		uint32_t resource;
		struct rlimit lim;
	} * rlimits;
	size_t nrlimits;
	bool has_caps;
	uint64_t caps[CAPS_N];
	bool no_new_privs;
	bool has_umask;
	mode_t umask;
	bool has_oom_score_adj;
	int32_t oom_score_adj;
	struct sock_filter *seccomp; /* nseccomp instructions, or NULL */
	size_t nseccomp;
};

/* One of RUN's mounts: the attribute's copy, split in place at its newlines. */
struct mount_entry {
	char *type, *source, *dest, *options; /* dest is not empty */
};

/* An IPv4 or IPv6 address with a prefix length: RV_ATTR_NET_ADDR, a route's destination. */
union net_ip {
	struct in_addr v4;
	struct in6_addr v6;
};
struct net_prefix {
	int family; /* AF_INET or AF_INET6 */
	union net_ip ip;
	unsigned len;
};

struct net_addr {
	char *text; /* the attribute, for messages */
	struct net_prefix pfx;
};

/* RV_ATTR_NET_ROUTE: the attribute's copy, split in place at its newline. */
struct net_route {
	char *dest;          /* "DEST/PREFIXLEN" (owns the copy) */
	const char *gw_text; /* "" for on-link */
	struct net_prefix pfx;
	union net_ip gw; /* of pfx.family, when gw_text is not "" */
};

/* RV_ATTR_DEVICE: one of linux.devices. */
struct device_entry {
	char type; /* 'c', 'b', 'u' (a character device too) or 'p' */
	uint32_t major, minor;
	mode_t mode; /* permission bits only */
	uint32_t uid, gid;
	char *path; /* absolute */
};

/* RV_ATTR_DEV_RULE: one device cgroup rule. */
struct dev_rule {
	bool allow;
	char type;             /* 'a', 'c' or 'b' */
	uint32_t major, minor; /* RV_DEV_RULE_ANY: any */
	uint32_t access;       /* RV_DEV_ACC_* bits, not 0 */
};
/* The most rules RUN may carry: a few instructions each, well below the verifier's limits. */
#define DEV_RULES_MAX 1024

/* RV_ATTR_UID_MAP, RV_ATTR_GID_MAP: one line of /proc/PID/uid_map or gid_map. */
struct id_map {
	uint32_t inside, outside, count; /* count >= 1 */
};
/* The most lines a map takes (the kernel's UID_GID_MAP_MAX_EXTENTS). */
#define ID_MAP_MAX 340

/* What only RUN carries. */
struct run_config {
	char *hostname; /* NULL: not given */
	/* The host's entropy and clock (RV_ATTR_ENTROPY, RV_ATTR_REALTIME; 0: not given). */
	bool has_entropy;
	uint8_t entropy[RV_ENTROPY_LEN];
	uint64_t realtime_ns;
	bool virtiofs, readonly;
	/* "verity": the rootfs is the dm-verity-checked erofs image on the first virtio-blk disk,
	 * its parameters on the kernel command line (verity_parse_cmdline), never in RUN */
	bool verity;
	bool uncached;              /* 9p cache=mmap: the host's 9p server holds an fd per cached name */
	struct mount_entry *mounts; /* none: the built-in set */
	size_t nmounts;
	char **masked, **ropaths, **sysctls; /* sysctls: "key=value", the key a path under /proc/sys */
	size_t nmasked, nropaths, nsysctls;
	/* The network: ifname "" (no RV_ATTR_NET_IF) means none but lo. */
	char ifname[IFNAMSIZ];
	uint8_t mac[6];
	uint32_t mtu;
	struct net_addr *addrs; /* only with an ifname */
	size_t naddrs;
	struct net_route *routes; /* in order; only with an ifname */
	size_t nroutes;
	bool has_dns_proxy;
	struct in_addr dns_proxy;     /* in 127.0.0.0/8 */
	uint32_t pids_max;            /* the container cgroup's pids.max; 0: none */
	struct device_entry *devices; /* in order */
	size_t ndevices;
	struct dev_rule *dev_rules; /* in order; none: no device program */
	size_t ndev_rules;
	/* A new user namespace with these maps (both given, each at most ID_MAP_MAX lines). */
	bool userns;
	struct id_map *uid_map, *gid_map;
	size_t nuid_map, ngid_map;
	/* The propagation of the container's /: MS_* flags (MS_SLAVE | MS_REC unless given). */
	unsigned long rootfs_propagation;
};

/* The verified rootfs's parameters, from the kernel command line's
 * runvm.verity=ROOTHASH,SALT,DATA_BLOCKS: the command line is what a confidential guest's launch
 * measures, so a host that later sends other RUN attributes cannot point the guest elsewhere.
 * ROOTHASH: 64 hex digits (SHA-256); SALT: hex, at most VERITY_SALT_MAX bytes, or "-" for none;
 * DATA_BLOCKS: the image's 4096-byte data blocks, its hash tree right after them. */
#define VERITY_SALT_MAX 128
struct verity_params {
	char roothash[65];
	char salt[2 * VERITY_SALT_MAX + 1]; /* "-": none */
	uint64_t data_blocks;
};
/* Returns 0 with @ret filled, -ENOENT where @cmdline has no runvm.verity=, -EINVAL where it is
 * malformed (or given twice). */
int verity_parse_cmdline(const char *cmdline, struct verity_params *ret);

/*
 * Decode the payload of @f: RUN when @ret_run is set (it takes the RUN-only attributes too),
 * else EXEC, which ignores them. Every singleton attribute may come once; unknown ones are
 * ignored (newer hosts may send more). Returns 0 with @ret_c (and @ret_run) filled, or -EBADMSG
 * (malformed), -EINVAL (well-formed but not acceptable) or -ENOMEM, with @ret_c and @ret_run
 * left zeroed and the reason in @err (@errsize bytes, at most CONFIG_ERR_MAX worth having).
 */
int config_parse(const struct rv_frame *f, struct proc_config *ret_c, struct run_config *ret_run, char *err,
		 size_t errsize);
/* Free what config_parse() filled in (NULL-safe members), and zero it. */
void proc_config_free(struct proc_config *c);
void run_config_free(struct run_config *run);

#endif
