/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib.h>

#include "runtime/arch.h"
#include "base/cleanup.h"
#include "runtime/lib/config.h"
#include "base/error.h"
#include "runtime/lib/spec.h"

/* args[0] comes from the bundle, and the rootfs is the container's: it may name a FIFO (whose
 * open blocks for a writer), a device node (whose open runs a host driver) or a socket. It is
 * looked up as an O_PATH fd, which opens nothing, and read only when that fd is a regular
 * file, reopened through /proc/self/fd (the same inode, no second lookup) with O_NONBLOCK. */
int rt_elf_arch(const char *rootfs, const char *path)
{
	/* RESOLVE_IN_ROOT: the rootfs is `/` for every symlink and `..` on the way. */
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	_cleanup_close_ int root = -EBADF, node = -EBADF, fd = -EBADF;
	unsigned char h[EI_NIDENT + 4];
	char self[64];
	unsigned machine;
	struct stat sb;

	root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	node = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (node < 0 || fstat(node, &sb) < 0 || !S_ISREG(sb.st_mode))
		return -1;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", node);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || read(fd, h, sizeof(h)) != (ssize_t)sizeof(h) || memcmp(h, ELFMAG, SELFMAG) != 0)
		return -1;
	/* e_machine follows e_ident and e_type, in the file's byte order. */
	machine = h[EI_DATA] == ELFDATA2MSB ? (unsigned)h[EI_NIDENT + 2] << 8 | h[EI_NIDENT + 3]
					    : (unsigned)h[EI_NIDENT + 3] << 8 | h[EI_NIDENT + 2];
	switch (machine) {
	case EM_X86_64: return RV_ARCH_X86_64;
	case EM_AARCH64: return RV_ARCH_AARCH64;
	default: return -1;
	}
}

/* args[0] as execvp would find it: a name with a slash as it is (relative to the cwd), else
 * each directory of the process's PATH (or the default one) in turn. */
static int program_arch(const struct rt_spec *spec)
{
	const char *prog = spec->process.args ? spec->process.args[0] : NULL;
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	g_auto(GStrv) dirs = NULL;

	if (!prog || !*prog)
		return -1;
	if (strchr(prog, '/')) {
		g_autofree char *p = g_build_filename(prog[0] == '/' ? "/" : spec->process.cwd, prog, NULL);

		return rt_elf_arch(spec->rootfs, p);
	}
	for (char **e = spec->process.env; e && *e; e++)
		if (g_str_has_prefix(*e, "PATH="))
			path = *e + 5;
	dirs = g_strsplit(path, ":", -1);
	for (char **d = dirs; *d; d++) {
		g_autofree char *p = g_build_filename(**d ? *d : spec->process.cwd, prog, NULL);
		int a = rt_elf_arch(spec->rootfs, p);

		if (a >= 0)
			return a;
	}
	return -1;
}

int rt_guest_arch(const struct rt_config *config, const struct rt_spec *spec, enum rv_arch *ret, const char **ret_why,
		  struct rt_error **err)
{
	int a;

	if (spec->arch) {
		a = rv_arch_from_name(spec->arch);
		if (a < 0)
			return rt_make_error(err, 0,
					     "config.json: annotation io.runvm.arch `%s` is not x86_64 or aarch64",
					     spec->arch);
		*ret_why = "the io.runvm.arch annotation";
	} else if (strcmp(config->arch, "auto") != 0) {
		a = rv_arch_from_name(config->arch);
		*ret_why = "the configuration";
	} else if ((a = program_arch(spec)) >= 0) {
		*ret_why = "the container's program";
	} else {
		a = rv_arch_host();
		*ret_why = "the host's (the program is a script or was not found)";
	}
	*ret = (enum rv_arch)a;
	return 0;
}
