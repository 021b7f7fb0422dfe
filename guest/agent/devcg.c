/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * linux.resources.devices, enforced by the guest kernel: a BPF_PROG_TYPE_CGROUP_DEVICE program,
 * attached (BPF_CGROUP_DEVICE) to the container's cgroup before any of its processes joins it,
 * as runc and crun do on a cgroup v2 host. Raw instructions: the guest has no libbpf, and the
 * program is a straight line of compares.
 *
 * The kernel runs it at each open() and mknod() of a device node by a process of the cgroup,
 * with a struct bpf_cgroup_dev_ctx: access_type = (access << 16) | type (BPF_DEVCG_ACC_* and
 * BPF_DEVCG_DEV_*), major, minor. It returns 1 to allow, 0 to deny (EPERM).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest/agent/devcg.h"
#include "protocol/agent-proto.h"

/* Registers: r1 the context, then what is read from it once at the start. */
enum { R0, R1, R2, R3, R4, R5, R6, R7 };
#define REG_TYPE R2
#define REG_ACCESS R3
#define REG_MAJOR R4
#define REG_MINOR R5
#define REG_TMP R6

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define MOV_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define AND_IMM(d, i) INSN(BPF_ALU64 | BPF_AND | BPF_K, d, 0, 0, i)
#define RSH_IMM(d, i) INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, i)
/* Jumps to the end of the rule's block: the offset is filled in once the block is whole. */
#define JNE_IMM(d, i) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, 0, i)
#define JEQ_IMM(d, i) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, 0, i)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define ACC_ALL (RV_DEV_ACC_MKNOD | RV_DEV_ACC_READ | RV_DEV_ACC_WRITE)

/* The same bits, by name, as the kernel's: what RV_ATTR_DEV_RULE carries goes in as is. */
_Static_assert(RV_DEV_ACC_MKNOD == BPF_DEVCG_ACC_MKNOD && RV_DEV_ACC_READ == BPF_DEVCG_ACC_READ &&
		       RV_DEV_ACC_WRITE == BPF_DEVCG_ACC_WRITE,
	       "access bits");

/* One rule's block at @p: falls through to the next (earlier) rule when it does not match,
 * else returns the rule's verdict. Returns its length (at most 8). */
static size_t rule_block(const struct dev_rule *d, struct bpf_insn *p)
{
	size_t n = 0, i;

	if (d->type != 'a')
		p[n++] = JNE_IMM(REG_TYPE, d->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
	if (d->major != RV_DEV_RULE_ANY)
		p[n++] = JNE_IMM(REG_MAJOR, (int32_t)d->major);
	if (d->minor != RV_DEV_RULE_ANY)
		p[n++] = JNE_IMM(REG_MINOR, (int32_t)d->minor);
	if (d->access != ACC_ALL) {
		/* An allow rule must hold every bit asked for; a deny rule, any one of them (a
		 * deny of w refuses an open for rw, as with cgroup v1). */
		p[n++] = MOV_REG(REG_TMP, REG_ACCESS);
		if (d->allow) {
			p[n++] = AND_IMM(REG_TMP, ACC_ALL & ~d->access);
			p[n++] = JNE_IMM(REG_TMP, 0);
		} else {
			p[n++] = AND_IMM(REG_TMP, d->access);
			p[n++] = JEQ_IMM(REG_TMP, 0);
		}
	}
	p[n++] = MOV_IMM(R0, d->allow ? 1 : 0);
	p[n++] = EXIT();
	for (i = 0; i < n; i++)
		if (BPF_CLASS(p[i].code) == BPF_JMP && BPF_OP(p[i].code) != BPF_EXIT)
			p[i].off = (int16_t)(n - i - 1);
	return n;
}

size_t devcg_build(const struct dev_rule *rules, size_t n, struct bpf_insn *insns)
{
	size_t len = 0, first = 0, i;
	int deflt = 0;

	/* As runc's device filter (its emulation of cgroup v1, which starts from an empty allow
	 * list): a rule for every device resets the list and sets what is not matched; before
	 * any, that is nothing. */
	for (i = 0; i < n; i++)
		if (rules[i].type == 'a' && rules[i].major == RV_DEV_RULE_ANY && rules[i].minor == RV_DEV_RULE_ANY) {
			first = i + 1;
			deflt = rules[i].allow;
		}
	insns[len++] = LDX_W(REG_TYPE, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
	insns[len++] = MOV_REG(REG_ACCESS, REG_TYPE);
	insns[len++] = AND_IMM(REG_TYPE, 0xffff);
	insns[len++] = RSH_IMM(REG_ACCESS, 16);
	insns[len++] = LDX_W(REG_MAJOR, R1, offsetof(struct bpf_cgroup_dev_ctx, major));
	insns[len++] = LDX_W(REG_MINOR, R1, offsetof(struct bpf_cgroup_dev_ctx, minor));
	/* The last rule that matches decides: they are tried from the last. */
	for (i = n; i > first; i--)
		len += rule_block(&rules[i - 1], insns + len);
	insns[len++] = MOV_IMM(R0, deflt);
	insns[len++] = EXIT();
	return len;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int devcg_load(const struct dev_rule *rules, size_t n, char *err, size_t errsize)
{
	/* Static: the program of DEV_RULES_MAX rules is 64 KiB. */
	static struct bpf_insn insns[DEVCG_MAX_INSNS];
	static char log[4096];
	union bpf_attr attr;
	size_t len;
	int fd, e;

	if (n > DEV_RULES_MAX) {
		snprintf(err, errsize, "device rules: more than %d", DEV_RULES_MAX);
		return -E2BIG;
	}
	len = devcg_build(rules, n, insns);
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = (uint32_t)len;
	attr.license = (uint64_t)(uintptr_t) "GPL";
	fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd >= 0)
		return fd;
	e = errno;
	/* Again with the verifier's log, for the message (not the first time: a log too small
	 * for what the verifier says of a long program fails the load with ENOSPC). */
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	log[0] = '\0';
	fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd >= 0)
		close(fd);
	log[sizeof(log) - 1] = '\0';
	snprintf(err, errsize, "linux.resources.devices: loading the device cgroup program: %s%s%.120s", strerror(e),
		 log[0] ? "; verifier: " : "", log);
	return -e;
}

int devcg_attach(int prog, const char *cgroup_dir)
{
	union bpf_attr attr;
	int dir, r = 0;

	/* Not O_PATH: the kernel takes no such fd as the target. */
	dir = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)dir;
	attr.attach_bpf_fd = (uint32_t)prog;
	attr.attach_type = BPF_CGROUP_DEVICE;
	if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
		r = -errno;
	close(dir);
	return r;
}
