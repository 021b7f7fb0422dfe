/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A host process's cost, read from /proc: what the backends' stats hooks report. */
#ifndef RUNVM_PROCSTATS_H
#define RUNVM_PROCSTATS_H

#include <sys/types.h>

struct rt_error;
struct hv_vm_stats;

/* Fill the host_rss_bytes and cpu_*_us members of @ret (the others are left alone) from
 * /proc/@pid/stat. Fails with ESRCH once the process is gone. */
int hv_proc_stats(pid_t pid, struct hv_vm_stats *ret, struct rt_error **err);

#endif
