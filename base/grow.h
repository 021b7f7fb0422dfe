/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A byte buffer that grows by doubling: the agent protocol's frames and the VMM's saved state.
 * Header-only and GLib-free, so that the static agent and the fuzzers use it as they are. */
#ifndef RUNVM_BASE_GROW_H
#define RUNVM_BASE_GROW_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Make room for @need bytes in *@data of *@cap (from 256, doubling). 0, or -ENOMEM with the
 * buffer as it was. The caller bounds @need. */
static inline int rv_grow(uint8_t **data, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 256;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*data, c);
	if (!p)
		return -ENOMEM;
	*data = p;
	*cap = c;
	return 0;
}

#endif
