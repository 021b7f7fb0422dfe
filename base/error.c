/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/error.h"

int rt_make_error(struct rt_error **err, int status, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	if (*err)
		return (*err)->status > 0 ? -(*err)->status : -1;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	*err = g_new0(struct rt_error, 1);
	(*err)->status = status;
	(*err)->msg = status > 0 ? g_strdup_printf("%s: %s", msg, g_strerror(status)) : g_steal_pointer(&msg);
	return status > 0 ? -status : -1;
}

int rt_error_wrap(struct rt_error **err, const char *fmt, ...)
{
	g_autofree char *ctx = NULL;
	char *msg;
	va_list ap;

	if (!*err)
		return rt_make_error(err, 0, "unknown error");
	va_start(ap, fmt);
	ctx = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	msg = g_strdup_printf("%s: %s", ctx, (*err)->msg);
	g_free((*err)->msg);
	(*err)->msg = msg;
	return (*err)->status > 0 ? -(*err)->status : -1;
}

void rt_error_free(struct rt_error **err)
{
	if (!*err)
		return;
	g_free((*err)->msg);
	g_free(*err);
	*err = NULL;
}
