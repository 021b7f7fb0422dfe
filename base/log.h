/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runc-compatible logging: `--log FILE` (default stderr), `--log-format text|json`, `--debug`.
 * In json format every line of the file is one object {"level","msg","time"}; containerd shows
 * the last "error" line to the user, so errors are written there and also to stderr.
 */
#ifndef RUNVM_LOG_H
#define RUNVM_LOG_H

#include <stdbool.h>

struct rt_error;

enum rt_log_level { RT_LOG_DEBUG, RT_LOG_INFO, RT_LOG_WARN, RT_LOG_ERROR, _RT_LOG_LEVEL_MAX };
enum rt_log_format { RT_LOG_TEXT, RT_LOG_JSON };

int rt_log_open(const char *path, enum rt_log_format format, bool debug, struct rt_error **err);
void rt_log(enum rt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report a fatal error the way runc does: one line on stderr and an error entry in the log. */
void rt_log_fatal(const struct rt_error *err);
bool rt_log_debug_enabled(void);
/* The log file's descriptor (-1 while the log is stderr); and closing it, after which lines go
 * to stderr: for a child that must not keep the runtime's log (the kvm backend's jailed VMM). */
int rt_log_fd(void);
void rt_log_close(void);

#define rt_debug(...) rt_log(RT_LOG_DEBUG, __VA_ARGS__)
#define rt_warn(...) rt_log(RT_LOG_WARN, __VA_ARGS__)

#endif
