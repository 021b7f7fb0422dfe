/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest's network, which is the container's: lo, and the virtio-net NIC. */
#ifndef RUNVM_AGENT_NET_H
#define RUNVM_AGENT_NET_H

struct proc;
struct run_config;

/* Containers expect 127.0.0.1 to work even without a network. */
void loopback_up(void);
/*
 * The container's network, in the guest's network namespace (the container's): the virtio NIC
 * configured as RUN says, or, without RV_ATTR_NET_IF, detached so that only lo is left.
 */
int setup_network(struct proc *p0, const struct run_config *run);

#endif
