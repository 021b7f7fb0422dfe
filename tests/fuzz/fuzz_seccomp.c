/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the seccomp compiler (rt_seccomp_compile in runtime/seccomp.c): an OCI
 * LinuxSeccomp object from the input, compiled with libseccomp for each guest architecture.
 * An input either compiles to a classic BPF program (whole sock_filter entries, within the
 * kernel's BPF_MAXINSNS) or fails with one error message. `make fuzz` runs it, seeded from
 * tests/fuzz/seeds/fuzz_seccomp/.
 */
#include <linux/filter.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/error.h"
#include "tests/fuzz/fuzz-glib.h"
#include "runtime/seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *json = g_malloc(size + 1);

	memcpy(json, data, size);
	json[size] = '\0';
	for (int arch = 0; arch < _RV_ARCH_MAX; arch++) {
		struct rt_error *err = NULL;
		uint8_t *bpf = NULL;
		size_t len = 0;

		int r = rt_seccomp_compile(json, arch, &bpf, &len, &err);

		if (r == 0) {
			if (len == 0 || len % sizeof(struct sock_filter) ||
			    len / sizeof(struct sock_filter) > BPF_MAXINSNS)
				abort();
			g_free(bpf);
		}
		fuzz_check_error(r, &err);
	}
	return 0;
}
