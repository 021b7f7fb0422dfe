/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The verified block rootfs (FSTYPE "verity"): a dm-verity mapping over the first virtio-blk
 * disk, its erofs mounted read-only, under a guest-private tmpfs overlay unless the container's
 * root is read-only. */
#ifndef RUNVM_AGENT_VERITY_H
#define RUNVM_AGENT_VERITY_H

#include <stdbool.h>

#include "guest/agent/config.h"

/* The disk the image is on: the first virtio-blk device (the runtime puts it first). */
#define VERITY_DISK "/dev/vda"

/* Set the mapping up from @v and mount the rootfs on @target: read-only where @readonly, else
 * with writes to a tmpfs that never leaves the guest. Returns 0 or -errno, with what failed in
 * @err (@errsize bytes). */
int verity_mount(const struct verity_params *v, const char *target, bool readonly, char *err, size_t errsize);

#endif
