/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "base/time.h"
#include "base/error.h"
#include "qemu-lite/qmp.h"

#define QMP_TIMEOUT_MS 10000
#define QMP_MAX_LINE (64 * 1024)

/* Read one '\n'-terminated JSON object. Byte-at-a-time keeps no state between calls; QMP
 * replies are short and rare. */
static int read_line(int fd, JsonObject **ret, JsonParser *parser, struct rt_error **err)
{
	g_autoptr(GString) line = g_string_new(NULL);
	long long deadline = rv_now_ms() + QMP_TIMEOUT_MS;
	g_autoptr(GError) gerr = NULL;
	JsonNode *root;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - rv_now_ms();
		char c;
		ssize_t n;
		int r;

		if (left <= 0)
			return rt_make_error(err, ETIMEDOUT, "QMP: no reply from QEMU");
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return rt_make_error(err, errno, "QMP: poll");
		if (r == 0)
			continue;
		n = read(fd, &c, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return rt_make_error(err, errno, "QMP: read");
		if (n == 0)
			return rt_make_error(err, ECONNRESET, "QMP: QEMU closed the monitor");
		if (c == '\n')
			break;
		if (line->len >= QMP_MAX_LINE)
			return rt_make_error(err, EMSGSIZE, "QMP: reply too long");
		g_string_append_c(line, c);
	}
	if (!json_parser_load_from_data(parser, line->str, (gssize)line->len, &gerr))
		return rt_make_error(err, 0, "QMP: bad reply: %s", gerr->message);
	root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "QMP: reply is not an object");
	*ret = json_node_get_object(root);
	return 0;
}

static int send_and_wait(int fd, const char *command, struct rt_error **err)
{
	g_autofree char *msg = g_strdup_printf("{\"execute\":\"%s\"}\n", command);
	g_autoptr(JsonParser) parser = json_parser_new();
	size_t off = 0, len = strlen(msg);

	while (off < len) {
		ssize_t n = send(fd, msg + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rt_make_error(err, errno, "QMP: write");
		off += (size_t)n;
	}
	for (;;) {
		JsonObject *o;

		if (read_line(fd, &o, parser, err) < 0)
			return -1;
		if (json_object_has_member(o, "return"))
			return 0;
		if (json_object_has_member(o, "error")) {
			/* QEMU's shape is {"error": {"class": ..., "desc": "..."}}; anything else
			 * is still an error, described as "?". */
			JsonNode *en = json_object_get_member(o, "error");
			JsonObject *e = JSON_NODE_HOLDS_OBJECT(en) ? json_node_get_object(en) : NULL;
			JsonNode *dn = e ? json_object_get_member(e, "desc") : NULL;
			const char *desc = dn && JSON_NODE_HOLDS_VALUE(dn) &&
					json_node_get_value_type(dn) == G_TYPE_STRING
				? json_node_get_string(dn)
				: "?";

			return rt_make_error(err, 0, "QMP %s: %s", command, desc);
		}
		/* anything else is an asynchronous event: skip it */
	}
}

int qmp_handshake(int fd, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *greeting;

	if (read_line(fd, &greeting, parser, err) < 0)
		return -1;
	if (!json_object_has_member(greeting, "QMP"))
		return rt_make_error(err, 0, "QMP: unexpected greeting");
	return send_and_wait(fd, "qmp_capabilities", err);
}

int qmp_execute(int fd, const char *command, struct rt_error **err)
{
	return send_and_wait(fd, command, err);
}
