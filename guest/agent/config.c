/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * RUN and EXEC into struct proc_config and struct run_config (see config.h): no system call
 * here, only allocation, so that the host can test and fuzz it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "guest/agent/config.h"
#include "protocol/agent-proto.h"

/* Where config_parse() writes why it failed. */
struct parse_error {
	char *buf;
	size_t size;
};

static int fail(struct parse_error *e, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parse_error *e, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->buf, e->size, fmt, ap);
	va_end(ap);
	return r;
}

void proc_config_free(struct proc_config *c)
{
	size_t i;

	for (i = 0; c->argv && i < c->argc; i++)
		free(c->argv[i]);
	for (i = 0; c->envp && i < c->envc; i++)
		free(c->envp[i]);
	free(c->argv);
	free(c->envp);
	free(c->gids);
	free(c->cwd);
	free(c->rlimits);
	free(c->seccomp);
	*c = (struct proc_config){ 0 };
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void run_config_free(struct run_config *run)
{
	size_t i;

	free(run->hostname);
	/* A mount's fields all point into the copy that starts with its type. */
	for (i = 0; run->mounts && i < run->nmounts; i++)
		free(run->mounts[i].type);
	free(run->mounts);
	free_strv(run->masked, run->nmasked);
	free_strv(run->ropaths, run->nropaths);
	free_strv(run->sysctls, run->nsysctls);
	for (i = 0; run->addrs && i < run->naddrs; i++)
		free(run->addrs[i].text);
	free(run->addrs);
	for (i = 0; run->routes && i < run->nroutes; i++)
		free(run->routes[i].dest);
	free(run->routes);
	for (i = 0; run->devices && i < run->ndevices; i++)
		free(run->devices[i].path);
	free(run->devices);
	free(run->dev_rules);
	free(run->uid_map);
	free(run->gid_map);
	*run = (struct run_config){ 0 };
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* "TYPE\nSOURCE\nDEST\nOPTIONS", split in place in @s (which @m then owns). */
static int parse_mount(char *s, struct mount_entry *m)
{
	char *f[4];
	int i;

	f[0] = s;
	for (i = 1; i < 4; i++) {
		char *nl = strchr(f[i - 1], '\n');

		if (!nl)
			return -EINVAL;
		*nl = '\0';
		f[i] = nl + 1;
	}
	if (strchr(f[3], '\n') || !f[2][0])
		return -EINVAL;
	*m = (struct mount_entry){ .type = f[0], .source = f[1], .dest = f[2], .options = f[3] };
	return 0;
}

/* "key=value" whose key names a file under /proc/sys once its dots are slashes: no empty
 * component (which also rules out "." and "..", dots being separators). */
static bool sysctl_valid(const char *s)
{
	const char *eq = strchr(s, '='), *k;
	bool empty = true;

	if (!eq)
		return false;
	for (k = s; k < eq; k++) {
		if (*k == '.' || *k == '/') {
			if (empty)
				return false;
			empty = true;
		} else {
			empty = false;
		}
	}
	return !empty;
}

/* Decimal digits only (no sign, no space), at most @max. */
static int parse_uint(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 10)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* "ADDRESS/PREFIXLEN", IPv4 or IPv6. */
static int parse_prefix(const char *s, struct net_prefix *ret)
{
	const char *slash = strchr(s, '/');
	char buf[INET6_ADDRSTRLEN];
	struct net_prefix pf = { 0 };
	uint32_t len;

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	if (inet_pton(AF_INET, buf, &pf.ip.v4) == 1)
		pf.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &pf.ip.v6) == 1)
		pf.family = AF_INET6;
	else
		return -EINVAL;
	if (parse_uint(slash + 1, pf.family == AF_INET ? 32 : 128, &len) < 0)
		return -EINVAL;
	pf.len = len;
	*ret = pf;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "02:42:ac:11:00:02" */
static int parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	int i;

	if (strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, sizeof(m));
	return 0;
}

/* A name the kernel takes for a network interface (dev_valid_name()), and no ':', which would
 * make it an alias label. */
static bool ifname_valid(const char *s)
{
	if (!*s || strlen(s) >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s == ' ' || (*s >= '\t' && *s <= '\r'))
			return false;
	return true;
}

/* One of RUN's network attributes into @run, whose addrs and routes have room for it. */
static int parse_net_attr(const struct rv_attr *at, struct run_config *run, struct parse_error *e)
{
	char *s = rv_attr_strdup(at), *f[3], *nl;
	struct net_route *rt;
	uint32_t mtu;
	int i, r;

	if (!s)
		return fail(e, -EBADMSG, "malformed RUN message"); /* NUL inside, or OOM */
	switch (at->type) {
	case RV_ATTR_NET_IF:
		f[0] = s;
		for (i = 1; i < 3; i++) {
			nl = strchr(f[i - 1], '\n');
			if (!nl) {
				r = fail(e, -EINVAL, "malformed RUN message: a NET_IF is not NAME\\nMAC\\nMTU");
				goto bad;
			}
			*nl = '\0';
			f[i] = nl + 1;
		}
		if (!ifname_valid(f[0])) {
			r = fail(e, -EINVAL, "network: bad interface name `%.32s`", f[0]);
			goto bad;
		}
		if (parse_mac(f[1], run->mac) < 0) {
			r = fail(e, -EINVAL, "network: bad MAC address `%.32s`", f[1]);
			goto bad;
		}
		if (parse_uint(f[2], 65535, &mtu) < 0 || !mtu) {
			r = fail(e, -EINVAL, "network: bad MTU `%.32s`", f[2]);
			goto bad;
		}
		strcpy(run->ifname, f[0]);
		run->mtu = mtu;
		free(s);
		return 0;
	case RV_ATTR_NET_ADDR:
		if (parse_prefix(s, &run->addrs[run->naddrs].pfx) < 0) {
			r = fail(e, -EINVAL, "network: bad address `%.64s`, not ADDRESS/PREFIXLEN", s);
			goto bad;
		}
		run->addrs[run->naddrs++].text = s;
		return 0;
	case RV_ATTR_NET_ROUTE:
		rt = &run->routes[run->nroutes];
		nl = strchr(s, '\n');
		if (!nl || strchr(nl + 1, '\n')) {
			r = fail(e, -EINVAL, "malformed RUN message: a NET_ROUTE is not DEST/PREFIXLEN\\nGATEWAY");
			goto bad;
		}
		*nl = '\0';
		if (parse_prefix(s, &rt->pfx) < 0) {
			r = fail(e, -EINVAL, "network: bad route destination `%.64s`, not ADDRESS/PREFIXLEN", s);
			goto bad;
		}
		if (nl[1] && inet_pton(rt->pfx.family, nl + 1, &rt->gw) != 1) {
			r = fail(e, -EINVAL, "network: bad gateway `%.64s` for route %s", nl + 1, s);
			goto bad;
		}
		rt->dest = s;
		rt->gw_text = nl + 1;
		run->nroutes++;
		return 0;
	case RV_ATTR_DNS_PROXY:
		/* Only a loopback address: the proxy must not take an address of the network. */
		if (inet_pton(AF_INET, s, &run->dns_proxy) != 1 || (ntohl(run->dns_proxy.s_addr) >> 24) != 127) {
			r = fail(e, -EINVAL, "network: DNS proxy address `%.64s` is not an IPv4 address in 127.0.0.0/8",
				 s);
			goto bad;
		}
		run->has_dns_proxy = true;
		free(s);
		return 0;
	default: break;
	}
	free(s);
	return 0;
bad:
	free(s);
	return r;
}

/* The propagation names of linux.rootfsPropagation (and of mount options) as MS_* flags. */
static int propagation_flags(const char *s, size_t len, unsigned long *ret)
{
	static const struct {
		const char *name;
		unsigned long flags;
	} names[] = {
		{ "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
		{ "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
		{ "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
		{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && !memcmp(names[i].name, s, len)) {
			*ret = names[i].flags;
			return 0;
		}
	return -EINVAL;
}

/* RV_ATTR_DEVICE, RV_ATTR_UID_MAP, RV_ATTR_GID_MAP, RV_ATTR_USERNS, RV_ATTR_ROOTFS_PROPAGATION
 * into @run, whose arrays have room. */
static int parse_guest_attr(const struct rv_attr *at, struct run_config *run, struct parse_error *e)
{
	struct device_entry *d;
	struct id_map *m;
	const char *s;
	size_t len;
	uint32_t v;

	switch (at->type) {
	case RV_ATTR_DEVICE:
		d = &run->devices[run->ndevices];
		if (at->len <= RV_DEVICE_ATTR_LEN || at->len - RV_DEVICE_ATTR_LEN >= PATH_MAX)
			return fail(e, -EBADMSG, "malformed RUN message: DEVICE of %u bytes, not %d and a path",
				    at->len, RV_DEVICE_ATTR_LEN);
		v = get_le32(at->data);
		if (v != 'c' && v != 'b' && v != 'u' && v != 'p')
			return fail(e, -EINVAL, "device: unknown type %u, not c, b, u or p", v);
		len = at->len - RV_DEVICE_ATTR_LEN;
		s = (const char *)at->data + RV_DEVICE_ATTR_LEN;
		if (memchr(s, '\0', len) || s[0] != '/')
			return fail(e, -EINVAL, "device: path `%.*s` is not absolute", (int)(len > 64 ? 64 : len), s);
		*d = (struct device_entry){
			.type = (char)v,
			.major = get_le32(at->data + 4),
			.minor = get_le32(at->data + 8),
			.mode = get_le32(at->data + 12) & 07777,
			.uid = get_le32(at->data + 16),
			.gid = get_le32(at->data + 20),
		};
		/* What makedev() keeps: 12 bits of major, 20 of minor, as the kernel's dev_t. */
		if (d->major > 0xfff || d->minor > 0xfffff)
			return fail(e, -EINVAL, "device %.*s: number %u:%u out of range", (int)(len > 64 ? 64 : len), s,
				    d->major, d->minor);
		if (!(d->path = strndup(s, len)))
			return fail(e, -ENOMEM, "RUN: out of memory");
		run->ndevices++;
		return 0;
	case RV_ATTR_DEV_RULE: {
		struct dev_rule *dr = &run->dev_rules[run->ndev_rules];
		uint32_t allow, type, access;

		if (at->len != RV_DEV_RULE_ATTR_LEN)
			return fail(e, -EBADMSG, "malformed RUN message: DEV_RULE of %u bytes, not %d", at->len,
				    RV_DEV_RULE_ATTR_LEN);
		allow = get_le32(at->data);
		type = get_le32(at->data + 4);
		access = get_le32(at->data + 16);
		if (allow > 1 || (type != 'a' && type != 'c' && type != 'b') || !access ||
		    access > (RV_DEV_ACC_MKNOD | RV_DEV_ACC_READ | RV_DEV_ACC_WRITE))
			return fail(e, -EINVAL, "device rule %zu: bad allow %u, type %u or access %u", run->ndev_rules,
				    allow, type, access);
		*dr = (struct dev_rule){
			.allow = allow,
			.type = (char)type,
			.major = get_le32(at->data + 8),
			.minor = get_le32(at->data + 12),
			.access = access,
		};
		/* What a dev_t holds (12 bits of major, 20 of minor), or any. */
		if ((dr->major != RV_DEV_RULE_ANY && dr->major > 0xfff) ||
		    (dr->minor != RV_DEV_RULE_ANY && dr->minor > 0xfffff))
			return fail(e, -EINVAL, "device rule %zu: number %u:%u out of range", run->ndev_rules,
				    dr->major, dr->minor);
		run->ndev_rules++;
		return 0;
	}
	case RV_ATTR_UID_MAP:
	case RV_ATTR_GID_MAP:
		if (at->len != RV_IDMAP_ATTR_LEN)
			return fail(e, -EBADMSG, "malformed RUN message: %s of %u bytes, not %d",
				    at->type == RV_ATTR_UID_MAP ? "UID_MAP" : "GID_MAP", at->len, RV_IDMAP_ATTR_LEN);
		m = at->type == RV_ATTR_UID_MAP ? &run->uid_map[run->nuid_map++] : &run->gid_map[run->ngid_map++];
		*m = (struct id_map){ get_le32(at->data), get_le32(at->data + 4), get_le32(at->data + 8) };
		/* The kernel takes no empty range, nor one that holds ID 4294967295 (-1). */
		if (!m->count || (uint64_t)m->inside + m->count > UINT32_MAX ||
		    (uint64_t)m->outside + m->count > UINT32_MAX)
			return fail(e, -EINVAL, "user namespace: bad %s mapping %u %u %u",
				    at->type == RV_ATTR_UID_MAP ? "uid" : "gid", m->inside, m->outside, m->count);
		return 0;
	case RV_ATTR_USERNS:
		if (rv_attr_u32(at, &v) < 0)
			return fail(e, -EBADMSG, "malformed RUN message");
		run->userns = v != 0;
		return 0;
	case RV_ATTR_ROOTFS_PROPAGATION:
		if (rv_attr_str(at, &s, &len) < 0)
			return fail(e, -EBADMSG, "malformed RUN message");
		if (propagation_flags(s, len, &run->rootfs_propagation) < 0)
			return fail(e, -EINVAL, "unknown rootfs propagation `%.*s`", (int)(len > 32 ? 32 : len), s);
		return 0;
	default: return 0;
	}
}

/*
 * What config_parse() knows of each attribute: its name for messages, whether it may come at
 * most once (a second one is refused rather than silently winning), and whether it is RUN's
 * alone (EXEC ignores it: a process started beside the container brings no rootfs, mount or
 * network of its own). Types not listed here are ignored.
 */
static const struct {
	const char *name;
	bool once, run_only;
} attrs[_RV_ATTR_MAX] = {
	[RV_ATTR_ARG] = { "ARG" },
	[RV_ATTR_ENV] = { "ENV" },
	[RV_ATTR_CWD] = { "CWD", .once = true },
	[RV_ATTR_UID] = { "UID", .once = true },
	[RV_ATTR_GID] = { "GID", .once = true },
	[RV_ATTR_GIDS] = { "GIDS" },
	[RV_ATTR_FSTYPE] = { "FSTYPE", .once = true, .run_only = true },
	[RV_ATTR_READONLY] = { "READONLY", .once = true, .run_only = true },
	[RV_ATTR_HOSTNAME] = { "HOSTNAME", .once = true, .run_only = true },
	[RV_ATTR_ENTROPY] = { "ENTROPY", .once = true, .run_only = true },
	[RV_ATTR_REALTIME] = { "REALTIME", .once = true, .run_only = true },
	[RV_ATTR_TERMINAL] = { "TERMINAL", .once = true },
	[RV_ATTR_ROWS] = { "ROWS", .once = true },
	[RV_ATTR_COLS] = { "COLS", .once = true },
	[RV_ATTR_MOUNT] = { "MOUNT", .run_only = true },
	[RV_ATTR_MASKED_PATH] = { "MASKED_PATH", .run_only = true },
	[RV_ATTR_READONLY_PATH] = { "READONLY_PATH", .run_only = true },
	[RV_ATTR_SYSCTL] = { "SYSCTL", .run_only = true },
	[RV_ATTR_RLIMIT] = { "RLIMIT" },
	[RV_ATTR_CAPS] = { "CAPS", .once = true },
	[RV_ATTR_NO_NEW_PRIVS] = { "NO_NEW_PRIVS", .once = true },
	[RV_ATTR_UMASK] = { "UMASK", .once = true },
	[RV_ATTR_OOM_SCORE_ADJ] = { "OOM_SCORE_ADJ", .once = true },
	[RV_ATTR_SECCOMP] = { "SECCOMP", .once = true },
	[RV_ATTR_NET_IF] = { "NET_IF", .once = true, .run_only = true },
	[RV_ATTR_NET_ADDR] = { "NET_ADDR", .run_only = true },
	[RV_ATTR_NET_ROUTE] = { "NET_ROUTE", .run_only = true },
	[RV_ATTR_DNS_PROXY] = { "DNS_PROXY", .once = true, .run_only = true },
	[RV_ATTR_PIDS_MAX] = { "PIDS_MAX", .once = true, .run_only = true },
	[RV_ATTR_DEVICE] = { "DEVICE", .run_only = true },
	[RV_ATTR_USERNS] = { "USERNS", .once = true, .run_only = true },
	[RV_ATTR_UID_MAP] = { "UID_MAP", .run_only = true },
	[RV_ATTR_GID_MAP] = { "GID_MAP", .run_only = true },
	[RV_ATTR_ROOTFS_PROPAGATION] = { "ROOTFS_PROPAGATION", .once = true, .run_only = true },
	[RV_ATTR_DEV_RULE] = { "DEV_RULE", .run_only = true },
};

/* The attributes of @f, checked as a whole: counts, caps and repeats. Returns the count of
 * each type in @n. */
static int count_attrs(const struct rv_frame *f, bool is_run, const char *msg, size_t n[_RV_ATTR_MAX],
		       struct parse_error *e)
{
	struct rv_attr at;
	size_t pos = 0, t;
	int r;

	while ((r = rv_attr_next(f, &pos, &at)) > 0) {
		if (at.type >= _RV_ATTR_MAX || !attrs[at.type].name || (attrs[at.type].run_only && !is_run))
			continue;
		if (attrs[at.type].once && n[at.type])
			return fail(e, -EBADMSG, "malformed %s message: more than one %s", msg, attrs[at.type].name);
		n[at.type]++;
	}
	if (r < 0)
		return fail(e, -EBADMSG, "malformed %s message", msg);
	for (t = 0; t < _RV_ATTR_MAX; t++)
		if (n[t] > CONFIG_LIST_MAX)
			return fail(e, -EBADMSG, "malformed %s message: more than %d %s", msg, CONFIG_LIST_MAX,
				    attrs[t].name);
	if (!n[RV_ATTR_ARG])
		return fail(e, -EINVAL, "%s without ARG", msg);
	return 0;
}

/* Strings that are kept whole: no NUL inside (rv_attr_strdup() checks) and not overlong. */
static int dup_str(const struct rv_attr *at, size_t max, const char *msg, char **ret, struct parse_error *e)
{
	if (at->len > max)
		return fail(e, -EBADMSG, "malformed %s message: %s of %u bytes, more than %zu", msg,
			    attrs[at->type].name, at->len, max);
	*ret = rv_attr_strdup(at);
	return *ret ? 0 : fail(e, -EBADMSG, "malformed %s message", msg); /* NUL inside, or OOM */
}

static int parse_attr(const struct rv_attr *at, struct proc_config *c, struct run_config *run, const char *msg,
		      struct parse_error *e)
{
	const char *s;
	char *dup;
	size_t len, i;
	uint32_t v;
	int r;

	switch (at->type) {
	case RV_ATTR_RLIMIT: {
		struct rlimit_req *rl = &c->rlimits[c->nrlimits];

		if (at->len != RLIMIT_ATTR_LEN)
			return fail(e, -EBADMSG, "malformed %s message: RLIMIT of %u bytes, not %d", msg, at->len,
				    RLIMIT_ATTR_LEN);
		rl->resource = get_le32(at->data);
		rl->lim.rlim_cur = get_le64(at->data + 4);
		rl->lim.rlim_max = get_le64(at->data + 12);
		c->nrlimits++;
		return 0;
	}
	case RV_ATTR_CAPS:
		if (at->len != CAPS_ATTR_LEN)
			return fail(e, -EBADMSG, "malformed %s message: CAPS of %u bytes, not %d", msg, at->len,
				    CAPS_ATTR_LEN);
		for (i = 0; i < CAPS_N; i++)
			c->caps[i] = get_le64(at->data + 8 * i);
		c->has_caps = true;
		return 0;
	case RV_ATTR_SECCOMP:
		if (at->len % sizeof(struct sock_filter) || at->len == 0 ||
		    at->len / sizeof(struct sock_filter) > SECCOMP_MAX_INSNS)
			return fail(e, -EBADMSG,
				    "malformed %s message: SECCOMP of %u bytes, not 1 to %d instructions of 8", msg,
				    at->len, SECCOMP_MAX_INSNS);
		c->nseccomp = at->len / sizeof(struct sock_filter);
		c->seccomp = calloc(c->nseccomp, sizeof(struct sock_filter));
		if (!c->seccomp)
			return fail(e, -ENOMEM, "%s: out of memory", msg);
		/* struct sock_filter: u16 code, u8 jt, u8 jf, u32 k; little-endian like every
		 * integer of the protocol. */
		for (i = 0; i < c->nseccomp; i++) {
			const uint8_t *d = at->data + 8 * i;

			c->seccomp[i] = (struct sock_filter){
				.code = (uint16_t)(d[0] | d[1] << 8),
				.jt = d[2],
				.jf = d[3],
				.k = get_le32(d + 4),
			};
		}
		return 0;
	case RV_ATTR_PIDS_MAX:
		if (rv_attr_u32(at, &v) < 0 || v == 0)
			return fail(e, -EBADMSG, "malformed %s message: PIDS_MAX", msg);
		run->pids_max = v;
		return 0;
	case RV_ATTR_NO_NEW_PRIVS:
	case RV_ATTR_UMASK:
	case RV_ATTR_OOM_SCORE_ADJ:
		if (rv_attr_u32(at, &v) < 0)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		if (at->type == RV_ATTR_NO_NEW_PRIVS) {
			c->no_new_privs = v != 0;
		} else if (at->type == RV_ATTR_UMASK) {
			c->umask = v & 07777;
			c->has_umask = true;
		} else {
			c->oom_score_adj = (int32_t)v;
			c->has_oom_score_adj = true;
		}
		return 0;
	case RV_ATTR_MOUNT:
	case RV_ATTR_MASKED_PATH:
	case RV_ATTR_READONLY_PATH:
	case RV_ATTR_SYSCTL:
		dup = rv_attr_strdup(at);
		if (!dup)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		if (at->type == RV_ATTR_MOUNT) {
			if (parse_mount(dup, &run->mounts[run->nmounts]) < 0) {
				free(dup);
				return fail(e, -EBADMSG,
					    "malformed %s message: a MOUNT is not TYPE\\nSOURCE\\nDEST\\nOPTIONS", msg);
			}
			run->nmounts++;
		} else if (at->type == RV_ATTR_MASKED_PATH) {
			run->masked[run->nmasked++] = dup;
		} else if (at->type == RV_ATTR_READONLY_PATH) {
			run->ropaths[run->nropaths++] = dup;
		} else {
			run->sysctls[run->nsysctls++] = dup;
			if (!sysctl_valid(dup))
				return fail(e, -EINVAL, "sysctl `%.64s`: not key=value", dup);
		}
		return 0;
	case RV_ATTR_ARG:
		r = dup_str(at, CONFIG_ARG_MAX, msg, &c->argv[c->argc], e);
		c->argc += r == 0;
		return r;
	case RV_ATTR_ENV:
		r = dup_str(at, CONFIG_ARG_MAX, msg, &c->envp[c->envc], e);
		c->envc += r == 0;
		return r;
	case RV_ATTR_CWD:
		/* chdir() takes no longer path. */
		return dup_str(at, PATH_MAX - 1, msg, &c->cwd, e);
	case RV_ATTR_UID:
	case RV_ATTR_GID:
	case RV_ATTR_GIDS:
	case RV_ATTR_TERMINAL:
	case RV_ATTR_ROWS:
	case RV_ATTR_COLS:
		if (rv_attr_u32(at, &v) < 0)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		if (at->type == RV_ATTR_UID)
			c->uid = v;
		else if (at->type == RV_ATTR_GID)
			c->gid = v;
		else if (at->type == RV_ATTR_GIDS)
			c->gids[c->ngids++] = v;
		else if (at->type == RV_ATTR_TERMINAL)
			c->terminal = v != 0;
		else if (at->type == RV_ATTR_ROWS) {
			c->rows = v > 0xffff ? 0xffff : v;
			c->has_rows = true;
		} else {
			c->cols = v > 0xffff ? 0xffff : v;
			c->has_cols = true;
		}
		return 0;
	case RV_ATTR_READONLY:
		if (rv_attr_u32(at, &v) < 0)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		run->readonly = v != 0;
		return 0;
	case RV_ATTR_FSTYPE:
		if (rv_attr_str(at, &s, &len) < 0)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		if (len == 2 && !memcmp(s, "9p", 2))
			run->virtiofs = false;
		else if (len == 11 && !memcmp(s, "9p-uncached", 11))
			run->uncached = true;
		else if (len == 8 && !memcmp(s, "virtiofs", 8))
			run->virtiofs = true;
		else if (len == 6 && !memcmp(s, "verity", 6))
			run->verity = true;
		else
			return fail(e, -EINVAL, "unknown rootfs type `%.*s`", (int)(len > 32 ? 32 : len), s);
		return 0;
	case RV_ATTR_HOSTNAME:
		if (rv_attr_str(at, &s, &len) < 0)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		if (len > HOSTNAME_MAX)
			return fail(e, -EINVAL, "hostname `%.32s...` is longer than %d bytes", s, HOSTNAME_MAX);
		if (!(run->hostname = strndup(s, len)))
			return fail(e, -ENOMEM, "%s: out of memory", msg);
		return 0;
	case RV_ATTR_ENTROPY:
		if (at->len != RV_ENTROPY_LEN)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		memcpy(run->entropy, at->data, RV_ENTROPY_LEN);
		run->has_entropy = true;
		return 0;
	case RV_ATTR_REALTIME:
		if (at->len != 8)
			return fail(e, -EBADMSG, "malformed %s message", msg);
		run->realtime_ns = get_le64(at->data);
		return 0;
	case RV_ATTR_NET_IF:
	case RV_ATTR_NET_ADDR:
	case RV_ATTR_NET_ROUTE:
	case RV_ATTR_DNS_PROXY: return parse_net_attr(at, run, e);
	case RV_ATTR_DEVICE:
	case RV_ATTR_DEV_RULE:
	case RV_ATTR_USERNS:
	case RV_ATTR_UID_MAP:
	case RV_ATTR_GID_MAP:
	case RV_ATTR_ROOTFS_PROPAGATION: return parse_guest_attr(at, run, e);
	default: return 0;
	}
}

int config_parse(const struct rv_frame *f, struct proc_config *ret_c, struct run_config *ret_run, char *err,
		 size_t errsize)
{
	const char *msg = ret_run ? "RUN" : "EXEC";
	struct parse_error e = { err, errsize };
	struct proc_config c = { 0 };
	struct run_config run = { 0 };
	size_t n[_RV_ATTR_MAX] = { 0 }, pos = 0;
	struct rv_attr at;
	int r;

	*ret_c = (struct proc_config){ 0 };
	if (ret_run)
		*ret_run = (struct run_config){ 0 };
	/* Count first so the arrays are allocated once: a 1 MiB RUN can hold 100k attributes. */
	r = count_attrs(f, ret_run != NULL, msg, n, &e);
	if (r < 0)
		return r;
	c.argv = calloc(n[RV_ATTR_ARG] + 1, sizeof(char *));
	c.envp = calloc(n[RV_ATTR_ENV] + 1, sizeof(char *));
	c.gids = calloc(n[RV_ATTR_GIDS] + 1, sizeof(gid_t));
	c.rlimits = calloc(n[RV_ATTR_RLIMIT] + 1, sizeof(*c.rlimits));
	if (!c.argv || !c.envp || !c.gids || !c.rlimits)
		goto oom;
	if (ret_run) {
		run.mounts = calloc(n[RV_ATTR_MOUNT] + 1, sizeof(*run.mounts));
		run.masked = calloc(n[RV_ATTR_MASKED_PATH] + 1, sizeof(char *));
		run.ropaths = calloc(n[RV_ATTR_READONLY_PATH] + 1, sizeof(char *));
		run.sysctls = calloc(n[RV_ATTR_SYSCTL] + 1, sizeof(char *));
		run.addrs = calloc(n[RV_ATTR_NET_ADDR] + 1, sizeof(*run.addrs));
		run.routes = calloc(n[RV_ATTR_NET_ROUTE] + 1, sizeof(*run.routes));
		run.devices = calloc(n[RV_ATTR_DEVICE] + 1, sizeof(*run.devices));
		run.dev_rules = calloc(n[RV_ATTR_DEV_RULE] + 1, sizeof(*run.dev_rules));
		run.uid_map = calloc(n[RV_ATTR_UID_MAP] + 1, sizeof(*run.uid_map));
		run.gid_map = calloc(n[RV_ATTR_GID_MAP] + 1, sizeof(*run.gid_map));
		if (!run.mounts || !run.masked || !run.ropaths || !run.sysctls || !run.addrs || !run.routes ||
		    !run.devices || !run.dev_rules || !run.uid_map || !run.gid_map)
			goto oom;
		if (n[RV_ATTR_DEV_RULE] > DEV_RULES_MAX) {
			r = fail(&e, -EINVAL, "device rules: more than %d", DEV_RULES_MAX);
			goto fail;
		}
		run.rootfs_propagation = MS_SLAVE | MS_REC;
		if (n[RV_ATTR_UID_MAP] > ID_MAP_MAX || n[RV_ATTR_GID_MAP] > ID_MAP_MAX) {
			r = fail(&e, -EINVAL, "user namespace: more than %d lines in a uid or gid map", ID_MAP_MAX);
			goto fail;
		}
	}
	/* The same walk as count_attrs(), which found it well-formed. */
	while (rv_attr_next(f, &pos, &at) > 0) {
		if (at.type >= _RV_ATTR_MAX || !attrs[at.type].name || (attrs[at.type].run_only && !ret_run))
			continue;
		r = parse_attr(&at, &c, &run, msg, &e);
		if (r < 0)
			goto fail;
	}
	if (ret_run && !run.ifname[0] && (run.naddrs || run.nroutes)) {
		r = fail(&e, -EINVAL, "malformed RUN message: NET_ADDR or NET_ROUTE without NET_IF");
		goto fail;
	}
	/* A map needs the namespace, and the namespace needs both maps (else nobody is root in it,
	 * and nothing of the rootfs is anyone's). */
	if (ret_run && (run.userns ? !run.nuid_map || !run.ngid_map : run.nuid_map || run.ngid_map)) {
		r = fail(&e, -EINVAL,
			 run.userns ? "user namespace without a uid and a gid map"
				    : "uid or gid map without a user namespace");
		goto fail;
	}
	if (!c.cwd && !(c.cwd = strdup("/")))
		goto oom;
	if (c.cwd[0] != '/') {
		r = fail(&e, -EINVAL, "cwd `%s` is not absolute", c.cwd);
		goto fail;
	}
	*ret_c = c;
	if (ret_run)
		*ret_run = run;
	return 0;
oom:
	r = fail(&e, -ENOMEM, "%s: out of memory", msg);
fail:
	proc_config_free(&c);
	run_config_free(&run);
	return r;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int verity_parse_cmdline(const char *cmdline, struct verity_params *ret)
{
	static const char key[] = "runvm.verity=";
	struct verity_params v = { .data_blocks = 0 };
	const char *p = cmdline, *arg = NULL, *end, *c1, *c2;
	char blocks[24];
	char *e;

	/* The argument, where it starts a word; only one. */
	for (; (p = strstr(p, key)); p += sizeof(key) - 1)
		if (p == cmdline || p[-1] == ' ') {
			if (arg)
				return -EINVAL;
			arg = p + sizeof(key) - 1;
		}
	if (!arg)
		return -ENOENT;
	end = arg + strcspn(arg, " \n");
	c1 = memchr(arg, ',', (size_t)(end - arg));
	c2 = c1 ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
	if (!c2 || c1 - arg != 64 || !all_hex(arg, 64))
		return -EINVAL;
	memcpy(v.roothash, arg, 64);
	if (c2 - c1 - 1 == 1 && c1[1] == '-')
		strcpy(v.salt, "-");
	else if (c2 - c1 - 1 == 0 || (c2 - c1 - 1) % 2 || c2 - c1 - 1 > 2 * VERITY_SALT_MAX ||
		 !all_hex(c1 + 1, (size_t)(c2 - c1 - 1)))
		return -EINVAL;
	else
		memcpy(v.salt, c1 + 1, (size_t)(c2 - c1 - 1));
	if (end - c2 - 1 < 1 || end - c2 - 1 >= (long)sizeof(blocks))
		return -EINVAL;
	memcpy(blocks, c2 + 1, (size_t)(end - c2 - 1));
	blocks[end - c2 - 1] = 0;
	errno = 0;
	v.data_blocks = strtoull(blocks, &e, 10);
	/* At most 2^40 blocks (4 PiB): the sector count must fit 64 bits many times over. */
	if (errno || *e || blocks[0] < '1' || blocks[0] > '9' || v.data_blocks > (1ull << 40))
		return -EINVAL;
	*ret = v;
	return 0;
}
