/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers the verbs share. */
#ifndef RUNVM_UTIL_H
#define RUNVM_UTIL_H

#include <sys/types.h>

struct rt_error;

/* Write @pid to @path as containerd reads it: decimal, no newline, atomically (rename). */
int rt_write_pid_file(const char *path, pid_t pid, struct rt_error **err);
/* A signal by number or name, with or without SIG, any case ("9", "KILL", "sigusr1"). */
int rt_parse_signal(const char *s, int *ret, struct rt_error **err);

#endif
