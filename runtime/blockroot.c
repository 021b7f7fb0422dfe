/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "base/error.h"
#include "base/log.h"
#include "runtime/blockroot.h"

/* Changes whenever the image's layout or the way it is made changes. */
#define FORMAT "runvm-block-rootfs 1"
/* The most entries a tree may have: the key's walk is bounded. */
#define MAX_ENTRIES (1u << 22)

static const char *const tools[] = { "mkfs.erofs", "veritysetup" };
static const char *const packages[] = { "erofs-utils", "cryptsetup-bin" };

static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int hash_tree(GChecksum *sum, int dirfd, const char *rel, unsigned *count, struct rt_error **err)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return rt_make_error(err, errno, "rootfs = block: read `%s`", *rel ? rel : "/");
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			g_ptr_array_add(names, g_strdup(e->d_name));
	closedir(d);
	g_ptr_array_sort(names, by_name);
	for (guint i = 0; i < names->len; i++) {
		const char *name = names->pdata[i];
		g_autofree char *path = g_strconcat(rel, "/", name, NULL);
		g_autofree char *line = NULL;
		char target[4096] = "";
		struct stat st;
		int sub;

		if (++*count > MAX_ENTRIES)
			return rt_make_error(err, 0, "rootfs = block: more than %u files", MAX_ENTRIES);
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return rt_make_error(err, errno, "rootfs = block: stat `%s`", path);
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

			if (n < 0)
				return rt_make_error(err, errno, "rootfs = block: readlink `%s`", path);
			target[n] = 0;
		}
		/* One line per entry; the path's length first, so that no name can pass for
		 * another entry's fields. */
		line = g_strdup_printf("%zu:%s %o %u %u %jd %jd.%09ld %jd.%09ld %ju %s\n", strlen(path), path,
				       (unsigned)st.st_mode, (unsigned)st.st_uid, (unsigned)st.st_gid,
				       (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				       (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, (uintmax_t)st.st_rdev, target);
		g_checksum_update(sum, (const guchar *)line, -1);
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return rt_make_error(err, errno, "rootfs = block: open `%s`", path);
		if (hash_tree(sum, sub, path, count, err) < 0) {
			close(sub);
			return -1;
		}
		close(sub);
	}
	return 0;
}

/* Where @tool is, with what it is (its package's name in the error when it is missing). */
static int tool_path(size_t i, char **ret, struct rt_error **err)
{
	*ret = g_find_program_in_path(tools[i]);
	if (!*ret)
		return rt_make_error(err, 0, "rootfs = block needs %s (Debian's %s)", tools[i], packages[i]);
	return 0;
}

int rt_block_rootfs_key(const char *rootfs, char **ret, struct rt_error **err)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	unsigned count = 0;
	int fd, r;

	g_checksum_update(sum, (const guchar *)FORMAT "\n", -1);
	for (size_t i = 0; i < G_N_ELEMENTS(tools); i++) {
		g_autofree char *path = NULL;
		g_autofree char *line = NULL;
		struct stat st;

		if (tool_path(i, &path, err) < 0)
			return -1;
		if (stat(path, &st) < 0)
			return rt_make_error(err, errno, "stat `%s`", path);
		/* A new version of a tool may build another image: its file's identity. */
		line = g_strdup_printf("%s %jd %jd.%09ld\n", path, (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec,
				       st.st_mtim.tv_nsec);
		g_checksum_update(sum, (const guchar *)line, -1);
	}
	fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rt_make_error(err, errno, "rootfs = block: open `%s`", rootfs);
	r = hash_tree(sum, fd, "", &count, err);
	close(fd);
	if (r < 0)
		return -1;
	*ret = g_strdup(g_checksum_get_string(sum));
	return 0;
}

/* Run @argv, its stdout in *@ret_out; its stderr's first line in the error. */
static int run_tool(const char *const *argv, char **ret_out, struct rt_error **err)
{
	g_autofree char *out = NULL, *errout = NULL;
	g_autoptr(GError) gerr = NULL;
	int status;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errout, &status, &gerr))
		return rt_make_error(err, 0, "run %s: %s", argv[0], gerr->message);
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_strchomp(errout);
		return rt_make_error(err, 0, "%s failed: %.300s", argv[0], *errout ? errout : "(no message)");
	}
	if (ret_out)
		*ret_out = g_steal_pointer(&out);
	return 0;
}

/* "NAME:\tVALUE" of veritysetup's report, at most @size - 1 hex digits, into @ret. */
static bool report_value(const char *report, const char *name, char *ret, size_t size)
{
	const char *p = strstr(report, name);
	size_t n;

	if (!p)
		return false;
	p += strlen(name);
	p += strspn(p, " \t");
	n = strspn(p, "0123456789abcdef");
	if (n == 0 || n >= size)
		return false;
	memcpy(ret, p, n);
	ret[n] = 0;
	return true;
}

/* The image of @rootfs in @dir (a fresh directory): erofs, padded to whole blocks, then the
 * hash tree; the verity parameters in dir/verity. */
static int build(const char *dir, const char *rootfs, struct rt_block_rootfs *b, struct rt_error **err)
{
	g_autofree char *mkfs = NULL, *verity = NULL, *report = NULL, *offset = NULL, *blocks = NULL;
	g_autofree char *image = g_build_filename(dir, "image", NULL);
	g_autofree char *params = g_build_filename(dir, "verity", NULL);
	g_autofree char *text = NULL;
	struct stat st;

	if (tool_path(0, &mkfs, err) < 0 || tool_path(1, &verity, err) < 0)
		return -1;
	/* Uncompressed, in 4096-byte blocks (erofs-utils 1.5's, the page size), each file's own
	 * mtime kept. */
	if (run_tool((const char *[]){ mkfs, "--quiet", "--preserve-mtime", image, rootfs, NULL }, NULL, err) < 0)
		return -1;
	if (stat(image, &st) < 0)
		return rt_make_error(err, errno, "stat `%s`", image);
	b->data_blocks = ((uint64_t)st.st_size + 4095) / 4096;
	if (truncate(image, (off_t)(b->data_blocks * 4096)) < 0)
		return rt_make_error(err, errno, "pad `%s`", image);
	offset = g_strdup_printf("--hash-offset=%" PRIu64, b->data_blocks * 4096);
	blocks = g_strdup_printf("--data-blocks=%" PRIu64, b->data_blocks);
	/* No superblock: the guest's table gives every parameter, from its command line. */
	if (run_tool((const char *[]){ verity, "format", "--no-superblock", "--hash=sha256", "--data-block-size=4096",
				       "--hash-block-size=4096", offset, blocks, image, image, NULL },
		     &report, err) < 0)
		return -1;
	if (!report_value(report, "Root hash:", b->roothash, sizeof(b->roothash)) || strlen(b->roothash) != 64 ||
	    !report_value(report, "Salt:", b->salt, sizeof(b->salt)))
		return rt_make_error(err, 0, "veritysetup format: no root hash and salt in its report");
	text = g_strdup_printf("%s %s %" PRIu64 "\n", b->roothash, b->salt, b->data_blocks);
	if (!g_file_set_contents(params, text, -1, NULL))
		return rt_make_error(err, errno, "write `%s`", params);
	return 0;
}

/* dir/verity, as build() wrote it. */
static int load(const char *dir, struct rt_block_rootfs *b, struct rt_error **err)
{
	g_autofree char *params = g_build_filename(dir, "verity", NULL);
	g_autofree char *text = NULL;
	char hash[65], salt[129];
	uint64_t blocks;

	if (!g_file_get_contents(params, &text, NULL, NULL) ||
	    sscanf(text, "%64[0-9a-f] %128[0-9a-f] %" SCNu64, hash, salt, &blocks) != 3 || strlen(hash) != 64)
		return rt_make_error(err, 0, "rootfs = block: `%s` is not an image's parameters (remove `%s`)", params,
				     dir);
	memcpy(b->roothash, hash, sizeof(hash));
	memcpy(b->salt, salt, sizeof(salt));
	b->data_blocks = blocks;
	return 0;
}

/* A build's directory that is not wanted: its two files, then itself. */
static void drop(const char *dir)
{
	static const char *const files[] = { "image", "verity" };

	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *p = g_build_filename(dir, files[i], NULL);

		unlink(p);
	}
	if (rmdir(dir) < 0)
		rt_debug("rootfs = block: could not remove %s: %s", dir, g_strerror(errno));
}

int rt_block_rootfs_get(const char *cache_dir, const char *rootfs, struct rt_block_rootfs *ret, struct rt_error **err)
{
	struct rt_block_rootfs b = { 0 };
	g_autofree char *key = NULL, *dir = NULL, *tmp = NULL;
	gint64 t0 = g_get_monotonic_time();

	if (rt_block_rootfs_key(rootfs, &key, err) < 0)
		return -1;
	dir = g_build_filename(cache_dir, key, NULL);
	if (g_mkdir_with_parents(cache_dir, 0700) < 0)
		return rt_make_error(err, errno, "mkdir `%s`", cache_dir);
	if (access(dir, F_OK) < 0) {
		/* Built aside and renamed into place: a reader sees a whole image or none; of two
		 * made at once, the first rename wins and the other is dropped. */
		tmp = g_strdup_printf("%s.tmp-%d", dir, getpid());
		if (g_mkdir(tmp, 0700) < 0)
			return rt_make_error(err, errno, "mkdir `%s`", tmp);
		if (build(tmp, rootfs, &b, err) < 0 ||
		    (rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)) {
			if (!*err)
				rt_make_error(err, errno, "rename `%s`", tmp);
			drop(tmp);
			return -1;
		}
		if (access(tmp, F_OK) == 0)
			drop(tmp);
		else
			b.built = true;
		rt_debug("rootfs = block: image %s %s in %" G_GINT64_FORMAT " ms", key, b.built ? "built" : "found",
			 (g_get_monotonic_time() - t0) / 1000);
	}
	if (!b.built && load(dir, &b, err) < 0)
		return -1;
	if (!b.built)
		rt_debug("rootfs = block: image %s from the cache (%" G_GINT64_FORMAT " ms)", key,
			 (g_get_monotonic_time() - t0) / 1000);
	b.image = g_build_filename(dir, "image", NULL);
	*ret = b;
	return 0;
}

void rt_block_rootfs_clear(struct rt_block_rootfs *b)
{
	g_clear_pointer(&b->image, g_free);
}
