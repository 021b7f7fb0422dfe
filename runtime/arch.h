/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which architecture a container's guest must have. A linux/arm64 image holds aarch64
 * programs: its guest must be an aarch64 VM (TCG on an x86_64 host), with a real aarch64
 * kernel, not qemu-user. In order: config.json's annotation "io.runvm.arch", the
 * configuration's `arch`, else the ELF header of process.args[0] found in the rootfs through
 * PATH; a script, or a program that cannot be found or read, gets the host's architecture.
 */
#ifndef RUNVM_ARCH_H
#define RUNVM_ARCH_H

#include "base/arch.h"

struct rt_config;
struct rt_error;
struct rt_spec;

/* Fails only on a bad name in the annotation. @ret_why says how it was decided (static). */
int rt_guest_arch(const struct rt_config *config, const struct rt_spec *spec, enum rv_arch *ret, const char **ret_why,
		  struct rt_error **err);

/* What the host can tell of process.args[0] before the guest runs it, looked up in the rootfs
 * as runc looks it up in the container (the process's PATH; see arch.c for what is left to the
 * guest): an error in runc's words when it is surely missing or not executable, else 0. */
int rt_program_check(const struct rt_spec *spec, struct rt_error **err);
/* rt_program_check before the VM boots, where nothing can change its answer until the guest
 * starts the process: only without prestart, createRuntime and createContainer hooks (one may
 * make the program, and runc looks once they have run); 0 where there are such hooks. */
int rt_program_check_early(const struct rt_spec *spec, struct rt_error **err);

/* The architecture of the ELF program at @path inside @rootfs: absolute symlinks and `..`
 * stay inside the rootfs. -1 when it is not an ELF program of a known architecture. */
int rt_elf_arch(const char *rootfs, const char *path);

#endif
