/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The container's root filesystem and what the container's init sets up in it. */
#ifndef RUNVM_AGENT_ROOTFS_H
#define RUNVM_AGENT_ROOTFS_H

struct proc;
struct run_config;

/*
 * Mount the container's root filesystem on ROOTFS. Without a mount list, also the built-in
 * set (all of it but proc, which the container's init mounts in its PID namespace); with one,
 * the container's init mounts the list, on a root mounted read-write then, and makes it
 * read-only afterwards when asked, as runc does, so that mount points can be created.
 */
int mount_rootfs(struct proc *p0, const struct run_config *c);
/*
 * The rootfs is mounted with 9p's cache=loose (unless RUN says "9p-uncached"): the guest
 * caches its data and metadata and does not ask the host whether they changed. Two calls keep
 * the host and the guest agreeing. rootfs_writeback(): a dirty page goes to the host within
 * about 2 s (called once, by mount_rootfs). rootfs_refresh(): everything dirty to the host
 * now, then the cached dentries and inodes that no process holds dropped, with their pages,
 * so that the next lookups and reads see what the host changed (called before each EXEC
 * starts its process). Before every EXIT the agent calls sync().
 */
void rootfs_writeback(void);
void rootfs_refresh(void);
/* The container's setup, done by its init (PID 1 of its namespace) before anything else: its
 * mount namespace, mounts, devices, sysctls, readonly and masked paths. A failure goes to @efd
 * and ends the process. */
void setup_container(const struct run_config *run, int efd);

#endif
