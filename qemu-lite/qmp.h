/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal QMP client: capability negotiation and argument-less commands, with bounded
 * replies and a timeout, so a wedged QEMU cannot hang the monitor. */
#ifndef RUNVM_QMP_H
#define RUNVM_QMP_H

struct rt_error;

int qmp_handshake(int fd, struct rt_error **err);
/* Run @command ("stop", "cont", ...) and wait for its reply; a QMP error becomes *err. */
int qmp_execute(int fd, const char *command, struct rt_error **err);

#endif
