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

/* Write all of @msg, with @pass_fd (when >= 0) as SCM_RIGHTS on its first byte. */
static int send_all(int fd, const char *msg, int pass_fd, struct rt_error **err)
{
	size_t off = 0, len = strlen(msg);

	while (off < len) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} ctl = { 0 };
		struct iovec iov = { .iov_base = (char *)msg + off, .iov_len = len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (off == 0 && pass_fd >= 0) {
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
			CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
			CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
			CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &pass_fd, sizeof(int));
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rt_make_error(err, errno, "QMP: write");
		off += (size_t)n;
	}
	return 0;
}

int qmp_command(int fd, const char *json, int pass_fd, JsonNode **ret_return, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *msg = g_strdup_printf("%s\n", json);

	if (send_all(fd, msg, pass_fd, err) < 0)
		return -1;
	for (;;) {
		JsonObject *o;

		if (read_line(fd, &o, parser, err) < 0)
			return -1;
		if (json_object_has_member(o, "return")) {
			if (ret_return)
				*ret_return = json_node_copy(json_object_get_member(o, "return"));
			return 0;
		}
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

			return rt_make_error(err, 0, "QMP %s: %s", json, desc);
		}
		/* anything else is an asynchronous event: skip it */
	}
}

static int send_and_wait(int fd, const char *command, struct rt_error **err)
{
	g_autofree char *json = g_strdup_printf("{\"execute\":\"%s\"}", command);

	return qmp_command(fd, json, -1, NULL, err);
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
