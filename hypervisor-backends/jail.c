/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib.h>
#include <seccomp.h>

#include "base/bpf.h"
#include "base/error.h"
#include "hypervisor-backends/jail.h"

/* Bounds the compiled deny list; it is a few hundred bytes. */
#define JAIL_BPF_MAX 65536

/* @keep_link: a symbolic link is recreated as one (the host's /lib -> usr/lib); otherwise what
 * it points to is bound at its name. */
static int add(struct hv_jail *j, const char *path, unsigned flags, bool keep_link, struct rt_error **err)
{
	g_autofree char *abs = NULL;
	struct hv_jail_entry *e;
	struct stat st;

	/* A relative path (a relative --root, kernel=) is bound where it resolves, and the VMM
	 * starts in a directory of the same name, so that it resolves there alike. */
	if (!g_path_is_absolute(path)) {
		if (!j->cwd)
			j->cwd = g_get_current_dir();
		path = abs = g_build_filename(j->cwd, path, NULL);
	}
	for (size_t i = 0; i < j->n; i++)
		if (!strcmp(j->entries[i].path, path))
			return 0;
	if (j->n == HV_JAIL_MAX_PATHS)
		return rt_make_error(err, E2BIG, "jail: more than %d paths", HV_JAIL_MAX_PATHS);
	if ((keep_link ? lstat(path, &st) : stat(path, &st)) < 0)
		return rt_make_error(err, errno, "jail: `%s`", path);
	e = &j->entries[j->n];
	*e = (struct hv_jail_entry){ .path = g_strdup(path), .flags = flags };
	if (S_ISLNK(st.st_mode)) {
		e->kind = HV_JAIL_LINK;
		e->link = g_file_read_link(path, NULL);
		if (!e->link) {
			g_clear_pointer(&e->path, g_free);
			return rt_make_error(err, errno, "jail: readlink `%s`", path);
		}
	} else {
		e->kind = S_ISDIR(st.st_mode) ? HV_JAIL_DIR : HV_JAIL_FILE;
	}
	j->n++;
	return 0;
}

int hv_jail_add(struct hv_jail *j, const char *path, unsigned flags, struct rt_error **err)
{
	return add(j, path, flags, false, err);
}

int hv_jail_add_system(struct hv_jail *j, struct rt_error **err)
{
	/* The program and its libraries, read-only. /etc holds only the dynamic linker's cache:
	 * nothing else of the host's configuration. */
	static const char *const system[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };
	static const char *const devices[] = { "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random" };

	for (size_t i = 0; i < G_N_ELEMENTS(system); i++)
		if (access(system[i], F_OK) == 0 && add(j, system[i], HV_JAIL_RO | HV_JAIL_NODEV, true, err) < 0)
			return -1;
	if (access("/etc/ld.so.cache", F_OK) == 0 &&
	    hv_jail_add(j, "/etc/ld.so.cache", HV_JAIL_RO | HV_JAIL_NODEV | HV_JAIL_NOEXEC, err) < 0)
		return -1;
	for (size_t i = 0; i < G_N_ELEMENTS(devices); i++)
		if (hv_jail_add(j, devices[i], HV_JAIL_NOEXEC, err) < 0)
			return -1;
	j->proc = true;
	return 0;
}

void hv_jail_keep_9p(struct hv_jail *j)
{
	static const cap_value_t p9[] = {
		CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_MKNOD, CAP_SETFCAP,
	};

	G_STATIC_ASSERT(G_N_ELEMENTS(p9) <= G_N_ELEMENTS(j->keep));
	j->uid = HV_JAIL_UID;
	j->gid = HV_JAIL_GID;
	memcpy(j->keep, p9, sizeof(p9));
	j->n_keep = G_N_ELEMENTS(p9);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct hv_jail_entry *)a)->path, ((const struct hv_jail_entry *)b)->path);
}

int hv_jail_finish(struct hv_jail *j, struct rt_error **err)
{
	/* A directory before what lies in it: build_root binds in this order. */
	qsort(j->entries, j->n, sizeof(j->entries[0]), by_path);
	j->caps = cap_init();
	if (!j->caps)
		return rt_make_error(err, errno, "jail: cap_init");
	if (j->n_keep &&
	    (cap_set_flag(j->caps, CAP_EFFECTIVE, (int)j->n_keep, j->keep, CAP_SET) < 0 ||
	     cap_set_flag(j->caps, CAP_PERMITTED, (int)j->n_keep, j->keep, CAP_SET) < 0 ||
	     cap_set_flag(j->caps, CAP_INHERITABLE, (int)j->n_keep, j->keep, CAP_SET) < 0))
		return rt_make_error(err, errno, "jail: cap_set_flag");
	return hv_jail_seccomp_bpf(j->seccomp_flags, &j->bpf, &j->bpf_len, err);
}

void hv_jail_clear(struct hv_jail *j)
{
	for (size_t i = 0; i < j->n; i++) {
		g_free(j->entries[i].path);
		g_free(j->entries[i].link);
	}
	g_free(j->cwd);
	if (j->caps)
		cap_free(j->caps);
	g_free(j->bpf);
	*j = (struct hv_jail){ 0 };
}

/* --- in the child: raw syscalls only ------------------------------------------------------ */

static int fail(struct hv_jail_failure *f, const char *what, const char *path)
{
	size_t n = strlen(what), m = path ? strlen(path) : 0;

	f->err = errno;
	n = MIN(n, sizeof(f->what) - 1);
	memcpy(f->what, what, n);
	if (path && n + 3 < sizeof(f->what)) {
		m = MIN(m, sizeof(f->what) - n - 4);
		f->what[n++] = ' ';
		f->what[n++] = '`';
		memcpy(f->what + n, path, m);
		n += m;
		f->what[n++] = '`';
	}
	f->what[n] = '\0';
	return -f->err;
}

/* Create the directories leading to @rel (relative to the new root, the current directory),
 * then @rel itself as a directory or an empty file: the mount point. */
static int make_mountpoint(const char *rel, bool dir)
{
	char buf[4096];
	size_t len = strlen(rel);
	struct stat st;
	int fd;

	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, rel, len + 1);
	/* The directories made here are real; a symbolic link on the way can only sit inside an
	 * entry bound already (a share the guest wrote to in an earlier run): never follow one,
	 * it would lead out of the new root. */
	for (char *p = strchr(buf, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		if (lstat(buf, &st) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
			return -1;
		}
		*p = '/';
	}
	/* Inside an entry bound already (read-only maybe): the mount point is there. */
	if (lstat(buf, &st) == 0) {
		errno = ELOOP;
		return S_ISLNK(st.st_mode) ? -1 : 0;
	}
	if (dir)
		return mkdir(buf, 0755);
	fd = open(buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int build_root(const struct hv_jail *j, int *fds, struct hv_jail_failure *f)
{
	for (size_t i = 0; i < j->n; i++) {
		const struct hv_jail_entry *e = &j->entries[i];
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID };

		if (e->kind == HV_JAIL_LINK)
			continue;
		/* A detached copy of the tree at the path, taken before anything hides it. */
		fds[i] = open_tree(AT_FDCWD, e->path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (fds[i] < 0)
			return fail(f, "jail: clone the mount of", e->path);
		if (e->flags & HV_JAIL_RO)
			attr.attr_set |= MOUNT_ATTR_RDONLY;
		if (e->flags & HV_JAIL_NODEV)
			attr.attr_set |= MOUNT_ATTR_NODEV;
		if (e->flags & HV_JAIL_NOEXEC)
			attr.attr_set |= MOUNT_ATTR_NOEXEC;
		if (mount_setattr(fds[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			return fail(f, "jail: set the mount flags of", e->path);
	}
	/* The new root: an empty tmpfs, mounted over /tmp of this namespace only. */
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m,nr_inodes=4096") < 0)
		return fail(f, "jail: mount the root tmpfs", NULL);
	if (chdir("/tmp") < 0)
		return fail(f, "jail: chdir", "/tmp");
	/* Sorted by path (hv_jail_finish): a directory comes before what lies in it. */
	for (size_t i = 0; i < j->n; i++) {
		const struct hv_jail_entry *e = &j->entries[i];

		if (e->kind == HV_JAIL_LINK)
			continue;
		if (make_mountpoint(e->path + 1, e->kind == HV_JAIL_DIR) < 0)
			return fail(f, "jail: create the mount point", e->path);
		if (move_mount(fds[i], "", AT_FDCWD, e->path + 1, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return fail(f, "jail: bind", e->path);
		close(fds[i]);
		fds[i] = -1;
	}
	/* Links last: a target outside the root must not have mount points made through it. */
	for (size_t i = 0; i < j->n; i++)
		if (j->entries[i].kind == HV_JAIL_LINK && symlink(j->entries[i].link, j->entries[i].path + 1) < 0)
			return fail(f, "jail: symlink", j->entries[i].path);
	if (j->cwd && make_mountpoint(j->cwd + 1, true) < 0)
		return fail(f, "jail: create the working directory", j->cwd);
	if (j->proc) {
		if (mkdir("proc", 0555) < 0 && errno != EEXIST)
			return fail(f, "jail: mkdir", "/proc");
		if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return fail(f, "jail: mount", "/proc");
	}
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return fail(f, "jail: detach the host's root", NULL);
	} else if (errno == EINVAL) {
		/* The host's root is the initramfs (rootfs), which cannot be pivoted away from
		 * (switch_root's case, runc's no-pivot mode): the new root is moved over it and
		 * chrooted into. The old root stays mounted beneath, out of reach: nothing holds an
		 * fd into it, and chroot, mount and open_by_handle_at are denied by the filter
		 * below, with CAP_SYS_CHROOT and CAP_SYS_ADMIN gone. */
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			return fail(f, "jail: move the root over the initramfs", NULL);
		if (chroot(".") < 0)
			return fail(f, "jail: chroot", NULL);
	} else {
		return fail(f, "jail: pivot_root", NULL);
	}
	if (chdir(j->cwd ? j->cwd : "/") < 0)
		return fail(f, "jail: chdir", j->cwd ? j->cwd : "/");
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	if (mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof(ro)) < 0)
		return fail(f, "jail: make the root read-only", NULL);
	return 0;
}

static int drop_privileges(const struct hv_jail *j, struct hv_jail_failure *f)
{
	bool keep[CAP_LAST_CAP + 1] = { false };

	for (size_t i = 0; i < j->n_keep; i++)
		keep[j->keep[i]] = true;
	/* The uid change keeps the capabilities (they are cut below, explicitly), and uid 0 never
	 * regains them through exec; both locked. */
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED) < 0)
		return fail(f, "jail: set securebits", NULL);
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (!keep[c] && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return fail(f, "jail: drop from the capability bounding set", NULL);
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, j->gid, j->gid, j->gid) < 0 ||
	    syscall(SYS_setresuid, j->uid, j->uid, j->uid) < 0)
		return fail(f, "jail: change to the unprivileged uid", NULL);
	if (cap_set_proc(j->caps) < 0)
		return fail(f, "jail: set the capabilities", NULL);
	/* Ambient: what a non-root exec keeps of them. */
	for (size_t i = 0; i < j->n_keep; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, j->keep[i], 0, 0) < 0)
			return fail(f, "jail: raise an ambient capability", NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(f, "jail: set no_new_privs", NULL);
	return 0;
}

int hv_jail_enter(const struct hv_jail *j, struct hv_jail_failure *f)
{
	int fds[HV_JAIL_MAX_PATHS], r;

	for (size_t i = 0; i < HV_JAIL_MAX_PATHS; i++)
		fds[i] = -1;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(f, "jail: make the mount namespace private", NULL);
	r = build_root(j, fds, f);
	for (size_t i = 0; i < j->n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (r < 0 || (r = drop_privileges(j, f)) < 0)
		return r;
	r = hv_jail_seccomp_load(j->bpf, j->bpf_len);
	if (r < 0) {
		errno = -r;
		return fail(f, "jail: load the seccomp filter", NULL);
	}
	return 0;
}

/* --- seccomp ------------------------------------------------------------------------------ */

int hv_jail_seccomp_bpf(unsigned flags, uint8_t **ret_bpf, size_t *ret_len, struct rt_error **err)
{
	/* What no VMM does: change mounts or namespaces, trace or read other processes, load
	 * kernel code or BPF, reach the kernel's keyrings, clock, log, swap or power, open files
	 * by handle (the "shocker" escape past a chroot), raw I/O ports. */
	static const char *const deny[] = {
		"mount",
		"umount",
		"umount2",
		"pivot_root",
		"chroot",
		"fsopen",
		"fsconfig",
		"fsmount",
		"fspick",
		"move_mount",
		"open_tree",
		"mount_setattr",
		"setns",
		"unshare",
		"ptrace",
		"process_vm_readv",
		"process_vm_writev",
		"kcmp",
		"pidfd_getfd",
		"kexec_load",
		"kexec_file_load",
		"init_module",
		"finit_module",
		"delete_module",
		"create_module",
		"bpf",
		"perf_event_open",
		"userfaultfd",
		"open_by_handle_at",
		"name_to_handle_at",
		"keyctl",
		"add_key",
		"request_key",
		"reboot",
		"swapon",
		"swapoff",
		"syslog",
		"acct",
		"settimeofday",
		"clock_settime",
		"clock_adjtime",
		"adjtimex",
		"sethostname",
		"setdomainname",
		"iopl",
		"ioperm",
		"quotactl",
		"quotactl_fd",
		"lookup_dcookie",
		"nfsservctl",
		"uselib",
		"vhangup",
		"_sysctl",
	};
	static const char *const exec[] = { "execve", "execveat" };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r = -1;

	if (!ctx)
		return rt_make_error(err, ENOMEM, "seccomp_init");
	/* The caller sets no_new_privs itself, where it applies to the whole process. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		rt_make_error(err, EINVAL, "seccomp: filter attributes");
		goto out;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(deny) + G_N_ELEMENTS(exec); i++) {
		bool in_exec = i >= G_N_ELEMENTS(deny);
		const char *name = in_exec ? exec[i - G_N_ELEMENTS(deny)] : deny[i];
		int nr = seccomp_syscall_resolve_name(name);

		if ((in_exec && !(flags & HV_JAIL_DENY_EXEC)) || nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0);
		if (r < 0 && r != -EEXIST) {
			rt_make_error(err, -r, "seccomp: rule for `%s`", name);
			r = -1;
			goto out;
		}
	}
	r = rv_bpf_export(ctx, JAIL_BPF_MAX, ret_bpf, ret_len, err);
out:
	seccomp_release(ctx);
	return r;
}

int hv_jail_seccomp_load(const uint8_t *bpf, size_t len)
{
	struct sock_fprog prog = { .len = (unsigned short)(len / sizeof(struct sock_filter)),
				   .filter = (struct sock_filter *)bpf };

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
}
