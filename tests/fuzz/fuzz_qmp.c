/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the QMP client (qemu-lite/qmp.c) reading what a hostile or broken QEMU
 * writes. The input is everything "QEMU" says, written into one end of a socketpair that is
 * then shut for writing; the client does the handshake (greeting, qmp_capabilities) and then
 * runs commands until a reply fails it. Its reader must stop at end of input (never wait out
 * its timeout: -timeout catches that), bound each line, and turn every bad reply into one
 * error message. `make fuzz` runs it, seeded from tests/fuzz/seeds/fuzz_qmp/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "tests/fuzz/fuzz-glib.h"
#include "qemu-lite/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_error *err = NULL;
	int sv[2], r, n = 0;

	/* A socket buffer takes the whole input (-max_len is far below it), and the client's
	 * own commands (one per reply at most) pile up unread in ours. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (write(sv[1], data, size) != (ssize_t)size || shutdown(sv[1], SHUT_WR) < 0)
		abort();
	r = qmp_handshake(sv[0], &err);
	while (r == 0 && ++n < 64)
		r = qmp_execute(sv[0], n % 2 ? "stop" : "cont", &err);
	fuzz_check_error(r, &err);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
