/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The verified block rootfs's image (runtime/blockroot.c): built once per tree, found again,
 * a new one for any change to the tree, and what veritysetup itself verifies. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "base/error.h"
#include "runtime/blockroot.h"
#include "tests/unit/files.h"
#include "tests/unit/tap.h"

static char *dir;

static char *key(const char *tree)
{
	struct rt_error *err = NULL;
	char *k = NULL;

	if (rt_block_rootfs_key(tree, &k, &err) < 0) {
		printf("# key: %s\n", err->msg);
		rt_error_free(&err);
	}
	return k;
}

int main(void)
{
	g_autofree char *tree = NULL, *cache = NULL, *k1 = NULL, *k2 = NULL, *k3 = NULL, *k4 = NULL, *cmd = NULL;
	struct rt_block_rootfs a = { 0 }, b = { 0 };
	struct rt_error *err = NULL;
	int r;

	if (!g_find_program_in_path("mkfs.erofs") || !g_find_program_in_path("veritysetup")) {
		printf("1..0 # SKIP mkfs.erofs or veritysetup is not installed (erofs-utils, cryptsetup-bin)\n");
		return 0;
	}
	dir = g_dir_make_tmp("runvm-block-XXXXXX", NULL);
	tree = g_build_filename(dir, "rootfs", NULL);
	cache = g_build_filename(dir, "cache", NULL);
	put_file(dir, "rootfs/etc/hostname", "runvm\n");
	put_file(dir, "rootfs/bin/hello", "#!/bin/sh\necho hello\n");
	{
		/* 64 KiB: enough data blocks for a hash tree below the root (one block hashes alone). */
		g_autofree char *big = g_strnfill(65536, 'x');

		put_file(dir, "rootfs/data/big", big);
	}
	{
		g_autofree char *l = g_build_filename(tree, "bin/link", NULL);

		ok(symlink("hello", l) == 0, "a symlink in the tree");
	}

	k1 = key(tree);
	k2 = key(tree);
	ok(k1 && k2 && strlen(k1) == 64 && !strcmp(k1, k2), "the key is stable: %s", k1 ? k1 : "none");

	r = rt_block_rootfs_get(cache, tree, &a, &err);
	ok(r == 0 && a.built && strlen(a.roothash) == 64 && a.data_blocks > 0, "first use builds the image (%s)",
	   err ? err->msg : a.roothash);
	rt_error_free(&err);
	r = rt_block_rootfs_get(cache, tree, &b, &err);
	ok(r == 0 && !b.built && !strcmp(a.roothash, b.roothash) && !strcmp(a.salt, b.salt) &&
		   a.data_blocks == b.data_blocks && !strcmp(a.image, b.image),
	   "the second finds it in the cache, the same parameters");
	rt_error_free(&err);
	{
		struct stat st = { 0 };
		bool there = a.image && stat(a.image, &st) == 0;

		ok(there && (uint64_t)st.st_size > a.data_blocks * 4096 && st.st_size % 4096 == 0,
		   "the image holds the data, then its hash tree (%lld bytes, %llu data blocks)", (long long)st.st_size,
		   (unsigned long long)a.data_blocks);
	}
	/* veritysetup's own check of the image against the root hash the guest is given. */
	cmd = g_strdup_printf("veritysetup verify --no-superblock --hash-offset=%llu --data-blocks=%llu --salt=%s '%s' "
			      "'%s' %s",
			      (unsigned long long)a.data_blocks * 4096, (unsigned long long)a.data_blocks, a.salt,
			      a.image, a.image, a.roothash);
	ok(system(cmd) == 0, "veritysetup verifies the image against its root hash");
	g_free(cmd);
	cmd = g_strdup_printf("veritysetup verify --no-superblock --hash-offset=%llu --data-blocks=%llu --salt=%s '%s' "
			      "'%s' %s 2>/dev/null",
			      (unsigned long long)a.data_blocks * 4096, (unsigned long long)a.data_blocks, a.salt,
			      a.image, a.image, "00000000000000000000000000000000000000000000000000000000000000ff");
	ok(system(cmd) != 0, "...and refuses it against another root hash");

	/* Any change moves the key: content (ctime), a new file, a mode. */
	put_file(dir, "rootfs/etc/hostname", "other\n");
	k3 = key(tree);
	ok(k3 && strcmp(k1, k3), "a file's new content: a new key");
	{
		g_autofree char *p = g_build_filename(tree, "bin/hello", NULL);

		chmod(p, 0755);
	}
	k4 = key(tree);
	ok(k4 && strcmp(k3, k4), "a mode changed: a new key");
	rt_block_rootfs_clear(&b);
	r = rt_block_rootfs_get(cache, tree, &b, &err);
	ok(r == 0 && b.built && strcmp(a.roothash, b.roothash), "the changed tree gets an image of its own");
	rt_error_free(&err);

	r = rt_block_rootfs_get(cache, "/nonexistent/rootfs", &b, &err);
	ok(r < 0 && err && strstr(err->msg, "rootfs = block: open `/nonexistent/rootfs`"), "a missing rootfs: %s",
	   err ? err->msg : "no error");
	rt_error_free(&err);

	rt_block_rootfs_clear(&a);
	rt_block_rootfs_clear(&b);
	cmd = g_strdup_printf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	return tap_done();
}
