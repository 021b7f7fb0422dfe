/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: config.json parsing (rt_spec_parse in runtime/lib/spec.c) from bytes in
 * memory, as `create` reads a bundle it was handed. The bundle is a scratch directory under
 * /dev/shm with an empty rootfs/, so that a relative root.path resolves and the members after
 * it are parsed too. An input either parses or fails with one error message, nothing else.
 * `make fuzz` runs it, seeded from tests/fuzz/seeds/fuzz_spec/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/error.h"
#include "tests/fuzz/fuzz-glib.h"
#include "runtime/lib/spec.h"
#include "tests/fuzz/fuzz-scratch.h"

static const char *bundle;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_error *err = NULL;
	struct rt_spec *s = NULL;
	int r;

	if (!bundle) {
		char rootfs[160];

		bundle = fuzz_scratch_dir("spec");
		snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
		if (mkdir(rootfs, 0755) < 0)
			abort();
	}
	r = rt_spec_parse((const char *)data, size, bundle, &s, &err);
	if (r == 0)
		rt_spec_free(s);
	fuzz_check_error(r, &err);
	return 0;
}
