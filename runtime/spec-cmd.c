/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `runvm spec [--bundle DIR]`: write a default config.json, as `runc spec` does. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/cli.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "runtime/lib/spec.h"

int rt_cmd_spec(const struct rt_globals *g, int argc, char **argv, struct rt_error **err)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },
		{ "rootless", no_argument, NULL, 256 },
		{ 0 },
	};
	g_autofree char *path = NULL;
	g_autofree char *json = rt_spec_default_json();
	_cleanup_close_ int fd = -EBADF;
	const char *bundle = ".";
	size_t off = 0, len = strlen(json);
	int c;

	(void)g;
	while ((c = rt_getopt(argc, argv, "b:", opts, "spec", err)) != -1) {
		if (c == -2)
			return -1;
		if (c == 'b')
			bundle = optarg;
	}
	if (optind != argc)
		return rt_make_error(err, 0, "spec: takes no arguments");
	path = g_build_filename(bundle, "config.json", NULL);
	/* O_EXCL: like runc, never overwrite a config someone wrote. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST)
		return rt_make_error(err, 0, "File %s exists. Remove it first", path);
	if (fd < 0)
		return rt_make_error(err, errno, "create `%s`", path);
	while (off < len) {
		ssize_t n = write(fd, json + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rt_make_error(err, errno, "write `%s`", path);
		off += (size_t)n;
	}
	return 0;
}
