/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scope-bound cleanup (systemd/crun style). Always initialise a _cleanup_ variable; hand its
 * value on with TAKE_PTR()/TAKE_FD(). GLib objects use g_autoptr/g_autofree instead. */
#ifndef RUNVM_CLEANUP_H
#define RUNVM_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))

#define TAKE_PTR(p)                     \
	({                              \
		__typeof__(p) _p = (p); \
		(p) = NULL;             \
		_p;                     \
	})
#define TAKE_FD(fd)             \
	({                      \
		int _fd = (fd); \
		(fd) = -EBADF;  \
		_fd;            \
	})

#endif
