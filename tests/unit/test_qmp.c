/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QMP client against a scripted QEMU on the other end of a socketpair. */
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-lite/qmp.h"
#include "base/error.h"
#include "tests/unit/tap.h"

/* Play QEMU: greet, then answer each command line with the next scripted reply. */
static void fake_qemu(int fd, const char *const *replies)
{
	char c;

	dprintf(fd, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
	for (; *replies; replies++) {
		do
			if (read(fd, &c, 1) != 1)
				_exit(1);
		while (c != '\n');
		if (write(fd, *replies, strlen(*replies)) < 0)
			_exit(1);
	}
	_exit(0);
}

static pid_t start(const char *const *replies, int *ret_fd)
{
	int sp[2];
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	pid = fork();
	if (pid == 0) {
		close(sp[0]);
		fake_qemu(sp[1], replies);
	}
	close(sp[1]);
	*ret_fd = sp[0];
	return pid;
}

int main(void)
{
	static const char *const script[] = {
		"{\"return\": {}}\n",
		"{\"timestamp\": {}, \"event\": \"STOP\"}\n{\"return\": {}}\n",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no can do\"}}\n",
		NULL,
	};
	static const char *const garbage[] = { "this is not json\n", NULL };
	struct rt_error *err = NULL;
	int fd;
	pid_t pid;

	pid = start(script, &fd);
	ok(qmp_handshake(fd, &err) == 0, "handshake");
	ok(qmp_execute(fd, "stop", &err) == 0, "command succeeds past an interleaved event");
	ok(qmp_execute(fd, "cont", &err) < 0 && err && strstr(err->msg, "no can do"), "QMP error reported");
	rt_error_free(&err);
	ok(qmp_execute(fd, "cont", &err) < 0 && err, "closed monitor reported, no SIGPIPE");
	rt_error_free(&err);
	close(fd);
	waitpid(pid, NULL, 0);

	pid = start(garbage, &fd);
	ok(qmp_handshake(fd, &err) < 0 && err && strstr(err->msg, "bad reply"), "garbage reply rejected");
	rt_error_free(&err);
	close(fd);
	waitpid(pid, NULL, 0);
	return tap_done();
}
