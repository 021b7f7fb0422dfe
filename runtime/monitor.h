/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor: the one host process per container that owns the VM for its whole life. It
 * waits for the guest agent, starts the container's process when told (at once for `run`, on
 * a control-socket `start` for `create`), relays stdio, signals and window sizes for the main
 * process and for every exec'd one, serves the control socket (start, kill, pause, resume,
 * exec), and returns the main process's exit status.
 *
 * Everything read from the guest is bounded by the protocol decoder; a misbehaving guest ends
 * its own container with an error, never the monitor. Every queue (toward the guest, toward
 * each stdio reader) is bounded, the loop never blocks without a deadline, and the console
 * log is capped and read back only by its tail (the design comment in monitor.c).
 */
#ifndef RUNVM_MONITOR_H
#define RUNVM_MONITOR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_error;
struct rt_spec;
struct hv_vm;
struct hv_backend_ops;
struct rt_monitor;
struct rt_netcfg;

struct rt_monitor_config {
	const struct hv_backend_ops *ops;
	struct hv_vm *vm;
	const struct rt_spec *spec;
	int agent_fd;  /* our end of the agent channel, non-blocking */
	int signal_fd; /* signalfd of the signals forwarded to the main process */
	int listen_fd; /* control socket (SOCK_SEQPACKET, listening), or -1 */
	/* The main process's stdio. With a terminal, stdin_fd is the host pty's slave, which also
	 * takes the output; stdout_fd/stderr_fd are unused. */
	int stdin_fd, stdout_fd, stderr_fd;
	unsigned boot_timeout_ms;
	const char *console_log;    /* quoted in errors when the guest fails to come up */
	const uint8_t *seccomp_bpf; /* the container's seccomp filter, for every process, or NULL */
	size_t seccomp_len;
	bool autostart; /* start the main process as soon as the agent is up (`run`) */
	/* The rootfs is the verified block image (rootfs = block): the agent mounts it from its
	 * disk, with the parameters of the kernel command line */
	bool block_rootfs;
	/* The container's network for the guest, filled in by on_status("starting") (see
	 * network.h), or NULL. Its DNS socket is served while the container runs. */
	struct rt_netcfg *net;
	/* Called with "created" once the guest agent is up, "starting" just before the main
	 * process is started, and on every later status change ("running", "paused"). Returning
	 * < 0 fails that step: for "created" and a `run`'s "starting" it ends the monitor. */
	int (*on_status)(void *ctx, const char *status, struct rt_error **err);
	void *ctx;
};

/* The signals the monitor forwards to the main process (block them before launching). */
void rt_monitor_forwarded_signals(sigset_t *ret);

/*
 * Run until the main process ends. Returns 0 with its exit status (0-255, 128+N for signal N)
 * in *ret_status; *ret_agent_error gets the agent's explanation of a 125/126/127 status, or
 * NULL. < 0 when the VM or the channel failed.
 */
int rt_monitor_run(const struct rt_monitor_config *cfg, int *ret_status, char **ret_agent_error, struct rt_error **err);

/* Bytes from the guest into the frame handler, as the relay loop feeds them. For the unit
 * tests and the fuzz target: a monitor whose main process writes to @stdout_fd/@stderr_fd.
 * feed returns 0 while the stream is acceptable, 1 once the main process's EXIT was seen,
 * < 0 on a protocol error. */
struct rt_monitor *rt_monitor_new_detached(int stdout_fd, int stderr_fd);
int rt_monitor_feed(struct rt_monitor *m, const void *data, size_t len, struct rt_error **err);
void rt_monitor_free(struct rt_monitor *m);

#endif
