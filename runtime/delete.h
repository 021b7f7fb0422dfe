/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm delete`, and the teardown it shares with a failed `start`. */
#ifndef RUNVM_DELETE_H
#define RUNVM_DELETE_H

struct rt_error;
struct rt_state;

/* End the container's monitor if it still runs (its VM goes with it), remove the state
 * directory and the cgroup, then run the poststop hooks (their failure is only logged). */
int rt_container_destroy(const struct rt_state *st, const char *dir, struct rt_error **err);

#endif
