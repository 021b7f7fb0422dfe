/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 9P2000.L file server (kvm/p9.h), with the semantics of QEMU's
 * `-fsdev local,security_model=passthrough` run as root: objects are created with the owner,
 * group and mode the guest asks for, and getattr reports the host's real ones.
 *
 * Every fid holds a file descriptor: an O_PATH one while it only names a file, an open one
 * after Tlopen/Tlcreate. Names are resolved one component at a time from the parent fid's fd
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, O_NOFOLLOW), so a symlink is never followed
 * on the host: the guest reads it with Treadlink and follows it itself. Operations that need a
 * path on an O_PATH fd (chmod, truncate, xattrs, reopening for Tlopen) go through
 * /proc/self/fd/N, which names exactly the fd's inode; they are never applied to symlinks.
 *
 * The guest is hostile: every length in a request is checked against the request and msize,
 * replies are checked against the reply buffer before anything is changed, the fid table and
 * the xattr buffers are bounded, nothing recurses on guest data, and only regular files and
 * directories are ever opened (never a FIFO or a device node, whose open could block or reach
 * host hardware).
 *
 * Reply formats follow the Linux client (net/9p/protocol.c, fs/9p) and the 9P2000.L
 * description in QEMU's hw/9pfs/9p.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "kvm/virtio/p9.h"

/* Message types (9P2000.L and the 9P2000 ones it keeps). */
enum {
	P9_TLERROR = 6,
	P9_RLERROR = 7,
	P9_TSTATFS = 8,
	P9_TLOPEN = 12,
	P9_TLCREATE = 14,
	P9_TSYMLINK = 16,
	P9_TMKNOD = 18,
	P9_TRENAME = 20,
	P9_TREADLINK = 22,
	P9_TGETATTR = 24,
	P9_TSETATTR = 26,
	P9_TXATTRWALK = 30,
	P9_TXATTRCREATE = 32,
	P9_TREADDIR = 40,
	P9_TFSYNC = 50,
	P9_TLOCK = 52,
	P9_TGETLOCK = 54,
	P9_TLINK = 70,
	P9_TMKDIR = 72,
	P9_TRENAMEAT = 74,
	P9_TUNLINKAT = 76,
	P9_TVERSION = 100,
	P9_TAUTH = 102,
	P9_TATTACH = 104,
	P9_TFLUSH = 108,
	P9_TWALK = 110,
	P9_TREAD = 116,
	P9_TWRITE = 118,
	P9_TCLUNK = 120,
	P9_TREMOVE = 122,
};

#define P9_HDR 7u  /* size[4] type[1] tag[2] */
#define P9_QID 13u /* type[1] version[4] path[8] */
#define P9_NOTAG 0xffffu
#define P9_NONUNAME 0xffffffffu
#define P9_MAXWELEM 16
#define P9_MIN_MSIZE 4096u
#define P9_MAX_MSIZE (512u * 1024)
#define P9_DEFAULT_MSIZE 8192u /* until Tversion */

/* The Linux client keeps one fid per dentry it caches plus one per open file (and, with
 * cache=loose, one writeback fid per inode open for writing). With cache=mmap (the bind-mount
 * share) unused dentries are dropped at once; with cache=loose (the rootfs since issue 14)
 * they stay until the guest's memory pressure or the agent's drop_caches before an exec
 * evicts them, so a guest that has walked N entries of the rootfs holds about N fids. The
 * bound stays the same against a hostile guest: 65536, and each fid holds an fd, so the
 * RLIMIT_NOFILE that p9_server_new raises to its hard limit may stop it earlier; past either,
 * the guest's walks fail with EMFILE (README "File I/O": the kvm backend's limit). */
#define P9_MAX_FIDS 65536u
#define P9_FID_BUCKET_BITS 12
#define P9_MAX_DEVS 64
#define P9_XATTR_MAX 65536u         /* XATTR_SIZE_MAX and XATTR_LIST_MAX */
#define P9_XATTR_BUDGET (16u << 20) /* all xattr fids' buffers together */
#define P9_DENTS_BUF 65536u

/* Tlopen/Tlcreate flags: the protocol's (Linux's generic values), spelled out rather than
 * taken from <fcntl.h>, whose values differ on some architectures. */
#define P9_DOTL_ACCMODE 03u
#define P9_DOTL_EXCL 0200u
#define P9_DOTL_TRUNC 01000u
#define P9_DOTL_APPEND 02000u
#define P9_DOTL_DSYNC 010000u
#define P9_DOTL_SYNC 04000000u
#define P9_DOTL_AT_REMOVEDIR 0x200u

/* Tsetattr valid bits. */
#define P9_ATTR_MODE (1u << 0)
#define P9_ATTR_UID (1u << 1)
#define P9_ATTR_GID (1u << 2)
#define P9_ATTR_SIZE (1u << 3)
#define P9_ATTR_ATIME (1u << 4)
#define P9_ATTR_MTIME (1u << 5)
#define P9_ATTR_ATIME_SET (1u << 7)
#define P9_ATTR_MTIME_SET (1u << 8)

#define P9_GETATTR_BASIC 0x7ffull
#define P9_QTDIR 0x80
#define P9_QTSYMLINK 0x02
#define P9_QTFILE 0x00
#define P9_LOCK_SUCCESS 0
#define P9_LOCK_TYPE_UNLCK 2

enum p9_fid_kind {
	FID_PATH,        /* fd is O_PATH (or a dup of an open fd): names a file */
	FID_OPEN,        /* fd is open with oflags */
	FID_XATTR_READ,  /* Txattrwalk: xbuf holds the value or the name list */
	FID_XATTR_WRITE, /* Txattrcreate: xbuf collects the value, set at clunk on fd's file */
};

struct p9_fid {
	struct p9_fid *next;
	uint32_t id;
	uint32_t uid; /* the attach's n_uname: the owner of what this fid creates */
	enum p9_fid_kind kind;
	int fd;           /* -1 for FID_XATTR_READ */
	mode_t type;      /* S_IFMT of the file */
	int oflags;       /* FID_OPEN: host open flags */
	uint64_t dir_pos; /* FID_OPEN directories: the fd's position, as a readdir offset */
	char *xname;
	uint8_t *xbuf;
	size_t xlen, xfill;
	int xflags;
};

struct p9_server {
	pthread_mutex_t lock;
	int root; /* O_PATH fd of the export */
	dev_t root_dev;
	ino_t root_ino;
	bool readonly;
	bool no_openat2; /* the kernel lacks it: single components make openat as safe */
	uint32_t msize;
	struct p9_fid *fids[1u << P9_FID_BUCKET_BITS];
	unsigned nfids;
	size_t xattr_bytes;
	dev_t devs[P9_MAX_DEVS];
	unsigned ndevs;
	uint8_t *dents; /* getdents64 scratch */
};

/* --- request parsing: every read is bounded by the message; the first error sticks --------- */

struct p9_in {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static const uint8_t *take(struct p9_in *in, size_t n)
{
	const uint8_t *r;

	if (in->err)
		return NULL;
	if (in->len - in->off < n) {
		in->err = -EPROTO;
		return NULL;
	}
	r = in->p + in->off;
	in->off += n;
	return r;
}

static uint8_t get_u8(struct p9_in *in)
{
	const uint8_t *b = take(in, 1);

	return b ? b[0] : 0;
}

static uint16_t get_u16(struct p9_in *in)
{
	const uint8_t *b = take(in, 2);

	return b ? (uint16_t)(b[0] | b[1] << 8) : 0;
}

static uint32_t get_u32(struct p9_in *in)
{
	const uint8_t *b = take(in, 4);

	return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
}

static uint64_t get_u64(struct p9_in *in)
{
	uint64_t lo = get_u32(in);

	return lo | (uint64_t)get_u32(in) << 32;
}

/* A string in place: NULL (and *len 0) when the message ends first. */
static const char *get_raw(struct p9_in *in, uint16_t *len)
{
	uint16_t n = get_u16(in);
	const char *r = (const char *)take(in, n);

	*len = r ? n : 0;
	return r;
}

/* A string copied NUL-terminated into @buf of @cap bytes: ENAMETOOLONG when it does not fit,
 * EINVAL when it holds a NUL. */
static void get_str(struct p9_in *in, char *buf, size_t cap)
{
	uint16_t n;
	const char *r = get_raw(in, &n);

	buf[0] = 0;
	if (!r)
		return;
	if (n >= cap) {
		in->err = -ENAMETOOLONG;
		return;
	}
	if (memchr(r, 0, n)) {
		in->err = -EINVAL;
		return;
	}
	memcpy(buf, r, n);
	buf[n] = 0;
}

/* --- reply building ---------------------------------------------------------------------- */

struct p9_out {
	uint8_t *p;
	size_t cap, off;
	bool overflow;
};

static bool room(const struct p9_out *o, size_t n)
{
	return o->cap - o->off >= n;
}

static void put(struct p9_out *o, const void *v, size_t n)
{
	if (!n)
		return;
	if (o->overflow || !room(o, n)) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->off, v, n);
	o->off += n;
}

static void put_u8(struct p9_out *o, uint8_t v)
{
	put(o, &v, 1);
}

static void put_u16(struct p9_out *o, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	put(o, b, 2);
}

static void put_u32(struct p9_out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	put(o, b, 4);
}

static void put_u64(struct p9_out *o, uint64_t v)
{
	put_u32(o, (uint32_t)v);
	put_u32(o, (uint32_t)(v >> 32));
}

static void put_str(struct p9_out *o, const char *s, size_t n)
{
	if (n > UINT16_MAX) {
		o->overflow = true;
		return;
	}
	put_u16(o, (uint16_t)n);
	put(o, s, n);
}

static void patch_u32(struct p9_out *o, size_t at, uint32_t v)
{
	o->p[at] = (uint8_t)v;
	o->p[at + 1] = (uint8_t)(v >> 8);
	o->p[at + 2] = (uint8_t)(v >> 16);
	o->p[at + 3] = (uint8_t)(v >> 24);
}

/* The qid path is the inode number, with the device folded into the top bits for files on
 * other filesystems than the export's (bind mounts inside it), so the guest's inodes do not
 * alias. The version stays 0: the Linux client matches inodes on it. */
static uint64_t qid_path(struct p9_server *s, dev_t dev, ino_t ino)
{
	unsigned i;

	for (i = 0; i < s->ndevs && s->devs[i] != dev; i++)
		;
	if (i == s->ndevs && s->ndevs < P9_MAX_DEVS)
		s->devs[s->ndevs++] = dev;
	return (uint64_t)ino ^ ((uint64_t)i << 56);
}

static uint8_t qid_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return P9_QTDIR;
	if (S_ISLNK(mode))
		return P9_QTSYMLINK;
	return P9_QTFILE;
}

static void put_qid(struct p9_server *s, struct p9_out *o, const struct stat *st)
{
	put_u8(o, qid_type(st->st_mode));
	put_u32(o, 0);
	put_u64(o, qid_path(s, st->st_dev, st->st_ino));
}

/* --- fids -------------------------------------------------------------------------------- */

static unsigned fid_bucket(uint32_t id)
{
	return (id * 2654435761u) >> (32 - P9_FID_BUCKET_BITS);
}

static struct p9_fid *fid_find(struct p9_server *s, uint32_t id)
{
	struct p9_fid *f;

	for (f = s->fids[fid_bucket(id)]; f; f = f->next)
		if (f->id == id)
			return f;
	return NULL;
}

/* A fid naming a file (not an xattr fid), or NULL. */
static struct p9_fid *fid_file(struct p9_server *s, uint32_t id)
{
	struct p9_fid *f = fid_find(s, id);

	return f && (f->kind == FID_PATH || f->kind == FID_OPEN) ? f : NULL;
}

/* 0 when @id can be created: not in use, and the table not full. */
static int fid_can_add(struct p9_server *s, uint32_t id)
{
	if (fid_find(s, id))
		return -EINVAL;
	if (s->nfids >= P9_MAX_FIDS)
		return -EMFILE;
	return 0;
}

static struct p9_fid *fid_add(struct p9_server *s, uint32_t id)
{
	struct p9_fid *f = calloc(1, sizeof(*f));
	unsigned b = fid_bucket(id);

	if (!f)
		return NULL;
	f->id = id;
	f->fd = -1;
	f->next = s->fids[b];
	s->fids[b] = f;
	s->nfids++;
	return f;
}

static void fid_release_xattr(struct p9_server *s, struct p9_fid *f)
{
	s->xattr_bytes -= f->xlen;
	free(f->xbuf);
	free(f->xname);
	f->xbuf = NULL;
	f->xname = NULL;
	f->xlen = f->xfill = 0;
}

static void fid_destroy(struct p9_server *s, struct p9_fid *f)
{
	fid_release_xattr(s, f);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* Take @id out of the table (the caller destroys it). */
static struct p9_fid *fid_unlink(struct p9_server *s, uint32_t id)
{
	struct p9_fid **pp;

	for (pp = &s->fids[fid_bucket(id)]; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct p9_fid *f = *pp;

			*pp = f->next;
			s->nfids--;
			return f;
		}
	return NULL;
}

static void fid_clear_all(struct p9_server *s)
{
	for (size_t b = 0; b < sizeof(s->fids) / sizeof(s->fids[0]); b++)
		while (s->fids[b]) {
			struct p9_fid *f = s->fids[b];

			s->fids[b] = f->next;
			fid_destroy(s, f);
		}
	s->nfids = 0;
	s->xattr_bytes = 0;
}

/* --- host helpers ------------------------------------------------------------------------ */

struct proc_path {
	char s[32];
};

/* /proc/self/fd/N: the inode @fd refers to, for the calls that take no fd. */
static struct proc_path fd_path(int fd)
{
	struct proc_path p;

	snprintf(p.s, sizeof(p.s), "/proc/self/fd/%d", fd);
	return p;
}

/* A single-component name: not empty, no '/', not "." or "..". */
static int check_name(const char *n)
{
	if (!n[0] || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, ".."))
		return -EINVAL;
	return 0;
}

/* Open the single component @name under @dirfd without following a symlink or leaving the
 * directory. */
static int open_beneath(struct p9_server *s, int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!s->no_openat2) {
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
		if (fd >= 0 || errno != ENOSYS)
			return (int)fd;
		s->no_openat2 = true;
	}
	return openat(dirfd, name, flags);
}

static int dotl_to_host(uint32_t f)
{
	int r;

	switch (f & P9_DOTL_ACCMODE) {
	case 0: r = O_RDONLY; break;
	case 1: r = O_WRONLY; break;
	case 2: r = O_RDWR; break;
	default: return -EINVAL;
	}
	/* Only what changes the result; O_DIRECT, O_NOATIME, O_NONBLOCK and the like are hints
	 * for the guest's own file, O_CREAT comes with Tlcreate, O_NOFOLLOW is always on. */
	if (f & P9_DOTL_TRUNC)
		r |= O_TRUNC;
	if (f & P9_DOTL_APPEND)
		r |= O_APPEND;
	if (f & P9_DOTL_DSYNC)
		r |= O_DSYNC;
	if (f & P9_DOTL_SYNC)
		r |= O_SYNC;
	if (f & P9_DOTL_EXCL)
		r |= O_EXCL;
	return r;
}

static bool writes(int oflags)
{
	return (oflags & O_ACCMODE) != O_RDONLY || (oflags & O_TRUNC);
}

/* Give a new object the guest's owner, group and mode (passthrough): @fd is open or O_PATH,
 * @st its current stat. Changed only where they differ, so an unprivileged server can still
 * create files as itself. chown first: it clears set-id bits the mode may ask for. */
static int set_owner_mode(int fd, const struct stat *st, uint32_t uid, uint32_t gid, uint32_t mode, bool set_mode)
{
	uid_t u = uid == P9_NONUNAME ? (uid_t)-1 : (uid_t)uid;
	gid_t g = gid == P9_NONUNAME ? (gid_t)-1 : (gid_t)gid;

	if (u == st->st_uid)
		u = (uid_t)-1;
	if (g == st->st_gid)
		g = (gid_t)-1;
	if ((u != (uid_t)-1 || g != (gid_t)-1) && fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (set_mode && chmod(fd_path(fd).s, mode & 07777) < 0)
		return -errno;
	return 0;
}

/* The directory holding @f's file and its name there, for the requests that name a file by
 * its own fid (Tremove, Trename): found from the fd's path, reopened beneath the export root,
 * and checked to hold that same inode (ESTALE otherwise). */
static int fid_parent(struct p9_server *s, struct p9_fid *f, int *ret_dirfd, char name[NAME_MAX + 1])
{
	char root[PATH_MAX], path[PATH_MAX], *rel, *slash;
	ssize_t rn, pn;
	struct stat fst, nst;
	size_t rl;
	int dirfd;

	rn = readlink(fd_path(s->root).s, root, sizeof(root) - 1);
	pn = readlink(fd_path(f->fd).s, path, sizeof(path) - 1);
	if (rn < 0 || pn < 0)
		return -errno;
	root[rn] = path[pn] = 0;
	rl = strcmp(root, "/") ? (size_t)rn : 0;
	if (strncmp(path, root, rl) || path[rl] != '/' || !path[rl + 1])
		return -ESTALE; /* not below the root (or the root itself) */
	rel = path + rl + 1;
	slash = strrchr(rel, '/');
	if (slash) {
		*slash = 0;
		if (strlen(slash + 1) > NAME_MAX)
			return -ENAMETOOLONG;
		strcpy(name, slash + 1);
		struct open_how how = {
			.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
		};
		dirfd = (int)syscall(SYS_openat2, s->root, rel, &how, sizeof(how));
	} else {
		if (strlen(rel) > NAME_MAX)
			return -ENAMETOOLONG;
		strcpy(name, rel);
		dirfd = fcntl(s->root, F_DUPFD_CLOEXEC, 0);
	}
	if (dirfd < 0) {
		if (errno == ENOSYS)
			return -EOPNOTSUPP;
		/* moved, or reached through a symlink or a mount since: not the file's path now */
		return errno == ENOENT || errno == EXDEV || errno == ELOOP ? -ESTALE : -errno;
	}
	if (check_name(name) < 0 || fstat(f->fd, &fst) < 0 || fstatat(dirfd, name, &nst, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fst.st_dev != nst.st_dev || fst.st_ino != nst.st_ino) {
		close(dirfd);
		return -ESTALE;
	}
	*ret_dirfd = dirfd;
	return 0;
}

/* --- request handlers: 0 with the reply body in @o, or -errno for Rlerror ----------------- */

static int h_version(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	static const char v9p2000L[] = "9P2000.L";
	uint32_t msize = get_u32(in);
	uint16_t vlen;
	const char *v = get_raw(in, &vlen);
	bool known;

	if (in->err)
		return in->err;
	if (msize < P9_MIN_MSIZE)
		return -EMSGSIZE;
	if (msize > P9_MAX_MSIZE)
		msize = P9_MAX_MSIZE;
	known = vlen == sizeof(v9p2000L) - 1 && !memcmp(v, v9p2000L, vlen);
	if (!room(o, 4 + 2 + 8))
		return -EMSGSIZE;
	/* A new session: every fid of the old one is gone. */
	fid_clear_all(s);
	s->msize = msize;
	put_u32(o, msize);
	if (known)
		put_str(o, v9p2000L, sizeof(v9p2000L) - 1);
	else
		put_str(o, "unknown", 7);
	return 0;
}

static int h_attach(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in);
	uint16_t n;
	struct stat st;
	struct p9_fid *f;
	uint32_t uid;
	int fd, r;

	get_u32(in);     /* afid: no authentication */
	get_raw(in, &n); /* uname */
	get_raw(in, &n); /* aname: there is one tree */
	uid = get_u32(in);
	if (in->err)
		return in->err;
	if (!room(o, P9_QID))
		return -EMSGSIZE;
	r = fid_can_add(s, fid);
	if (r < 0)
		return r;
	fd = fcntl(s->root, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !(f = fid_add(s, fid))) {
		r = -errno;
		close(fd);
		return r;
	}
	f->fd = fd;
	f->uid = uid;
	f->type = st.st_mode & S_IFMT;
	put_qid(s, o, &st);
	return 0;
}

static int h_walk(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char names[P9_MAXWELEM][NAME_MAX + 1];
	uint32_t fid = get_u32(in), newfid = get_u32(in);
	uint16_t n = get_u16(in), i;
	struct p9_fid *f, *nf;
	struct stat st;
	size_t count_at;
	int cur, r = 0;

	if (in->err)
		return in->err;
	if (n > P9_MAXWELEM)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		get_str(in, names[i], sizeof(names[i]));
		if (in->err)
			return in->err;
		if (strcmp(names[i], "..") && check_name(names[i]) < 0)
			return -EINVAL;
	}
	if (!room(o, 2 + (size_t)P9_QID * n))
		return -EMSGSIZE;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (newfid != fid && (r = fid_can_add(s, newfid)) < 0)
		return r;
	if (n == 0 && newfid == fid) {
		put_u16(o, 0);
		return 0;
	}
	cur = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	if (cur < 0)
		return -errno;
	if (fstat(cur, &st) < 0) {
		r = -errno;
		close(cur);
		return r;
	}
	count_at = o->off;
	put_u16(o, 0);
	for (i = 0; i < n; i++) {
		int next;

		if (!strcmp(names[i], "..")) {
			/* Never above the export: ".." of the root is the root. Every fid's file is
			 * below the root (only ever reached by walking down from it, and the guest's
			 * renames stay inside it; the host does not move a running container's
			 * directories out), so the parent of any other directory is too. */
			if (st.st_dev == s->root_dev && st.st_ino == s->root_ino)
				next = fcntl(cur, F_DUPFD_CLOEXEC, 0);
			else
				next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		} else {
			next = open_beneath(s, cur, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0 || fstat(next, &st) < 0) {
			r = -errno;
			if (next >= 0)
				close(next);
			break;
		}
		close(cur);
		cur = next;
		put_qid(s, o, &st);
	}
	if (i == 0 && n > 0) {
		close(cur);
		o->off = count_at;
		return r;
	}
	o->p[count_at] = (uint8_t)i;
	o->p[count_at + 1] = (uint8_t)(i >> 8);
	if (i < n) { /* a partial walk: the qids so far, and newfid is not created */
		close(cur);
		return 0;
	}
	if (newfid == fid) {
		close(f->fd);
		nf = f;
	} else {
		nf = fid_add(s, newfid);
		if (!nf) {
			close(cur);
			o->off = count_at;
			return -ENOMEM;
		}
		nf->uid = f->uid;
	}
	nf->fd = cur;
	nf->kind = FID_PATH;
	nf->type = st.st_mode & S_IFMT;
	nf->oflags = 0;
	nf->dir_pos = 0;
	return 0;
}

static int h_lopen(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in), flags = get_u32(in);
	struct p9_fid *f;
	struct stat st;
	int hf, fd, r;

	if (in->err)
		return in->err;
	if (!room(o, P9_QID + 4))
		return -EMSGSIZE;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (f->kind != FID_PATH)
		return -EINVAL;
	hf = dotl_to_host(flags);
	if (hf < 0)
		return hf;
	hf &= ~O_EXCL;
	if (s->readonly && writes(hf))
		return -EROFS;
	/* Regular files and directories only: a FIFO's open can block and a device node's
	 * reaches host hardware (the guest opens its special files itself). The type is that of
	 * the inode the fd holds, which the /proc link below reopens. */
	if (S_ISDIR(f->type)) {
		if ((hf & O_ACCMODE) != O_RDONLY || (hf & O_TRUNC))
			return -EISDIR;
		hf = O_RDONLY | O_DIRECTORY;
	} else if (S_ISLNK(f->type)) {
		return -ELOOP;
	} else if (!S_ISREG(f->type)) {
		return -EOPNOTSUPP;
	}
	fd = open(fd_path(f->fd).s, hf | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	close(f->fd);
	f->fd = fd;
	f->kind = FID_OPEN;
	f->oflags = hf;
	f->dir_pos = 0;
	put_qid(s, o, &st);
	put_u32(o, 0); /* iounit: the client uses msize */
	return 0;
}

static int h_lcreate(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1];
	uint32_t fid = get_u32(in), flags, mode, gid;
	struct p9_fid *f;
	struct stat st;
	bool created = true;
	int hf, fd, r = 0;

	get_str(in, name, sizeof(name));
	flags = get_u32(in);
	mode = get_u32(in);
	gid = get_u32(in);
	if (in->err)
		return in->err;
	if (!room(o, P9_QID + 4))
		return -EMSGSIZE;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (f->kind != FID_PATH)
		return -EINVAL;
	if (!S_ISDIR(f->type))
		return -ENOTDIR;
	if ((r = check_name(name)) < 0)
		return r;
	if (s->readonly)
		return -EROFS;
	hf = dotl_to_host(flags);
	if (hf < 0)
		return hf;
	/* O_EXCL first, so that an existing name is never opened by this call: O_CREAT alone
	 * would open a FIFO or a device node that is there. */
	fd = openat(f->fd, name, (hf & ~O_TRUNC) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode & 07777);
	if (fd < 0 && errno == EEXIST && !(hf & O_EXCL)) {
		int p = open_beneath(s, f->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

		created = false;
		if (p < 0)
			return -errno;
		if (fstat(p, &st) < 0)
			r = -errno;
		else if (!S_ISREG(st.st_mode))
			r = S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST;
		if (r < 0) {
			close(p);
			return r;
		}
		fd = open(fd_path(p).s, hf | O_CLOEXEC | O_NOCTTY);
		close(p);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (created)
		r = set_owner_mode(fd, &st, f->uid, gid, mode, (st.st_mode & 07777) != (mode & 07777));
	if (r < 0) {
		close(fd);
		if (created)
			unlinkat(f->fd, name, 0);
		return r;
	}
	close(f->fd);
	f->fd = fd;
	f->kind = FID_OPEN;
	f->type = S_IFREG;
	f->oflags = hf & ~O_EXCL;
	put_qid(s, o, &st);
	put_u32(o, 0);
	return 0;
}

/* The directory fid of a create-like request: a directory, in a writable export. */
static int dir_fid(struct p9_server *s, uint32_t id, const char *name, struct p9_fid **ret)
{
	struct p9_fid *f = fid_file(s, id);
	int r;

	if (!f)
		return -EBADF;
	if (!S_ISDIR(f->type))
		return -ENOTDIR;
	if ((r = check_name(name)) < 0)
		return r;
	if (s->readonly)
		return -EROFS;
	*ret = f;
	return 0;
}

/* After mkdir/mknod/symlink of @name in @dirfd: set owner and mode, reply its qid; on
 * failure remove it again. */
static int finish_create(struct p9_server *s, struct p9_out *o, int dirfd, const char *name, uint32_t uid, uint32_t gid,
			 uint32_t mode, bool set_mode)
{
	struct stat st;
	int fd, r;

	fd = open_beneath(s, dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		r = -errno;
	else if (fstat(fd, &st) < 0)
		r = -errno;
	else
		r = set_owner_mode(fd, &st, uid, gid, mode, set_mode && (st.st_mode & 07777) != (mode & 07777));
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		unlinkat(dirfd, name, set_mode && (mode & S_IFMT) == S_IFDIR ? AT_REMOVEDIR : 0);
		return r;
	}
	put_qid(s, o, &st);
	return 0;
}

static int h_mkdir(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1];
	uint32_t dfid = get_u32(in), mode, gid;
	struct p9_fid *d;
	int r;

	get_str(in, name, sizeof(name));
	mode = get_u32(in);
	gid = get_u32(in);
	if (in->err)
		return in->err;
	if (!room(o, P9_QID))
		return -EMSGSIZE;
	if ((r = dir_fid(s, dfid, name, &d)) < 0)
		return r;
	if (mkdirat(d->fd, name, mode & 07777) < 0)
		return -errno;
	return finish_create(s, o, d->fd, name, d->uid, gid, (mode & 07777) | S_IFDIR, true);
}

static int h_symlink(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1], target[PATH_MAX];
	uint32_t dfid = get_u32(in), gid;
	struct p9_fid *d;
	int r;

	get_str(in, name, sizeof(name));
	get_str(in, target, sizeof(target));
	gid = get_u32(in);
	if (in->err)
		return in->err;
	if (!room(o, P9_QID))
		return -EMSGSIZE;
	if ((r = dir_fid(s, dfid, name, &d)) < 0)
		return r;
	if (symlinkat(target, d->fd, name) < 0)
		return -errno;
	return finish_create(s, o, d->fd, name, d->uid, gid, 0, false);
}

static int h_mknod(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1];
	uint32_t dfid = get_u32(in), mode, major, minor, gid;
	struct p9_fid *d;
	int r;

	get_str(in, name, sizeof(name));
	mode = get_u32(in);
	major = get_u32(in);
	minor = get_u32(in);
	gid = get_u32(in);
	if (in->err)
		return in->err;
	if (!room(o, P9_QID))
		return -EMSGSIZE;
	if ((r = dir_fid(s, dfid, name, &d)) < 0)
		return r;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK: break;
	default: return -EINVAL;
	}
	if (mknodat(d->fd, name, mode & (S_IFMT | 07777), makedev(major, minor)) < 0)
		return -errno;
	return finish_create(s, o, d->fd, name, d->uid, gid, mode & (S_IFMT | 07777), true);
}

static int h_link(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1];
	uint32_t dfid = get_u32(in), fid = get_u32(in);
	struct p9_fid *d, *f;
	int r;

	(void)o;
	get_str(in, name, sizeof(name));
	if (in->err)
		return in->err;
	if ((r = dir_fid(s, dfid, name, &d)) < 0)
		return r;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (linkat(f->fd, "", d->fd, name, AT_EMPTY_PATH) == 0)
		return 0;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link does not (not for symlinks:
	 * it would be followed). */
	if (errno != ENOENT || S_ISLNK(f->type))
		return -errno;
	if (linkat(AT_FDCWD, fd_path(f->fd).s, d->fd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

static int h_renameat(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char oldname[NAME_MAX + 1], newname[NAME_MAX + 1];
	uint32_t ofid, nfid;
	struct p9_fid *od, *nd;
	int r;

	(void)o;
	ofid = get_u32(in);
	get_str(in, oldname, sizeof(oldname));
	nfid = get_u32(in);
	get_str(in, newname, sizeof(newname));
	if (in->err)
		return in->err;
	if ((r = dir_fid(s, ofid, oldname, &od)) < 0 || (r = dir_fid(s, nfid, newname, &nd)) < 0)
		return r;
	if (renameat(od->fd, oldname, nd->fd, newname) < 0)
		return -errno;
	return 0;
}

/* Legacy Trename: fid's file moves into dfid as name. */
static int h_rename(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1], oldname[NAME_MAX + 1];
	uint32_t fid = get_u32(in), dfid = get_u32(in);
	struct p9_fid *f, *d;
	int r, pfd;

	(void)o;
	get_str(in, name, sizeof(name));
	if (in->err)
		return in->err;
	if ((r = dir_fid(s, dfid, name, &d)) < 0)
		return r;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if ((r = fid_parent(s, f, &pfd, oldname)) < 0)
		return r;
	r = renameat(pfd, oldname, d->fd, name) < 0 ? -errno : 0;
	close(pfd);
	return r;
}

static int h_unlinkat(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1];
	uint32_t dfid = get_u32(in), flags;
	struct p9_fid *d;
	int r;

	(void)o;
	get_str(in, name, sizeof(name));
	flags = get_u32(in);
	if (in->err)
		return in->err;
	if ((r = dir_fid(s, dfid, name, &d)) < 0)
		return r;
	if (unlinkat(d->fd, name, flags & P9_DOTL_AT_REMOVEDIR ? AT_REMOVEDIR : 0) < 0)
		return -errno;
	return 0;
}

/* Tremove: unlink fid's file; the fid is clunked whatever the outcome. */
static int h_remove(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[NAME_MAX + 1];
	uint32_t fid = get_u32(in);
	struct p9_fid *f;
	int r, pfd;

	(void)o;
	if (in->err)
		return in->err;
	f = fid_find(s, fid);
	if (!f)
		return -EBADF;
	if (f->kind != FID_PATH && f->kind != FID_OPEN)
		r = -EINVAL;
	else if (s->readonly)
		r = -EROFS;
	else if ((r = fid_parent(s, f, &pfd, name)) == 0) {
		r = unlinkat(pfd, name, S_ISDIR(f->type) ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
		close(pfd);
	}
	fid_destroy(s, fid_unlink(s, fid));
	return r;
}

static int h_getattr(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in);
	struct p9_fid *f;
	struct stat st;

	get_u64(in); /* request_mask: the basic set is always there */
	if (in->err)
		return in->err;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	put_u64(o, P9_GETATTR_BASIC);
	put_qid(s, o, &st);
	put_u32(o, st.st_mode);
	put_u32(o, st.st_uid);
	put_u32(o, st.st_gid);
	put_u64(o, st.st_nlink);
	put_u64(o, st.st_rdev);
	put_u64(o, (uint64_t)st.st_size);
	put_u64(o, (uint64_t)st.st_blksize);
	put_u64(o, (uint64_t)st.st_blocks);
	put_u64(o, (uint64_t)st.st_atim.tv_sec);
	put_u64(o, (uint64_t)st.st_atim.tv_nsec);
	put_u64(o, (uint64_t)st.st_mtim.tv_sec);
	put_u64(o, (uint64_t)st.st_mtim.tv_nsec);
	put_u64(o, (uint64_t)st.st_ctim.tv_sec);
	put_u64(o, (uint64_t)st.st_ctim.tv_nsec);
	put_u64(o, 0); /* btime, gen, data_version: not in the basic set */
	put_u64(o, 0);
	put_u64(o, 0);
	put_u64(o, 0);
	return 0;
}

static int h_setattr(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in), valid = get_u32(in), mode = get_u32(in), uid = get_u32(in), gid = get_u32(in);
	uint64_t size = get_u64(in), asec = get_u64(in), ansec = get_u64(in), msec = get_u64(in), mnsec = get_u64(in);
	struct p9_fid *f;

	(void)o;
	if (in->err)
		return in->err;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (s->readonly)
		return -EROFS;
	/* chown, then chmod (chown clears set-id bits), then size, then times (last: a
	 * truncate would move mtime). */
	if (valid & (P9_ATTR_UID | P9_ATTR_GID)) {
		uid_t u = valid & P9_ATTR_UID ? (uid_t)uid : (uid_t)-1;
		gid_t g = valid & P9_ATTR_GID ? (gid_t)gid : (gid_t)-1;

		if (fchownat(f->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (valid & P9_ATTR_MODE) {
		if (S_ISLNK(f->type))
			return -EOPNOTSUPP;
		if (chmod(fd_path(f->fd).s, mode & 07777) < 0)
			return -errno;
	}
	if (valid & P9_ATTR_SIZE) {
		if (size > INT64_MAX)
			return -EFBIG;
		if (S_ISDIR(f->type))
			return -EISDIR;
		if (!S_ISREG(f->type))
			return -EINVAL;
		if (f->kind == FID_OPEN && (f->oflags & O_ACCMODE) != O_RDONLY) {
			if (ftruncate(f->fd, (off_t)size) < 0)
				return -errno;
		} else if (truncate(fd_path(f->fd).s, (off_t)size) < 0) {
			return -errno;
		}
	}
	if (valid & (P9_ATTR_ATIME | P9_ATTR_MTIME)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (valid & P9_ATTR_ATIME) {
			if (valid & P9_ATTR_ATIME_SET) {
				if (ansec >= 1000000000)
					return -EINVAL;
				ts[0].tv_sec = (time_t)asec;
				ts[0].tv_nsec = (long)ansec;
			} else {
				ts[0].tv_nsec = UTIME_NOW;
			}
		}
		if (valid & P9_ATTR_MTIME) {
			if (valid & P9_ATTR_MTIME_SET) {
				if (mnsec >= 1000000000)
					return -EINVAL;
				ts[1].tv_sec = (time_t)msec;
				ts[1].tv_nsec = (long)mnsec;
			} else {
				ts[1].tv_nsec = UTIME_NOW;
			}
		}
		if (utimensat(f->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			/* Kernels before 5.8 lack AT_EMPTY_PATH here. */
			if (errno != EINVAL || S_ISLNK(f->type) || utimensat(AT_FDCWD, fd_path(f->fd).s, ts, 0) < 0)
				return -errno;
		}
	}
	return 0;
}

static int h_readlink(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char buf[PATH_MAX];
	uint32_t fid = get_u32(in);
	struct p9_fid *f;
	ssize_t n;

	if (in->err)
		return in->err;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (!S_ISLNK(f->type))
		return -EINVAL;
	n = readlinkat(f->fd, "", buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	put_str(o, buf, (size_t)n);
	return 0;
}

static int h_statfs(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in);
	struct p9_fid *f;
	struct statfs sf;
	uint64_t fsid;

	if (in->err)
		return in->err;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (fstatfs(f->fd, &sf) < 0)
		return -errno;
	memcpy(&fsid, &sf.f_fsid, sizeof(fsid) < sizeof(sf.f_fsid) ? sizeof(fsid) : sizeof(sf.f_fsid));
	put_u32(o, (uint32_t)sf.f_type);
	put_u32(o, (uint32_t)sf.f_bsize);
	put_u64(o, sf.f_blocks);
	put_u64(o, sf.f_bfree);
	put_u64(o, sf.f_bavail);
	put_u64(o, sf.f_files);
	put_u64(o, sf.f_ffree);
	put_u64(o, fsid);
	put_u32(o, (uint32_t)sf.f_namelen);
	return 0;
}

static int h_read(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in), count;
	uint64_t offset = get_u64(in);
	struct p9_fid *f;
	size_t max;
	ssize_t n;

	count = get_u32(in);
	if (in->err)
		return in->err;
	if (!room(o, 4))
		return -EMSGSIZE;
	max = o->cap - o->off - 4;
	if (count > max)
		count = (uint32_t)max;
	f = fid_find(s, fid);
	if (!f)
		return -EBADF;
	if (f->kind == FID_XATTR_READ) {
		n = offset < f->xlen ? (ssize_t)(f->xlen - offset < count ? f->xlen - offset : count) : 0;
		put_u32(o, (uint32_t)n);
		if (n)
			put(o, f->xbuf + offset, (size_t)n);
		return 0;
	}
	if (f->kind != FID_OPEN || (f->oflags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (offset > INT64_MAX)
		return -EINVAL;
	n = pread(f->fd, o->p + o->off + 4, count, (off_t)offset);
	if (n < 0)
		return -errno;
	put_u32(o, (uint32_t)n);
	o->off += (size_t)n;
	return 0;
}

static int h_write(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in), count;
	uint64_t offset = get_u64(in);
	const uint8_t *data;
	struct p9_fid *f;
	ssize_t n;

	count = get_u32(in);
	data = take(in, count);
	if (in->err)
		return in->err;
	if (!room(o, 4))
		return -EMSGSIZE;
	f = fid_find(s, fid);
	if (!f)
		return -EBADF;
	if (f->kind == FID_XATTR_WRITE) {
		if (offset > f->xlen || count > f->xlen - offset)
			return -ENOSPC;
		if (count)
			memcpy(f->xbuf + offset, data, count);
		f->xfill += count;
		put_u32(o, count);
		return 0;
	}
	if (f->kind != FID_OPEN || (f->oflags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (offset > INT64_MAX)
		return -EINVAL;
	n = pwrite(f->fd, data, count, (off_t)offset);
	if (n < 0)
		return -errno;
	put_u32(o, (uint32_t)n);
	return 0;
}

/* struct linux_dirent64, as getdents64 fills it. */
struct dirent64_raw {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int h_readdir(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in), count;
	uint64_t offset = get_u64(in);
	struct p9_fid *f;
	struct stat dst;
	size_t count_at, used = 0;
	bool is_root, full = false;

	count = get_u32(in);
	if (in->err)
		return in->err;
	if (!room(o, 4))
		return -EMSGSIZE;
	if (count > o->cap - o->off - 4)
		count = (uint32_t)(o->cap - o->off - 4);
	f = fid_file(s, fid);
	if (!f || f->kind != FID_OPEN)
		return -EBADF;
	if (!S_ISDIR(f->type))
		return -ENOTDIR;
	if (offset > INT64_MAX)
		return -EINVAL;
	if (fstat(f->fd, &dst) < 0)
		return -errno;
	is_root = dst.st_dev == s->root_dev && dst.st_ino == s->root_ino;
	if (offset != f->dir_pos) {
		if (lseek(f->fd, (off_t)offset, SEEK_SET) < 0)
			return -errno;
		f->dir_pos = offset;
	}
	count_at = o->off;
	put_u32(o, 0);
	/* Each round reads whole records and emits those that fit; the fd goes back to the
	 * first one that did not. Bounded: every round emits at least one entry or ends. */
	while (!full) {
		size_t want = count - used < P9_DENTS_BUF ? count - used : P9_DENTS_BUF;
		long n;

		if (want < 1024)
			want = 1024; /* getdents64 needs room for one record */
		n = syscall(SYS_getdents64, f->fd, s->dents, want);
		if (n < 0) {
			if (used)
				break;
			o->off = count_at;
			return -errno;
		}
		if (n == 0)
			break;
		for (long pos = 0; pos < n;) {
			const struct dirent64_raw *d = (const struct dirent64_raw *)(s->dents + pos);
			size_t nlen, esz;

			if (d->d_reclen <= offsetof(struct dirent64_raw, d_name) || (long)d->d_reclen > n - pos) {
				full = true; /* a malformed record from the kernel: stop here */
				break;
			}
			nlen = strnlen(d->d_name, d->d_reclen - offsetof(struct dirent64_raw, d_name));
			esz = P9_QID + 8 + 1 + 2 + nlen;
			if (used + esz > count) {
				full = true;
				break;
			}
			struct stat est = { .st_dev = dst.st_dev, .st_ino = d->d_ino };

			if (is_root && !strcmp(d->d_name, ".."))
				est.st_ino = s->root_ino; /* the export's parent is not the guest's */
			est.st_mode = d->d_type == DT_DIR ? S_IFDIR : d->d_type == DT_LNK ? S_IFLNK : S_IFREG;
			put_qid(s, o, &est);
			put_u64(o, (uint64_t)d->d_off);
			put_u8(o, d->d_type);
			put_str(o, d->d_name, nlen);
			used += esz;
			f->dir_pos = (uint64_t)d->d_off;
			pos += d->d_reclen;
		}
		if (full && lseek(f->fd, (off_t)f->dir_pos, SEEK_SET) < 0) {
			o->off = count_at;
			return -errno;
		}
	}
	if (!used && full) {
		o->off = count_at;
		return -EINVAL; /* count too small for the next entry: not the end of the directory */
	}
	patch_u32(o, count_at, (uint32_t)used);
	return 0;
}

static int h_fsync(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in), datasync = get_u32(in);
	struct p9_fid *f;

	(void)o;
	if (in->err)
		return in->err;
	f = fid_file(s, fid);
	if (!f || f->kind != FID_OPEN)
		return -EBADF;
	if ((datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		return -errno;
	return 0;
}

/* Locks are granted without a host lock, as QEMU does: the guest's own VFS already arbitrates
 * between its processes, and nothing else shares the export's locks. */
static int h_lock(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in);
	uint16_t n;

	get_u8(in);      /* type */
	get_u32(in);     /* flags */
	get_u64(in);     /* start */
	get_u64(in);     /* length */
	get_u32(in);     /* proc_id */
	get_raw(in, &n); /* client_id */
	if (in->err)
		return in->err;
	if (!fid_file(s, fid))
		return -EBADF;
	put_u8(o, P9_LOCK_SUCCESS);
	return 0;
}

static int h_getlock(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in), proc_id;
	uint64_t start, length;
	const char *client;
	uint16_t n;

	get_u8(in); /* type */
	start = get_u64(in);
	length = get_u64(in);
	proc_id = get_u32(in);
	client = get_raw(in, &n);
	if (in->err)
		return in->err;
	if (!fid_file(s, fid))
		return -EBADF;
	put_u8(o, P9_LOCK_TYPE_UNLCK); /* nothing conflicts */
	put_u64(o, start);
	put_u64(o, length);
	put_u32(o, proc_id);
	put_str(o, client, n);
	return 0;
}

static int xattr_reserve(struct p9_server *s, size_t n)
{
	if (n > P9_XATTR_MAX)
		return -E2BIG;
	if (s->xattr_bytes + n > P9_XATTR_BUDGET)
		return -ENOSPC;
	s->xattr_bytes += n;
	return 0;
}

static int h_xattrwalk(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[XATTR_NAME_MAX + 1];
	uint32_t fid = get_u32(in), newfid = get_u32(in);
	struct p9_fid *f, *nf;
	uint8_t *buf = NULL;
	ssize_t n = 0;
	int r;

	get_str(in, name, sizeof(name));
	if (in->err)
		return in->err;
	if (!room(o, 8))
		return -EMSGSIZE;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if ((r = fid_can_add(s, newfid)) < 0)
		return r;
	/* The /proc link would follow a symlink; a symlink has no user xattrs to speak of. */
	if (S_ISLNK(f->type)) {
		if (name[0])
			return -ENODATA;
	} else {
		struct proc_path p = fd_path(f->fd);

		n = name[0] ? getxattr(p.s, name, NULL, 0) : listxattr(p.s, NULL, 0);
		if (n < 0)
			return -errno;
		if (n > 0) {
			if ((size_t)n > P9_XATTR_MAX)
				return -E2BIG;
			buf = malloc((size_t)n);
			if (!buf)
				return -ENOMEM;
			n = name[0] ? getxattr(p.s, name, buf, (size_t)n) : listxattr(p.s, (char *)buf, (size_t)n);
			if (n < 0) {
				r = errno == ERANGE ? -EAGAIN : -errno; /* it grew meanwhile */
				free(buf);
				return r;
			}
		}
	}
	if ((r = xattr_reserve(s, (size_t)n)) < 0 || !(nf = fid_add(s, newfid))) {
		if (r == 0)
			s->xattr_bytes -= (size_t)n;
		free(buf);
		return r < 0 ? r : -ENOMEM;
	}
	nf->kind = FID_XATTR_READ;
	nf->uid = f->uid;
	nf->xbuf = buf;
	nf->xlen = (size_t)n;
	put_u64(o, (uint64_t)n);
	return 0;
}

static int h_xattrcreate(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	char name[XATTR_NAME_MAX + 1];
	uint32_t fid = get_u32(in), flags;
	uint64_t size;
	struct p9_fid *f;
	uint8_t *buf = NULL;
	char *xname;
	int r;

	(void)o;
	get_str(in, name, sizeof(name));
	size = get_u64(in);
	flags = get_u32(in);
	if (in->err)
		return in->err;
	f = fid_file(s, fid);
	if (!f)
		return -EBADF;
	if (s->readonly)
		return -EROFS;
	if (!name[0] || (flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE)))
		return -EINVAL;
	if (S_ISLNK(f->type))
		return -EOPNOTSUPP;
	if (size > P9_XATTR_MAX)
		return -E2BIG;
	if ((r = xattr_reserve(s, (size_t)size)) < 0)
		return r;
	xname = strdup(name);
	if (size)
		buf = calloc(1, (size_t)size);
	if (!xname || (size && !buf)) {
		s->xattr_bytes -= (size_t)size;
		free(xname);
		free(buf);
		return -ENOMEM;
	}
	/* The fid becomes the xattr fid; its fd stays, naming the file to set it on. */
	f->kind = FID_XATTR_WRITE;
	f->xname = xname;
	f->xbuf = buf;
	f->xlen = (size_t)size;
	f->xfill = 0;
	f->xflags = (int)flags;
	return 0;
}

/* Clunk: an xattr fid being written sets (or, when empty, removes) its attribute now. */
static int h_clunk(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	uint32_t fid = get_u32(in);
	struct p9_fid *f;
	int r = 0;

	(void)o;
	if (in->err)
		return in->err;
	f = fid_unlink(s, fid);
	if (!f)
		return -EBADF;
	if (f->kind == FID_XATTR_WRITE) {
		struct proc_path p = fd_path(f->fd);

		if (f->xfill != f->xlen)
			r = -EINVAL;
		else if (f->xlen ? setxattr(p.s, f->xname, f->xbuf, f->xlen, f->xflags) < 0
				 : removexattr(p.s, f->xname) < 0)
			r = -errno;
	}
	fid_destroy(s, f);
	return r;
}

static int h_flush(struct p9_server *s, struct p9_in *in, struct p9_out *o)
{
	(void)s;
	(void)o;
	get_u16(in); /* oldtag: every request is answered before the next is read */
	return in->err;
}

/* --- entry points ------------------------------------------------------------------------ */

static int dispatch(struct p9_server *s, uint8_t type, struct p9_in *in, struct p9_out *o)
{
	switch (type) {
	case P9_TVERSION: return h_version(s, in, o);
	case P9_TATTACH: return h_attach(s, in, o);
	case P9_TWALK: return h_walk(s, in, o);
	case P9_TGETATTR: return h_getattr(s, in, o);
	case P9_TSETATTR: return h_setattr(s, in, o);
	case P9_TLOPEN: return h_lopen(s, in, o);
	case P9_TLCREATE: return h_lcreate(s, in, o);
	case P9_TREAD: return h_read(s, in, o);
	case P9_TWRITE: return h_write(s, in, o);
	case P9_TREADDIR: return h_readdir(s, in, o);
	case P9_TMKDIR: return h_mkdir(s, in, o);
	case P9_TSYMLINK: return h_symlink(s, in, o);
	case P9_TREADLINK: return h_readlink(s, in, o);
	case P9_TMKNOD: return h_mknod(s, in, o);
	case P9_TLINK: return h_link(s, in, o);
	case P9_TRENAMEAT: return h_renameat(s, in, o);
	case P9_TRENAME: return h_rename(s, in, o);
	case P9_TUNLINKAT: return h_unlinkat(s, in, o);
	case P9_TREMOVE: return h_remove(s, in, o);
	case P9_TSTATFS: return h_statfs(s, in, o);
	case P9_TFSYNC: return h_fsync(s, in, o);
	case P9_TCLUNK: return h_clunk(s, in, o);
	case P9_TFLUSH: return h_flush(s, in, o);
	case P9_TXATTRWALK: return h_xattrwalk(s, in, o);
	case P9_TXATTRCREATE: return h_xattrcreate(s, in, o);
	case P9_TLOCK: return h_lock(s, in, o);
	case P9_TGETLOCK: return h_getlock(s, in, o);
	default: /* Tauth (no authentication), 9P2000 and .u messages, R-messages, garbage */ return -EOPNOTSUPP;
	}
}

static size_t finish(uint8_t *resp, size_t len, uint8_t type, uint16_t tag)
{
	resp[0] = (uint8_t)len;
	resp[1] = (uint8_t)(len >> 8);
	resp[2] = (uint8_t)(len >> 16);
	resp[3] = (uint8_t)(len >> 24);
	resp[4] = type;
	resp[5] = (uint8_t)tag;
	resp[6] = (uint8_t)(tag >> 8);
	return len;
}

static size_t rlerror(uint8_t *resp, uint16_t tag, int err)
{
	struct p9_out o = { .p = resp, .cap = P9_HDR + 4, .off = P9_HDR };

	put_u32(&o, (uint32_t)err);
	return finish(resp, o.off, P9_RLERROR, tag);
}

size_t p9_handle(struct p9_server *s, const uint8_t *req, size_t req_len, uint8_t *resp, size_t resp_cap)
{
	struct p9_in in;
	struct p9_out o = { 0 };
	uint32_t size;
	uint8_t type;
	uint16_t tag;
	int r;

	if (!s || !resp || resp_cap < P9_HDR + 4)
		return 0;
	if (!req || req_len < P9_HDR)
		return rlerror(resp, P9_NOTAG, EPROTO);
	size = (uint32_t)req[0] | (uint32_t)req[1] << 8 | (uint32_t)req[2] << 16 | (uint32_t)req[3] << 24;
	type = req[4];
	tag = (uint16_t)(req[5] | req[6] << 8);
	if (size < P9_HDR || size > req_len)
		return rlerror(resp, tag, EPROTO);

	pthread_mutex_lock(&s->lock);
	if (type != P9_TVERSION && size > s->msize) {
		r = -EMSGSIZE;
	} else {
		in = (struct p9_in){ .p = req + P9_HDR, .len = size - P9_HDR };
		/* Tversion's reply is bounded by the buffer only: msize is what it negotiates. */
		o = (struct p9_out){ .p = resp,
				     .off = P9_HDR,
				     .cap = type == P9_TVERSION || resp_cap < s->msize ? resp_cap : s->msize };
		r = dispatch(s, type, &in, &o);
		if (r == 0 && o.overflow)
			r = -EMSGSIZE; /* only replies of requests that changed nothing can overflow */
	}
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return rlerror(resp, tag, -r);
	return finish(resp, o.off, (uint8_t)(type + 1), tag);
}

struct p9_server *p9_server_new(const char *dir, bool readonly)
{
	struct p9_server *s;
	struct stat st;
	struct rlimit rl;
	int e;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->root < 0 || fstat(s->root, &st) < 0)
		goto fail;
	s->dents = malloc(P9_DENTS_BUF);
	if (!s->dents)
		goto fail;
	pthread_mutex_init(&s->lock, NULL);
	s->root_dev = st.st_dev;
	s->root_ino = st.st_ino;
	s->devs[s->ndevs++] = st.st_dev;
	s->readonly = readonly;
	s->msize = P9_DEFAULT_MSIZE;
	/* Every fid holds an fd: lift the soft limit to the hard one (systemd's advice for
	 * programs that need many fds and do not use select()). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	return s;

fail:
	e = errno;
	if (s->root >= 0)
		close(s->root);
	free(s->dents);
	free(s);
	errno = e;
	return NULL;
}

bool p9_server_fresh(struct p9_server *s)
{
	bool fresh;

	pthread_mutex_lock(&s->lock);
	fresh = s->nfids == 0 && s->msize == P9_DEFAULT_MSIZE;
	pthread_mutex_unlock(&s->lock);
	return fresh;
}

void p9_server_free(struct p9_server *s)
{
	if (!s)
		return;
	fid_clear_all(s);
	close(s->root);
	free(s->dents);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
