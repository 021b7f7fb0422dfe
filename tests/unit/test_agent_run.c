/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest agent's RUN/EXEC parser (guest/agent/config.c) on the host: a full RUN built with
 * the protocol's encoder as the host builds it (runtime/monitor.c), decoded field by field,
 * then hostile variants: truncated, oversized lengths and counts, NULs inside strings, repeated
 * and unknown attributes, no ARG, overlong strings, bad values, random mutations. Under TDX or
 * SEV-SNP the host is untrusted, so each must be refused with a message, none may crash (the
 * fuzzer, tests/fuzz/fuzz_agent_run.c, runs the same code under ASan and UBSan).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <sys/mount.h>

#include "guest/agent/config.h"
#include "protocol/agent-proto.h"
#include "tests/unit/tap.h"

/* A message under construction: one frame in @b. */
struct msg {
	struct rv_buf b;
	size_t start;
	struct rv_frame f;
};

static void msg_begin(struct msg *m, enum rv_msg_type type)
{
	*m = (struct msg){ 0 };
	rv_frame_begin(&m->b, type, type == RV_MSG_RUN ? 0 : 1, &m->start);
}

/* Close the frame and point m->f at it. */
static const struct rv_frame *msg_end(struct msg *m)
{
	size_t used;

	if (rv_frame_end(&m->b, m->start) < 0 || rv_frame_parse(m->b.data, m->b.len, &m->f, &used) != 1)
		abort(); /* the test's own encoding, not the input under test */
	return &m->f;
}

static void put_bytes(struct msg *m, enum rv_attr_type t, const void *d, size_t n)
{
	rv_put_bytes(&m->b, t, d, n);
}

/* RV_ATTR_DEVICE as the host's put_guest_settings() builds it. */
static void put_device(struct msg *m, uint32_t type, uint32_t major, uint32_t minor, uint32_t mode, uint32_t uid,
		       uint32_t gid, const char *path)
{
	uint8_t v[RV_DEVICE_ATTR_LEN + 64];
	size_t n = strlen(path);

	rv_le32(v, type);
	rv_le32(v + 4, major);
	rv_le32(v + 8, minor);
	rv_le32(v + 12, mode);
	rv_le32(v + 16, uid);
	rv_le32(v + 20, gid);
	memcpy(v + RV_DEVICE_ATTR_LEN, path, n);
	put_bytes(m, RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + n);
}

static void put_idmap(struct msg *m, enum rv_attr_type t, uint32_t inside, uint32_t outside, uint32_t count)
{
	uint8_t v[RV_IDMAP_ATTR_LEN];

	rv_le32(v, inside);
	rv_le32(v + 4, outside);
	rv_le32(v + 8, count);
	put_bytes(m, t, v, sizeof(v));
}

/* What the host's queue_process() sends for a RUN, with every optional part present. */
static void put_full_run(struct msg *m)
{
	uint8_t rl[RLIMIT_ATTR_LEN], caps[CAPS_ATTR_LEN], bpf[16] = { 0 };

	rv_put_str(&m->b, RV_ATTR_ARG, "/bin/sh");
	rv_put_str(&m->b, RV_ATTR_ARG, "-c");
	rv_put_str(&m->b, RV_ATTR_ARG, "");
	rv_put_str(&m->b, RV_ATTR_ENV, "PATH=/bin");
	rv_put_str(&m->b, RV_ATTR_ENV, "HOME=/root");
	rv_put_str(&m->b, RV_ATTR_CWD, "/work");
	rv_put_u32(&m->b, RV_ATTR_UID, 1000);
	rv_put_u32(&m->b, RV_ATTR_GID, 100);
	rv_put_u32(&m->b, RV_ATTR_GIDS, 10);
	rv_put_u32(&m->b, RV_ATTR_GIDS, 20);
	rv_put_u32(&m->b, RV_ATTR_TERMINAL, 1);
	rv_put_u32(&m->b, RV_ATTR_ROWS, 24);
	rv_put_u32(&m->b, RV_ATTR_COLS, 0x12345); /* clamped */
	rv_le32(rl, RLIMIT_NOFILE);
	rv_le64(rl + 4, 1024);
	rv_le64(rl + 12, UINT64_MAX);
	put_bytes(m, RV_ATTR_RLIMIT, rl, sizeof(rl));
	for (int i = 0; i < CAPS_N; i++)
		rv_le64(caps + 8 * i, 0x100u + (unsigned)i);
	put_bytes(m, RV_ATTR_CAPS, caps, sizeof(caps));
	rv_put_u32(&m->b, RV_ATTR_NO_NEW_PRIVS, 1);
	rv_put_u32(&m->b, RV_ATTR_UMASK, 0170022); /* masked to 07777 */
	rv_put_u32(&m->b, RV_ATTR_OOM_SCORE_ADJ, (uint32_t)-500);
	/* BPF_RET|BPF_K 0x7fff0000 twice, the second with jt 1, jf 2 */
	bpf[0] = 0x06;
	rv_le32(bpf + 4, 0x7fff0000);
	bpf[8] = 0x06;
	bpf[10] = 1;
	bpf[11] = 2;
	rv_le32(bpf + 12, 0x7fff0000);
	put_bytes(m, RV_ATTR_SECCOMP, bpf, sizeof(bpf));
	rv_put_str(&m->b, RV_ATTR_FSTYPE, "virtiofs");
	rv_put_u32(&m->b, RV_ATTR_READONLY, 1);
	rv_put_str(&m->b, RV_ATTR_HOSTNAME, "box");
	rv_put_str(&m->b, RV_ATTR_MOUNT, "proc\nproc\n/proc\nnosuid,noexec");
	rv_put_str(&m->b, RV_ATTR_MOUNT, "bind\n3\n/data\nrbind,ro");
	rv_put_str(&m->b, RV_ATTR_MASKED_PATH, "/proc/kcore");
	rv_put_str(&m->b, RV_ATTR_READONLY_PATH, "/proc/sys");
	rv_put_str(&m->b, RV_ATTR_SYSCTL, "net.ipv4.ip_forward=1");
	rv_put_str(&m->b, RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02\n1500");
	rv_put_str(&m->b, RV_ATTR_NET_ADDR, "172.17.0.2/16");
	rv_put_str(&m->b, RV_ATTR_NET_ADDR, "fd00::2/64");
	rv_put_str(&m->b, RV_ATTR_NET_ROUTE, "0.0.0.0/0\n172.17.0.1");
	rv_put_str(&m->b, RV_ATTR_NET_ROUTE, "fd00::/64\n");
	rv_put_str(&m->b, RV_ATTR_DNS_PROXY, "127.0.0.11");
	put_device(m, 'c', 1, 3, 0640, 5, 6, "/dev/foo");
	put_device(m, 'p', 0, 0, 0100666, 0, 0, "/dev/fifo"); /* type bits masked off */
	rv_put_u32(&m->b, RV_ATTR_USERNS, 1);
	put_idmap(m, RV_ATTR_UID_MAP, 0, 100000, 65536);
	put_idmap(m, RV_ATTR_GID_MAP, 0, 100000, 1000);
	put_idmap(m, RV_ATTR_GID_MAP, 1000, 200000, 1);
	rv_put_str(&m->b, RV_ATTR_ROOTFS_PROPAGATION, "rshared");
}

/* Parse @f as RUN (@run) or EXEC; a failure must come with a message. */
static int parse(const struct rv_frame *f, bool run, char err[CONFIG_ERR_MAX])
{
	struct proc_config c;
	struct run_config r;
	int ret;

	err[0] = '\0';
	ret = config_parse(f, &c, run ? &r : NULL, err, CONFIG_ERR_MAX);
	if (ret < 0 && !err[0])
		return -1000; /* a failure without a reason */
	proc_config_free(&c);
	if (run)
		run_config_free(&r);
	return ret;
}

static void test_full_run(void)
{
	struct msg m;
	struct proc_config c;
	struct run_config run;
	char err[CONFIG_ERR_MAX] = "";
	struct in_addr a4;
	int r;

	msg_begin(&m, RV_MSG_RUN);
	put_full_run(&m);
	r = config_parse(msg_end(&m), &c, &run, err, sizeof(err));
	ok(r == 0, "full RUN parses (%s)", err);
	ok(c.argc == 3 && !strcmp(c.argv[0], "/bin/sh") && !strcmp(c.argv[1], "-c") && !strcmp(c.argv[2], "") &&
		   !c.argv[3],
	   "argv in order, NULL-terminated, an empty ARG kept");
	ok(c.envc == 2 && !strcmp(c.envp[0], "PATH=/bin") && !strcmp(c.envp[1], "HOME=/root") && !c.envp[2], "envp");
	ok(!strcmp(c.cwd, "/work") && c.uid == 1000 && c.gid == 100, "cwd, uid, gid");
	ok(c.ngids == 2 && c.gids[0] == 10 && c.gids[1] == 20, "additional gids");
	ok(c.terminal && c.has_rows && c.rows == 24 && c.has_cols && c.cols == 0xffff, "terminal, rows, cols clamped");
	ok(c.nrlimits == 1 && c.rlimits[0].resource == RLIMIT_NOFILE && c.rlimits[0].lim.rlim_cur == 1024 &&
		   c.rlimits[0].lim.rlim_max == RLIM_INFINITY,
	   "rlimit");
	ok(c.has_caps && c.caps[CAPS_BOUNDING] == 0x100 && c.caps[CAPS_AMBIENT] == 0x104, "capabilities in order");
	ok(c.no_new_privs && c.has_umask && c.umask == 022 && c.has_oom_score_adj && c.oom_score_adj == -500,
	   "no_new_privs, umask masked, oom_score_adj signed");
	ok(c.nseccomp == 2 && c.seccomp[0].code == 6 && c.seccomp[0].k == 0x7fff0000 && c.seccomp[1].jt == 1 &&
		   c.seccomp[1].jf == 2,
	   "seccomp program decoded");
	ok(run.virtiofs && run.readonly && !strcmp(run.hostname, "box"), "fstype, readonly, hostname");
	ok(run.nmounts == 2 && !strcmp(run.mounts[0].type, "proc") && !strcmp(run.mounts[0].source, "proc") &&
		   !strcmp(run.mounts[0].dest, "/proc") && !strcmp(run.mounts[0].options, "nosuid,noexec") &&
		   !strcmp(run.mounts[1].type, "bind") && !strcmp(run.mounts[1].source, "3") &&
		   !strcmp(run.mounts[1].options, "rbind,ro"),
	   "mounts split into their four fields, in order");
	ok(run.nmasked == 1 && !strcmp(run.masked[0], "/proc/kcore") && run.nropaths == 1 &&
		   !strcmp(run.ropaths[0], "/proc/sys") && run.nsysctls == 1 &&
		   !strcmp(run.sysctls[0], "net.ipv4.ip_forward=1"),
	   "masked and readonly paths, sysctl");
	inet_pton(AF_INET, "172.17.0.2", &a4);
	ok(!strcmp(run.ifname, "eth0") && run.mac[0] == 0x02 && run.mac[5] == 0x02 && run.mtu == 1500, "interface");
	ok(run.naddrs == 2 && run.addrs[0].pfx.family == AF_INET && run.addrs[0].pfx.ip.v4.s_addr == a4.s_addr &&
		   run.addrs[0].pfx.len == 16 && run.addrs[1].pfx.family == AF_INET6 && run.addrs[1].pfx.len == 64,
	   "addresses, IPv4 and IPv6");
	ok(run.nroutes == 2 && run.routes[0].pfx.len == 0 && !strcmp(run.routes[0].gw_text, "172.17.0.1") &&
		   run.routes[1].pfx.family == AF_INET6 && !strcmp(run.routes[1].gw_text, ""),
	   "routes in order, with a gateway and on-link");
	ok(run.has_dns_proxy && ntohl(run.dns_proxy.s_addr) == 0x7f00000b, "DNS proxy");
	ok(run.ndevices == 2 && run.devices[0].type == 'c' && run.devices[0].major == 1 && run.devices[0].minor == 3 &&
		   run.devices[0].mode == 0640 && run.devices[0].uid == 5 && run.devices[0].gid == 6 &&
		   !strcmp(run.devices[0].path, "/dev/foo") && run.devices[1].type == 'p' &&
		   run.devices[1].mode == 0666 && !strcmp(run.devices[1].path, "/dev/fifo"),
	   "devices in order, the mode's type bits dropped");
	ok(run.userns && run.nuid_map == 1 && run.uid_map[0].inside == 0 && run.uid_map[0].outside == 100000 &&
		   run.uid_map[0].count == 65536 && run.ngid_map == 2 && run.gid_map[1].inside == 1000 &&
		   run.gid_map[1].outside == 200000 && run.gid_map[1].count == 1,
	   "user namespace and its maps");
	ok(run.rootfs_propagation == (MS_SHARED | MS_REC), "rootfs propagation rshared");
	proc_config_free(&c);
	run_config_free(&run);
	ok(!c.argv && !run.mounts, "freed and zeroed");

	/* EXEC takes the same payload but ignores what only RUN carries. */
	err[0] = '\0';
	r = config_parse(&m.f, &c, NULL, err, sizeof(err));
	ok(r == 0 && c.argc == 3 && c.nseccomp == 2 && c.has_caps, "as EXEC: the process part (%s)", err);
	proc_config_free(&c);
	rv_buf_free(&m.b);
}

static void test_defaults(void)
{
	struct msg m;
	struct proc_config c;
	struct run_config run;
	char err[CONFIG_ERR_MAX];

	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	ok(config_parse(msg_end(&m), &c, &run, err, sizeof(err)) == 0, "RUN with only ARG");
	ok(!strcmp(c.cwd, "/") && !c.has_caps && !c.nseccomp && !c.terminal && !run.hostname && !run.virtiofs &&
		   !run.ifname[0] && !run.has_dns_proxy && !run.nmounts && !run.ndevices && !run.userns &&
		   run.rootfs_propagation == (MS_SLAVE | MS_REC),
	   "cwd / and nothing else set; / rslave, as runc");
	ok(!run.uncached, "the rootfs cached unless the host says otherwise");
	proc_config_free(&c);
	run_config_free(&run);
	rv_buf_free(&m.b);

	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_str(&m.b, RV_ATTR_FSTYPE, "9p-uncached");
	ok(config_parse(msg_end(&m), &c, &run, err, sizeof(err)) == 0 && run.uncached && !run.virtiofs,
	   "FSTYPE 9p-uncached: an uncached 9p rootfs");
	proc_config_free(&c);
	run_config_free(&run);
	rv_buf_free(&m.b);
}

/* The full RUN cut at every length: refused unless the cut falls between attributes, and
 * never a crash or an over-read. */
static void test_truncated(void)
{
	struct msg m;
	struct rv_frame t;
	char err[CONFIG_ERR_MAX];
	size_t n, bad = 0, refused = 0;

	msg_begin(&m, RV_MSG_RUN);
	put_full_run(&m);
	msg_end(&m);
	for (n = 0; n < m.f.len; n++) {
		/* A private copy of exactly n bytes, so that ASan would see an over-read. */
		uint8_t *p = malloc(n ? n : 1);
		int r;

		memcpy(p, m.f.payload, n);
		t = (struct rv_frame){ .type = RV_MSG_RUN, .len = (uint32_t)n, .payload = p };
		r = parse(&t, true, err);
		bad += r == -1000 || r > 0;
		refused += r < 0;
		free(p);
	}
	ok(bad == 0, "every truncation gives 0 or an error with a message");
	ok(refused > m.f.len / 2, "most truncations are refused (%zu of %u)", refused, m.f.len);
	rv_buf_free(&m.b);
}

/* @s with its newlines written \\n, for a one-line TAP description. */
static const char *esc(const char *s)
{
	static char buf[128];
	size_t n = 0;

	for (; *s && n < sizeof(buf) - 3; s++) {
		if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* Raw attributes, for what the encoder would not write. */
static int parse_raw(const uint8_t *p, size_t n, bool run, char err[CONFIG_ERR_MAX])
{
	struct rv_frame f = { .type = RV_MSG_RUN, .len = (uint32_t)n, .payload = p };

	return parse(&f, run, err);
}

static void test_malformed_lengths(void)
{
	char err[CONFIG_ERR_MAX];
	uint8_t p[16] = { 0 };

	/* ARG claiming 4 GiB, then 9 bytes with 8 there */
	p[0] = RV_ATTR_ARG;
	rv_le32(p + 4, 0xffffffffu);
	ok(parse_raw(p, sizeof(p), true, err) == -EBADMSG, "an attribute longer than the payload: %s", err);
	rv_le32(p + 4, 9);
	ok(parse_raw(p, sizeof(p), true, err) == -EBADMSG, "an attribute one byte past the payload");
	ok(parse_raw(p, 5, true, err) == -EBADMSG, "half an attribute header");
	memset(p + 8, 'x', 7);
	rv_le32(p + 4, 7);
	ok(parse_raw(p, 15, true, err) == 0, "an unpadded last attribute that fits is taken (%s)", err);
}

/* One RUN of a valid ARG plus the attribute @t = @s (a string). */
static int run_with_str(enum rv_attr_type t, const char *s, size_t n, bool as_run, char err[CONFIG_ERR_MAX])
{
	struct msg m;
	int r;

	msg_begin(&m, as_run ? RV_MSG_RUN : RV_MSG_EXEC);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_bytes(&m.b, t, s, n);
	r = parse(msg_end(&m), as_run, err);
	rv_buf_free(&m.b);
	return r;
}

#define RUN_STR(t, s, err) run_with_str(t, s, sizeof(s) - 1, true, err)

static void test_nul_inside(void)
{
	static const enum rv_attr_type types[] = {
		RV_ATTR_ARG,      RV_ATTR_ENV,         RV_ATTR_CWD,           RV_ATTR_HOSTNAME, RV_ATTR_FSTYPE,
		RV_ATTR_MOUNT,    RV_ATTR_MASKED_PATH, RV_ATTR_READONLY_PATH, RV_ATTR_SYSCTL,   RV_ATTR_NET_IF,
		RV_ATTR_NET_ADDR, RV_ATTR_NET_ROUTE,   RV_ATTR_DNS_PROXY,
	};
	char err[CONFIG_ERR_MAX];
	size_t i;

	/* Strings that would be valid but for the NUL, which C would cut them at. */
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		static const char s[] = "/ok\0/hidden";

		ok(run_with_str(types[i], s, sizeof(s) - 1, true, err) == -EBADMSG, "NUL inside attribute %d refused",
		   types[i]);
	}
}

static void test_repeated_and_unknown(void)
{
	static const enum rv_attr_type once_u32[] = {
		RV_ATTR_UID,      RV_ATTR_GID,          RV_ATTR_TERMINAL, RV_ATTR_ROWS,          RV_ATTR_COLS,
		RV_ATTR_READONLY, RV_ATTR_NO_NEW_PRIVS, RV_ATTR_UMASK,    RV_ATTR_OOM_SCORE_ADJ,
	};
	struct msg m;
	char err[CONFIG_ERR_MAX];
	uint8_t caps[CAPS_ATTR_LEN] = { 0 }, bpf[8] = { 6 };
	size_t i;
	int r;

	for (i = 0; i < sizeof(once_u32) / sizeof(once_u32[0]); i++) {
		msg_begin(&m, RV_MSG_RUN);
		rv_put_str(&m.b, RV_ATTR_ARG, "true");
		rv_put_u32(&m.b, once_u32[i], 1);
		rv_put_u32(&m.b, once_u32[i], 0);
		r = parse(msg_end(&m), true, err);
		ok(r == -EBADMSG && strstr(err, "more than one"), "attribute %d twice: %s", once_u32[i], err);
		rv_buf_free(&m.b);
	}
	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_str(&m.b, RV_ATTR_CWD, "/a");
	rv_put_str(&m.b, RV_ATTR_CWD, "/b");
	ok(parse(msg_end(&m), true, err) == -EBADMSG, "CWD twice: %s", err);
	rv_buf_free(&m.b);
	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	put_bytes(&m, RV_ATTR_CAPS, caps, sizeof(caps));
	put_bytes(&m, RV_ATTR_CAPS, caps, sizeof(caps));
	ok(parse(msg_end(&m), true, err) == -EBADMSG, "CAPS twice: %s", err);
	rv_buf_free(&m.b);
	msg_begin(&m, RV_MSG_EXEC);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	put_bytes(&m, RV_ATTR_SECCOMP, bpf, sizeof(bpf));
	put_bytes(&m, RV_ATTR_SECCOMP, bpf, sizeof(bpf));
	ok(parse(msg_end(&m), false, err) == -EBADMSG, "SECCOMP twice in EXEC: %s", err);
	rv_buf_free(&m.b);
	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_str(&m.b, RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02\n1500");
	rv_put_str(&m.b, RV_ATTR_NET_IF, "eth1\n02:42:ac:11:00:03\n1500");
	ok(parse(msg_end(&m), true, err) == -EBADMSG && strstr(err, "NET_IF"), "NET_IF twice: %s", err);
	rv_buf_free(&m.b);
	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_str(&m.b, RV_ATTR_DNS_PROXY, "127.0.0.11");
	rv_put_str(&m.b, RV_ATTR_DNS_PROXY, "127.0.0.12");
	ok(parse(msg_end(&m), true, err) == -EBADMSG && strstr(err, "DNS_PROXY"), "DNS_PROXY twice: %s", err);
	rv_buf_free(&m.b);

	/* Newer hosts may send more: unknown types, and known ones of other messages, are skipped. */
	msg_begin(&m, RV_MSG_RUN);
	rv_put_u32(&m.b, (enum rv_attr_type)0, 1);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_u32(&m.b, (enum rv_attr_type)_RV_ATTR_MAX, 1);
	rv_put_u32(&m.b, (enum rv_attr_type)0xffff, 1);
	rv_put_str(&m.b, RV_ATTR_ERROR, "not for RUN\0");
	rv_put_u32(&m.b, RV_ATTR_VERSION, 9);
	rv_put_u32(&m.b, RV_ATTR_SIGNO, 9);
	rv_put_u32(&m.b, RV_ATTR_SIGNO, 9);
	ok(parse(msg_end(&m), true, err) == 0, "unknown and other messages' attributes skipped, even repeated");
	rv_buf_free(&m.b);
	/* RUN's own attributes in EXEC: skipped without a look. */
	ok(run_with_str(RV_ATTR_MOUNT, "bad", 3, false, err) == 0, "a malformed MOUNT in EXEC is ignored");
	ok(run_with_str(RV_ATTR_HOSTNAME, "x\0y", 3, false, err) == 0, "a HOSTNAME with a NUL in EXEC is ignored");
}

static void test_no_arg(void)
{
	struct msg m;
	char err[CONFIG_ERR_MAX];

	msg_begin(&m, RV_MSG_RUN);
	ok(parse(msg_end(&m), true, err) == -EINVAL && strstr(err, "without ARG"), "empty RUN: %s", err);
	rv_buf_free(&m.b);
	msg_begin(&m, RV_MSG_EXEC);
	rv_put_str(&m.b, RV_ATTR_ENV, "A=1");
	rv_put_str(&m.b, RV_ATTR_CWD, "/");
	ok(parse(msg_end(&m), false, err) == -EINVAL && strstr(err, "EXEC without ARG"), "EXEC without ARG: %s", err);
	rv_buf_free(&m.b);
}

/* @n ENV entries (or GIDS) besides one ARG. */
static int run_with_many(enum rv_attr_type t, size_t n, char err[CONFIG_ERR_MAX])
{
	struct msg m;
	size_t i;
	int r;

	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	for (i = 0; i < n; i++) {
		if (t == RV_ATTR_GIDS)
			rv_put_u32(&m.b, t, (uint32_t)i);
		else
			rv_put_str(&m.b, t, "A=1");
	}
	r = parse(msg_end(&m), true, err);
	rv_buf_free(&m.b);
	return r;
}

static void test_counts(void)
{
	char err[CONFIG_ERR_MAX];

	ok(run_with_many(RV_ATTR_ENV, CONFIG_LIST_MAX, err) == 0, "%d ENV entries taken", CONFIG_LIST_MAX);
	ok(run_with_many(RV_ATTR_ENV, CONFIG_LIST_MAX + 1, err) == -EBADMSG && strstr(err, "ENV"),
	   "one ENV more refused: %s", err);
	ok(run_with_many(RV_ATTR_GIDS, CONFIG_LIST_MAX + 1, err) == -EBADMSG, "one GIDS over NGROUPS_MAX refused: %s",
	   err);
	ok(run_with_many(RV_ATTR_SYSCTL, CONFIG_LIST_MAX + 1, err) == -EBADMSG, "too many SYSCTL refused");
}

static void test_overlong(void)
{
	char err[CONFIG_ERR_MAX], *s = malloc(CONFIG_ARG_MAX + 2);

	memset(s, 'a', CONFIG_ARG_MAX + 1);
	s[CONFIG_ARG_MAX + 1] = '\0';
	ok(run_with_str(RV_ATTR_ENV, s, CONFIG_ARG_MAX, true, err) == 0, "an ENV of %d bytes taken", CONFIG_ARG_MAX);
	ok(run_with_str(RV_ATTR_ENV, s, CONFIG_ARG_MAX + 1, true, err) == -EBADMSG, "one byte more refused: %s", err);
	ok(run_with_str(RV_ATTR_ARG, s, CONFIG_ARG_MAX + 1, true, err) == -EBADMSG, "an overlong ARG refused");
	s[0] = '/';
	ok(run_with_str(RV_ATTR_CWD, s, PATH_MAX - 1, true, err) == 0, "a CWD of PATH_MAX - 1 bytes taken");
	ok(run_with_str(RV_ATTR_CWD, s, PATH_MAX, true, err) == -EBADMSG, "a CWD of PATH_MAX refused: %s", err);
	ok(run_with_str(RV_ATTR_HOSTNAME, s, HOSTNAME_MAX + 1, true, err) == -EINVAL, "a long hostname refused: %s",
	   err);
	ok(run_with_str(RV_ATTR_HOSTNAME, s, HOSTNAME_MAX, true, err) == 0, "a hostname of %d bytes taken",
	   HOSTNAME_MAX);
	free(s);
}

static void test_bad_shapes(void)
{
	char err[CONFIG_ERR_MAX];
	uint8_t b[SECCOMP_MAX_INSNS * 8 + 8] = { 0 };

	ok(run_with_str(RV_ATTR_UID, "abc", 3, true, err) == -EBADMSG, "a 3-byte UID refused");
	ok(run_with_str(RV_ATTR_RLIMIT, (char *)b, RLIMIT_ATTR_LEN - 1, true, err) == -EBADMSG, "short RLIMIT: %s",
	   err);
	ok(run_with_str(RV_ATTR_CAPS, (char *)b, CAPS_ATTR_LEN + 1, true, err) == -EBADMSG, "long CAPS: %s", err);
	ok(run_with_str(RV_ATTR_SECCOMP, (char *)b, 0, true, err) == -EBADMSG, "empty SECCOMP refused");
	ok(run_with_str(RV_ATTR_SECCOMP, (char *)b, 7, true, err) == -EBADMSG, "SECCOMP not a multiple of 8");
	ok(run_with_str(RV_ATTR_SECCOMP, (char *)b, SECCOMP_MAX_INSNS * 8, true, err) == 0, "%d instructions taken",
	   SECCOMP_MAX_INSNS);
	ok(run_with_str(RV_ATTR_SECCOMP, (char *)b, sizeof(b), true, err) == -EBADMSG, "one instruction more: %s", err);
}

static void test_bad_values(void)
{
	static const struct {
		enum rv_attr_type type;
		const char *value;
	} bad[] = {
		{ RV_ATTR_CWD, "work" },
		{ RV_ATTR_CWD, "" },
		{ RV_ATTR_FSTYPE, "ext4" },
		{ RV_ATTR_FSTYPE, "9P" },
		{ RV_ATTR_MOUNT, "proc\nproc\n/proc" },
		{ RV_ATTR_MOUNT, "proc\nproc\n\nnosuid" },
		{ RV_ATTR_MOUNT, "proc\nproc\n/proc\nnosuid\nmore" },
		{ RV_ATTR_SYSCTL, "=1" },
		{ RV_ATTR_SYSCTL, "a..b=1" },
		{ RV_ATTR_SYSCTL, "a/../b=1" },
		{ RV_ATTR_SYSCTL, ".a=1" },
		{ RV_ATTR_SYSCTL, "a.b" },
		{ RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02" },
		{ RV_ATTR_NET_IF, "eth/0\n02:42:ac:11:00:02\n1500" },
		{ RV_ATTR_NET_IF, "eth0:1\n02:42:ac:11:00:02\n1500" },
		{ RV_ATTR_NET_IF, "..\n02:42:ac:11:00:02\n1500" },
		{ RV_ATTR_NET_IF, "averyveryverylongname\n02:42:ac:11:00:02\n1500" },
		{ RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00\n1500" },
		{ RV_ATTR_NET_IF, "eth0\n02-42-ac-11-00-02\n1500" },
		{ RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02\n0" },
		{ RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02\n65536" },
		{ RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02\n-1" },
		{ RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02\n99999999999" },
		{ RV_ATTR_DNS_PROXY, "10.0.0.1" },
		{ RV_ATTR_DNS_PROXY, "::1" },
		{ RV_ATTR_DNS_PROXY, "127.0.0.11:53" },
	};
	char err[CONFIG_ERR_MAX];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = run_with_str(bad[i].type, bad[i].value, strlen(bad[i].value), true, err);

		ok(r == -EINVAL || r == -EBADMSG, "attribute %d `%s` refused: %s", bad[i].type, esc(bad[i].value), err);
	}
	ok(RUN_STR(RV_ATTR_NET_ADDR, "172.17.0.2/16", err) == -EINVAL && strstr(err, "without NET_IF"),
	   "an address without an interface: %s", err);
	ok(RUN_STR(RV_ATTR_NET_ROUTE, "0.0.0.0/0\n172.17.0.1", err) == -EINVAL, "a route without an interface");
}

/* Network attributes after a valid NET_IF. */
static int run_with_net(enum rv_attr_type t, const char *s, char err[CONFIG_ERR_MAX])
{
	struct msg m;
	int r;

	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_str(&m.b, RV_ATTR_NET_IF, "eth0\n02:42:ac:11:00:02\n1500");
	rv_put_str(&m.b, t, s);
	r = parse(msg_end(&m), true, err);
	rv_buf_free(&m.b);
	return r;
}

static void test_bad_network(void)
{
	static const char *const addrs[] = {
		"172.17.0.2",    "172.17.0.2/33",
		"fd00::2/129",   "172.17.0.2/",
		"172.17.0.2/+8", "172.17.0.2/ 8",
		"300.1.1.1/8",   "/8",
		"fd00::2::3/64", "0123456789012345678901234567890123456789012345678/8",
	};
	static const char *const routes[] = {
		"0.0.0.0/0",    "0.0.0.0/0\n172.17.0.1\n", "0.0.0.0/0\nfd00::1", "fd00::/64\n172.17.0.1",
		"0.0.0.0/40\n", "0.0.0.0/0\ngateway",
	};
	char err[CONFIG_ERR_MAX];
	size_t i;

	ok(run_with_net(RV_ATTR_NET_ADDR, "fd00::2/128", err) == 0, "an IPv6 /128 taken (%s)", err);
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		ok(run_with_net(RV_ATTR_NET_ADDR, addrs[i], err) == -EINVAL, "address `%s` refused: %s", addrs[i], err);
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		ok(run_with_net(RV_ATTR_NET_ROUTE, routes[i], err) == -EINVAL, "route `%s` refused", esc(routes[i]));
}

/* A small PRNG, so that a failure can be replayed. */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* The full RUN with a few random bytes changed, many times: 0 or an error, never a crash. */
static void test_mutations(void)
{
	struct msg m;
	char err[CONFIG_ERR_MAX];
	uint32_t seed = 0x2545f491;
	size_t k, bad = 0, taken = 0;

	msg_begin(&m, RV_MSG_RUN);
	put_full_run(&m);
	msg_end(&m);
	for (k = 0; k < 20000; k++) {
		uint8_t *p = malloc(m.f.len);
		size_t j, n = 1 + rnd(&seed) % 4;
		struct rv_frame t;
		int r;

		memcpy(p, m.f.payload, m.f.len);
		for (j = 0; j < n; j++)
			p[rnd(&seed) % m.f.len] = (uint8_t)rnd(&seed);
		t = (struct rv_frame){ .type = RV_MSG_RUN, .len = m.f.len, .payload = p };
		r = parse(&t, k & 1, err);
		bad += r == -1000 || r > 0;
		taken += r == 0;
		free(p);
	}
	ok(bad == 0, "20000 mutated messages: each taken or refused with a message (%zu taken)", taken);
	rv_buf_free(&m.b);
}

/* With a path: also write the full RUN there, as a frame, the seed of the fuzzer's corpus. */
static void write_seed(const char *path)
{
	struct msg m;
	FILE *f = fopen(path, "wb");

	msg_begin(&m, RV_MSG_RUN);
	put_full_run(&m);
	msg_end(&m);
	ok(f && fwrite(m.b.data, 1, m.b.len, f) == m.b.len && fclose(f) == 0, "seed written to %s", path);
	rv_buf_free(&m.b);
}

/* RUN with one ARG, then @n bytes of attribute @t, then (when @userns) a user namespace with
 * both maps. */
static int run_with_bytes(enum rv_attr_type t, const void *d, size_t n, bool userns, char err[CONFIG_ERR_MAX])
{
	struct msg m;
	int r;

	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_bytes(&m.b, t, d, n);
	if (userns) {
		rv_put_u32(&m.b, RV_ATTR_USERNS, 1);
		put_idmap(&m, RV_ATTR_UID_MAP, 0, 1000, 1);
		put_idmap(&m, RV_ATTR_GID_MAP, 0, 1000, 1);
	}
	r = parse(msg_end(&m), true, err);
	rv_buf_free(&m.b);
	return r;
}

static void dev_rule(uint8_t v[RV_DEV_RULE_ATTR_LEN], uint32_t allow, uint32_t type, uint32_t major, uint32_t minor,
		     uint32_t access)
{
	rv_le32(v, allow);
	rv_le32(v + 4, type);
	rv_le32(v + 8, major);
	rv_le32(v + 12, minor);
	rv_le32(v + 16, access);
}

/* RV_ATTR_DEV_RULE: decoded in order; each bad shape or value refused, and the count bounded. */
static void test_dev_rules(void)
{
	char err[CONFIG_ERR_MAX];
	uint8_t v[RV_DEV_RULE_ATTR_LEN + 4] = { 0 };
	struct proc_config c;
	struct run_config r;
	struct msg m;
	int ret;

	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	dev_rule(v, 0, 'a', RV_DEV_RULE_ANY, RV_DEV_RULE_ANY, 7);
	rv_put_bytes(&m.b, RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN);
	dev_rule(v, 1, 'c', 1, 5, RV_DEV_ACC_READ);
	rv_put_bytes(&m.b, RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN);
	dev_rule(v, 1, 'b', 0xfff, 0xfffff, RV_DEV_ACC_MKNOD);
	rv_put_bytes(&m.b, RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN);
	ret = config_parse(msg_end(&m), &c, &r, err, sizeof(err));
	ok(ret == 0 && r.ndev_rules == 3 && !r.dev_rules[0].allow && r.dev_rules[0].type == 'a' &&
		   r.dev_rules[0].major == RV_DEV_RULE_ANY && r.dev_rules[0].access == 7 && r.dev_rules[1].allow &&
		   r.dev_rules[1].type == 'c' && r.dev_rules[1].major == 1 && r.dev_rules[1].minor == 5 &&
		   r.dev_rules[1].access == RV_DEV_ACC_READ && r.dev_rules[2].type == 'b' &&
		   r.dev_rules[2].minor == 0xfffff,
	   "three device rules decoded in order (%s)", ret ? err : "ok");
	if (ret == 0) {
		proc_config_free(&c);
		run_config_free(&r);
	}
	rv_buf_free(&m.b);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, 16, false, err) == -EBADMSG, "a DEV_RULE of 16 bytes: %s", err);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN + 4, false, err) == -EBADMSG,
	   "a DEV_RULE of 24 bytes: %s", err);
	dev_rule(v, 2, 'c', 1, 3, 7);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN, false, err) == -EINVAL, "allow 2: %s", err);
	dev_rule(v, 1, 'u', 1, 3, 7);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN, false, err) == -EINVAL, "type u: %s", err);
	dev_rule(v, 1, 'c', 1, 3, 0);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN, false, err) == -EINVAL, "no access: %s", err);
	dev_rule(v, 1, 'c', 1, 3, 8);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN, false, err) == -EINVAL, "access 8: %s", err);
	dev_rule(v, 1, 'c', 0x1000, 3, 7);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN, false, err) == -EINVAL && strstr(err, "range"),
	   "major 4096: %s", err);
	dev_rule(v, 1, 'c', 1, 0x100000, 7);
	ok(run_with_bytes(RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN, false, err) == -EINVAL && strstr(err, "range"),
	   "minor 2^20: %s", err);

	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	dev_rule(v, 1, 'c', 1, 3, 7);
	for (int i = 0; i <= DEV_RULES_MAX; i++)
		rv_put_bytes(&m.b, RV_ATTR_DEV_RULE, v, RV_DEV_RULE_ATTR_LEN);
	ok(parse(msg_end(&m), true, err) == -EINVAL && strstr(err, "more than"), "%d device rules: %s",
	   DEV_RULES_MAX + 1, err);
	rv_buf_free(&m.b);
}

/* RV_ATTR_DEVICE, the user namespace and ROOTFS_PROPAGATION: each bad shape or value refused. */
static void test_guest_settings(void)
{
	static const char *const props[] = { "shared",  "rshared",  "slave",      "rslave",
					     "private", "rprivate", "unbindable", "runbindable" };
	char err[CONFIG_ERR_MAX];
	uint8_t v[RV_DEVICE_ATTR_LEN + 8] = { 0 };
	struct msg m;
	size_t i;

	rv_le32(v, 'c');
	memcpy(v + RV_DEVICE_ATTR_LEN, "/dev/x", 6);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + 6, false, err) == 0, "a device /dev/x 0:0 (%s)", err);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN, false, err) == -EBADMSG, "a device without a path: %s",
	   err);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, 10, false, err) == -EBADMSG, "a DEVICE of 10 bytes: %s", err);
	memcpy(v + RV_DEVICE_ATTR_LEN, "dev/x", 5);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + 5, false, err) == -EINVAL && strstr(err, "absolute"),
	   "a relative device path: %s", err);
	memcpy(v + RV_DEVICE_ATTR_LEN, "/dev\0x", 6);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + 6, false, err) == -EINVAL,
	   "a NUL in a device path: %s", err);
	memcpy(v + RV_DEVICE_ATTR_LEN, "/dev/x", 6);
	rv_le32(v, 'x');
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + 6, false, err) == -EINVAL && strstr(err, "type"),
	   "device type x: %s", err);
	rv_le32(v, 'b');
	rv_le32(v + 4, 0x1000);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + 6, false, err) == -EINVAL && strstr(err, "range"),
	   "major 4096: %s", err);
	rv_le32(v + 4, 0xfff);
	rv_le32(v + 8, 0x100000);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + 6, false, err) == -EINVAL, "minor 2^20: %s", err);
	rv_le32(v + 8, 0xfffff);
	ok(run_with_bytes(RV_ATTR_DEVICE, v, RV_DEVICE_ATTR_LEN + 6, false, err) == 0, "the largest numbers (%s)", err);

	/* The user namespace needs both maps, and the maps need it. */
	rv_le32(v, 1);
	ok(run_with_bytes(RV_ATTR_USERNS, v, 4, false, err) == -EINVAL && strstr(err, "without a uid and a gid map"),
	   "USERNS without maps: %s", err);
	rv_le32(v, 0);
	rv_le32(v + 4, 1000);
	rv_le32(v + 8, 1);
	ok(run_with_bytes(RV_ATTR_UID_MAP, v, RV_IDMAP_ATTR_LEN, false, err) == -EINVAL &&
		   strstr(err, "without a user namespace"),
	   "UID_MAP without USERNS: %s", err);
	ok(run_with_bytes(RV_ATTR_UID_MAP, v, RV_IDMAP_ATTR_LEN, true, err) == 0, "a second uid range (%s)", err);
	ok(run_with_bytes(RV_ATTR_UID_MAP, v, 8, true, err) == -EBADMSG, "a UID_MAP of 8 bytes: %s", err);
	rv_le32(v + 8, 0);
	ok(run_with_bytes(RV_ATTR_GID_MAP, v, RV_IDMAP_ATTR_LEN, true, err) == -EINVAL, "an empty gid range: %s", err);
	rv_le32(v + 4, 0xffffffffu);
	rv_le32(v + 8, 1);
	ok(run_with_bytes(RV_ATTR_GID_MAP, v, RV_IDMAP_ATTR_LEN, true, err) == -EINVAL, "a range holding -1: %s", err);
	rv_le32(v, 0xfffffff0u);
	rv_le32(v + 4, 0);
	rv_le32(v + 8, 0x20);
	ok(run_with_bytes(RV_ATTR_UID_MAP, v, RV_IDMAP_ATTR_LEN, true, err) == -EINVAL, "a range that wraps: %s", err);
	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_u32(&m.b, RV_ATTR_USERNS, 1);
	put_idmap(&m, RV_ATTR_GID_MAP, 0, 1000, 1);
	for (i = 0; i <= ID_MAP_MAX; i++)
		put_idmap(&m, RV_ATTR_UID_MAP, (uint32_t)i, 1000 + (uint32_t)i, 1);
	ok(parse(msg_end(&m), true, err) == -EINVAL && strstr(err, "340"), "%d uid ranges: %s", ID_MAP_MAX + 1, err);
	rv_buf_free(&m.b);
	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_u32(&m.b, RV_ATTR_USERNS, 1);
	rv_put_u32(&m.b, RV_ATTR_USERNS, 1);
	ok(parse(msg_end(&m), true, err) == -EBADMSG && strstr(err, "USERNS"), "USERNS twice: %s", err);
	rv_buf_free(&m.b);

	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++)
		ok(run_with_bytes(RV_ATTR_ROOTFS_PROPAGATION, props[i], strlen(props[i]), false, err) == 0,
		   "rootfs propagation %s (%s)", props[i], err);
	ok(RUN_STR(RV_ATTR_ROOTFS_PROPAGATION, "rsharedx", err) == -EINVAL && strstr(err, "propagation"),
	   "an unknown propagation: %s", err);
	ok(RUN_STR(RV_ATTR_ROOTFS_PROPAGATION, "", err) == -EINVAL, "an empty propagation: %s", err);
	msg_begin(&m, RV_MSG_RUN);
	rv_put_str(&m.b, RV_ATTR_ARG, "true");
	rv_put_str(&m.b, RV_ATTR_ROOTFS_PROPAGATION, "shared");
	rv_put_str(&m.b, RV_ATTR_ROOTFS_PROPAGATION, "private");
	ok(parse(msg_end(&m), true, err) == -EBADMSG, "ROOTFS_PROPAGATION twice: %s", err);
	rv_buf_free(&m.b);
	/* RUN's own: EXEC skips them without a look. */
	ok(run_with_str(RV_ATTR_DEVICE, "bad", 3, false, err) == 0 &&
		   run_with_str(RV_ATTR_ROOTFS_PROPAGATION, "bad", 3, false, err) == 0 &&
		   run_with_str(RV_ATTR_UID_MAP, "bad", 3, false, err) == 0,
	   "DEVICE, UID_MAP and ROOTFS_PROPAGATION in EXEC are ignored");
}

/* The verified rootfs's parameters, from the (measured) kernel command line. */
static void test_verity_cmdline(void)
{
#define H "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	struct verity_params v;

	ok(verity_parse_cmdline("quiet panic=-1 runvm.verity=" H ",00ff,42 tsc=x", &v) == 0 && !strcmp(v.roothash, H) &&
		   !strcmp(v.salt, "00ff") && v.data_blocks == 42,
	   "verity: root hash, salt and data blocks read");
	ok(verity_parse_cmdline("runvm.verity=" H ",-,1\n", &v) == 0 && !strcmp(v.salt, "-") && v.data_blocks == 1,
	   "verity: no salt, first word, newline-ended");
	ok(verity_parse_cmdline("quiet", &v) == -ENOENT &&
		   verity_parse_cmdline("xrunvm.verity=" H ",-,1", &v) == -ENOENT,
	   "verity: absent (a longer word is not it)");
	ok(verity_parse_cmdline("runvm.verity=" H ",-,1 runvm.verity=" H ",-,2", &v) == -EINVAL,
	   "verity: given twice is refused");
	ok(verity_parse_cmdline("runvm.verity=0123,-,1", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H "00,-,1", &v) == -EINVAL &&
		   verity_parse_cmdline(
			   "runvm.verity=g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,-,1", &v) ==
			   -EINVAL,
	   "verity: a root hash too short, too long or not hex is refused");
	ok(verity_parse_cmdline("runvm.verity=" H ",0,1", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H ",,1", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H ",zz,1", &v) == -EINVAL,
	   "verity: an odd, empty or non-hex salt is refused");
	ok(verity_parse_cmdline("runvm.verity=" H ",-,0", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H ",-,01", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H ",-,1099511627777", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H ",-,", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H ",-", &v) == -EINVAL &&
		   verity_parse_cmdline("runvm.verity=" H ",-,12x", &v) == -EINVAL,
	   "verity: block counts of 0, leading zeros, past 2^40, missing or not a number are refused");
	{
		char salt[2 * VERITY_SALT_MAX + 3];
		char line[512];

		memset(salt, 'a', sizeof(salt) - 1);
		salt[sizeof(salt) - 1] = 0;
		snprintf(line, sizeof(line), "runvm.verity=" H ",%s,1", salt);
		ok(verity_parse_cmdline(line, &v) == -EINVAL, "verity: a salt over %d bytes is refused",
		   VERITY_SALT_MAX);
		salt[2 * VERITY_SALT_MAX] = 0;
		snprintf(line, sizeof(line), "runvm.verity=" H ",%s,1", salt);
		ok(verity_parse_cmdline(line, &v) == 0 && strlen(v.salt) == 2 * VERITY_SALT_MAX,
		   "verity: a salt of %d bytes is taken", VERITY_SALT_MAX);
	}
#undef H
}

int main(int argc, char **argv)
{
	if (argc > 1)
		write_seed(argv[1]);
	test_full_run();
	test_defaults();
	test_truncated();
	test_malformed_lengths();
	test_nul_inside();
	test_repeated_and_unknown();
	test_no_arg();
	test_counts();
	test_overlong();
	test_bad_shapes();
	test_bad_values();
	test_bad_network();
	test_guest_settings();
	test_dev_rules();
	test_mutations();
	test_verity_cmdline();
	return tap_done();
}
