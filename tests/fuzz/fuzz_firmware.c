/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the parsers of tdx/measure.c, the firmware image (its GUIDed footer table,
 * SEV metadata and reset block: offsets and lengths read from the file) and, the same bytes as
 * a string, an initdata annotation (base64, gzip, TOML). Any input must give a result or an error
 * with a message; an over-read, a leak or UB is a crash. The corpus starts from the unit test's
 * synthetic firmware. `make fuzz` runs it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "tdx/measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_firmware *fw = NULL;
	struct cc_initdata d;
	char *err = NULL, *s;
	uint8_t digest[CC_MEASURE_MAX_LEN], table[CC_SEV_HASH_TABLE_LEN] = { 0 };
	size_t len;
	uint32_t v;

	if (cc_firmware_parse(data, size, &fw, &err) == 0) {
		cc_firmware_hash_table_gpa(fw, &v, NULL);
		cc_firmware_ap_reset_eip(fw, &v, NULL);
		/* Every mode over what parsed, with and without a hash table, two vCPUs. */
		for (int m = 0; m < _CC_MEASURE_MODE_MAX; m++)
			for (int t = 0; t < 2; t++) {
				char *e = NULL;

				if (cc_launch_digest(fw, m, t ? table : NULL, 2, cc_cpu_sig(25, 1, 1), 1, digest, &len,
						     &e) < 0 &&
				    !e)
					abort();
				g_free(e);
			}
		cc_firmware_free(fw);
	} else if (!err) {
		abort();
	}
	g_free(err);
	err = NULL;
	s = g_strndup((const char *)data, size);
	if (cc_initdata_parse(s, &d, &err) == 0)
		cc_initdata_done(&d);
	else if (!err)
		abort();
	g_free(err);
	g_free(s);
	return 0;
}
