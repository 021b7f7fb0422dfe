/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "runtime/ctl.h"
#include "base/cleanup.h"
#include "base/error.h"

/* sun_path holds 107 bytes, and docker's state paths (--root .../moby/<64 hex>/ctl.sock) come
 * close to or past that. A longer path is reached through an O_PATH fd of its directory:
 * /proc/self/fd/N/NAME. The caller closes *ret_dirfd once bound or connected. */
static int make_addr(const char *path, struct sockaddr_un *sa, int *ret_dirfd, struct rt_error **err)
{
	g_autofree char *dir = NULL;
	g_autofree char *name = NULL;
	int dfd;

	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	*ret_dirfd = -1;
	if (strlen(path) < sizeof(sa->sun_path)) {
		strcpy(sa->sun_path, path);
		return 0;
	}
	dir = g_path_get_dirname(path);
	name = g_path_get_basename(path);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rt_make_error(err, errno, "control socket directory `%s`", dir);
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dfd, name) >=
	    sizeof(sa->sun_path)) {
		close(dfd);
		return rt_make_error(err, ENAMETOOLONG, "control socket `%s`", path);
	}
	*ret_dirfd = dfd;
	return 0;
}

int rt_ctl_listen(const char *path, int *ret_fd, struct rt_error **err)
{
	return rt_unix_listen(path, SOCK_SEQPACKET, ret_fd, err);
}

int rt_unix_listen(const char *path, int type, int *ret_fd, struct rt_error **err)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -EBADF, dirfd = -EBADF;

	if (make_addr(path, &sa, &dirfd, err) < 0)
		return -1;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return rt_make_error(err, errno, "socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		return rt_make_error(err, errno, "listen on `%s`", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int set_timeout(int fd, int opt, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

int rt_ctl_recv_timeout(int fd, unsigned timeout_ms, struct rt_error **err)
{
	if (set_timeout(fd, SO_RCVTIMEO, timeout_ms) < 0)
		return rt_make_error(err, errno, "control socket: SO_RCVTIMEO");
	return 0;
}

int rt_ctl_connect(const char *path, int *ret_fd, struct rt_error **err)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -EBADF, dirfd = -EBADF;

	if (make_addr(path, &sa, &dirfd, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rt_make_error(err, errno, "socket");
	/* A monitor that does not accept (its backlog full) or read: connect and every send give
	 * up by then (an AF_UNIX connect waits for the send timeout). */
	if (set_timeout(fd, SO_SNDTIMEO, RT_CTL_TIMEOUT_MS) < 0)
		return rt_make_error(err, errno, "control socket: SO_SNDTIMEO");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return rt_make_error(err, errno,
				     errno == EAGAIN ? "the container's monitor is not accepting connections"
						     : "connect to the container's monitor");
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int rt_ctl_send(int fd, const char *msg, const int *fds, size_t nfds, struct rt_error **err)
{
	char cbuf[CMSG_SPACE(sizeof(int) * RT_CTL_MAX_FDS)] = { 0 };
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (iov.iov_len > RT_CTL_MAX_MSG)
		return rt_make_error(err, EMSGSIZE, "control message");
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return rt_make_error(err, errno, "send to the container's monitor");
	return 0;
}

int rt_ctl_recv(int fd, char **ret_msg, int ret_fds[RT_CTL_MAX_FDS], size_t *ret_nfds, struct rt_error **err)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	g_autofree char *buf = g_malloc(RT_CTL_MAX_MSG + 1);
	struct iovec iov = { .iov_base = buf, .iov_len = RT_CTL_MAX_MSG };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	size_t nfds = 0;
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return rt_make_error(err, errno, "receive from the control socket");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (ret_fds && nfds < RT_CTL_MAX_FDS)
				ret_fds[nfds++] = f;
			else
				close(f);
		}
	}
	if (ret_nfds)
		*ret_nfds = nfds;
	if (n == 0) {
		for (size_t i = 0; i < nfds; i++)
			close(ret_fds[i]);
		return 0;
	}
	if (mh.msg_flags & MSG_TRUNC) {
		for (size_t i = 0; i < nfds; i++)
			close(ret_fds[i]);
		return rt_make_error(err, EMSGSIZE, "control message too large");
	}
	buf[n] = '\0';
	*ret_msg = g_steal_pointer(&buf);
	return 1;
}

int rt_ctl_call(const char *path, const char *msg, struct rt_error **err)
{
	return rt_ctl_call_timeout(path, msg, RT_CTL_TIMEOUT_MS, err);
}

int rt_ctl_call_timeout(const char *path, const char *msg, unsigned timeout_ms, struct rt_error **err)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autofree char *reply = NULL;
	_cleanup_close_ int fd = -EBADF;
	JsonNode *root;
	JsonObject *o;
	int r;

	if (rt_ctl_connect(path, &fd, err) < 0 || rt_ctl_recv_timeout(fd, timeout_ms, err) < 0 ||
	    rt_ctl_send(fd, msg, NULL, 0, err) < 0)
		return -1;
	r = rt_ctl_recv(fd, &reply, NULL, NULL, err);
	if (r < 0 && (*err)->status == EAGAIN) {
		rt_error_free(err);
		return rt_make_error(err, 0, "the container's monitor did not answer within %u s", timeout_ms / 1000);
	}
	if (r < 0)
		return -1;
	if (r == 0)
		return rt_make_error(err, 0, "container not running: the monitor went away");
	if (!json_parser_load_from_data(parser, reply, -1, NULL) || !(root = json_parser_get_root(parser)) ||
	    !JSON_NODE_HOLDS_OBJECT(root))
		return rt_make_error(err, 0, "bad reply from the container's monitor");
	o = json_node_get_object(root);
	if (json_object_has_member(o, "error"))
		return rt_make_error(err, 0, "%s", json_object_get_string_member_with_default(o, "error", "?"));
	return 0;
}
