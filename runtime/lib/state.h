/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-container state directory, --root/<id>/: state.json (written atomically), the
 * monitor's control socket ctl.sock, the guest console log, and a lock file that serializes
 * concurrent commands on one container.
 */
#ifndef RUNVM_STATE_H
#define RUNVM_STATE_H

#include <stdbool.h>
#include <sys/types.h>

struct rt_error;

/* Check an ID the way runc does: [A-Za-z0-9_+.-]+, not "." or "..". */
int rt_check_id(const char *id, struct rt_error **err);
/* Make @root absolute, refuse "/", create it 0700 if missing. Returns a newly allocated path. */
int rt_root_prepare(const char *root, char **ret, struct rt_error **err);
/* Create root/id; fails with runc's "container with given ID already exists". */
int rt_state_dir_create(const char *root, const char *id, char **ret_dir, struct rt_error **err);
/* Remove a state directory and everything below it, however deep, never following a symlink
 * nor entering a mount point (an error: nothing of a bind source is removed); missing is fine.
 * Fails, with the directory partly removed, on anything it cannot remove. */
int rt_state_dir_remove(const char *dir, struct rt_error **err);
/* Take the container's lock (flock on DIR/lock), waiting for other commands. Returns the fd
 * that holds it. */
int rt_state_lock(const char *dir, int *ret_fd, struct rt_error **err);

struct rt_state {
	char *oci_version;
	char *id;
	char *status;                 /* recorded: created, running or paused */
	pid_t pid;                    /* the monitor: the container's pid for the host */
	unsigned long long pid_start; /* its start time (/proc/PID/stat field 22), against reuse */
	char *bundle;
	char *rootfs;
	char *created; /* RFC 3339 */
	char *backend;
	char *accel;
	char *cgroups_path;     /* the host cgroup the monitor joined, or "" */
	char *netns_path;       /* the network namespace named by path, or "" */
	int net_ifindex;        /* its interface that the monitor redirected to the guest, or 0 */
	char *annotations_json; /* config.json's annotations at create (an object of strings), or "" */
};

int rt_state_write(const char *dir, const struct rt_state *st, struct rt_error **err);
/* DIR/RT_STATE_ERROR: why the monitor ended the container after `create` had returned (a
 * guest that broke the protocol, a VM that died before `start`), written by the monitor and
 * shown by `start` in its "has stopped" error. */
#define RT_STATE_ERROR "error"
/* Load DIR/state.json. A missing directory or file is runc's "container does not exist". */
int rt_state_load(const char *dir, struct rt_state **ret, struct rt_error **err);
void rt_state_free(struct rt_state *st);
/* Find container @id under @root and load its state, holding its lock (when @ret_lock_fd is
 * not NULL) so that concurrent commands on it are serialized. Unknown IDs fail with
 * "container does not exist". */
int rt_state_open(const char *root, const char *id, char **ret_dir, struct rt_state **ret, int *ret_lock_fd,
		  struct rt_error **err);
/* The status as runc derives it: "stopped" when the recorded pid is gone, a zombie, or another
 * process now (start time differs); else the recorded one. */
const char *rt_state_status(const struct rt_state *st);
/* Start time of @pid from /proc, or 0 when it is gone or a zombie. */
unsigned long long rt_pid_start_time(pid_t pid);
/* The state as runc prints it (containerState): `annotations` (sorted, as Go writes a map;
 * left out when there are none) before `owner`, which `state` leaves "" and `list` names. */
char *rt_state_to_oci_json(const struct rt_state *st, const char *owner, bool pretty);

#endif
