/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers the verbs share. */
#ifndef RUNVM_UTIL_H
#define RUNVM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rt_error;

/* Write @pid to @path as containerd reads it: decimal, no newline, atomically (rename). */
int rt_write_pid_file(const char *path, pid_t pid, struct rt_error **err);
/* A signal by number or name, with or without SIG, any case ("9", "KILL", "sigusr1"). */
int rt_parse_signal(const char *s, int *ret, struct rt_error **err);

/* A pty pair (both O_CLOEXEC), the slave not our controlling terminal. */
int rt_open_pty(int *ret_master, int *ret_slave, struct rt_error **err);
/* Send a pty master over a --console-socket the way runc does: connect, one message whose
 * payload is a name, the fd attached with SCM_RIGHTS. */
int rt_send_console(const char *path, int master, struct rt_error **err);

/* What a forked helper reports on a pipe before it closes it ("ok", or why not; "" if it died
 * first), bounded to 4 KiB. Closes @fd. */
char *rt_read_report(int fd);

/* Guest-supplied text made fit for one line of a terminal or a log: printable ASCII and valid
 * printable UTF-8 as they are, control characters and other bytes as \xNN; at most @max bytes,
 * then "..." where it was cut. */
char *rt_escape_text(const uint8_t *data, size_t len, size_t max);

#endif
