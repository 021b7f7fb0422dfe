/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One container's host side, shared by `run` (monitor in the foreground) and `create` (monitor
 * forked off to outlive the command): from bundle and configuration to a state directory, a
 * booted VM and the monitor loop.
 */
#ifndef RUNVM_CONTAINER_H
#define RUNVM_CONTAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/network.h"
#include "runtime/vmconfig.h"

struct rt_globals;
struct rt_spec;
struct rt_config;
struct hv_vm;

struct rt_container {
	const char *id;
	char *bundle;
	char *state_dir;
	char *console_log;
	char *created; /* RFC 3339 */
	struct rt_spec *spec;
	struct rt_config *config;
	const struct hv_backend_ops *ops;
	struct hv_probe_result probe;
	struct rt_vm_spec vs;
	struct hv_vm *vm;
	int agent_fd, signal_fd, listen_fd;
	int tap_fd;           /* the guest NIC's tap in the container's namespace, or -1 */
	struct rt_netcfg net; /* what the guest takes over at start */
	int ready_fd;         /* `create`: where the monitor reports "ok" or an error, or -1 */
	/* The main process's stdio, handed to the monitor. */
	int stdin_fd, stdout_fd, stderr_fd;
	uint8_t *seccomp_bpf; /* linux.seccomp compiled for the guest, or NULL */
	size_t seccomp_len;
	sigset_t old_mask;
	bool mask_set;
	bool cgroup_joined;     /* the monitor is in linux.cgroupsPath */
	GPtrArray *cgroup_dirs; /* the directories it joined, one per hierarchy */
	/* HV_FEAT_EXTERNAL: the agent's listening socket and its short name, until QEMU connects */
	char *agent_sock, *agent_link;
	bool keep_state; /* `create`: the state directory outlives this process */
};

/* Validate the bundle and the configuration, choose the backend and create the state
 * directory. Nothing runs yet. */
int rt_container_prepare(struct rt_container *c, const struct rt_globals *g, const char *id, const char *bundle,
			 struct rt_error **err);
/* Just before the monitor is forked (`create`, and `run` where this says so): the container's
 * pid and time namespaces, which only children enter (the monitor is then PID 1 of a new pid
 * namespace). Returns 1 when the monitor must be a child of this process for them, 0 when
 * linux.namespaces has neither. The monitor enters the others itself (rt_container_monitor). */
int rt_container_enter_child_namespaces(struct rt_container *c, struct rt_error **err);
/* In the monitor process: boot the VM and run the monitor loop until the main process ends
 * (at once for @autostart, else on a control-socket `start`). Returns its exit status. */
int rt_container_monitor(struct rt_container *c, bool autostart, int *ret_status, char **ret_agent_error,
			 struct rt_error **err);
/* Tear down what this process holds: the VM, fds, and unless keep_state the state directory. */
void rt_container_release(struct rt_container *c);

/* clang-format off */
#define RT_CONTAINER_INIT { \
	.agent_fd = -1, .signal_fd = -1, .listen_fd = -1, .ready_fd = -1, .tap_fd = -1, .net = RT_NETCFG_INIT, \
	.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 }
/* clang-format on */

#endif
