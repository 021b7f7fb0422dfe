/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fake trees for the unit tests: a file under a root directory, its parents made. */
#ifndef RUNVM_TEST_FILES_H
#define RUNVM_TEST_FILES_H

#include <glib.h>
#include <glib/gstdio.h>

/* @root/@path holds @content (a test's tree: failures show in the checks that read it). */
static inline void put_file(const char *root, const char *path, const char *content)
{
	g_autofree char *p = g_build_filename(root, path, NULL);
	g_autofree char *dir = g_path_get_dirname(p);

	g_mkdir_with_parents(dir, 0755);
	g_file_set_contents(p, content, -1, NULL);
}

#endif
