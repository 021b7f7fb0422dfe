/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The 9P2000.L server (kvm/virtio/p9.c) driven with built messages against a temporary export: the
 * requests the Linux client sends for a mounted rootfs, then hostile ones (escapes through
 * "..", '/' and symlinks, truncated and oversized messages, bad fids, tiny buffers, random
 * bytes). Nothing may reach outside the export, crash, or answer out of bounds. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kvm/virtio/p9.h"
#include "tests/unit/tap.h"

enum {
	TLERROR = 6,
	RLERROR = 7,
	TSTATFS = 8,
	TLOPEN = 12,
	TLCREATE = 14,
	TSYMLINK = 16,
	TMKNOD = 18,
	TRENAME = 20,
	TREADLINK = 22,
	TGETATTR = 24,
	TSETATTR = 26,
	TXATTRWALK = 30,
	TXATTRCREATE = 32,
	TREADDIR = 40,
	TFSYNC = 50,
	TLOCK = 52,
	TGETLOCK = 54,
	TLINK = 70,
	TMKDIR = 72,
	TRENAMEAT = 74,
	TUNLINKAT = 76,
	TVERSION = 100,
	TAUTH = 102,
	TATTACH = 104,
	TFLUSH = 108,
	TWALK = 110,
	TREAD = 116,
	TWRITE = 118,
	TCLUNK = 120,
	TREMOVE = 122,
};
#define NOFID 0xffffffffu
#define BAD -1000 /* a reply of the wrong type or shape */

static struct p9_server *srv;
static char tmp[64], exp_dir[128];
static bool is_root;
/* Owners the guest asks for: others than the server's own when root, its own otherwise. */
static uint32_t uid_a, gid_a, gid_b;

/* --- building requests -------------------------------------------------------------------- */

static struct msg {
	uint8_t b[600 * 1024];
	size_t n;
} m;

static void m_begin(uint8_t type)
{
	m.n = 7;
	m.b[4] = type;
	m.b[5] = 0x34;
	m.b[6] = 0x12;
}

static void m_u8(uint8_t v)
{
	m.b[m.n++] = v;
}
static void m_u16(uint16_t v)
{
	m_u8((uint8_t)v);
	m_u8((uint8_t)(v >> 8));
}
static void m_u32(uint32_t v)
{
	m_u16((uint16_t)v);
	m_u16((uint16_t)(v >> 16));
}
static void m_u64(uint64_t v)
{
	m_u32((uint32_t)v);
	m_u32((uint32_t)(v >> 32));
}
static void m_data(const void *p, size_t n)
{
	memcpy(m.b + m.n, p, n);
	m.n += n;
}
static void m_str(const char *s)
{
	m_u16((uint16_t)strlen(s));
	m_data(s, strlen(s));
}

static void m_size(void)
{
	uint32_t n = (uint32_t)m.n;

	memcpy(m.b, &n, 4); /* the tests run on little-endian hosts */
}

/* --- replies ---------------------------------------------------------------------------- */

static struct resp {
	uint8_t b[600 * 1024];
	size_t n, off;
} r;

static size_t resp_cap = sizeof(r.b);

static uint8_t r_u8(void)
{
	return r.off + 1 <= r.n ? r.b[r.off++] : 0;
}
static uint16_t r_u16(void)
{
	uint16_t v = r_u8();
	return (uint16_t)(v | r_u8() << 8);
}
static uint32_t r_u32(void)
{
	uint32_t v = r_u16();
	return v | (uint32_t)r_u16() << 16;
}
static uint64_t r_u64(void)
{
	uint64_t v = r_u32();
	return v | (uint64_t)r_u32() << 32;
}

static void r_str(char *buf, size_t cap)
{
	uint16_t n = r_u16();
	size_t k = n < cap - 1 ? n : cap - 1;

	if (r.off + n > r.n)
		n = k = 0;
	memcpy(buf, r.b + r.off, k);
	buf[k] = 0;
	r.off += n;
}

/* Send the built message; 0 when the reply is @type+1, -errno for Rlerror, BAD otherwise.
 * Every reply must be well framed and within the buffer. */
static int rpc_len(size_t len)
{
	uint32_t size;

	r.n = p9_handle(srv, m.b, len, r.b, resp_cap);
	r.off = 7;
	if (r.n < 7 || r.n > resp_cap)
		return BAD;
	memcpy(&size, r.b, 4);
	if (size != r.n || r.b[5] != m.b[5] || r.b[6] != m.b[6])
		return BAD;
	if (r.b[4] == RLERROR)
		return r.n == 11 ? -(int)r_u32() : BAD;
	return r.b[4] == m.b[4] + 1 ? 0 : BAD;
}

static int rpc(void)
{
	m_size();
	return rpc_len(m.n);
}

/* --- requests --------------------------------------------------------------------------- */

static int t_version(uint32_t msize, const char *v, uint32_t *ret_msize, char *ret_v)
{
	int e;

	m_begin(TVERSION);
	m.b[5] = m.b[6] = 0xff;
	m_u32(msize);
	m_str(v);
	e = rpc();
	if (e == 0) {
		*ret_msize = r_u32();
		r_str(ret_v, 32);
	}
	return e;
}

static int t_attach(uint32_t fid, uint32_t uid)
{
	m_begin(TATTACH);
	m_u32(fid);
	m_u32(NOFID);
	m_str("root");
	m_str("");
	m_u32(uid);
	return rpc();
}

/* Returns the number of qids, or -errno. @ret_qtype gets the last qid's type. */
static int t_walk(uint32_t fid, uint32_t newfid, int n, const char *const *names, uint64_t *ret_path)
{
	int e, nq;

	m_begin(TWALK);
	m_u32(fid);
	m_u32(newfid);
	m_u16((uint16_t)n);
	for (int i = 0; i < n; i++)
		m_str(names[i]);
	e = rpc();
	if (e)
		return e;
	nq = r_u16();
	if (r.n != 9 + 13u * nq)
		return BAD;
	for (int i = 0; i < nq; i++) {
		r_u8();
		r_u32();
		uint64_t p = r_u64();
		if (ret_path)
			*ret_path = p;
	}
	return nq;
}

static int walk1(uint32_t fid, uint32_t newfid, const char *name)
{
	int e = t_walk(fid, newfid, 1, &name, NULL);

	return e == 1 ? 0 : e < 0 ? e : -ENOENT;
}

static int t_lopen(uint32_t fid, uint32_t flags)
{
	m_begin(TLOPEN);
	m_u32(fid);
	m_u32(flags);
	return rpc();
}

static int t_lcreate(uint32_t fid, const char *name, uint32_t flags, uint32_t mode, uint32_t gid)
{
	m_begin(TLCREATE);
	m_u32(fid);
	m_str(name);
	m_u32(flags);
	m_u32(mode);
	m_u32(is_root ? gid : gid_a);
	return rpc();
}

static int t_write(uint32_t fid, uint64_t off, const void *data, uint32_t len)
{
	int e;

	m_begin(TWRITE);
	m_u32(fid);
	m_u64(off);
	m_u32(len);
	m_data(data, len);
	e = rpc();
	return e ? e : (int)r_u32();
}

static int t_read(uint32_t fid, uint64_t off, uint32_t count, void *buf, size_t cap)
{
	uint32_t n;
	int e;

	m_begin(TREAD);
	m_u32(fid);
	m_u64(off);
	m_u32(count);
	e = rpc();
	if (e)
		return e;
	n = r_u32();
	if (n > cap || r.n != 11 + n)
		return BAD;
	memcpy(buf, r.b + 11, n);
	return (int)n;
}

struct attr {
	uint8_t qtype;
	uint64_t qpath;
	uint32_t mode, uid, gid;
	uint64_t nlink, rdev, size, mtime, mtime_ns;
};

static int t_getattr(uint32_t fid, struct attr *a)
{
	int e;

	m_begin(TGETATTR);
	m_u32(fid);
	m_u64(0x3fff);
	e = rpc();
	if (e)
		return e;
	if (r.n != 160 || r_u64() != 0x7ff)
		return BAD;
	if (!a)
		return 0;
	a->qtype = r_u8();
	r_u32();
	a->qpath = r_u64();
	a->mode = r_u32();
	a->uid = r_u32();
	a->gid = r_u32();
	a->nlink = r_u64();
	a->rdev = r_u64();
	a->size = r_u64();
	r_u64();
	r_u64();
	r_u64();
	r_u64();
	a->mtime = r_u64();
	a->mtime_ns = r_u64();
	return 0;
}

static int t_setattr(uint32_t fid, uint32_t valid, uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size,
		     uint64_t mtime)
{
	m_begin(TSETATTR);
	m_u32(fid);
	m_u32(valid);
	m_u32(mode);
	m_u32(uid);
	m_u32(gid);
	m_u64(size);
	m_u64(0);
	m_u64(0);
	m_u64(mtime);
	m_u64(500);
	return rpc();
}

static int t_mkdir(uint32_t dfid, const char *name, uint32_t mode, uint32_t gid)
{
	m_begin(TMKDIR);
	m_u32(dfid);
	m_str(name);
	m_u32(mode);
	m_u32(is_root ? gid : gid_a);
	return rpc();
}

static int t_symlink(uint32_t dfid, const char *name, const char *target)
{
	m_begin(TSYMLINK);
	m_u32(dfid);
	m_str(name);
	m_str(target);
	m_u32(is_root ? 0 : gid_a);
	return rpc();
}

static int t_mknod(uint32_t dfid, const char *name, uint32_t mode, uint32_t major, uint32_t minor)
{
	m_begin(TMKNOD);
	m_u32(dfid);
	m_str(name);
	m_u32(mode);
	m_u32(major);
	m_u32(minor);
	m_u32(is_root ? 0 : gid_a);
	return rpc();
}

static int t_unlinkat(uint32_t dfid, const char *name, uint32_t flags)
{
	m_begin(TUNLINKAT);
	m_u32(dfid);
	m_str(name);
	m_u32(flags);
	return rpc();
}

static int t_renameat(uint32_t ofid, const char *oname, uint32_t nfid, const char *nname)
{
	m_begin(TRENAMEAT);
	m_u32(ofid);
	m_str(oname);
	m_u32(nfid);
	m_str(nname);
	return rpc();
}

static int t_fid_op(uint8_t type, uint32_t fid)
{
	m_begin(type);
	m_u32(fid);
	return rpc();
}

static int t_clunk(uint32_t fid)
{
	return t_fid_op(TCLUNK, fid);
}

/* Read the whole directory of open @fid in requests of @count bytes; the names, '/'-joined
 * into @out, and the number of entries. */
static int readdir_all(uint32_t fid, uint32_t count, char *out, size_t cap)
{
	uint64_t offset = 0;
	int entries = 0;

	out[0] = 0;
	for (int round = 0; round < 10000; round++) {
		uint32_t n;
		size_t end;
		int e;

		m_begin(TREADDIR);
		m_u32(fid);
		m_u64(offset);
		m_u32(count);
		e = rpc();
		if (e)
			return e;
		n = r_u32();
		if (n > count || r.n != 11 + n)
			return BAD;
		if (n == 0)
			return entries;
		end = 11 + n;
		while (r.off < end) {
			char name[300];

			r_u8();
			r_u32();
			r_u64();
			offset = r_u64();
			r_u8();
			r_str(name, sizeof(name));
			if (r.off > end)
				return BAD;
			if (strlen(out) + strlen(name) + 2 < cap) {
				strcat(out, "/");
				strcat(out, name);
			}
			entries++;
		}
	}
	return BAD;
}

static bool has_name(const char *list, const char *name)
{
	char pat[300];

	snprintf(pat, sizeof(pat), "/%s/", name);
	char all[70000];

	snprintf(all, sizeof(all), "%s/", list);
	return strstr(all, pat) != NULL;
}

static void host_path(char *buf, size_t cap, const char *rel)
{
	snprintf(buf, cap, "%s/%s", exp_dir, rel);
}

/* --- the tests -------------------------------------------------------------------------- */

static void test_version_attach(void)
{
	uint32_t msize = 0;
	char v[32] = "";
	struct attr a;
	uint64_t path;

	ok(t_version(1 << 20, "9P2000.L", &msize, v) == 0 && msize == 512 * 1024 && !strcmp(v, "9P2000.L"),
	   "Tversion caps msize at 512 KiB and speaks 9P2000.L");
	ok(t_version(8192, "9P2000.u", &msize, v) == 0 && !strcmp(v, "unknown"), "Tversion of 9P2000.u: unknown");
	ok(t_version(100, "9P2000.L", &msize, v) == -EMSGSIZE, "Tversion with a tiny msize is refused");
	ok(t_version(262144, "9P2000.L", &msize, v) == 0 && msize == 262144, "Tversion msize 262144 (the agent's)");
	ok(t_attach(0, uid_a) == 0, "Tattach fid 0 as uid %u", uid_a);
	ok(t_attach(0, uid_a) == -EINVAL, "Tattach on a fid in use is refused");
	ok(t_getattr(0, &a) == 0 && S_ISDIR(a.mode) && a.qtype == 0x80, "Tgetattr of the root: a directory");
	ok(t_walk(0, 1, 0, NULL, &path) == 0 && t_getattr(1, &a) == 0, "Twalk with no names clones the fid");
	ok(t_clunk(1) == 0 && t_clunk(1) == -EBADF, "Tclunk; a second one: EBADF");
	ok(t_getattr(1, &a) == -EBADF, "a clunked fid is gone");
	ok(t_fid_op(TSTATFS, 0) == 0 && r.n == 7 + 4 + 4 + 8 * 6 + 4, "Tstatfs");
	m_begin(TFLUSH);
	m_u16(7);
	ok(rpc() == 0 && r.n == 7, "Tflush");
	m_begin(TAUTH);
	m_u32(5);
	m_str("u");
	m_str("");
	m_u32(0);
	ok(rpc() == -EOPNOTSUPP, "Tauth: EOPNOTSUPP");
	m_begin(99);
	ok(rpc() == -EOPNOTSUPP, "an unknown type: EOPNOTSUPP");
}

static void test_files(void)
{
	static const char *const d_f[] = { "d", "f" };
	char buf[4096], list[8192], hp[256];
	struct attr a;
	struct stat st;
	int e;

	ok(t_mkdir(0, "d", 040750, gid_a) == 0, "Tmkdir d");
	host_path(hp, sizeof(hp), "d");
	ok(lstat(hp, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750,
	   "d is a 0750 directory (umask ignored)");
	ok(st.st_uid == uid_a && st.st_gid == gid_a, "d is owned by the attach's uid and the request's gid");
	ok(walk1(0, 1, "d") == 0 && t_getattr(1, &a) == 0 && (a.mode & 07777) == 0750 && a.uid == st.st_uid,
	   "Twalk d, Tgetattr reports the host's mode and owner");
	ok(walk1(0, 9, "missing") == -ENOENT, "Twalk to a missing name: ENOENT");

	/* lcreate f in d, write, read back */
	ok(walk1(1, 2, "") == -EINVAL, "Twalk of an empty name: EINVAL");
	ok(t_walk(1, 2, 0, NULL, NULL) == 0 && t_lcreate(2, "f", 2 /* O_RDWR */, 0100640, gid_b) == 0 &&
		   r.n == 7 + 13 + 4,
	   "Tlcreate d/f (O_RDWR, 0640)");
	host_path(hp, sizeof(hp), "d/f");
	ok(lstat(hp, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640 && st.st_uid == uid_a &&
		   st.st_gid == gid_b,
	   "d/f: 0640, the attach's uid, the request's gid");
	ok(t_write(2, 0, "hello, world", 12) == 12, "Twrite 12 bytes");
	ok(t_write(2, 100, "X", 1) == 1, "Twrite at offset 100");
	e = t_read(2, 0, 5, buf, sizeof(buf));
	ok(e == 5 && !memcmp(buf, "hello", 5), "Tread 5 bytes back");
	e = t_read(2, 0, 4096, buf, sizeof(buf));
	ok(e == 101 && buf[100] == 'X' && buf[50] == 0, "Tread the whole file (a hole reads as zeros)");
	ok(t_read(2, 1000, 10, buf, sizeof(buf)) == 0, "Tread past the end: 0 bytes");
	ok(t_fid_op(TFSYNC, 2) == -EPROTO, "Tfsync without datasync field: malformed");
	m_begin(TFSYNC);
	m_u32(2);
	m_u32(1);
	ok(rpc() == 0, "Tfsync");
	ok(t_lcreate(1, "f", 0x2c2 /* O_RDWR|O_CREAT|O_EXCL */, 0644, 0) == -EEXIST,
	   "Tlcreate O_EXCL of an existing name: EEXIST");
	ok(t_walk(1, 3, 0, NULL, NULL) == 0 && t_lcreate(3, "f", 1 | 01000 /* O_WRONLY|O_TRUNC */, 0644, 0) == 0,
	   "Tlcreate of an existing file without O_EXCL opens it (O_TRUNC)");
	ok(lstat(hp, &st) == 0 && st.st_size == 0 && (st.st_mode & 07777) == 0640, "it was truncated, its mode kept");
	ok(t_read(3, 0, 10, buf, sizeof(buf)) == -EBADF, "Tread on a write-only fid: EBADF");
	ok(t_clunk(3) == 0 && t_clunk(2) == 0, "Tclunk the open fids");

	/* walk a 2-name path, lopen read-only */
	ok(t_walk(0, 2, 2, d_f, NULL) == 2 && t_lopen(2, 0) == 0 && r.n == 24, "Twalk d/f, Tlopen O_RDONLY");
	ok(t_write(2, 0, "x", 1) == -EBADF, "Twrite on a read-only fid: EBADF");
	ok(t_lopen(2, 0) == -EINVAL, "Tlopen of an open fid: EINVAL");
	ok(t_clunk(2) == 0, "clunk");

	/* setattr: chown, chmod, truncate, mtime */
	ok(t_walk(0, 2, 2, d_f, NULL) == 2, "Twalk d/f");
	if (is_root)
		ok(t_setattr(2, 1 | 2 | 4, 04755, 42, 43, 0, 0) == 0 && t_getattr(2, &a) == 0 &&
			   (a.mode & 07777) == 04755 && a.uid == 42 && a.gid == 43,
		   "Tsetattr chown 42:43 and chmod 04755 together keep the set-uid bit");
	else
		ok(t_setattr(2, 1, 0755, 0, 0, 0, 0) == 0, "Tsetattr chmod (# skip chown: not root)");
	ok(t_setattr(2, 8, 0, 0, 0, 3, 0) == 0 && t_getattr(2, &a) == 0 && a.size == 3, "Tsetattr truncates to 3");
	ok(t_setattr(2, 0x20 | 0x100, 0, 0, 0, 0, 12345) == 0 && t_getattr(2, &a) == 0 && a.mtime == 12345 &&
		   a.mtime_ns == 500,
	   "Tsetattr MTIME|MTIME_SET sets the given mtime");
	ok(t_setattr(2, 0x20, 0, 0, 0, 0, 0) == 0 && t_getattr(2, &a) == 0 && a.mtime > 1000000000,
	   "Tsetattr MTIME alone: now");
	ok(t_setattr(1, 8, 0, 0, 0, 0, 0) == -EISDIR, "Tsetattr size on a directory: EISDIR");

	/* link, rename, readdir */
	ok(({
		   m_begin(TLINK);
		   m_u32(0);
		   m_u32(2);
		   m_str("hard");
		   rpc();
	   }) == 0 &&
		   t_getattr(2, &a) == 0 && a.nlink == 2,
	   "Tlink d/f to hard: nlink 2");
	ok(t_renameat(0, "hard", 1, "g") == 0, "Trenameat hard to d/g");
	ok(t_renameat(1, "g", 0, "..") == -EINVAL && t_renameat(1, "g", 0, "a/b") == -EINVAL,
	   "Trenameat to \"..\" or \"a/b\": EINVAL");
	ok(t_walk(1, 3, 0, NULL, NULL) == 0 && t_lopen(3, 0) == 0, "Tlopen of d");
	e = readdir_all(3, 8192, list, sizeof(list));
	ok(e == 4 && has_name(list, ".") && has_name(list, "..") && has_name(list, "f") && has_name(list, "g"),
	   "Treaddir of d: . .. f g (%d: %s)", e, list);
	ok(t_read(3, 0, 10, buf, sizeof(buf)) < 0, "Tread on a directory fails");
	ok(t_clunk(3) == 0, "clunk");

	/* unlink, rmdir */
	ok(t_unlinkat(0, "d", 0x200) == -ENOTEMPTY, "Tunlinkat of a full directory: ENOTEMPTY");
	ok(t_unlinkat(1, "g", 0) == 0, "Tunlinkat d/g");
	ok(t_getattr(2, &a) == 0 && a.nlink == 1, "f's nlink is 1 again");

	/* Tremove and legacy Trename by fid */
	ok(t_fid_op(TREMOVE, 2) == 0 && t_getattr(2, &a) == -EBADF, "Tremove d/f clunks the fid");
	host_path(hp, sizeof(hp), "d/f");
	ok(lstat(hp, &st) < 0 && errno == ENOENT, "d/f is gone");
	ok(t_walk(1, 2, 0, NULL, NULL) == 0 && t_lcreate(2, "mv_a", 2, 0600, 0) == 0 && t_clunk(2) == 0,
	   "create d/mv_a");
	ok(walk1(1, 2, "mv_a") == 0, "walk d/mv_a");
	m_begin(TRENAME);
	m_u32(2);
	m_u32(0);
	m_str("mv_b");
	ok(rpc() == 0, "Trename d/mv_a to mv_b");
	host_path(hp, sizeof(hp), "mv_b");
	ok(lstat(hp, &st) == 0, "mv_b exists");
	ok(t_fid_op(TREMOVE, 2) == 0 && lstat(hp, &st) < 0, "Tremove through the renamed fid");
	ok(t_fid_op(TREMOVE, 0) < 0, "Tremove of the root fails");
	ok(t_attach(0, uid_a) == 0, "re-attach fid 0");
	ok(t_clunk(1) == 0 && t_unlinkat(0, "d", 0x200) == 0, "Tunlinkat AT_REMOVEDIR d");
}

/*
 * What the Linux client sends with cache=loose, the agent's rootfs mount (issue 14): the file
 * tar makes read-only (0444) gets, besides its create fid, a writeback fid walked from a root
 * attach and opened O_RDWR (fs/9p/fid.c, v9fs_writeback_fid), through which the dirty pages go
 * back one 4 KiB page at a time and in any order, then Tfsync (sync, fsync); reads come in
 * pieces of up to msize (readahead), attributes once per inode; and the client keeps one
 * walked fid per cached dentry, clunked when the guest drops the dentry (drop_caches before an
 * exec). Root only for the 0444 part: the server opens it for writing as QEMU's passthrough
 * server run as root does.
 */
static void test_loose_client(void)
{
	static uint8_t data[3 * 4096 + 100], back[8192 * 4];
	static const uint64_t order[] = { 8192, 0, 12288, 4096 };
	uint32_t mode = is_root ? 0100444 : 0100644, i;
	char hp[256];
	struct attr a;
	struct stat st;
	bool all = true;
	int e;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	ok(t_attach(5000, is_root ? 0 : uid_a) == 0, "loose: a second attach, as the writeback fids' root");
	ok(t_walk(0, 5001, 0, NULL, NULL) == 0 &&
		   t_lcreate(5001, "wb", 01 | 0100 /* O_WRONLY|O_CREAT */, mode, gid_a) == 0,
	   "loose: Tlcreate wb (0%o) write-only, as tar does", mode & 07777);
	ok(walk1(5000, 5002, "wb") == 0 && t_lopen(5002, 2 /* O_RDWR */) == 0,
	   "loose: the writeback fid opens it O_RDWR%s", is_root ? " (0444: as root)" : "");
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		uint32_t len = order[i] + 4096 <= sizeof(data) ? 4096 : (uint32_t)(sizeof(data) - order[i]);

		all = all && t_write(5002, order[i], data + order[i], len) == (int)len;
	}
	ok(all, "loose: dirty pages written back out of order, a page at a time");
	m_begin(TFSYNC);
	m_u32(5002);
	m_u32(0);
	ok(rpc() == 0, "loose: Tfsync of the writeback fid");
	e = t_read(5002, 0, 262144, back, sizeof(back));
	ok(e == (int)sizeof(data) && !memcmp(back, data, sizeof(data)),
	   "loose: a readahead-sized Tread (msize) gets it all back");
	ok(t_getattr(5001, &a) == 0 && a.size == sizeof(data) && (a.mode & 07777) == (mode & 07777),
	   "loose: Tgetattr: its size and mode");
	host_path(hp, sizeof(hp), "wb");
	ok(lstat(hp, &st) == 0 && st.st_size == (off_t)sizeof(data) && (st.st_mode & 07777) == (mode & 07777),
	   "loose: on the host: the size and mode");
	ok(t_clunk(5001) == 0 && t_clunk(5002) == 0, "loose: the create and writeback fids clunked");
	all = true;
	for (i = 0; i < 3000 && all; i++)
		all = walk1(5000, 10000 + i, "wb") == 0;
	ok(all && t_getattr(10000, &a) == 0 && t_getattr(10000 + 2999, &a) == 0,
	   "loose: 3000 fids on one file held at once (a cached dentry each)");
	for (i = 0; i < 3000 && all; i++)
		all = t_clunk(10000 + i) == 0;
	ok(all && t_clunk(5000) == 0 && walk1(0, 5003, "wb") == 0 && t_clunk(5003) == 0,
	   "loose: all clunked when the guest drops its dentries, the table usable");
	unlink(hp);
}

static void test_links_and_nodes(void)
{
	char buf[256], hp[256];
	struct attr a;
	struct stat st;

	ok(t_symlink(0, "ln", "/etc/passwd") == 0, "Tsymlink ln -> /etc/passwd");
	host_path(hp, sizeof(hp), "ln");
	ok(lstat(hp, &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid == uid_a,
	   "ln is a symlink owned by the attach's uid");
	ok(walk1(0, 1, "ln") == 0 && t_getattr(1, &a) == 0 && S_ISLNK(a.mode) && a.qtype == 0x02,
	   "Twalk ln gives the link itself");
	ok(t_fid_op(TREADLINK, 1) == 0 && (r_str(buf, sizeof(buf)), !strcmp(buf, "/etc/passwd")), "Treadlink");
	ok(t_lopen(1, 0) == -ELOOP, "Tlopen of a symlink: ELOOP (never followed)");
	ok(t_setattr(1, 1, 0777, 0, 0, 0, 0) == -EOPNOTSUPP, "Tsetattr mode on a symlink: EOPNOTSUPP");
	ok(t_fid_op(TREADLINK, 0) == -EINVAL, "Treadlink of a directory: EINVAL");
	ok(t_clunk(1) == 0, "clunk");

	ok(t_mknod(0, "fifo", 010644, 0, 0) == 0, "Tmknod a FIFO");
	ok(walk1(0, 1, "fifo") == 0 && t_lopen(1, 0) == -EOPNOTSUPP, "Tlopen of a FIFO is refused (could block)");
	ok(t_walk(0, 2, 0, NULL, NULL) == 0 && t_lcreate(2, "fifo", 1, 0644, 0) == -EEXIST,
	   "Tlcreate over a FIFO does not open it");
	ok(t_clunk(1) == 0 && t_clunk(2) == 0, "clunk");
	if (is_root) {
		ok(t_mknod(0, "null", 020666, 1, 3) == 0, "Tmknod a character device 1:3");
		host_path(hp, sizeof(hp), "null");
		ok(lstat(hp, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3) &&
			   (st.st_mode & 0777) == 0666,
		   "it is char 1:3, 0666");
		ok(walk1(0, 1, "null") == 0 && t_getattr(1, &a) == 0 && a.rdev == makedev(1, 3),
		   "Tgetattr reports rdev");
		ok(t_lopen(1, 2) == -EOPNOTSUPP, "Tlopen of a device node is refused");
		ok(t_clunk(1) == 0, "clunk");
	} else {
		ok(1, "# skip device nodes: not root");
	}
	ok(t_mknod(0, "bad", 040755, 0, 0) == -EINVAL, "Tmknod of a directory type: EINVAL");
}

static void test_xattr(void)
{
	char buf[256];
	int e;

	ok(t_walk(0, 1, 0, NULL, NULL) == 0 && t_lcreate(1, "x", 2, 0644, 0) == 0 && t_clunk(1) == 0, "create x");
	ok(walk1(0, 1, "x") == 0, "walk x");
	m_begin(TXATTRCREATE);
	m_u32(1);
	m_str("user.p9test");
	m_u64(5);
	m_u32(0);
	e = rpc();
	if (e == 0) {
		ok(t_write(1, 0, "hello", 5) == 5, "Twrite the xattr value");
		e = t_clunk(1);
	} else {
		t_clunk(1);
	}
	if (e == -EOPNOTSUPP) {
		ok(1, "# skip xattrs: not supported by %s", tmp);
		return;
	}
	ok(e == 0, "Tclunk sets user.p9test (%d)", e);
	ok(walk1(0, 1, "x") == 0, "walk x");
	m_begin(TXATTRWALK);
	m_u32(1);
	m_u32(2);
	m_str("user.p9test");
	ok(rpc() == 0 && r_u64() == 5, "Txattrwalk user.p9test: 5 bytes");
	ok(t_read(2, 0, 100, buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5), "Tread the value");
	ok(t_clunk(2) == 0, "clunk the xattr fid");
	m_begin(TXATTRWALK);
	m_u32(1);
	m_u32(2);
	m_str("");
	ok(rpc() == 0 && r_u64() > 0, "Txattrwalk with no name lists");
	e = t_read(2, 0, 255, buf, sizeof(buf) - 1);
	buf[e > 0 ? e : 0] = 0;
	ok(e > 0 && memmem(buf, (size_t)e, "user.p9test", 12) != NULL, "the list holds user.p9test");
	ok(t_getattr(2, NULL) == -EBADF && t_clunk(2) == 0, "an xattr fid is not a file; clunk");
	m_begin(TXATTRWALK);
	m_u32(1);
	m_u32(2);
	m_str("user.nothere");
	ok(rpc() == -ENODATA, "Txattrwalk of a missing attribute: ENODATA");
	m_begin(TXATTRCREATE);
	m_u32(1);
	m_str("user.p9test");
	m_u64(0);
	m_u32(0);
	ok(rpc() == 0 && t_clunk(1) == 0, "Txattrcreate with size 0, clunk: removes it");
	ok(walk1(0, 1, "x") == 0, "walk x");
	m_begin(TXATTRWALK);
	m_u32(1);
	m_u32(2);
	m_str("user.p9test");
	ok(rpc() == -ENODATA, "it is gone");
	m_begin(TXATTRCREATE);
	m_u32(1);
	m_str("user.big");
	m_u64(1 << 20);
	m_u32(0);
	ok(rpc() == -E2BIG, "Txattrcreate of 1 MiB: E2BIG");
	m_begin(TXATTRCREATE);
	m_u32(1);
	m_str("user.short");
	m_u64(10);
	m_u32(0);
	ok(rpc() == 0 && t_write(1, 0, "abc", 3) == 3 && t_write(1, 8, "abcdef", 6) == -ENOSPC && t_clunk(1) == -EINVAL,
	   "an xattr written short of its size is refused at clunk");
	ok(t_unlinkat(0, "x", 0) == 0, "unlink x");
}

static void test_locks(void)
{
	ok(walk1(0, 1, "ln") == 0, "walk");
	m_begin(TLOCK);
	m_u32(1);
	m_u8(1);
	m_u32(0);
	m_u64(0);
	m_u64(100);
	m_u32(42);
	m_str("host");
	ok(rpc() == 0 && r.n == 8 && r_u8() == 0, "Tlock is granted");
	m_begin(TGETLOCK);
	m_u32(1);
	m_u8(1);
	m_u64(5);
	m_u64(10);
	m_u32(42);
	m_str("host");
	ok(rpc() == 0 && r_u8() == 2 && r_u64() == 5 && r_u64() == 10 && r_u32() == 42, "Tgetlock: unlocked");
	ok(t_clunk(1) == 0, "clunk");
}

/* The confinement: nothing the guest names reaches outside the export. */
static void test_escapes(void)
{
	static const char *const dotdot2[] = { "..", ".." }, *const out_passwd[] = { "out", "passwd" },
				 *const up_x[] = { "up", "x" }, *const sub_dd_dd[] = { "sub", "..", ".." },
				 *const dd_secret[] = { "..", "secret" };
	char hp[256], buf[64];
	uint64_t root_path, p;
	struct attr a;

	t_getattr(0, &a);
	root_path = a.qpath;
	host_path(hp, sizeof(hp), "out");
	symlink("/etc", hp);
	host_path(hp, sizeof(hp), "up");
	symlink("../secret", hp);
	host_path(hp, sizeof(hp), "sub");
	mkdir(hp, 0755);

	ok(t_walk(0, 1, 2, dotdot2, &p) == 2 && p == root_path, "Twalk ../.. from the root stays at the root");
	ok(t_getattr(1, &a) == 0 && a.qpath == root_path, "and the fid is the root");
	ok(t_clunk(1) == 0, "clunk");
	ok(t_walk(0, 1, 3, sub_dd_dd, &p) == 3 && p == root_path, "Twalk sub/../.. ends at the root");
	ok(t_clunk(1) == 0, "clunk");
	ok(t_walk(0, 1, 2, dd_secret, NULL) == 1, "Twalk ../secret: the sibling of the export is not found");
	ok(t_getattr(1, &a) == -EBADF, "a partial walk creates no fid");
	ok(walk1(0, 1, "sub/..") == -EINVAL && walk1(0, 1, "a/b") == -EINVAL && walk1(0, 1, ".") == -EINVAL,
	   "names with '/' or \".\" are refused");
	ok(t_walk(0, 1, 2, out_passwd, NULL) == 1, "Twalk out/passwd stops at the symlink out -> /etc");
	ok(t_walk(0, 1, 2, up_x, NULL) == 1, "Twalk up/x stops at the symlink up -> ../secret");
	ok(walk1(0, 1, "up") == 0 && t_lopen(1, 0) == -ELOOP, "Tlopen of up: ELOOP");
	ok(t_read(1, 0, 10, buf, sizeof(buf)) == -EBADF, "nothing read through it");
	ok(t_clunk(1) == 0, "clunk");
	ok(t_walk(0, 1, 0, NULL, NULL) == 0 && t_lcreate(1, "out", 2, 0644, 0) == -EEXIST,
	   "Tlcreate over the symlink out does not follow it");
	ok(t_mkdir(1, "..", 0755, 0) == -EINVAL && t_mkdir(1, "a/b", 0755, 0) == -EINVAL,
	   "Tmkdir of \"..\" or \"a/b\": EINVAL");
	ok(t_clunk(1) == 0, "clunk");
	{
		struct stat st;

		snprintf(hp, sizeof(hp), "%s/secret", tmp);
		ok(stat(hp, &st) == 0 && st.st_size == 6, "the file outside is untouched");
	}
}

static void test_hostile(void)
{
	static const char *const many[17] = { "a", "a", "a", "a", "a", "a", "a", "a", "a",
					      "a", "a", "a", "a", "a", "a", "a", "a" };
	char buf[256], hp[256];
	struct stat st;
	size_t full;
	int bad = 0;

	/* every truncation of a Tlcreate, both with the size field kept and adjusted */
	m_begin(TLCREATE);
	m_u32(0);
	m_str("trunc");
	m_u32(2);
	m_u32(0644);
	m_u32(0);
	m_size();
	full = m.n;
	for (size_t len = 0; len < full; len++) {
		int e = rpc_len(len);

		if (!(e == -EPROTO || (len < 7 && r.n == 11 && r.b[4] == RLERROR)))
			bad++;
	}
	for (size_t len = 7; len < full; len++) {
		uint32_t n = (uint32_t)len;

		memcpy(m.b, &n, 4);
		if (rpc_len(len) != -EPROTO)
			bad++;
	}
	host_path(hp, sizeof(hp), "trunc");
	ok(bad == 0 && lstat(hp, &st) < 0, "every truncated Tlcreate is refused (EPROTO) and creates nothing");

	m_begin(TGETATTR);
	m_u32(0);
	m_u64(0);
	m_size();
	m.b[0] = 3;
	ok(rpc_len(m.n) == -EPROTO, "a size field below the header: EPROTO");
	memset(m.b, 0xff, 4);
	ok(rpc_len(m.n) == -EPROTO, "a size field beyond the message: EPROTO");
	ok(p9_handle(srv, m.b, 3, r.b, sizeof(r.b)) == 11 && r.b[4] == RLERROR && r.b[5] == 0xff,
	   "3 bytes: Rlerror with NOTAG");
	ok(p9_handle(srv, NULL, 0, r.b, sizeof(r.b)) == 11, "no request at all: Rlerror");

	m_begin(TWRITE);
	m_u32(0);
	m_u64(0);
	m_u32(1000);
	m_data("abc", 3);
	ok(rpc() == -EPROTO, "Twrite whose count exceeds the message: EPROTO");
	m_begin(TWALK);
	m_u32(0);
	m_u32(1);
	m_u16(1);
	m_u16(500);
	m_data("abc", 3);
	ok(rpc() == -EPROTO, "a string longer than the message: EPROTO");
	m_begin(TWALK);
	m_u32(0);
	m_u32(1);
	m_u16(1);
	m_u16(3);
	m_data("a\0b", 3);
	ok(rpc() == -EINVAL, "a name with a NUL: EINVAL");
	m_begin(TWALK);
	m_u32(0);
	m_u32(1);
	m_u16(1);
	m_u16(300);
	memset(m.b + m.n, 'a', 300);
	m.n += 300;
	ok(rpc() == -ENAMETOOLONG, "a 300-byte name: ENAMETOOLONG");
	ok(t_walk(0, 1, 17, many, NULL) == -E2BIG, "Twalk of 17 names: E2BIG");
	ok(t_getattr(77, NULL) == -EBADF && t_lopen(77, 0) == -EBADF && t_clunk(77) == -EBADF, "unknown fids: EBADF");
	ok(walk1(77, 1, "x") == -EBADF, "Twalk from an unknown fid: EBADF");
	ok(t_walk(0, 0, 0, NULL, NULL) == 0, "Twalk fid onto itself with no names: nothing changes");

	/* a huge read count is cut to the reply buffer */
	ok(t_walk(0, 1, 0, NULL, NULL) == 0 && t_lcreate(1, "big", 2, 0644, 0) == 0, "create big");
	{
		static char data[100000];

		memset(data, 'z', sizeof(data));
		ok(t_write(1, 0, data, sizeof(data)) == (int)sizeof(data), "Twrite 100000 bytes");
	}
	resp_cap = 100;
	m_begin(TREAD);
	m_u32(1);
	m_u64(0);
	m_u32(0xffffffff);
	ok(rpc() == 0 && r.n == 100 && r_u32() == 89, "Tread of 4 GiB into a 100-byte buffer: 89 bytes");
	m_begin(TREAD);
	m_u32(1);
	m_u64(0x8000000000000000ull);
	m_u32(10);
	ok(rpc() == -EINVAL, "Tread at an offset beyond 2^63: EINVAL");
	resp_cap = sizeof(r.b);
	m_begin(TREAD);
	m_u32(1);
	m_u64(0);
	m_u32(0xffffffff);
	ok(rpc() == 0 && r_u32() == 100000, "a huge count is cut to the file / msize");

	/* message larger than msize (262144) */
	m_begin(TWRITE);
	m_u32(1);
	m_u64(0);
	m_u32(300000);
	memset(m.b + m.n, 'q', 300000);
	m.n += 300000;
	ok(rpc() == -EMSGSIZE, "a message larger than msize: EMSGSIZE");
	ok(t_clunk(1) == 0 && t_unlinkat(0, "big", 0) == 0, "clunk, unlink big");

	/* tiny reply buffers */
	resp_cap = 10;
	m_begin(TGETATTR);
	m_u32(0);
	m_u64(0);
	m_size();
	ok(p9_handle(srv, m.b, m.n, r.b, 10) == 0, "a reply buffer under 11 bytes: no reply");
	resp_cap = 11;
	ok(t_getattr(0, NULL) == -EMSGSIZE, "Tgetattr into 11 bytes: Rlerror EMSGSIZE");
	ok(walk1(0, 1, "sub") == -EMSGSIZE && t_getattr(1, NULL) == -EBADF,
	   "Twalk into 11 bytes: refused, no fid made");
	resp_cap = 9 + 13;
	ok(walk1(0, 1, "sub") == 0, "Twalk of one name into exactly 22 bytes works");
	ok(t_clunk(1) == 0, "clunk");
	resp_cap = sizeof(r.b);
	(void)buf;
}

static void test_readdir_pages(void)
{
	static char list[70000];
	int e, all = 1;

	ok(t_mkdir(0, "many", 0755, 0) == 0 && walk1(0, 1, "many") == 0, "mkdir many");
	for (int i = 0; i < 300; i++) {
		char name[64];

		snprintf(name, sizeof(name), "file-with-a-longish-name-%03d", i);
		if (t_walk(1, 2, 0, NULL, NULL) != 0 || t_lcreate(2, name, 0, 0644, 0) != 0 || t_clunk(2) != 0)
			all = 0;
	}
	ok(all, "300 files created");
	ok(t_lopen(1, 0) == 0, "Tlopen many");
	e = readdir_all(1, 200, list, sizeof(list));
	ok(e == 302, "Treaddir in 200-byte pages returns all 302 entries once (%d)", e);
	all = 1;
	for (int i = 0; i < 300; i++) {
		char name[64];

		snprintf(name, sizeof(name), "file-with-a-longish-name-%03d", i);
		all &= has_name(list, name);
	}
	ok(all, "each name is there");
	e = readdir_all(1, 100000, list, sizeof(list));
	ok(e == 302, "and again from offset 0 in one big page (%d)", e);
	m_begin(TREADDIR);
	m_u32(1);
	m_u64(0);
	m_u32(10);
	ok(rpc() == -EINVAL, "Treaddir with a count too small for one entry: EINVAL, not the end");
	m_begin(TREADDIR);
	m_u32(0);
	m_u64(0);
	m_u32(1000);
	ok(rpc() == -EBADF, "Treaddir of a fid not opened: EBADF");
	ok(t_clunk(1) == 0, "clunk");
}

static void test_fid_limit(void)
{
	uint32_t id = 1000, msize = 0;
	char v[32] = "";
	struct rlimit rl;
	bool roomy;
	int e = 0;

	/* Room for more fds than fids (root may raise the hard limit), so the table's own bound
	 * is what stops the walks; otherwise the kernel's EMFILE does, earlier. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 70000) {
		rl.rlim_cur = rl.rlim_max = 70000;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	roomy = rl.rlim_cur >= 70000;
	for (; id < 1000 + 70000; id++) {
		e = t_walk(0, id, 0, NULL, NULL);
		if (e != 0)
			break;
	}
	ok(e == -EMFILE && (roomy ? id - 1000 == 65535 : id - 1000 < 65535),
	   "the fid table is bounded: EMFILE after %u more fids (%s)", id - 1000,
	   roomy ? "the table's bound of 65536" : "the fd limit");
	ok(t_version(262144, "9P2000.L", &msize, v) == 0 && t_getattr(0, NULL) == -EBADF, "Tversion drops every fid");
	ok(t_attach(0, uid_a) == 0, "re-attach");
}

static void test_readonly(void)
{
	struct p9_server *rw = srv;
	char buf[16];
	uint32_t msize = 0;
	char v[32] = "";

	ok(t_walk(0, 1, 0, NULL, NULL) == 0 && t_lcreate(1, "ro", 2, 0644, 0) == 0 && t_write(1, 0, "data", 4) == 4 &&
		   t_clunk(1) == 0,
	   "create ro");
	srv = p9_server_new(exp_dir, true);
	ok(srv != NULL, "a read-only server");
	t_version(65536, "9P2000.L", &msize, v);
	ok(t_attach(0, 0) == 0, "attach");
	ok(walk1(0, 1, "ro") == 0 && t_lopen(1, 0) == 0 && t_read(1, 0, 16, buf, sizeof(buf)) == 4, "reading works");
	ok(walk1(0, 2, "ro") == 0 && t_lopen(2, 1) == -EROFS && t_lopen(2, 01000) == -EROFS,
	   "Tlopen for writing: EROFS");
	ok(t_setattr(2, 1, 0600, 0, 0, 0, 0) == -EROFS, "Tsetattr: EROFS");
	ok(t_mkdir(0, "x", 0755, 0) == -EROFS && t_unlinkat(0, "ro", 0) == -EROFS && t_symlink(0, "s", "t") == -EROFS &&
		   t_mknod(0, "n", 010644, 0, 0) == -EROFS && t_renameat(0, "ro", 0, "r2") == -EROFS,
	   "Tmkdir, Tunlinkat, Tsymlink, Tmknod, Trenameat: EROFS");
	ok(t_walk(0, 3, 0, NULL, NULL) == 0 && t_lcreate(3, "new", 2, 0644, 0) == -EROFS, "Tlcreate: EROFS");
	m_begin(TXATTRCREATE);
	m_u32(2);
	m_str("user.a");
	m_u64(1);
	m_u32(0);
	ok(rpc() == -EROFS, "Txattrcreate: EROFS");
	ok(t_fid_op(TREMOVE, 2) == -EROFS && t_getattr(2, NULL) == -EBADF, "Tremove: EROFS (and the fid is clunked)");
	p9_server_free(srv);
	srv = rw;
}

/* Random bytes, some with plausible headers and fids, into a scratch export. */
static void test_random(void)
{
	static const uint8_t types[] = { TSTATFS,   TLOPEN,   TLCREATE, TSYMLINK,   TMKNOD,       TRENAME,
					 TREADLINK, TGETATTR, TSETATTR, TXATTRWALK, TXATTRCREATE, TREADDIR,
					 TFSYNC,    TLOCK,    TGETLOCK, TLINK,      TMKDIR,       TRENAMEAT,
					 TUNLINKAT, TATTACH,  TFLUSH,   TWALK,      TREAD,        TWRITE,
					 TCLUNK,    TREMOVE,  TLERROR,  0,          255 };
	struct p9_server *keep = srv;
	char dir[160];
	uint32_t msize = 0;
	char v[32] = "";
	int bad = 0;

	snprintf(dir, sizeof(dir), "%s/scratch", tmp);
	mkdir(dir, 0755);
	srv = p9_server_new(dir, false);
	t_version(65536, "9P2000.L", &msize, v);
	t_attach(0, 0);
	srand(7);
	for (int i = 0; i < 30000; i++) {
		size_t len = (size_t)(rand() % 120);

		for (size_t k = 0; k < len; k++)
			m.b[k] = (uint8_t)rand();
		if (len >= 7 && rand() % 4) {
			uint32_t n = (uint32_t)len;

			memcpy(m.b, &n, 4);
			m.b[4] = types[rand() % sizeof(types)];
			if (len >= 11)
				m.b[7] = (uint8_t)(rand() % 4), m.b[8] = m.b[9] = m.b[10] = 0;
		}
		resp_cap = rand() % 3 ? sizeof(r.b) : (size_t)(rand() % 64);
		r.n = p9_handle(srv, m.b, len, r.b, resp_cap);
		if (resp_cap < 11 ? r.n != 0
				  : r.n < 7 || r.n > resp_cap || memcmp(r.b, &(uint32_t){ (uint32_t)r.n }, 4))
			bad++;
	}
	resp_cap = sizeof(r.b);
	ok(bad == 0, "30000 random messages: every reply framed and within its buffer");
	p9_server_free(srv);
	srv = keep;
}

static int rm_tree(const char *path)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

int main(void)
{
	char hp[256];
	int fd;

	is_root = geteuid() == 0;
	uid_a = is_root ? 1000 : geteuid();
	gid_a = is_root ? 1001 : getegid();
	gid_b = is_root ? 1002 : getegid();
	snprintf(tmp, sizeof(tmp), "/tmp/test_p9.XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	umask(022);
	snprintf(exp_dir, sizeof(exp_dir), "%s/export", tmp);
	mkdir(exp_dir, 0755);
	snprintf(hp, sizeof(hp), "%s/secret", tmp);
	fd = open(hp, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0) {
		if (write(fd, "secret", 6) != 6)
			perror("write");
		close(fd);
	}

	srv = p9_server_new(exp_dir, false);
	ok(srv != NULL, "p9_server_new");
	ok(p9_server_new("/nonexistent/dir", false) == NULL && errno == ENOENT, "a missing export: NULL, ENOENT");
	if (!srv)
		return tap_done();
	test_version_attach();
	test_files();
	test_loose_client();
	test_links_and_nodes();
	test_xattr();
	test_locks();
	test_escapes();
	test_hostile();
	test_readdir_pages();
	test_readonly();
	test_fid_limit();
	test_random();
	p9_server_free(srv);
	p9_server_free(NULL);
	rm_tree(tmp);
	return tap_done();
}
