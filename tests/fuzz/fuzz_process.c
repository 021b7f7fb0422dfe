/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: a process.json (rt_process_parse in runtime/lib/spec.c, what
 * `exec --process FILE` reads) from bytes in memory. An input either parses or fails with one
 * error message. `make fuzz` runs it, seeded from tests/fuzz/seeds/fuzz_process/.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/error.h"
#include "tests/fuzz/fuzz-glib.h"
#include "runtime/lib/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_error *err = NULL;
	struct rt_process *p = NULL;

	int r = rt_process_parse((const char *)data, size, &p, &err);

	if (r == 0)
		rt_process_free(p);
	fuzz_check_error(r, &err);
	return 0;
}
