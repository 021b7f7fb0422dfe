/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers of the agent that know nothing of its state. All return -errno. */
#ifndef RUNVM_AGENT_UTIL_H
#define RUNVM_AGENT_UTIL_H

#include <stddef.h>

/* One line to stderr (the console), prefixed "runvm-agent: ". */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sleep_ms(long ms);
/* The start of a small file (sysfs, procfs), NUL-terminated. */
int read_small_file(const char *path, char *buf, size_t size);
/* Close *@fd if it is open, and mark it closed (-1). */
void close_fd(int *fd);
/* mkdir -p, errors ignored: what uses the path reports them. */
void mkdir_p(const char *path);
/* Write @s to @path (a cgroup file). Returns 0 or -errno. */
int write_file(const char *path, const char *s);
/* The same, @path relative to the directory fd @dir. */
int write_file_at(int dir, const char *path, const char *s);

#endif
