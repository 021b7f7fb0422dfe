/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <linux/filter.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "base/bpf.h"
#include "base/cleanup.h"
#include "base/error.h"

int rv_bpf_export(scmp_filter_ctx ctx, size_t max_bytes, uint8_t **ret_bpf, size_t *ret_len, struct rt_error **err)
{
	/* libseccomp exports to an fd only: a memfd, read back whole. */
	_cleanup_close_ int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	g_autofree uint8_t *bpf = NULL;
	off_t size = -1;

	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || (size = lseek(fd, 0, SEEK_END)) < 0)
		return rt_make_error(err, errno, "seccomp: export the filter");
	if (size == 0 || (size_t)size > max_bytes || size % sizeof(struct sock_filter))
		return rt_make_error(err, 0, "seccomp: the compiled filter has %lld bytes", (long long)size);
	bpf = g_malloc((size_t)size);
	if (pread(fd, bpf, (size_t)size, 0) != size)
		return rt_make_error(err, errno, "seccomp: read the filter");
	*ret_bpf = g_steal_pointer(&bpf);
	*ret_len = (size_t)size;
	return 0;
}
