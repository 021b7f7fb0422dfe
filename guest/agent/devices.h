/* SPDX-License-Identifier: GPL-2.0-or-later */
/* linux.devices in the container (RV_ATTR_DEVICE). */
#ifndef RUNVM_AGENT_DEVICES_H
#define RUNVM_AGENT_DEVICES_H

struct run_config;

/*
 * In the agent, before proc 0 is forked, for a container in a user namespace (where mknod is
 * refused): make each device node, with its mode and owner, in a directory of the agent's that
 * the container's mount namespace copies, for devices_create() to bind. A failure is logged and
 * met again by devices_create().
 */
void devices_stage(const struct run_config *run);
/*
 * In the container's init, after its mounts (as runc does): each device at its path under
 * @rootfd (the container's root, never left), its parent directories made as needed. Without a
 * user namespace: mknod with exactly the mode asked for (whatever the umask), then chown; a
 * path that exists is left as it is, as runc leaves it. In one: a bind of the staged node onto
 * an empty file at the path. A failure goes to @efd and ends the process.
 */
void devices_create(int rootfd, const struct run_config *run, int efd);

#endif
