/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "hypervisor-backends/backend.h"
#include "hypervisor-backends/procstats.h"

long hv_pidfd_pid(int pidfd)
{
	g_autofree char *path = g_strdup_printf("/proc/self/fdinfo/%d", pidfd);
	g_autofree char *info = NULL;
	const char *p;

	if (!g_file_get_contents(path, &info, NULL, NULL) || !(p = strstr(info, "\nPid:")))
		return 0;
	return strtol(p + 5, NULL, 10);
}

int hv_proc_stats(int pidfd, struct hv_vm_stats *ret, struct rt_error **err)
{
	long pid = hv_pidfd_pid(pidfd);
	g_autofree char *path = g_strdup_printf("/proc/%ld/stat", pid);
	g_autofree char *data = NULL;
	g_auto(GStrv) fields = NULL;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	char *p;

	if (pid <= 0)
		return rt_make_error(err, ESRCH, "the VMM process is gone");
	if (!g_file_get_contents(path, &data, NULL, NULL))
		return rt_make_error(err, ESRCH, "read `%s`", path);
	/* The command name, in parentheses, may hold blanks and parentheses itself: the fields
	 * proper start after the last ')'. From there: state (3) ... utime (14), stime (15),
	 * rss (24, in pages), per proc(5). */
	p = strrchr(data, ')');
	if (!p)
		return rt_make_error(err, 0, "`%s`: no command name", path);
	fields = g_strsplit(g_strstrip(p + 1), " ", -1);
	if (g_strv_length(fields) < 22 || tick <= 0 || page <= 0)
		return rt_make_error(err, 0, "`%s`: too few fields", path);
	ret->cpu_user_us = g_ascii_strtoull(fields[14 - 3], NULL, 10) * 1000000ULL / (unsigned long long)tick;
	ret->cpu_system_us = g_ascii_strtoull(fields[15 - 3], NULL, 10) * 1000000ULL / (unsigned long long)tick;
	ret->host_rss_bytes = g_ascii_strtoull(fields[24 - 3], NULL, 10) * (unsigned long long)page;
	return 0;
}
