/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RUN's mounts, applied under the container's root without ever leaving it. */
#ifndef RUNVM_AGENT_MOUNTS_H
#define RUNVM_AGENT_MOUNTS_H

struct mount_entry;
struct run_config;

/*
 * Open @path under the directory @rootfd as an O_PATH fd, never leaving it: each symlink met
 * is read and resolved here as if @rootfd were /, and ".." stops at it (what securejoin does
 * for runc). @create 'd' or 'f': missing components are made on the way, directories, and
 * for the last one a directory or ('f') an empty file. Lookups cross mount points, so after a
 * mount on @path this opens the new mount's root. Returns the fd or -errno.
 */
int open_in_root(int rootfd, const char *path, int create);
/* "/proc/self/fd/@fd" in @buf, what mount(2) is given for an fd. */
const char *fd_path(char buf[32], int fd);
/*
 * One of RUN's mounts, under @rootfd. Returns 0, or -errno with *what saying which step
 * failed (NULL: the mount itself).
 */
int apply_mount(int rootfd, const struct mount_entry *m, const char **what);
/*
 * In the agent, before proc 0 is forked: what the container's mounts need from the agent's
 * mount namespace, which the container's copies: the RV_MOUNTS_TAG share when a mount is a
 * bind (its failure is met by the first bind), and in a user namespace an mqueue of the
 * guest's (a failure is logged).
 */
void mounts_prepare(const struct run_config *run);

#endif
