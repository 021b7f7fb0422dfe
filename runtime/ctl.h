/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor's control socket, STATE_DIR/ctl.sock: SOCK_SEQPACKET, one JSON object per
 * message, file descriptors (an exec's stdio) attached with SCM_RIGHTS.
 *
 *   request                                   reply
 *   {"op":"start"}                            {"ok":true} once the process runs, or {"error":"..."}
 *   {"op":"kill","signal":N}                  {"ok":true} | {"error":...}
 *   {"op":"pause"} / {"op":"resume"}          {"ok":true} | {"error":...}
 *   {"op":"update","pids":N,"memory":B}      {"ok":true} once the guest's container cgroup has
 *     (either optional; -1: no limit)          them, {"ok":true,"queued":true} when paused (or
 *                                              created: applied at resume, or at start), or
 *                                              {"error":...} (runtime/monitor.c, ctl_update())
 *   {"op":"exec","process":{OCI process}}     {"ok":true} once it runs, or {"error":...,"status":N};
 *     + fds stdin, stdout, stderr (or one     later {"exit":N}. Meanwhile the client may send
 *     pty slave when process.terminal)        {"op":"signal","signal":N} and
 *                                             {"op":"resize","rows":R,"cols":C}.
 */
#ifndef RUNVM_CTL_H
#define RUNVM_CTL_H

#include <stddef.h>

struct rt_error;

#define RT_CTL_MAX_MSG (256 * 1024)
#define RT_CTL_MAX_FDS 3
/* How long a client waits for the monitor to accept, take or answer a request (the monitor's
 * loop never blocks, so only a wedged or stopped monitor takes that long). */
#define RT_CTL_TIMEOUT_MS 60000

int rt_ctl_listen(const char *path, int *ret_fd, struct rt_error **err);
/* A non-blocking listening AF_UNIX socket of @type (SOCK_STREAM, SOCK_SEQPACKET) at @path, which
 * may be longer than sun_path holds. */
int rt_unix_listen(const char *path, int type, int *ret_fd, struct rt_error **err);
int rt_ctl_connect(const char *path, int *ret_fd, struct rt_error **err);
int rt_ctl_send(int fd, const char *msg, const int *fds, size_t nfds, struct rt_error **err);
/* Receive one message (a client's rt_ctl_connect socket gives up after its receive timeout,
 * none unless set): 1 with it (NUL-terminated, g_free) and any fds, 0 when the peer has
 * closed, < 0 on error. Extra fds beyond RT_CTL_MAX_FDS are closed. */
int rt_ctl_recv(int fd, char **ret_msg, int ret_fds[RT_CTL_MAX_FDS], size_t *ret_nfds, struct rt_error **err);
/* Replies on @fd are awaited at most @timeout_ms (0: for ever); rt_ctl_recv then fails with
 * EAGAIN. */
int rt_ctl_recv_timeout(int fd, unsigned timeout_ms, struct rt_error **err);
/* Send @msg and wait for the reply, at most RT_CTL_TIMEOUT_MS (rt_ctl_call) or @timeout_ms;
 * a reply with "error" becomes *err. */
int rt_ctl_call(const char *path, const char *msg, struct rt_error **err);
int rt_ctl_call_timeout(const char *path, const char *msg, unsigned timeout_ms, struct rt_error **err);

#endif
