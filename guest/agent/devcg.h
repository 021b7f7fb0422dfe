/* SPDX-License-Identifier: GPL-2.0-or-later */
/* linux.resources.devices in the guest: the device cgroup program (RV_ATTR_DEV_RULE). */
#ifndef RUNVM_AGENT_DEVCG_H
#define RUNVM_AGENT_DEVCG_H

#include <stddef.h>
#include <linux/bpf.h>

#include "guest/agent/config.h"

/* The most instructions devcg_build() makes of DEV_RULES_MAX rules. */
#define DEVCG_MAX_INSNS (8 * DEV_RULES_MAX + 8)

/*
 * The BPF_PROG_TYPE_CGROUP_DEVICE program for @rules (see RV_ATTR_DEV_RULE in
 * protocol/agent-proto.h for what they mean) into @insns, which has room for DEVCG_MAX_INSNS.
 * Returns the count of instructions. Pure: no system call, so that the host tests it.
 */
size_t devcg_build(const struct dev_rule *rules, size_t n, struct bpf_insn *insns);
/* Build and load the program for @rules (@n >= 1). Returns its fd (O_CLOEXEC, as every bpf()
 * fd) or -errno with the reason in @err. */
int devcg_load(const struct dev_rule *rules, size_t n, char *err, size_t errsize);
/* Attach the loaded program @prog to the cgroup directory @cgroup_dir. Returns 0 or -errno. */
int devcg_attach(int prog, const char *cgroup_dir);

#endif
