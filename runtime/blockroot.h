/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The verified block rootfs ([runvm] rootfs = block, and every confidential guest's): the
 * bundle's rootfs as a read-only erofs image (mkfs.erofs, Debian's erofs-utils) with its
 * dm-verity hash tree after the data (veritysetup, Debian's cryptsetup-bin), kept in a cache so
 * that the same rootfs is built once. The guest gets the image as its first virtio-blk disk and
 * the root hash on its kernel command line (guest/agent/verity.c).
 */
#ifndef RUNVM_BLOCKROOT_H
#define RUNVM_BLOCKROOT_H

#include <stdbool.h>
#include <stdint.h>

struct rt_error;

struct rt_block_rootfs {
	char *image;          /* the cached image: erofs, then its hash tree */
	char roothash[65];    /* SHA-256 of the tree's top, hex */
	char salt[129];       /* hex */
	uint64_t data_blocks; /* 4096-byte blocks of erofs; the tree starts after them */
	bool built;           /* made by this call, not found in the cache */
};

/*
 * The image of the tree at @rootfs, from @cache_dir (made there, atomically, when missing).
 * Its key is a SHA-256 over the tree as lstat sees it (each entry's path, type and mode, owner,
 * size, mtime and ctime, device number, link target; in name order) and the identities of the
 * two tools: a change to any file's content moves its ctime, so it never meets a stale image.
 */
int rt_block_rootfs_get(const char *cache_dir, const char *rootfs, struct rt_block_rootfs *ret, struct rt_error **err);
void rt_block_rootfs_clear(struct rt_block_rootfs *b);
/* The key alone (for the tests): 64 hex digits, g_free it. */
int rt_block_rootfs_key(const char *rootfs, char **ret, struct rt_error **err);

#endif
