/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A host process's cost, read from /proc: what the backends' stats hooks report. */
#ifndef RUNVM_PROCSTATS_H
#define RUNVM_PROCSTATS_H

#include <sys/types.h>

struct rt_error;
struct hv_vm_stats;

/* Fill the host_rss_bytes and cpu_*_us members of @ret (the others are left alone) from
 * /proc/PID/stat of the process @pidfd refers to. By pidfd, because the pid the caller got from
 * clone is its own pid namespace's (a monitor in a pid namespace of its own), while /proc is
 * the host's: the pidfd's fdinfo names the process as /proc does. Fails with ESRCH once the
 * process is gone. */
/* The pid of @pidfd's process in the pid namespace of /proc ("Pid:" of its fdinfo; -1 once it
 * has been reaped), or 0. */
long hv_pidfd_pid(int pidfd);

int hv_proc_stats(int pidfd, struct hv_vm_stats *ret, struct rt_error **err);

#endif
