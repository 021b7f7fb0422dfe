/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest agent's device cgroup program (guest/agent/devcg.c) on the host: the instructions
 * devcg_build() makes are run by a small interpreter of the few it uses, for the cases that
 * define the semantics (the last matching rule wins, a rule for every device resets, allow
 * needs every bit asked for, deny any one), then for random rule lists against a plain C
 * reading of the same semantics. Where the host lets it (root), the kernel's verifier checks
 * the largest program too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/agent/devcg.h"
#include "protocol/agent-proto.h"
#include "tests/unit/tap.h"

#define ANY RV_DEV_RULE_ANY
#define M RV_DEV_ACC_MKNOD
#define R RV_DEV_ACC_READ
#define W RV_DEV_ACC_WRITE

static struct bpf_insn prog[DEVCG_MAX_INSNS];

/* Run @n instructions on a context; -1 when the program does what devcg_build() never emits
 * (an unknown instruction, a jump out of it, no exit). */
static int run(const struct bpf_insn *p, size_t n, uint32_t type, uint32_t access, uint32_t major, uint32_t minor)
{
	struct bpf_cgroup_dev_ctx ctx = { (access << 16) | type, major, minor };
	uint64_t reg[11] = { 0 };
	size_t pc = 0, steps = 0;

	while (pc < n && steps++ < n) {
		const struct bpf_insn *i = &p[pc++];
		uint64_t *d = &reg[i->dst_reg];
		uint64_t k = (uint64_t)(int64_t)i->imm;

		switch (i->code) {
		case BPF_LDX | BPF_MEM | BPF_W:
			if (i->src_reg != 1 || i->off < 0 || (size_t)i->off + 4 > sizeof(ctx) || i->off % 4)
				return -1;
			*d = ((const uint32_t *)&ctx)[i->off / 4];
			break;
		case BPF_ALU64 | BPF_MOV | BPF_X: *d = reg[i->src_reg]; break;
		case BPF_ALU64 | BPF_MOV | BPF_K: *d = k; break;
		case BPF_ALU64 | BPF_AND | BPF_K: *d &= k; break;
		case BPF_ALU64 | BPF_RSH | BPF_K: *d >>= i->imm; break;
		case BPF_JMP | BPF_JNE | BPF_K:
			if (*d != k)
				pc += i->off;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			if (*d == k)
				pc += i->off;
			break;
		case BPF_JMP | BPF_EXIT: return reg[0] == 1 ? 1 : reg[0] == 0 ? 0 : -1;
		default: return -1;
		}
	}
	return -1;
}

/* The semantics, read plainly (protocol/agent-proto.h, RV_ATTR_DEV_RULE). */
static int model(const struct dev_rule *r, size_t n, char type, uint32_t access, uint32_t major, uint32_t minor)
{
	size_t first = 0, i;
	int deflt = 0;

	for (i = 0; i < n; i++)
		if (r[i].type == 'a' && r[i].major == ANY && r[i].minor == ANY) {
			first = i + 1;
			deflt = r[i].allow;
		}
	for (i = n; i > first; i--) {
		const struct dev_rule *d = &r[i - 1];

		if ((d->type != 'a' && d->type != type) || (d->major != ANY && d->major != major) ||
		    (d->minor != ANY && d->minor != minor))
			continue;
		if (d->allow ? (access & ~d->access) == 0 : (access & d->access) != 0)
			return d->allow;
	}
	return deflt;
}

static int check(const struct dev_rule *rules, size_t n, char type, uint32_t access, uint32_t major, uint32_t minor)
{
	size_t len = devcg_build(rules, n, prog);

	return run(prog, len, type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, access, major, minor);
}

static void test_cases(void)
{
	/* The suite's list: deny all, then /dev/null, /dev/zero read-only. */
	static const struct dev_rule docker[] = {
		{ false, 'a', ANY, ANY, M | R | W },
		{ true, 'c', 1, 3, M | R | W },
		{ true, 'c', 1, 5, R },
	};
	static const struct dev_rule punch[] = {
		{ true, 'c', 1, 5, M | R | W },
		{ false, 'c', 1, 5, W },
	};
	static const struct dev_rule black[] = { { true, 'c', 1, ANY, M | R | W }, { false, 'c', 1, 9, M | R | W } };
	static const struct dev_rule reset[] = {
		{ false, 'c', 1, 3, M | R | W },
		{ true, 'a', ANY, ANY, M | R | W },
		{ false, 'b', 7, ANY, R },
	};
	static const struct dev_rule wild[] = {
		{ false, 'a', ANY, ANY, R },
		{ true, 'a', 7, ANY, M | R | W },
		{ true, 'c', ANY, 4, M },
	};

	ok(check(docker, 3, 'c', R, 1, 3) == 1 && check(docker, 3, 'c', R | W, 1, 3) == 1 &&
		   check(docker, 3, 'c', M, 1, 3) == 1,
	   "deny all, allow c 1:3 rwm: /dev/null read, read-write, mknod");
	ok(check(docker, 3, 'c', R, 1, 5) == 1, "allow c 1:5 r: /dev/zero read");
	ok(check(docker, 3, 'c', W, 1, 5) == 0 && check(docker, 3, 'c', R | W, 1, 5) == 0 &&
		   check(docker, 3, 'c', M, 1, 5) == 0,
	   "allow c 1:5 r: no write, no read-write, no mknod");
	ok(check(docker, 3, 'c', R, 1, 9) == 0 && check(docker, 3, 'b', R, 1, 3) == 0 &&
		   check(docker, 3, 'c', R, 3, 1) == 0,
	   "deny all: c 1:9, b 1:3 and c 3:1 denied");
	ok(check(punch, 2, 'c', R, 1, 5) == 1 && check(punch, 2, 'c', W, 1, 5) == 0 &&
		   check(punch, 2, 'c', R | W, 1, 5) == 0,
	   "a later deny of w: read allowed, write and read-write denied");
	ok(check(black, 2, 'c', R, 1, 9) == 0 && check(black, 2, 'c', R, 1, 8) == 1 &&
		   check(black, 2, 'b', W, 8, 0) == 0,
	   "no rule for every device: what no rule allows is denied (runc's empty list)");
	ok(check(reset, 3, 'c', R, 1, 3) == 1 && check(reset, 3, 'b', R, 7, 1) == 0 &&
		   check(reset, 3, 'b', W, 7, 1) == 1,
	   "allow a *:* resets: an earlier deny is gone, a later one holds");
	ok(check(wild, 3, 'b', R, 7, 0) == 1 && check(wild, 3, 'c', R | W, 7, 9) == 1 &&
		   check(wild, 3, 'c', R, 8, 0) == 0,
	   "type a with a major: both types; otherwise denied");
	ok(check(wild, 3, 'c', M, 99, 4) == 1 && check(wild, 3, 'c', M | R, 99, 4) == 0 &&
		   check(wild, 3, 'b', M, 99, 4) == 0,
	   "any major, minor 4, mknod only");
	ok(devcg_build(NULL, 0, prog) == 8 && check(NULL, 0, 'b', R | W | M, 0xfff, 0xfffff) == 0,
	   "no rules: a program that denies everything (the agent attaches none)");
}

/* Random lists and requests, against model(). */
static void test_random(void)
{
	static struct dev_rule rules[DEV_RULES_MAX];
	static const uint32_t nums[] = { 0, 1, 3, 5, ANY };
	unsigned bad = 0, runs = 0;

	srand(1);
	for (int it = 0; it < 2000; it++) {
		size_t n = (size_t)(rand() % 12) + 1, len;

		if (it == 0)
			n = DEV_RULES_MAX;
		for (size_t i = 0; i < n; i++)
			rules[i] = (struct dev_rule){
				.allow = rand() % 2,
				.type = "acb"[rand() % 3],
				.major = nums[rand() % 5],
				.minor = nums[rand() % 5],
				.access = (uint32_t)(rand() % 7) + 1,
			};
		len = devcg_build(rules, n, prog);
		if (len > DEVCG_MAX_INSNS)
			bad++;
		for (int q = 0; q < 20; q++) {
			char type = rand() % 2 ? 'c' : 'b';
			uint32_t access = (uint32_t)(rand() % 7) + 1, major = nums[rand() % 4],
				 minor = nums[rand() % 4];
			int got = run(prog, len, type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, access, major,
				      minor);

			runs++;
			if (got != model(rules, n, type, access, major, minor))
				bad++;
		}
	}
	ok(bad == 0, "random rule lists: the program and the model agree (%u of %u differ)", bad, runs);
}

/* The kernel's verifier takes the largest program (root on a host with cgroup BPF only). */
static void test_verifier(void)
{
	static struct dev_rule rules[DEV_RULES_MAX];
	char err[256];
	int fd;

	for (size_t i = 0; i < DEV_RULES_MAX; i++)
		rules[i] = (struct dev_rule){ i % 2, "cb"[i % 2], (uint32_t)i % 4096, (uint32_t)i,
					      (uint32_t)i % 7 + 1 };
	if (geteuid() != 0) {
		ok(1, "# SKIP the verifier: not root");
		return;
	}
	fd = devcg_load(rules, DEV_RULES_MAX, err, sizeof(err));
	if (fd == -EPERM || fd == -ENOSYS) {
		ok(1, "# SKIP the verifier: %s", err);
		return;
	}
	ok(fd >= 0, "the verifier takes %d rules (%s)", DEV_RULES_MAX, fd >= 0 ? "loaded" : err);
	if (fd >= 0)
		close(fd);
	ok(devcg_load(rules, DEV_RULES_MAX + 1, err, sizeof(err)) == -E2BIG, "more than %d rules refused: %s",
	   DEV_RULES_MAX, err);
}

int main(void)
{
	test_cases();
	test_random();
	test_verifier();
	return tap_done();
}
