/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm install` and `runvm uninstall` (`--help` of each lists its options). */
#ifndef RUNVM_INSTALL_H
#define RUNVM_INSTALL_H

struct rt_error;
struct rt_globals;

int rt_cmd_install(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);
int rt_cmd_uninstall(const struct rt_globals *g, int argc, char **argv, struct rt_error **err);

#endif
