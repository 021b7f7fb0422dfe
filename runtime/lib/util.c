/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "error.h"
#include "util.h"

int rt_write_pid_file(const char *path, pid_t pid, struct rt_error **err)
{
	g_autofree char *data = g_strdup_printf("%d", pid);
	g_autoptr(GError) gerr = NULL;

	/* g_file_set_contents writes a temporary file in the same directory, then renames it. */
	if (!g_file_set_contents(path, data, -1, &gerr))
		return rt_make_error(err, 0, "write pid file: %s", gerr->message);
	return 0;
}

int rt_parse_signal(const char *s, int *ret, struct rt_error **err)
{
	const char *name = s;
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s && !*end && !errno) {
		if (n < 1 || n > 64)
			return rt_make_error(err, 0, "invalid signal `%s`", s);
		*ret = (int)n;
		return 0;
	}
	if (g_ascii_strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (int sig = 1; sig < NSIG; sig++) {
		const char *abbrev = sigabbrev_np(sig);

		if (abbrev && g_ascii_strcasecmp(abbrev, name) == 0) {
			*ret = sig;
			return 0;
		}
	}
	return rt_make_error(err, 0, "invalid signal `%s`", s);
}
