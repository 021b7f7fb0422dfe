/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor's side of a running container: waits for the guest agent, sends it the process
 * to run, relays stdio and signals, and returns the process's exit status. Everything read
 * from the guest is bounded by the protocol decoder; a misbehaving guest ends its own
 * container with an error, never the monitor.
 */
#ifndef RUNVM_MONITOR_H
#define RUNVM_MONITOR_H

#include <signal.h>

struct rt_error;
struct rt_spec;
struct hv_vm;
struct hv_backend_ops;

struct rt_monitor {
	const struct hv_backend_ops *ops;
	struct hv_vm *vm;
	int agent_fd;          /* our end of the agent channel */
	int stdin_fd, stdout_fd, stderr_fd;
	int signal_fd;         /* signalfd of the signals forwarded to the container */
	unsigned boot_timeout_ms;
	const char *console_log; /* quoted in errors when the guest fails to come up */
};

/* The signals `run` forwards to the container's process (block them before launching). */
void rt_monitor_forwarded_signals(sigset_t *ret);

/*
 * Run @spec's process in the booted VM and relay until it ends. Returns 0 with the exit status
 * (0-255, 128+N for signal N) in *ret_status; *ret_agent_error gets the agent's explanation of
 * a 125/126/127 status, or NULL. < 0 when the VM or the channel failed.
 */
int rt_monitor_run(struct rt_monitor *m, const struct rt_spec *spec, int *ret_status, char **ret_agent_error,
		   struct rt_error **err);

/* Feed bytes received from the guest to the host-side frame handler, as the relay loop does.
 * Exposed for the unit tests and the fuzz target: returns 0 while the stream is acceptable,
 * 1 once an EXIT was seen, < 0 on a protocol error. */
struct rt_agent_stream;
struct rt_agent_stream *rt_agent_stream_new(int stdout_fd, int stderr_fd);
int rt_agent_stream_feed(struct rt_agent_stream *s, const void *data, size_t len, struct rt_error **err);
void rt_agent_stream_free(struct rt_agent_stream *s);

#endif
