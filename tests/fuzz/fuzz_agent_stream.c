/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: arbitrary bytes from the guest into the host's agent-stream handler, in
 * chunks whose sizes the input also picks. `make fuzz` runs it. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "base/error.h"
#include "runtime/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int devnull = -1;
	struct rt_monitor *s;
	struct rt_error *err = NULL;
	size_t off = 1;
	int r = 0;

	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY);
	if (size < 1)
		return 0;
	s = rt_monitor_new_detached(devnull, devnull);
	/* The first byte picks the chunk size, so frames get split at every boundary. */
	while (off < size && r == 0) {
		size_t step = (size_t)data[0] + 1;

		if (step > size - off)
			step = size - off;
		r = rt_monitor_feed(s, data + off, step, &err);
		off += step;
	}
	rt_error_free(&err);
	rt_monitor_free(s);
	return 0;
}
