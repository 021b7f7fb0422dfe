/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* The process's own PATH: its last PATH=, or NULL when process.env has none. */
static const char *env_path(const struct rt_spec *spec)
{
	const char *path = NULL;

	for (char **e = spec->process.env; e && *e; e++)
		if (g_str_has_prefix(*e, "PATH="))
			path = *e + 5;
	return path;
}

/* The PATH the guest agent searches: the process's, else the agent's default
 * (guest/agent/process.c). */
static const char *process_path(const struct rt_spec *spec)
{
	const char *path = env_path(spec);

	return path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/* args[0] as execvp would find it: a name with a slash as it is (relative to the cwd), else
 * each directory of the process's PATH (or the default one) in turn. */
static int program_arch(const struct rt_spec *spec)
{
	const char *prog = spec->process.args ? spec->process.args[0] : NULL;
	g_auto(GStrv) dirs = NULL;

	if (!prog || !*prog)
		return -1;
	if (strchr(prog, '/')) {
		g_autofree char *p = g_build_filename(prog[0] == '/' ? "/" : spec->process.cwd, prog, NULL);

		return rt_elf_arch(spec->rootfs, p);
	}
	dirs = g_strsplit(process_path(spec), ":", -1);
	for (char **d = dirs; *d; d++) {
		g_autofree char *p = g_build_filename(**d ? *d : spec->process.cwd, prog, NULL);
		int a = rt_elf_arch(spec->rootfs, p);

		if (a >= 0)
			return a;
	}
	return -1;
}

/*
 * What `create` can know of process.args[0] before the guest runs it. runc looks it up in the
 * finished container (its mounts made, its createContainer hooks run) with Go's exec.LookPath
 * and fails `create` when that finds nothing; runvm's guest looks only at `start`. The rootfs
 * is a host directory, so the host can look as well, but only where what it sees is what the
 * container will see: whatever lies at or under a mount's destination (a volume, a tmpfs,
 * docker-init's bind mount) comes from that mount, and a directory that a mount's destination
 * lies under exists in the container even where the rootfs lacks it (the mount point is made).
 * Such paths, and a walk that cannot finish (a symlink loop, a permission), are not judged
 * here: the guest reports them at `start`, as before.
 */
enum lookup { LOOKUP_FOUND, LOOKUP_MISSING, LOOKUP_UNKNOWN };

/* Paths are canonical container paths: "" for the root, else "/a/b" (no `.`, `..`, `//`). */
struct rootfs_view {
	int root;          /* O_PATH of the rootfs */
	GPtrArray *mounts; /* where the mounts sit, each as written and as resolved in the rootfs */
};

static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Would the container see a mount's content at @path (or under it, for @below)? */
static bool mount_at(const struct rootfs_view *v, const char *path, bool below)
{
	for (guint i = 0; v->mounts && i < v->mounts->len; i++) {
		const char *m = v->mounts->pdata[i];

		if (below ? strlen(m) > strlen(path) && path_under(m, path) : path_under(path, m))
			return true;
	}
	return false;
}

/* The next component of @rest, taken off it; NULL when none is left. */
static char *pop_component(GString *rest)
{
	size_t i = 0, j;
	char *c;

	while (i < rest->len && rest->str[i] == '/')
		i++;
	if (i == rest->len) {
		g_string_truncate(rest, 0);
		return NULL;
	}
	for (j = i; j < rest->len && rest->str[j] != '/'; j++)
		;
	c = g_strndup(rest->str + i, j - i);
	g_string_erase(rest, 0, (gssize)j);
	return c;
}

/* @path's components appended to @resolved as they read (`..` lexically). */
static void append_lexically(GString *resolved, GString *rest)
{
	char *c;

	while ((c = pop_component(rest))) {
		if (strcmp(c, "..") == 0) {
			char *slash = strrchr(resolved->str, '/');

			g_string_truncate(resolved, slash ? (gsize)(slash - resolved->str) : 0);
		} else if (strcmp(c, ".") != 0) {
			g_string_append_printf(resolved, "/%s", c);
		}
		g_free(c);
	}
}

/* The canonical @path (absolute, no symlink in it) inside the rootfs, as an O_PATH fd. */
static int open_resolved(const struct rootfs_view *v, const char *path)
{
	struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, v->root, *path ? path + 1 : ".", &how, sizeof(how));
}

/*
 * Resolve the container path @path as the container's kernel would, one component at a time
 * so that each step can be held against the mounts (@check_mounts), symlinks followed inside
 * the rootfs. @resolved gets the path reached (when missing, with the rest appended as it
 * reads: where a mount would land), @ret_st what it is, @ret_errno why it is missing.
 */
static enum lookup walk(const struct rootfs_view *v, const char *path, bool check_mounts, GString *resolved,
			struct stat *ret_st, int *ret_errno)
{
	g_autoptr(GString) rest = g_string_new(path);
	bool is_dir = true;
	int links = 0;

	g_string_truncate(resolved, 0);
	for (;;) {
		g_autofree char *comp = pop_component(rest);
		_cleanup_close_ int fd = -EBADF;
		size_t parent = resolved->len;
		struct stat st;

		if (comp && !is_dir) {
			/* What follows a file: ENOTDIR, as stat(2) says. */
			if (check_mounts && mount_at(v, resolved->str, true))
				return LOOKUP_UNKNOWN;
			g_string_append_printf(resolved, "/%s", comp);
			append_lexically(resolved, rest);
			*ret_errno = ENOTDIR;
			return LOOKUP_MISSING;
		}
		if (!comp) {
			fd = open_resolved(v, resolved->str);
			if (fd < 0 || fstat(fd, ret_st) < 0)
				return LOOKUP_UNKNOWN;
			return LOOKUP_FOUND;
		}
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			/* @resolved holds directories only: its parent is the real one. */
			char *slash = strrchr(resolved->str, '/');

			g_string_truncate(resolved, slash ? (gsize)(slash - resolved->str) : 0);
			continue;
		}
		g_string_append_printf(resolved, "/%s", comp);
		if (check_mounts && mount_at(v, resolved->str, false))
			return LOOKUP_UNKNOWN;
		fd = open_resolved(v, resolved->str);
		if (fd < 0) {
			int e = errno;

			if (e != ENOENT && e != ENOTDIR)
				return LOOKUP_UNKNOWN;
			if (check_mounts && mount_at(v, resolved->str, true))
				return LOOKUP_UNKNOWN;
			append_lexically(resolved, rest);
			*ret_errno = e;
			return LOOKUP_MISSING;
		}
		if (fstat(fd, &st) < 0)
			return LOOKUP_UNKNOWN;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n;

			/* The kernel's limit (MAXSYMLINKS): past it, ELOOP, which the guest reports. */
			if (++links > 40)
				return LOOKUP_UNKNOWN;
			n = readlinkat(fd, "", target, sizeof(target));
			if (n <= 0 || (size_t)n >= sizeof(target))
				return LOOKUP_UNKNOWN;
			g_string_prepend_c(rest, '/');
			g_string_prepend_len(rest, target, n);
			g_string_truncate(resolved, target[0] == '/' ? 0 : parent);
			continue;
		}
		is_dir = S_ISDIR(st.st_mode);
	}
}

/* Go's strconv.Quote, which runc's message uses for the name, for what a name may hold. */
static char *go_quote(const char *s)
{
	GString *q = g_string_new("\"");
	bool utf8 = g_utf8_validate(s, -1, NULL);

	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"': g_string_append(q, "\\\""); break;
		case '\\': g_string_append(q, "\\\\"); break;
		case '\a': g_string_append(q, "\\a"); break;
		case '\b': g_string_append(q, "\\b"); break;
		case '\f': g_string_append(q, "\\f"); break;
		case '\n': g_string_append(q, "\\n"); break;
		case '\r': g_string_append(q, "\\r"); break;
		case '\t': g_string_append(q, "\\t"); break;
		case '\v': g_string_append(q, "\\v"); break;
		default:
			if (*c < 0x20 || *c == 0x7f || (*c >= 0x80 && !utf8))
				g_string_append_printf(q, "\\x%02x", *c);
			else
				g_string_append_c(q, (char)*c);
		}
	}
	g_string_append_c(q, '"');
	return g_string_free(q, FALSE);
}

/* exec.LookPath's test: not a directory, and some execute bit. Whether the container's user
 * may run it (runc's faccessat as that user) is left to the guest: user namespaces and
 * capabilities decide, which the host does not see here. */
static bool executable(const struct stat *st)
{
	return !S_ISDIR(st->st_mode) && (st->st_mode & 0111);
}

int rt_program_check(const struct rt_spec *spec, struct rt_error **err)
{
	const char *prog = spec->process.args[0];
	g_autoptr(GPtrArray) mounts = g_ptr_array_new_with_free_func(g_free);
	_cleanup_close_ int root = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct rootfs_view v = { .root = root, .mounts = mounts };
	g_autoptr(GString) resolved = g_string_new(NULL);
	g_autofree char *quoted = go_quote(prog);
	g_auto(GStrv) dirs = NULL;
	bool unknown = false;
	struct stat st;
	int e = 0;

	if (root < 0)
		return 0;
	for (size_t i = 0; i < spec->n_mounts; i++) {
		g_autoptr(GString) dest = g_string_new(spec->mounts[i].destination);
		GString *lexical = g_string_new(NULL);

		append_lexically(lexical, dest);
		g_ptr_array_add(mounts, g_string_free(lexical, FALSE));
		/* Mount destinations are resolved in the rootfs too (runc: securejoin): one under
		 * a symlink (/sbin -> usr/sbin) sits where the symlink leads. */
		if (walk(&v, spec->mounts[i].destination, false, resolved, &st, &e) == LOOKUP_UNKNOWN)
			return 0;
		g_ptr_array_add(mounts, g_strdup(resolved->str));
	}
	/* A trailing slash asks for a directory; the guest says what that gives. */
	if (g_str_has_suffix(prog, "/"))
		return 0;
	if (strchr(prog, '/')) {
		g_autofree char *path = g_build_filename(prog[0] == '/' ? "/" : spec->process.cwd, prog, NULL);

		switch (walk(&v, path, true, resolved, &st, &e)) {
		case LOOKUP_UNKNOWN: return 0;
		case LOOKUP_FOUND:
			if (executable(&st))
				return 0;
			return rt_make_error(err, 0, "unable to start container process: exec: %s: permission denied",
					     quoted);
		case LOOKUP_MISSING:
			/* Go's os.Stat error, with Go's lower-case wording. */
			return rt_make_error(err, 0, "unable to start container process: exec: %s: stat %s: %s", quoted,
					     prog, e == ENOTDIR ? "not a directory" : "no such file or directory");
		}
	}
	/*
	 * Each entry of the process's PATH in turn, as Go's exec.LookPath in runc's init, which
	 * has process.env as its environment and nothing else: no PATH (or an empty one) finds
	 * nothing, where the guest's agent would fall back to its default. An empty entry is the
	 * cwd (Go: "."). The first entry that has it decides: a relative one is Go's ErrDot,
	 * which runc refuses. After an entry the host cannot judge, nothing is known.
	 */
	dirs = g_strsplit(env_path(spec) ? env_path(spec) : "", ":", -1);
	for (char **d = dirs; *d; d++) {
		bool relative = **d != '/';
		g_autofree char *path = g_build_filename(relative ? spec->process.cwd : "", *d, prog, NULL);

		switch (walk(&v, path, true, resolved, &st, &e)) {
		case LOOKUP_UNKNOWN: unknown = true; break;
		case LOOKUP_FOUND:
			if (!executable(&st))
				break;
			if (relative && !unknown)
				return rt_make_error(err, 0,
						     "unable to start container process: exec: %s: cannot run "
						     "executable found relative to current directory",
						     quoted);
			return 0;
		case LOOKUP_MISSING: break;
		}
	}
	if (unknown)
		return 0;
	return rt_make_error(err, 0, "unable to start container process: exec: %s: executable file not found in $PATH",
			     quoted);
}

int rt_program_check_early(const struct rt_spec *spec, struct rt_error **err)
{
	static const enum rt_hook_kind before[] = { RT_HOOK_PRESTART, RT_HOOK_CREATE_RUNTIME,
						    RT_HOOK_CREATE_CONTAINER };

	for (size_t i = 0; i < G_N_ELEMENTS(before); i++)
		if (spec->hooks[before[i]] && spec->hooks[before[i]]->len > 0)
			return 0;
	return rt_program_check(spec, err);
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
