/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Golden files for the unit tests: a text equals the checked-in file, or, with UPDATE_GOLDEN=1,
 * becomes it (review the diff before committing). */
#ifndef RUNVM_TEST_GOLDEN_H
#define RUNVM_TEST_GOLDEN_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

static inline bool golden(const char *dir, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *want = NULL;

	if (g_getenv("UPDATE_GOLDEN"))
		return g_file_set_contents(path, text, -1, NULL);
	if (!g_file_get_contents(path, &want, NULL, NULL)) {
		printf("# %s: cannot read\n", path);
		return false;
	}
	if (strcmp(want, text) != 0) {
		printf("# %s differs; got:\n%s", path, text);
		return false;
	}
	return true;
}

#endif
