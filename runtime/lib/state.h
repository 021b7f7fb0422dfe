/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The per-container state directory, --root/<id>/, with an atomically written state.json. */
#ifndef RUNVM_STATE_H
#define RUNVM_STATE_H

#include <sys/types.h>

struct rt_error;

/* Check an ID the way runc does: [A-Za-z0-9_+.-]+, not "." or "..". */
int rt_check_id(const char *id, struct rt_error **err);
/* Make @root absolute, refuse "/", create it 0700 if missing. Returns a newly allocated path. */
int rt_root_prepare(const char *root, char **ret, struct rt_error **err);
/* Create root/id; fails with runc's "container with given ID already exists". */
int rt_state_dir_create(const char *root, const char *id, char **ret_dir, struct rt_error **err);
/* Remove a state directory and what runvm put in it; missing is fine. */
void rt_state_dir_remove(const char *dir);

struct rt_state {
	const char *oci_version;
	const char *id;
	const char *status;
	pid_t pid;
	const char *bundle;
	const char *rootfs;
	const char *backend;
	const char *accel;
};

int rt_state_write(const char *dir, const struct rt_state *st, struct rt_error **err);

#endif
