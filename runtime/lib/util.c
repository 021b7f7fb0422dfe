/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "runtime/lib/util.h"

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

/* Send the pty master the way runc does: one message, a name as payload, the fd attached. */
int rt_send_console(const char *path, int master, struct rt_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char name[] = "/dev/ptmx";
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	_cleanup_close_ int fd = -EBADF;

	if (strlen(path) >= sizeof(sa.sun_path))
		return rt_make_error(err, ENAMETOOLONG, "console socket `%s`", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return rt_make_error(err, errno, "connect to console socket `%s`", path);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
		return rt_make_error(err, errno, "send the console to `%s`", path);
	return 0;
}

int rt_open_pty(int *ret_master, int *ret_slave, struct rt_error **err)
{
	_cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	int slave;

	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		return rt_make_error(err, errno, "allocate a pty");
	slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return rt_make_error(err, errno, "open the pty slave");
	*ret_master = TAKE_FD(master);
	*ret_slave = slave;
	return 0;
}

char *rt_read_report(int fd)
{
	char buf[4096];
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof(buf) - 1)
			break;
	}
	close(fd);
	return g_strndup(buf, len);
}

/* Guest-supplied text made fit for one line of a terminal or a log: printable ASCII and valid
 * printable UTF-8 as they are, control characters and other bytes as \xNN; at most @max bytes,
 * then "..." where it was cut. */
char *rt_escape_text(const uint8_t *data, size_t len, size_t max)
{
	GString *s = g_string_sized_new(MIN(len, max) + 4);

	for (size_t i = 0; i < len;) {
		const char *p = (const char *)data + i;
		gunichar c = g_utf8_get_char_validated(p, (gssize)(len - i));
		bool keep = c < 0x80 ? g_ascii_isprint((char)c) : c < (gunichar)-2 && g_unichar_isprint(c);
		size_t n = keep ? (size_t)(g_utf8_next_char(p) - p) : 1;

		if (s->len + (keep ? n : 4) > max) {
			g_string_append(s, "...");
			break;
		}
		if (keep)
			g_string_append_len(s, p, (gssize)n);
		else
			g_string_append_printf(s, "\\x%02x", data[i]);
		i += n;
	}
	return g_string_free(s, FALSE);
}
