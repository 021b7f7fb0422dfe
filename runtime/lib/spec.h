/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The parts of an OCI bundle's config.json that runvm uses, parsed and validated. */
#ifndef RUNVM_SPEC_H
#define RUNVM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

struct rt_error;
struct _JsonObject;

struct rt_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

/* An OCI process: config.json's `process`, or an `exec --process` file. */
struct rt_process {
	char **args; /* NULL-terminated, at least one */
	char **env;  /* NULL-terminated */
	char *cwd;   /* absolute */
	uid_t uid;
	gid_t gid;
	gid_t *additional_gids;
	size_t n_additional_gids;
	bool terminal;
	bool has_caps;    /* process.capabilities present */
	uint64_t caps[5]; /* bounding, effective, inheritable, permitted, ambient */
	struct rt_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privs;
	bool has_oom_score_adj;
	int oom_score_adj;
	bool has_umask;
	uint32_t umask;
};

struct rt_mount {
	char *destination;
	char *type;     /* may be NULL */
	char *source;   /* may be NULL */
	char **options; /* NULL-terminated */
	bool bind;      /* type "bind", or bind/rbind among the options */
	bool readonly;  /* "ro" or "rro" among the options: read-only on the host, recursively */
};

/* One OCI hook. */
struct rt_hook {
	char *path;
	char **args;   /* NULL-terminated, may be empty */
	char **env;    /* NULL-terminated */
	int timeout_s; /* 0: none */
};

/* The namespace types of linux.namespaces, in the order runc joins their paths (user first;
 * libcontainer's NamespaceTypes()). */
enum rt_ns_type {
	RT_NS_USER,
	RT_NS_IPC,
	RT_NS_UTS,
	RT_NS_NET,
	RT_NS_PID,
	RT_NS_MOUNT,
	RT_NS_CGROUP,
	RT_NS_TIME,
	_RT_NS_MAX,
};

/* One type's entry in linux.namespaces. */
struct rt_namespace {
	bool listed; /* the type is in the list: a new namespace, or @path's */
	char *path;  /* the namespace to join, or NULL ("" counts as none, as with runc) */
};

/* One of linux.devices. */
struct rt_device {
	char *path;
	char type; /* 'c', 'b', 'u' or 'p' */
	uint32_t major, minor;
	uint32_t mode; /* fileMode without the type bits; 0666 when not given, as runc */
	uint32_t uid, gid;
};

/* One device cgroup rule: of linux.resources.devices, or of runc's defaults after them. */
struct rt_dev_rule {
	bool allow;
	char type;             /* 'a', 'c' or 'b' */
	uint32_t major, minor; /* RV_DEV_RULE_ANY (UINT32_MAX): any */
	uint32_t access;       /* RV_DEV_ACC_* bits (m 1, r 2, w 4), not 0 */
};
/* The most rules linux.resources.devices may hold (with runc's defaults, what the agent takes). */
#define RT_DEV_RULES_MAX 1000

/* One of linux.uidMappings or gidMappings. */
struct rt_id_mapping {
	uint32_t container_id, host_id, size;
};

enum rt_hook_kind {
	RT_HOOK_PRESTART,
	RT_HOOK_CREATE_RUNTIME,
	RT_HOOK_CREATE_CONTAINER,
	RT_HOOK_START_CONTAINER,
	RT_HOOK_POSTSTART,
	RT_HOOK_POSTSTOP,
	_RT_HOOK_KIND_MAX,
};

/* One of linux.resources.hugepageLimits. */
struct rt_hugetlb {
	char *page_size; /* "2MB", "1GB": the name in the hugetlb controller's files */
	uint64_t limit;  /* bytes */
};

/* The linux.resources members with a host cgroup meaning beyond memory.limit and cpu.quota and
 * cpu.period (which struct rt_spec keeps for sizing the guest). Read from config.json and from
 * an `update --resources` file (rt_resources_parse()). Zero or NULL: unset. */
struct rt_resources {
	int64_t memory_limit;       /* memory.limit: bytes; -1: no limit */
	int64_t cpu_quota;          /* cpu.quota; -1: no limit */
	uint64_t cpu_period;        /* cpu.period */
	uint64_t cpu_shares;        /* cpu.shares */
	char *cpuset_cpus;          /* cpu.cpus, as given ("0-2,5") */
	char *cpuset_mems;          /* cpu.mems */
	int64_t pids_limit;         /* pids.limit; -1 (any value < 0): no limit */
	uint16_t blkio_weight;      /* blockIO.weight */
	struct rt_hugetlb *hugetlb; /* hugepageLimits */
	size_t n_hugetlb;
};

struct rt_spec {
	char *oci_version;
	struct rt_process process;
	char *rootfs; /* absolute host path */
	bool rootfs_readonly;
	char *hostname;
	GPtrArray *hooks[_RT_HOOK_KIND_MAX]; /* of struct rt_hook; NULL when none */
	struct rt_mount *mounts;
	size_t n_mounts;
	char **masked_paths;                        /* NULL-terminated */
	char **readonly_paths;                      /* NULL-terminated */
	char **sysctl;                              /* NULL-terminated "key=value" */
	char *annotations_json;                     /* annotations as JSON (strings only), or NULL when none */
	char *seccomp_json;                         /* linux.seccomp as JSON, or NULL */
	char *cgroups_path;                         /* linux.cgroupsPath, or NULL */
	int64_t memory_limit;                       /* linux.resources.memory.limit in bytes, 0 when unset */
	int64_t cpu_quota;                          /* linux.resources.cpu.quota, 0 when unset */
	uint64_t cpu_period;                        /* linux.resources.cpu.period, 0 when unset */
	unsigned cpuset_count;                      /* CPUs in linux.resources.cpu.cpus, 0 when unset */
	struct rt_resources resources;              /* linux.resources, as the host cgroup takes it */
	bool netns;                                 /* linux.namespaces has a network namespace */
	char *netns_path;                           /* ...to join, or NULL for a new one */
	struct rt_namespace namespaces[_RT_NS_MAX]; /* every type (network too: netns, netns_path) */
	char *arch;         /* annotations["io.runvm.arch"]: the guest architecture asked for, or NULL */
	char *backend;      /* annotations["io.runvm.backend"], or NULL */
	char *confidential; /* annotations["io.runvm.confidential"], or NULL */
	/* What the guest applies inside (see parse_guest() in spec.c): */
	struct rt_device *devices; /* linux.devices */
	size_t n_devices;
	/* linux.resources.devices, then runc's default rules; none when it has none (no rules,
	 * every device usable in the guest, where runc would still apply its defaults) */
	struct rt_dev_rule *dev_rules;
	size_t n_dev_rules;
	bool userns; /* linux.namespaces has a user namespace (runvm joins none by path) */
	struct rt_id_mapping *uid_mappings, *gid_mappings;
	size_t n_uid_mappings, n_gid_mappings;
	char *rootfs_propagation; /* linux.rootfsPropagation, or NULL */
};

/* config.json's name of a hook kind ("prestart", "createRuntime", ...). */
const char *rt_hook_kind_name(enum rt_hook_kind kind);

/* config.json's name of a namespace type ("network", "mount", ...), and its name under
 * /proc/PID/ns ("net", "mnt", ...). */
const char *rt_ns_type_name(enum rt_ns_type type);
const char *rt_ns_proc_name(enum rt_ns_type type);
/* The CLONE_NEW* flag of a namespace type. */
int rt_ns_clone_flag(enum rt_ns_type type);

/* Load BUNDLE/config.json. Errors name the file and the offending field. */
int rt_spec_load(const char *bundle, struct rt_spec **ret, struct rt_error **err);
/* Parse a config.json held in memory; @bundle resolves a relative root.path. */
int rt_spec_parse(const char *json, size_t len, const char *bundle, struct rt_spec **ret, struct rt_error **err);
void rt_spec_free(struct rt_spec *s);
/* Parse a linux.resources object (@res) into @ret, checking types and ranges; @what names it
 * in messages ("config.json: `linux.resources", "update: `resources"). */
int rt_resources_parse(struct _JsonObject *res, const char *what, struct rt_resources *ret, struct rt_error **err);
void rt_resources_clear(struct rt_resources *r);
/* Parse a JSON `process` object held in memory (what `exec --process FILE` reads). */
int rt_process_parse(const char *json, size_t len, struct rt_process **ret, struct rt_error **err);
void rt_process_clear(struct rt_process *p);
void rt_process_free(struct rt_process *p);
/* The default config.json that `runvm spec` writes (runc's, with terminal off). */
char *rt_spec_default_json(void);

#endif
