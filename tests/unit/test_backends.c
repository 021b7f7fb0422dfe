/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The driver interface as the runtime sees it, without booting a guest: every backend fills
 * what the contract asks for, and the qemu backend's launch, stats and stop work on a stand-in
 * QEMU (a script that sleeps), and leave nothing behind when the binary cannot run.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "base/error.h"
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

int main(void)
{
	g_autofree char *dir = g_dir_make_tmp("runvm-backends-XXXXXX", NULL);
	g_autofree char *fake = g_build_filename(dir, "fake-qemu", NULL);
	g_autofree char *log = g_build_filename(dir, "console.log", NULL);
	struct qemu_settings qs = { .binary = fake, .microvm_binary = "", .foreign_binary = { fake, fake } };
	struct hv_vm_config cfg = {
		.arch = rv_arch_host(),
		.accel = HV_ACCEL_TCG,
		.vcpus = 1,
		.memory_mib = 300,
		.kernel = "/k/vmlinux",
		.initrd = "/k/initrd",
		.agent = { .kind = HV_ENDPOINT_FD, .fd = -1 },
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

	if (!dir || !g_file_set_contents(fake, "#!/bin/sh\nexec sleep 30\n", -1, NULL) || g_chmod(fake, 0755) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return ok(0, "test setup"), tap_done();
	cfg.agent.fd = sp[1];

	r = q->launch(&qs, &cfg, &vm, &err);
	ok(r == 0 && vm, "qemu: launch runs the configured binary%s%s", err ? ": " : "", err ? err->msg : "");
	rt_error_free(&err);
	if (vm) {
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
	g_unlink(fake);
	g_unlink(log);
	g_rmdir(dir);
	return tap_done();
}
