/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The main loop once proc 0 runs: frames from the host, stdio, signals, EXEC, DNS. */
#ifndef RUNVM_AGENT_RELAY_H
#define RUNVM_AGENT_RELAY_H

struct agent;

/* Relay until proc 0 and every other process have ended and been reported (proc 0 last:
 * its EXIT is finish()'s, in main.c). */
void relay(struct agent *a);

#endif
