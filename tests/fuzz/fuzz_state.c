/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the state loader (rt_state_load in runtime/lib/state.c), which every verb
 * after `create` runs on STATE_DIR/state.json, and its rendering for `runvm state`
 * (rt_state_to_oci_json). The loader takes a directory: the input is written over state.json
 * in one scratch directory under /dev/shm per process. A state file either loads or fails
 * with one error message. `make fuzz` runs it, seeded from tests/fuzz/seeds/fuzz_state/.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib.h>

#include "base/error.h"
#include "tests/fuzz/fuzz-glib.h"
#include "runtime/lib/state.h"
#include "tests/fuzz/fuzz-scratch.h"

static const char *dir;
static char path[160];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_error *err = NULL;
	struct rt_state *st = NULL;
	int fd, r;

	if (!dir) {
		dir = fuzz_scratch_dir("state");
		snprintf(path, sizeof(path), "%s/state.json", dir);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	r = rt_state_load(dir, &st, &err);
	if (r == 0) {
		g_autofree char *json = rt_state_to_oci_json(st, "", true);

		if (!json)
			abort();
		rt_state_free(st);
	}
	fuzz_check_error(r, &err);
	return 0;
}
