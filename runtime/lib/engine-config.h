/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What `runvm install` and `runvm uninstall` write: runvm registered as a runtime of Docker
 * (daemon.json), podman (a containers.conf drop-in) and containerd's CRI plugin (a block in
 * config.toml). The edits are pure functions of a file's old content (what the unit tests
 * call); rt_install_apply writes their results atomically, the old content first saved beside
 * the file as FILE.runvm-bak.
 */
#ifndef RUNVM_ENGINE_CONFIG_H
#define RUNVM_ENGINE_CONFIG_H

#include <stdbool.h>

struct rt_error;

enum rt_install_target { RT_TARGET_DOCKER, RT_TARGET_PODMAN, RT_TARGET_CONTAINERD, _RT_TARGET_MAX };

#define RT_INSTALL_BACKUP_SUFFIX ".runvm-bak"

/* What one registration is made of. */
struct rt_install_opts {
	const char *name;                 /* the runtime's name in every target's configuration */
	const char *binary;               /* absolute path of the runvm to run */
	const char *const *args;          /* its global arguments, NULL-terminated (may be empty) */
	const char *file[_RT_TARGET_MAX]; /* each target's configuration file */
	const char *wrapper_dir;          /* where podman's and containerd's wrappers go (with args) */
};

/* The targets' names (docker, podman, containerd), and the program whose presence in PATH
 * makes each a default target. */
extern const char *const rt_target_names[_RT_TARGET_MAX];
extern const char *const rt_target_programs[_RT_TARGET_MAX];

/* Install or uninstall @o on target @t: reads, edits and writes its files. Sets *ret_msg to the
 * one line that says what was done and what to restart. */
int rt_install_apply(const struct rt_install_opts *o, enum rt_install_target t, bool uninstall, char **ret_msg,
		     struct rt_error **err);

/*
 * The edits. @old is the file's content, NULL when it does not exist; @origin names it in
 * errors. They return 1 with *ret_new set to the new content ("" for uninstall: remove the
 * file, nothing of its own is left in it), 0 when there is nothing to change (uninstall of an
 * absent entry; *ret_new untouched), or < 0 with *err set when the file is not in a shape they
 * can edit safely.
 */
/* daemon.json: runtimes.NAME = {"path": BINARY, "runtimeArgs": [ARGS]} (no runtimeArgs when
 * there are none), replacing an entry of that name; every other member kept. */
int rt_install_docker_edit(const char *old, const char *origin, const char *name, const char *binary,
			   const char *const *args, char **ret_new, struct rt_error **err);
/* runtimes.NAME removed, then `runtimes` if it is left empty ("" when nothing else is left). */
int rt_uninstall_docker_edit(const char *old, const char *origin, const char *name, char **ret_new,
			     struct rt_error **err);
/* config.toml (version 2): a marked block with the CRI runtime NAME (the runc shim, BINARY as
 * its BinaryName), in place of an earlier block of that name or appended; with a block that
 * restates containerd's default runc runtime where the file configures no runtime itself. */
int rt_install_containerd_edit(const char *old, const char *origin, const char *name, const char *binary,
			       char **ret_new, struct rt_error **err);
int rt_uninstall_containerd_edit(const char *old, const char *origin, const char *name, char **ret_new,
				 struct rt_error **err);
/* The podman drop-in's content: [engine.runtimes] NAME = ["BINARY"]. */
char *rt_install_podman_dropin(const char *name, const char *binary);
/* A shell wrapper that runs BINARY with ARGS and then its own arguments. */
char *rt_install_wrapper(const char *name, const char *binary, const char *const *args);

#endif
