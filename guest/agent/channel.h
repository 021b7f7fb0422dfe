/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The virtio-serial channel to the host: finding it, reading and writing frames, and RUN. */
#ifndef RUNVM_AGENT_CHANNEL_H
#define RUNVM_AGENT_CHANNEL_H

#include <stdint.h>

struct agent;
struct run_config;
struct rv_frame;

/* The port named RV_AGENT_PORT_NAME, non-blocking, once the host has named it. */
int open_channel(int *ret_fd);
/* Read what the channel has. 1: got bytes, 0: nothing now, -EPIPE: host not (or no longer)
 * connected, other -errno: the channel failed. */
int chan_read(struct agent *a);
/* Write what a->tx holds, as far as the port takes it. */
int chan_flush(struct agent *a);
/* The host is gone or the channel broke: nothing can be reported any more. */
void __attribute__((noreturn)) channel_failed(int r);
/* Log, once, that a frame was ignored. */
void log_ignored(struct agent *a, const struct rv_frame *f);
void send_exit(struct agent *a, uint32_t id, uint32_t status, const char *err);
/* An EXEC that gets no process slot: EXIT 125 for its proc, nothing else changes. */
void reject_exec(struct agent *a, uint32_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Say HELLO and wait for RUN, decoded into proc 0's config and @run. Frames the host
 * pipelines after RUN stay in a->rx. */
int wait_run(struct agent *a, struct run_config *run);

#endif
