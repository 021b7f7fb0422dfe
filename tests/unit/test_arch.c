/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest architecture from the container's program: ELF headers, PATH search, symlinks that
 * must stay inside the rootfs, scripts, and the annotation and configuration overrides; and
 * what create can tell of a missing or non-executable program (rt_program_check). */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "runtime/arch.h"
#include "runtime/lib/config.h"
#include "base/error.h"
#include "runtime/lib/spec.h"
#include "tests/unit/tap.h"

/* A file holding just the start of an ELF header for @machine. */
static void elf(const char *path, unsigned machine)
{
	unsigned char h[64] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT };

	h[EI_NIDENT] = ET_EXEC;
	h[EI_NIDENT + 2] = (unsigned char)machine;
	h[EI_NIDENT + 3] = (unsigned char)(machine >> 8);
	g_file_set_contents(path, (const char *)h, sizeof(h), NULL);
}

static int arch_of(const char *root, const char *prog, const char *path_env, const char *annotation,
		   const char *config_arch, const char **why)
{
	char *args[] = { (char *)prog, NULL };
	g_autofree char *pe = path_env ? g_strdup_printf("PATH=%s", path_env) : NULL;
	char *env[] = { pe, NULL };
	struct rt_spec spec = { .rootfs = (char *)root,
				.arch = (char *)annotation,
				.process = { .args = args, .env = env, .cwd = "/" } };
	struct rt_config config = { .arch = (char *)(config_arch ? config_arch : "auto") };
	struct rt_error *err = NULL;
	enum rv_arch a;

	if (rt_guest_arch(&config, &spec, &a, why, &err) < 0) {
		rt_error_free(&err);
		return -2;
	}
	return (int)a;
}

/* rt_program_check() on @prog with @mounts (NULL-terminated destinations, or NULL): 0, or -1
 * with its message in @msg. */
static int check_of(const char *root, const char *prog, const char *path_env, const char *const *mounts, char **msg)
{
	char *args[] = { (char *)prog, NULL };
	g_autofree char *pe = path_env ? g_strdup_printf("PATH=%s", path_env) : NULL;
	char *env[] = { pe, NULL };
	struct rt_mount m[8] = { 0 };
	struct rt_spec spec = { .rootfs = (char *)root, .process = { .args = args, .env = env, .cwd = "/" } };
	struct rt_error *err = NULL;

	for (; mounts && mounts[spec.n_mounts]; spec.n_mounts++)
		m[spec.n_mounts].destination = (char *)mounts[spec.n_mounts];
	spec.mounts = m;
	g_free(*msg);
	*msg = NULL;
	if (rt_program_check(&spec, &err) == 0)
		return 0;
	*msg = g_strdup(err->msg);
	rt_error_free(&err);
	return -1;
}

#define AT(rel) (snprintf(p, sizeof(p), "%s/%s", root, rel), p)
static void program_checks(const char *root)
{
	static const char *const dev[] = { "/dev", NULL }, *const opt[] = { "/opt/tool", NULL },
				 *const via_link[] = { "/toollink/prog", NULL },
				 *const via_sbin[] = { "/sbinlink/prog", NULL };
	g_autofree char *msg = NULL;
	char p[4096];

	g_mkdir_with_parents(AT("usr/sbin"), 0755);
	g_file_set_contents(AT("usr/sbin/tool"), "#!/bin/sh\n", -1, NULL);
	chmod(p, 0755);
	g_file_set_contents(AT("usr/sbin/plain"), "text\n", -1, NULL);
	chmod(p, 0644);
	symlink("/usr/sbin/tool", AT("bin/tool-abs"));
	symlink("../usr/sbin/tool", AT("bin/tool-rel"));
	symlink("usr/sbin", AT("sbinlink"));
	symlink("opt/tool", AT("toollink"));
	symlink("loop2", AT("bin/loop1"));
	symlink("loop1", AT("bin/loop2"));

	ok(check_of(root, "tool", "/bin:/usr/sbin", NULL, &msg) == 0, "check: found through PATH");
	ok(check_of(root, "/bin/tool-abs", NULL, NULL, &msg) == 0 &&
		   check_of(root, "/bin/tool-rel", NULL, NULL, &msg) == 0 &&
		   check_of(root, "/sbinlink/tool", NULL, NULL, &msg) == 0,
	   "check: symlinks (absolute, relative, a directory's) resolve inside the rootfs");
	ok(check_of(root, "nothing", "/bin:/usr/sbin", NULL, &msg) < 0 &&
		   strcmp(msg,
			  "unable to start container process: exec: \"nothing\": executable file not found in $PATH") ==
			   0,
	   "check: missing from PATH: runc's words");
	ok(check_of(root, "plain", "/usr/sbin", NULL, &msg) < 0 && strstr(msg, "executable file not found in $PATH"),
	   "check: found in PATH but not executable: not found, as Go's LookPath");
	ok(check_of(root, "/usr/sbin/plain", NULL, NULL, &msg) < 0 &&
		   strcmp(msg, "unable to start container process: exec: \"/usr/sbin/plain\": permission denied") == 0,
	   "check: a path to a file without execute bits: permission denied");
	ok(check_of(root, "/usr/sbin", NULL, NULL, &msg) < 0 && strstr(msg, "permission denied"),
	   "check: a directory: permission denied");
	ok(check_of(root, "/no/such", NULL, NULL, &msg) < 0 &&
		   strcmp(msg,
			  "unable to start container process: exec: \"/no/such\": stat /no/such: no such file or "
			  "directory") == 0,
	   "check: a missing path: Go's stat wording");
	ok(check_of(root, "/usr/sbin/plain/x", NULL, NULL, &msg) < 0 &&
		   strstr(msg, "stat /usr/sbin/plain/x: not a directory"),
	   "check: a path through a file: not a directory");
	ok(check_of(root, "/dev/x", NULL, dev, &msg) == 0 && check_of(root, "x", "/dev", dev, &msg) == 0,
	   "check: under a mount's destination: left to the guest");
	ok(check_of(root, "/opt/tool/prog", NULL, opt, &msg) == 0,
	   "check: in a directory the rootfs lacks but a mount point is made under: left to the guest");
	ok(check_of(root, "/usr/sbin/prog", NULL, via_sbin, &msg) == 0 &&
		   check_of(root, "/opt/tool/prog", NULL, via_link, &msg) == 0,
	   "check: a mount whose destination goes through a symlink sits where the symlink leads");
	ok(check_of(root, "/bin/loop1", NULL, NULL, &msg) == 0, "check: a symlink loop: left to the guest");
	ok(check_of(root, "/usr/sbin/", NULL, NULL, &msg) == 0, "check: a trailing slash: left to the guest");
	ok(check_of(root, "a\"b\n", "/bin", NULL, &msg) < 0 && strstr(msg, "exec: \"a\\\"b\\n\": executable"),
	   "check: the name quoted as Go quotes it");
	ok(check_of(root, "tool", NULL, NULL, &msg) < 0 && strstr(msg, "executable file not found in $PATH"),
	   "check: no PATH: not found, as runc (its init's environment is process.env alone)");
	snprintf(p, sizeof(p), "%s/nonexistent-root", root);
	ok(check_of(p, "nothing", "/bin", NULL, &msg) == 0, "check: a rootfs that cannot be opened: left to create");
}

int main(void)
{
	g_autofree char *root = g_dir_make_tmp("runvm-arch-XXXXXX", NULL);
	g_autofree char *outside = g_dir_make_tmp("runvm-arch-out-XXXXXX", NULL);
	const int host = rv_arch_host(), other = host == RV_ARCH_X86_64 ? RV_ARCH_AARCH64 : RV_ARCH_X86_64;
	const char *why = NULL;
	char p[4096];

	g_mkdir_with_parents(AT("bin"), 0755);
	g_mkdir_with_parents(AT("usr/local/bin"), 0755);
	elf(AT("bin/busybox"), EM_AARCH64);
	elf(AT("bin/amd"), EM_X86_64);
	elf(AT("bin/riscv"), EM_RISCV);
	symlink("/bin/busybox", AT("bin/sh"));              /* absolute: inside the rootfs */
	symlink("../../../../../../bin/amd", AT("bin/up")); /* climbs, stays at the rootfs's / */
	g_file_set_contents(AT("bin/script"), "#!/bin/sh\necho hi\n", -1, NULL);
	snprintf(p, sizeof(p), "%s/prog", outside);
	elf(p, EM_AARCH64);
	symlink(p, AT("bin/escape")); /* points out of the rootfs */

	ok(rt_elf_arch(root, "/bin/busybox") == RV_ARCH_AARCH64, "aarch64 ELF");
	ok(rt_elf_arch(root, "/bin/amd") == RV_ARCH_X86_64, "x86_64 ELF");
	ok(rt_elf_arch(root, "/bin/riscv") == -1, "an architecture runvm has no guest for");
	ok(rt_elf_arch(root, "/bin/sh") == RV_ARCH_AARCH64, "an absolute symlink resolves inside the rootfs");
	ok(rt_elf_arch(root, "/bin/up") == RV_ARCH_X86_64, "`..` beyond the rootfs stays at its root");
	ok(rt_elf_arch(root, "/bin/escape") == -1, "a symlink to a host path is not followed out");
	ok(rt_elf_arch(root, "/bin/script") == -1 && rt_elf_arch(root, "/nope") == -1,
	   "a script, a missing file: none");

	/* Not a regular file: never opened for reading, so nothing blocks and no driver runs (a
	 * hang here ends the test by SIGALRM). */
	alarm(20);
	ok(mkfifo(AT("bin/fifo"), 0755) == 0 && rt_elf_arch(root, "/bin/fifo") == -1 &&
		   arch_of(root, "fifo", "/bin", NULL, NULL, &why) == host && strstr(why, "host"),
	   "a FIFO is not read (no writer, no hang): the host's");
	if (geteuid() == 0) {
		ok(mknod(AT("bin/null"), S_IFCHR | 0755, makedev(1, 3)) == 0 && rt_elf_arch(root, "/bin/null") == -1 &&
			   arch_of(root, "null", "/bin", NULL, NULL, &why) == host,
		   "a character device is not opened: the host's");
	} else {
		printf("ok %d - # SKIP a character device needs root to create\n", ++tap_n);
	}
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		g_strlcpy(sa.sun_path, AT("bin/sock"), sizeof(sa.sun_path));
		ok(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 && rt_elf_arch(root, "/bin/sock") == -1,
		   "a socket is not an ELF program");
		close(s);
	}
	symlink("/bin/fifo", AT("bin/tofifo"));
	ok(rt_elf_arch(root, "/bin/tofifo") == -1, "a symlink to a FIFO: not read either");
	alarm(0);

	ok(arch_of(root, "sh", "/usr/local/bin:/bin", NULL, NULL, &why) == RV_ARCH_AARCH64 && strstr(why, "program"),
	   "args[0] found through PATH");
	ok(arch_of(root, "/bin/amd", NULL, NULL, NULL, &why) == RV_ARCH_X86_64, "an absolute args[0]");
	ok(arch_of(root, "script", "/bin", NULL, NULL, &why) == host && strstr(why, "host"), "a script: the host's");
	ok(arch_of(root, "nothing", "/bin", NULL, NULL, &why) == host, "not found: the host's");
	ok(arch_of(root, "sh", "/bin", rv_arch_name(other), NULL, &why) == other && strstr(why, "annotation"),
	   "the io.runvm.arch annotation wins");
	ok(arch_of(root, "sh", "/bin", NULL, "x86_64", &why) == RV_ARCH_X86_64 && strstr(why, "configuration"),
	   "then the configuration's arch");
	ok(arch_of(root, "sh", "/bin", "arm64", NULL, &why) == RV_ARCH_AARCH64, "Debian's name arm64");
	ok(arch_of(root, "sh", "/bin", "sparc", NULL, &why) == -2, "an unknown annotation is an error");
	program_checks(root);

	snprintf(p, sizeof(p), "rm -rf '%s' '%s'", root, outside);
	return system(p) == 0 ? tap_done() : 1;
}
