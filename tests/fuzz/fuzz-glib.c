/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "base/error.h"
#include "tests/fuzz/fuzz-glib.h"

/* abort() rather than GLib's own fatal path, which raises SIGTRAP: libFuzzer catches SIGABRT
 * and saves the input, a SIGTRAP would just end the run. */
static void log_handler(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
	(void)data;
	fprintf(stderr, "%s: %s\n", domain ? domain : "GLib", msg);
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_log_set_default_handler(log_handler, NULL);
	return 0;
}

void fuzz_check_error(int r, struct rt_error **err)
{
	if (r >= 0 ? *err != NULL : !*err || !(*err)->msg || !(*err)->msg[0])
		abort();
	rt_error_free(err);
}
