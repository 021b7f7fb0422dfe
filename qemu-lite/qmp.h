/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal QMP client: capability negotiation and commands, with bounded replies and a
 * timeout, so a wedged QEMU cannot hang the monitor. */
#ifndef RUNVM_QMP_H
#define RUNVM_QMP_H

#include <json-glib/json-glib.h>

struct rt_error;

int qmp_handshake(int fd, struct rt_error **err);
/* Run @command ("stop", "cont", ...) and wait for its reply; a QMP error becomes *err. */
int qmp_execute(int fd, const char *command, struct rt_error **err);
/* Send the command object @json, with @pass_fd (-1: none) attached for QMP's getfd, and wait
 * for its reply: its "return" member, when @ret_return is set, goes there (json_node_unref). A
 * QMP error becomes *err, naming the command. */
int qmp_command(int fd, const char *json, int pass_fd, JsonNode **ret_return, struct rt_error **err);

#endif
