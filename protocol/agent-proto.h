/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The runvm agent protocol: the one definition shared by the host (runtime/) and the guest
 * agent (guest/). Plain C, no GLib, so that the static agent links it too.
 *
 * Wire format. Every message is a frame:
 *
 *   offset size  field
 *   0      2     magic   'R' 'V'
 *   2      1     version RV_PROTO_VERSION
 *   3      1     type    enum rv_msg_type
 *   4      4     proc    process id the frame belongs to (0: the container's main process)
 *   8      4     len     payload length, <= RV_PROTO_MAX_PAYLOAD
 *   12     len   payload
 *
 * All integers are little-endian. Control payloads (HELLO, RUN, SIGNAL, EXIT, ...) are sequences of
 * attributes, netlink style: u16 type, u16 reserved (0), u32 len, then len bytes, then padding
 * to a multiple of 4. Stream payloads (STDIN, STDOUT, STDERR) are raw bytes; an empty STDIN
 * payload means end of input.
 *
 * Ending: after EXIT the agent waits (briefly) for the host to close the channel before it
 * reboots the guest: a write to a virtio port returns once the data is queued in the guest, not
 * once the host has it, so rebooting at once could lose the tail of the output or EXIT itself.
 * The host closes the channel as soon as it has read EXIT.
 *
 * The host treats every byte from the guest as hostile: rv_frame_parse() and rv_attr_next()
 * bound every length against the buffer they were given and report malformed input as
 * -EBADMSG; they never read past the buffer and never abort.
 */
#ifndef RUNVM_AGENT_PROTO_H
#define RUNVM_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RV_PROTO_VERSION 4 /* 3: UPDATE, which the host awaits an answer to; 4: ENTROPY, REALTIME */
#define RV_PROTO_HDR_LEN 12
/* Large enough for any config we send (argv + env of a real image), small enough that a guest
 * cannot make the host buffer much. */
#define RV_PROTO_MAX_PAYLOAD (1u << 20)
/* Stream chunks are kept well below the limit so that control frames interleave. */
#define RV_PROTO_STREAM_CHUNK (32u * 1024)
/* Name of the virtio-serial port the agent talks on. */
#define RV_AGENT_PORT_NAME "runvm.agent"
/* 9p / virtio-fs tag of the container's root filesystem. */
#define RV_ROOTFS_TAG "rootfs"

/*
 * Processes. proc 0 is the container's main process: RUN describes it, and when it ends the
 * container ends (the agent kills what is left, reports EXIT for every process, and ends the
 * guest). EXEC starts another process, numbered by the host (>= 1, unique for the guest's
 * life), in the running container. Each process gets STARTED once its program has been
 * executed, or EXIT with RV_ATTR_ERROR when that failed, then stream frames, then EXIT.
 */
enum rv_msg_type {
	RV_MSG_HELLO = 1, /* guest->host: agent is up. attrs: VERSION */
	RV_MSG_RUN,       /* host->guest, proc 0: mount the rootfs, start the main process.
			    * attrs: ARG.. ENV.. CWD UID GID GIDS.. FSTYPE READONLY HOSTNAME
			    * TERMINAL ROWS COLS */
	RV_MSG_STDIN,     /* host->guest: raw bytes; empty = EOF */
	RV_MSG_STDOUT,    /* guest->host: raw bytes (a terminal's output comes here) */
	RV_MSG_STDERR,    /* guest->host: raw bytes (never for a terminal) */
	RV_MSG_SIGNAL,    /* host->guest: attrs: SIGNO */
	RV_MSG_EXIT,      /* guest->host: process ended. attrs: STATUS [ERROR] */
	RV_MSG_EXEC,      /* host->guest, proc >= 1: start another process in the container.
			    * attrs: ARG.. ENV.. CWD UID GID GIDS.. TERMINAL ROWS COLS */
	RV_MSG_STARTED,   /* guest->host: the process's program is executing. no attrs */
	RV_MSG_RESIZE,    /* host->guest: the terminal's new size. attrs: ROWS COLS */
	RV_MSG_DNS,       /* both ways, proc 0, raw payload: one DNS datagram (see below) */
	RV_MSG_UPDATE,    /* both ways, proc 0: `runvm update` of the guest's container cgroup.
			    * host->guest attrs: [PIDS_LIMIT] [MEMORY_LIMIT] (absent: unchanged);
			    * guest->host, one per UPDATE received, in order: no attrs (done), or
			    * ERROR (nothing or only part was changed: why) */
	_RV_MSG_MAX,
};

enum rv_attr_type {
	RV_ATTR_VERSION = 1, /* u32 */
	RV_ATTR_ARG,         /* string, repeated: process.args in order */
	RV_ATTR_ENV,         /* string, repeated: "NAME=value" */
	RV_ATTR_CWD,         /* string */
	RV_ATTR_UID,         /* u32 */
	RV_ATTR_GID,         /* u32 */
	RV_ATTR_GIDS,        /* u32, repeated: additional groups */
	RV_ATTR_FSTYPE,      /* string: "9p" (cached), "9p-uncached" or "virtiofs": how to mount RV_ROOTFS_TAG */
	RV_ATTR_READONLY,    /* u32: mount the rootfs read-only */
	RV_ATTR_SIGNO,       /* u32 */
	RV_ATTR_STATUS,      /* u32: exit status as a shell reports it (128+N for signal N) */
	RV_ATTR_ERROR,       /* string: why setup or exec failed */
	RV_ATTR_HOSTNAME,    /* string: the container's hostname (the guest's) */
	RV_ATTR_TERMINAL,    /* u32: give the process a terminal (a pty in the guest) */
	RV_ATTR_ROWS,        /* u32: terminal size */
	RV_ATTR_COLS,        /* u32 */
	/* The container's OCI settings, on RUN: */
	RV_ATTR_MOUNT,         /* string, repeated, in order: "TYPE\nSOURCE\nDEST\nOPTIONS" (see below) */
	RV_ATTR_MASKED_PATH,   /* string, repeated: linux.maskedPaths */
	RV_ATTR_READONLY_PATH, /* string, repeated: linux.readonlyPaths */
	RV_ATTR_SYSCTL,        /* string, repeated: "key=value" */
	/* Per process, on RUN and EXEC: */
	RV_ATTR_RLIMIT,        /* 20 bytes, repeated: u32 resource (RLIMIT_*), u64 soft, u64 hard */
	RV_ATTR_CAPS,          /* 40 bytes: u64 bounding, effective, inheritable, permitted, ambient;
			      * absent: capabilities are left as they are (all, for root) */
	RV_ATTR_NO_NEW_PRIVS,  /* u32 */
	RV_ATTR_UMASK,         /* u32 */
	RV_ATTR_OOM_SCORE_ADJ, /* u32 holding an int32 */
	RV_ATTR_SECCOMP,       /* a classic BPF program (struct sock_filter[], 8 bytes each, at most
			      * 4096), compiled on the host from linux.seccomp for the guest's
			      * architecture; installed last, just before exec */
	/* The container's network, on RUN (see below): */
	RV_ATTR_NET_IF,    /* string: "NAME\nMAC\nMTU", e.g. "eth0\n02:42:ac:11:00:02\n1500" */
	RV_ATTR_NET_ADDR,  /* string, repeated: "ADDRESS/PREFIXLEN", IPv4 or IPv6 */
	RV_ATTR_NET_ROUTE, /* string, repeated, in order: "DEST/PREFIXLEN\nGATEWAY"; DEST 0.0.0.0/0 or
			      * ::/0 is the default route; an empty GATEWAY means on-link */
	RV_ATTR_DNS_PROXY, /* string: an IPv4 address in 127.0.0.0/8 (Docker's 127.0.0.11) */
	/* The container's guest cgroup, on RUN: */
	RV_ATTR_PIDS_MAX, /* u32: linux.resources.pids.limit, its pids.max (absent: none) */
	/* More of the container's OCI settings, on RUN (see below): */
	RV_ATTR_DEVICE,             /* repeated, in order: linux.devices[]: 24 bytes, u32 type ('c', 'b',
				     * 'u' or 'p'), major, minor, mode (permission bits), uid, gid, then
				     * the absolute path (no NUL, shorter than PATH_MAX) */
	RV_ATTR_USERNS,             /* u32: a new user namespace (linux.namespaces has "user") */
	RV_ATTR_UID_MAP,            /* 12 bytes, repeated: u32 containerID, hostID, size */
	RV_ATTR_GID_MAP,            /* 12 bytes, repeated: the same for groups */
	RV_ATTR_ROOTFS_PROPAGATION, /* string: linux.rootfsPropagation, one of "shared", "rshared",
				     * "slave", "rslave", "private", "rprivate", "unbindable",
				     * "runbindable"; absent: "rslave", as runc */
	RV_ATTR_DEV_RULE,           /* repeated, in order: linux.resources.devices[] (see below): 20
				     * bytes, u32 allow (0 or 1), type ('a', 'c' or 'b'), major, minor
				     * (RV_DEV_RULE_ANY: any), access (RV_DEV_ACC_* bits, 1 to 7) */
	/* The container's guest cgroup, on UPDATE: */
	RV_ATTR_PIDS_LIMIT,   /* 8 bytes, u64: its new pids.max; UINT64_MAX: "max" (no limit) */
	RV_ATTR_MEMORY_LIMIT, /* 8 bytes, u64: linux.resources.memory.limit in bytes; UINT64_MAX: none.
			       * The guest's RAM stays as booted, so memory.max becomes the smaller
			       * of this and what the container got at RUN (guest/agent/cgroup.c) */
	/* Each guest its own machine, on RUN: a guest restored from a template (a snapshot taken
	 * at HELLO, the same for every clone) has the template's clock and random state. */
	RV_ATTR_ENTROPY,  /* RV_ENTROPY_LEN bytes from the host's getrandom(), credited to the
			   * guest's input pool, then its CRNG reseeded (RNDRESEEDCRNG) */
	RV_ATTR_REALTIME, /* 8 bytes, u64: the host's CLOCK_REALTIME in ns, set as the guest's */
	_RV_ATTR_MAX,
};

/*
 * Mounts (RV_ATTR_MOUNT), applied in order under the container's root after the rootfs is
 * mounted. OPTIONS is config.json's options joined with ','. For a bind mount (TYPE "bind",
 * or "bind"/"rbind" among the options) SOURCE is not a host path but a name inside the
 * share RV_MOUNTS_TAG, where the host has placed the source (directory or file); the host
 * sends no bind mount it could not share. Other TYPEs (proc, sysfs, tmpfs, devpts, mqueue,
 * cgroup, ...) are mounted in the guest with SOURCE as the device name.
 */
#define RV_MOUNTS_TAG "mounts"

/*
 * Devices, the user namespace and propagation (on RUN), as runc applies them inside the guest.
 * The container gets a mount namespace of its own in the guest, made as runc makes one on a
 * host where everything is shared (systemd's default): the agent's mounts are shared, the
 * container's copy gets RV_ATTR_ROOTFS_PROPAGATION on /, and its root is a bind of the rootfs.
 * With RV_ATTR_USERNS, proc 0 is cloned into a new user namespace (with its PID namespace),
 * which gets every RV_ATTR_UID_MAP and RV_ATTR_GID_MAP; EXEC'd processes join it. Host IDs are
 * the guest kernel's IDs, which the rootfs share passes through unchanged to the host.
 * RV_ATTR_DEVICEs are made after the mounts: mknod (mode exactly, whatever the umask), then
 * chown; in a user namespace, where mknod is not allowed, the agent makes the node outside it
 * and the container binds it onto PATH, as runc binds the host's.
 */
/* RV_ATTR_ENTROPY: what the kernel credits as 512 bits, a full reseed. */
#define RV_ENTROPY_LEN 64
#define RV_DEVICE_ATTR_LEN 24
#define RV_IDMAP_ATTR_LEN 12

/*
 * Device rules (RV_ATTR_DEV_RULE, on RUN): the device cgroup's allow/deny list, enforced by the
 * guest kernel for the container's processes (a BPF_PROG_TYPE_CGROUP_DEVICE program on the
 * container's cgroup in the guest, guest/agent/devcg.c). The host sends linux.resources.devices
 * followed by runc's default rules, as runc applies them; the rules read as runc's device
 * filter reads them: the last rule of type 'a' with any major and minor sets what is not
 * matched (denied before any), and of the rules after it the last that matches decides (an
 * allow rule matches an access it holds whole, a deny rule one it holds any bit of). No rule:
 * no program, every device usable. Access bits are <linux/bpf.h>'s BPF_DEVCG_ACC_*.
 */
#define RV_DEV_RULE_ATTR_LEN 20
#define RV_DEV_RULE_ANY 0xffffffffu
#define RV_DEV_ACC_MKNOD 1
#define RV_DEV_ACC_READ 2
#define RV_DEV_ACC_WRITE 4

/*
 * Network (on RUN). The host has redirected the container's interface in its network
 * namespace (a veth, usually) to the guest's NIC, so the guest takes over its identity:
 * with RV_ATTR_NET_IF the agent renames the guest's virtio NIC to NAME, gives it MAC and MTU,
 * adds every RV_ATTR_NET_ADDR, brings it up, then adds the RV_ATTR_NET_ROUTEs in order. Without
 * RV_ATTR_NET_IF the container has no network beyond loopback and the agent detaches the NIC
 * from its driver, so that only `lo` is there, as with runc.
 *
 * DNS. A resolver on the namespace's loopback (Docker's embedded DNS at 127.0.0.11) cannot
 * be reached from the guest. With RV_ATTR_DNS_PROXY the agent listens on that address, UDP
 * port 53, in the guest and sends each query as RV_MSG_DNS; the host sends it to the same
 * address and port in the container's namespace and returns each answer as RV_MSG_DNS. The
 * agent matches answers to clients by the DNS message ID, which it rewrites on the way out.
 * Datagrams are at most RV_DNS_MAX bytes.
 */
#define RV_DNS_MAX 4096

/* Exit statuses the agent reports besides the process's own (as runc and shells do). */
#define RV_EXIT_SETUP_FAILED 125
#define RV_EXIT_NOT_EXECUTABLE 126
#define RV_EXIT_NOT_FOUND 127

struct rv_frame {
	uint8_t type;
	uint32_t proc;
	uint32_t len;
	const uint8_t *payload; /* points into the parsed buffer */
};

struct rv_attr {
	uint16_t type;
	uint32_t len;
	const uint8_t *data; /* points into the payload */
};

/* A growable byte buffer, used to build frames and to queue output on non-blocking fds. */
struct rv_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t off; /* consumed prefix (for queues) */
};

/*
 * Parse one frame from the start of @buf. Returns 1 and fills @ret_frame and @ret_consumed
 * when a whole frame is there, 0 when more bytes are needed, -EBADMSG when the bytes cannot be
 * a valid frame (bad magic, version or type, or a length over RV_PROTO_MAX_PAYLOAD).
 */
int rv_frame_parse(const uint8_t *buf, size_t len, struct rv_frame *ret_frame, size_t *ret_consumed);

/*
 * Iterate the attributes of a control payload. @pos starts at 0. Returns 1 with the next
 * attribute, 0 at the end, -EBADMSG when an attribute overruns the payload.
 */
int rv_attr_next(const struct rv_frame *f, size_t *pos, struct rv_attr *ret_attr);
/* Typed views of an attribute; -EBADMSG when the attribute does not have that shape. A string
 * must hold no NUL byte; it is returned as a pointer/length pair, not NUL-terminated. */
int rv_attr_u32(const struct rv_attr *a, uint32_t *ret);
int rv_attr_str(const struct rv_attr *a, const char **ret_str, size_t *ret_len);
/* Returns a malloc'ed NUL-terminated copy of a string attribute, or NULL (bad shape or OOM). */
char *rv_attr_strdup(const struct rv_attr *a);

/* Frame building. rv_frame_begin() appends a header whose length rv_frame_end() fills in. The
 * rv_put_* helpers append one attribute. All return 0 or -ENOMEM; rv_frame_end() returns
 * -EMSGSIZE when the payload grew past RV_PROTO_MAX_PAYLOAD. */
int rv_frame_begin(struct rv_buf *b, enum rv_msg_type type, uint32_t proc, size_t *ret_start);
int rv_frame_end(struct rv_buf *b, size_t start);
int rv_put_u32(struct rv_buf *b, enum rv_attr_type type, uint32_t v);
int rv_put_str(struct rv_buf *b, enum rv_attr_type type, const char *s);
int rv_put_bytes(struct rv_buf *b, enum rv_attr_type type, const void *data, size_t len);
/* One whole frame with a raw payload (stream data, or an empty STDIN for EOF). */
int rv_frame_raw(struct rv_buf *b, enum rv_msg_type type, uint32_t proc, const void *data, size_t len);

/* Little-endian stores, for building fixed-layout attributes. */
static inline void rv_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline void rv_le64(uint8_t *p, uint64_t v)
{
	rv_le32(p, (uint32_t)v);
	rv_le32(p + 4, (uint32_t)(v >> 32));
}

int rv_buf_append(struct rv_buf *b, const void *data, size_t len);
/* Unconsumed bytes of a queue. */
static inline size_t rv_buf_pending(const struct rv_buf *b)
{
	return b->len - b->off;
}
/* Drop @n consumed bytes from the front of the queue. */
void rv_buf_consume(struct rv_buf *b, size_t n);
/* Write as much of the queue as a non-blocking @fd takes. Returns 0 (possibly with bytes left:
 * wait for POLLOUT) or -errno. */
int rv_buf_flush(struct rv_buf *b, int fd);
void rv_buf_free(struct rv_buf *b);

const char *rv_msg_type_name(unsigned type);

#endif
