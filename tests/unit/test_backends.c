/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The driver interface as the runtime sees it, without booting a guest: every backend fills
 * what the contract asks for, and the qemu backend's launch, stats and stop work on a stand-in
 * QEMU (a script that sleeps), and leave nothing behind when the binary cannot run.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "base/error.h"
#include "hypervisor-backends/jail.h"
#include "kvm/vmm.h"
#include "hypervisor-backends/registry.h"
#include "qemu-lite/qemu-lite.h"
#include "tests/unit/tap.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* How a child that loaded the jail's filter and then ran @forbidden (or nothing: 0) ended. */
static int filtered_child(unsigned flags, long forbidden)
{
	struct rt_error *err = NULL;
	uint8_t *bpf = NULL;
	size_t len = 0;
	int st = -1;
	pid_t pid;

	if (hv_jail_seccomp_bpf(flags, &bpf, &len, &err) < 0) {
		ok(0, "jail: the filter compiles: %s", err->msg);
		rt_error_free(&err);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		if (hv_jail_seccomp_load(bpf, len) < 0)
			_exit(2);
		if (forbidden == SYS_execve)
			execl("/bin/true", "true", (char *)NULL);
		else if (forbidden)
			/* umount2 of nothing, unshare(0): harmless had the filter let them pass. */
			syscall(forbidden, forbidden == SYS_umount2 ? (long)"/nonexistent" : 0L, 0L);
		_exit(0);
	}
	g_free(bpf);
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return st;
}

static void test_seccomp(void)
{
	int st;

	st = filtered_child(0, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "jail: a thread under the filter runs what it allows");
	st = filtered_child(0, SYS_umount2);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "jail: umount2 under the filter kills the process (SIGSYS)");
	st = filtered_child(0, SYS_unshare);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "jail: unshare under the filter kills the process (SIGSYS)");
	st = filtered_child(0, SYS_execve);
	ok(WIFEXITED(st), "jail: exec passes the VMM's filter (QEMU's -sandbox denies it)");
	st = filtered_child(HV_JAIL_DENY_EXEC, SYS_execve);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "jail: exec under HV_JAIL_DENY_EXEC kills the process");
}

/* Enter a jail that binds @dir only (and the system's files): what it sees from inside. */
static void test_enter(const char *dir)
{
	g_autofree char *inside = g_build_filename(dir, "inside", NULL);
	g_autofree char *outside = g_strdup_printf("%s-outside", dir);
	g_autofree char *parent = g_path_get_dirname(dir), *base = g_path_get_basename(dir);
	g_autofree char *rel_inside = g_build_filename(base, "inside", NULL);
	g_autofree char *cwd = g_get_current_dir();
	struct hv_jail j = { .uid = HV_JAIL_UID, .gid = HV_JAIL_GID, .keep = { CAP_DAC_OVERRIDE }, .n_keep = 1 };
	struct rt_error *err = NULL;
	int st = -1, r;
	pid_t pid;

	if (geteuid() != 0) {
		ok(1, "# SKIP jail: entering one needs root");
		return;
	}
	/* @dir given relative to its parent: the jail starts there. */
	r = chdir(parent) < 0 ? -1 : hv_jail_add(&j, base, HV_JAIL_NODEV, &err);
	if (chdir(cwd) < 0)
		r = -1;
	if (r < 0 || !g_file_set_contents(inside, "", 0, NULL) || !g_file_set_contents(outside, "", 0, NULL) ||
	    hv_jail_add_system(&j, &err) < 0 || hv_jail_finish(&j, &err) < 0) {
		ok(0, "jail: described: %s", err ? err->msg : "setup");
		rt_error_free(&err);
		hv_jail_clear(&j);
		return;
	}
	pid = (pid_t)syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		struct hv_jail_failure f = { 0 };
		int bad = 0;

		if (hv_jail_enter(&j, &f) < 0)
			_exit(100);
		/* One bit per expectation that fails: the exit status says which. */
		bad |= access(inside, F_OK) != 0 || access(rel_inside, F_OK) != 0;
		bad |= (access(outside, F_OK) == 0) << 1;
		bad |= (access("/etc/passwd", F_OK) == 0) << 2;
		bad |= (access("/usr/bin/true", X_OK) != 0) << 3;
		bad |= (getuid() != HV_JAIL_UID) << 4;
		bad |= (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) << 5;
		bad |= (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0 ||
			prctl(PR_CAPBSET_READ, CAP_DAC_OVERRIDE, 0, 0, 0) != 1)
			<< 6;
		bad |= (mkdir("/new", 0755) == 0 || errno != EROFS) << 7;
		_exit(bad);
	}
	hv_jail_clear(&j);
	if (pid > 0)
		waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "jail: inside, only its paths (a relative one too) and the system's, read-only root, uid nobody, "
	   "no_new_privs, "
	   "bounding set cut (status %d)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
	g_unlink(inside);
	g_unlink(outside);
}

/* A path nested in a bound one through a symbolic link there (a share the guest wrote to):
 * the jail refuses to follow it out of its root. */
static void test_nested_symlink(const char *dir)
{
	g_autofree char *share = g_build_filename(dir, "share", NULL);
	g_autofree char *link = g_build_filename(share, "link", NULL);
	g_autofree char *file = g_build_filename(dir, "target", NULL);
	g_autofree char *nested = g_build_filename(link, "target", NULL);
	struct hv_jail j = { .uid = HV_JAIL_UID, .gid = HV_JAIL_GID };
	struct rt_error *err = NULL;
	int st = -1;
	pid_t pid;

	if (geteuid() != 0) {
		ok(1, "# SKIP jail: entering one needs root");
		return;
	}
	if (g_mkdir(share, 0755) < 0 || symlink(dir, link) < 0 || !g_file_set_contents(file, "", 0, NULL) ||
	    hv_jail_add(&j, share, 0, &err) < 0 || hv_jail_add(&j, nested, 0, &err) < 0 ||
	    hv_jail_finish(&j, &err) < 0) {
		ok(0, "jail: described: %s", err ? err->msg : "setup");
		rt_error_free(&err);
	} else {
		pid = (pid_t)syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, NULL);
		if (pid == 0) {
			struct hv_jail_failure f = { 0 };

			_exit(hv_jail_enter(&j, &f) == -ELOOP && strstr(f.what, "mount point") ? 0 : 1);
		}
		if (pid > 0)
			waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "jail: a path through a symbolic link inside a bound one is refused (ELOOP)");
	}
	hv_jail_clear(&j);
	g_unlink(link);
	g_unlink(file);
	g_rmdir(share);
}

/* How many of this process's threads run under a seccomp filter, and whether this one does. */
static int filtered_threads(bool *ret_self)
{
	g_autoptr(GDir) d = g_dir_open("/proc/self/task", 0, NULL);
	g_autofree char *self = g_strdup_printf("%d", (int)gettid());
	const char *tid;
	int n = 0;

	*ret_self = false;
	while (d && (tid = g_dir_read_name(d))) {
		g_autofree char *path = g_strdup_printf("/proc/self/task/%s/status", tid);
		g_autofree char *text = NULL;
		bool on;

		if (!g_file_get_contents(path, &text, NULL, NULL))
			continue;
		on = strstr(text, "\nSeccomp:\t2\n") != NULL;
		n += on;
		if (!strcmp(tid, self))
			*ret_self = on;
	}
	return n;
}

/* Start a one-vCPU VM without a guest (its vCPU ends at once, a KVM internal error here) whose
 * threads load @bpf; how many threads ran filtered while the I/O thread lived, whether this
 * one did, and why the VM ended. */
static bool kvm_threads(const uint8_t *bpf, size_t len, int *ret_n, bool *ret_self, char *reason, size_t size)
{
	struct rt_error *err = NULL;
	struct vmm *vm = NULL;
	const char *why = "";
	int n = 0;

	if (vmm_new(1, 16, false, -1, -1, &vm, &err) < 0 ||
	    (vmm_set_thread_filter(vm, bpf, len), vmm_start(vm, &err)) < 0) {
		ok(0, "kvm: a VM for the thread filter: %s", err->msg);
		rt_error_free(&err);
		vmm_free(vm);
		return false;
	}
	for (int i = 0; i < 200 && (n = filtered_threads(ret_self)) < 1; i++)
		g_usleep(5000);
	for (int i = 0; i < 200 && !vmm_ended(vm, NULL, &why); i++)
		g_usleep(5000);
	g_strlcpy(reason, why, size);
	vmm_free(vm);
	*ret_n = n;
	return true;
}

/* The kvm backend's VMM threads load the filter for themselves at their start; the thread that
 * started them, the monitor's, stays as it was. */
static void test_kvm_threads(void)
{
	static const uint8_t broken[8] = { 0 };
	struct rt_error *err = NULL;
	uint8_t *bpf = NULL;
	char reason[256];
	size_t len = 0;
	bool self = true;
	int n = 0;

	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		ok(1, "# SKIP kvm: no /dev/kvm");
		return;
	}
	if (hv_jail_seccomp_bpf(HV_JAIL_DENY_EXEC, &bpf, &len, &err) < 0) {
		ok(0, "kvm: the threads' filter compiles: %s", err->msg);
		rt_error_free(&err);
		return;
	}
	/* The I/O thread lives until the vCPU's end wakes it: a few tries to see it on a busy host. */
	for (int i = 0; i < 5 && n < 1; i++)
		if (!kvm_threads(bpf, len, &n, &self, reason, sizeof(reason)))
			break;
	ok(n >= 1 && !self, "kvm: the I/O thread runs filtered (%d threads), the monitor's thread does not", n);
	g_free(bpf);
	/* A filter the kernel refuses (a program without a return): the threads say so and end the VM. */
	if (kvm_threads(broken, sizeof(broken), &n, &self, reason, sizeof(reason)))
		ok(n == 0 && strstr(reason, "load the seccomp filter"),
		   "kvm: a thread that cannot load it ends the VM: %s", reason);
}

int main(void)
{
	g_autofree char *dir = g_dir_make_tmp("runvm-backends-XXXXXX", NULL);
	g_autofree char *fake = g_build_filename(dir, "fake-qemu", NULL);
	g_autofree char *log = g_build_filename(dir, "console.log", NULL);
	g_autofree char *kernel = g_build_filename(dir, "vmlinux", NULL);
	g_autofree char *initrd = g_build_filename(dir, "initrd", NULL);
	struct qemu_settings qs = { .binary = fake, .microvm_binary = "", .foreign_binary = { fake, fake } };
	struct hv_vm_config cfg = {
		.arch = rv_arch_host(),
		.accel = HV_ACCEL_TCG,
		.vcpus = 1,
		.memory_mib = 300,
		.kernel = kernel,
		.initrd = initrd,
		.agent = { .kind = HV_ENDPOINT_FD, .fd = -1 },
		.console_log = log,
	};
	const struct hv_backend_ops *q = &hv_qemu_lite_ops;
	struct rt_error *err = NULL;
	struct hv_vm_stats st = { 0 };
	struct hv_vm *vm = NULL;
	int sp[2], fds, r, status = -1;

	for (size_t i = 0; hv_backends[i]; i++) {
		const struct hv_backend_ops *o = hv_backends[i];

		ok(o->name && o->parse_config && o->free_config && o->probe && o->launch && o->exit_fd && o->wait &&
			   o->stop && o->stats && o->destroy && o->host_overhead_mib > 0,
		   "%s: every mandatory hook and the host overhead are there", o->name);
		ok(!(o->features & HV_FEAT_PAUSE) == !(o->pause && o->resume), "%s: pause hooks match HV_FEAT_PAUSE",
		   o->name);
	}

	/* The stand-in is PID 1 of its pid namespace (the jail's), which a signal it has no handler
	 * for does not end: it handles SIGTERM as QEMU does. The jail binds what it names. */
	if (!dir ||
	    !g_file_set_contents(fake, "#!/bin/sh\ntrap 'exit 143' TERM\necho ready >&2\nsleep 30 & wait\n", -1,
				 NULL) ||
	    g_chmod(fake, 0755) < 0 || !g_file_set_contents(kernel, "", 0, NULL) ||
	    !g_file_set_contents(initrd, "", 0, NULL) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return ok(0, "test setup"), tap_done();
	cfg.agent.fd = sp[1];

	r = q->launch(&qs, &cfg, &vm, &err);
	ok(r == 0 && vm, "qemu: launch runs the configured binary%s%s", err ? ": " : "", err ? err->msg : "");
	rt_error_free(&err);
	if (vm) {
		/* Its stderr is the console log: "ready" once it handles SIGTERM
		 * (and has a resident set: a process in the middle of its exec has none). */
		for (int i = 0; i < 500; i++) {
			g_autofree char *text = NULL;

			if (g_file_get_contents(log, &text, NULL, NULL) && strstr(text, "ready"))
				break;
			g_usleep(10000);
		}
		r = q->stats(vm, &st, &err);
		ok(r == 0 && st.host_rss_bytes > 0 && st.guest_ram_bytes == 300ULL << 20,
		   "qemu: stats read the QEMU process (%llu KiB resident) and the guest's RAM",
		   st.host_rss_bytes >> 10);
		rt_error_free(&err);
		ok(q->wait(vm, 0, &status, &err) == 0, "qemu: wait times out while it runs");
		r = q->stop(vm, 2000, &err) == 0 && q->wait(vm, 0, &status, &err) == 1;
		ok(r && status == 128 + SIGTERM, "qemu: stop ends it with SIGTERM (status %d)", status);
		ok(q->stats(vm, &st, &err) < 0 && err && err->status == ESRCH, "qemu: no stats once the VM has ended");
		rt_error_free(&err);
		q->destroy(vm);
		vm = NULL;
	}

	/* A binary that cannot run: launch fails and leaves no process and the fds as they were. */
	qs.binary = qs.foreign_binary[0] = qs.foreign_binary[1] = "/nonexistent/qemu-system";
	fds = count_fds();
	r = q->launch(&qs, &cfg, &vm, &err);
	ok(r < 0 && err && strstr(err->msg, "/nonexistent/qemu-system") && !vm,
	   "qemu: a binary that cannot run fails launch: %s", err ? err->msg : "no error");
	rt_error_free(&err);
	ok(count_fds() == fds, "qemu: a failed launch leaves the fds as they were");
	ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "qemu: a failed launch leaves no process");

	{
		struct hv_nic nics[9] = { 0 };

		cfg.nics = nics;
		cfg.n_nics = G_N_ELEMENTS(nics);
		r = q->launch(&qs, &cfg, &vm, &err);
		ok(r < 0 && err && strstr(err->msg, "NICs") && !vm, "qemu: more NICs than it can pass are refused: %s",
		   err ? err->msg : "no error");
		rt_error_free(&err);
	}

	close(sp[0]);
	close(sp[1]);
	test_seccomp();
	test_enter(dir);
	test_nested_symlink(dir);
	test_kvm_threads();
	g_unlink(fake);
	g_unlink(log);
	g_unlink(kernel);
	g_unlink(initrd);
	g_rmdir(dir);
	return tap_done();
}
