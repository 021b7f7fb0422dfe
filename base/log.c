/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/error.h"
#include "base/log.h"

static struct {
	int fd; /* -1: stderr, text */
	enum rt_log_format format;
	bool debug;
} rt_log_state = { .fd = -1 };

static const char *const level_names[_RT_LOG_LEVEL_MAX] = {
	[RT_LOG_DEBUG] = "debug",
	[RT_LOG_INFO] = "info",
	[RT_LOG_WARN] = "warning",
	[RT_LOG_ERROR] = "error",
};

int rt_log_open(const char *path, enum rt_log_format format, bool debug, struct rt_error **err)
{
	rt_log_state.format = format;
	rt_log_state.debug = debug;
	if (!path)
		return 0;
	/* O_APPEND: the shim hands every command of a container the same file. */
	rt_log_state.fd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
	if (rt_log_state.fd < 0)
		return rt_make_error(err, errno, "open log file `%s`", path);
	return 0;
}

bool rt_log_debug_enabled(void)
{
	return rt_log_state.debug;
}

static char *format_line(enum rt_log_level level, const char *msg)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");

	if (rt_log_state.format == RT_LOG_JSON) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonGenerator) gen = json_generator_new();
		g_autoptr(JsonNode) root = NULL;
		g_autofree char *json = NULL;

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "level");
		json_builder_add_string_value(b, level_names[level]);
		json_builder_set_member_name(b, "msg");
		json_builder_add_string_value(b, msg);
		json_builder_set_member_name(b, "time");
		json_builder_add_string_value(b, ts);
		json_builder_end_object(b);
		root = json_builder_get_root(b);
		json_generator_set_root(gen, root);
		json = json_generator_to_data(gen, NULL);
		return g_strdup_printf("%s\n", json);
	}
	return g_strdup_printf("time=\"%s\" level=%s msg=\"%s\"\n", ts, level_names[level], msg);
}

static void write_line(int fd, const char *line)
{
	/* One write per line so concurrent writers to the same O_APPEND file do not interleave. */
	size_t n = strlen(line);

	while (n) {
		ssize_t w = write(fd, line, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		line += w;
		n -= (size_t)w;
	}
}

static void log_msg(enum rt_log_level level, const char *msg)
{
	g_autofree char *line = NULL;

	if (level == RT_LOG_DEBUG && !rt_log_state.debug)
		return;
	line = format_line(level, msg);
	write_line(rt_log_state.fd >= 0 ? rt_log_state.fd : STDERR_FILENO, line);
}

void rt_log(enum rt_log_level level, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	log_msg(level, msg);
}

int rt_log_fd(void)
{
	return rt_log_state.fd;
}

void rt_log_close(void)
{
	if (rt_log_state.fd >= 0)
		close(rt_log_state.fd);
	rt_log_state.fd = -1;
}

void rt_log_fatal(const struct rt_error *err)
{
	g_autofree char *line = g_strdup_printf("runvm: %s\n", err->msg);

	write_line(STDERR_FILENO, line);
	if (rt_log_state.fd >= 0)
		log_msg(RT_LOG_ERROR, err->msg);
}
