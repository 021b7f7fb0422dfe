/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The runvm configuration file: defaults, overrides, and errors for what it does not know. */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/error.h"
#include "kvm/kvm-backend.h"
#include "qemu-lite/qemu-lite.h"
#include "runtime/lib/config.h"

#include "tests/unit/tap.h"

static void expect_error(const char *data, const char *needle)
{
	struct rt_config *c = NULL;
	struct rt_error *err = NULL;
	int r = rt_config_parse(data, "test.conf", &c, &err);

	ok(r < 0 && err && strstr(err->msg, needle), "error mentions `%s`: %s", needle, err ? err->msg : "no error");
	rt_error_free(&err);
	rt_config_free(c);
}

/* The settings the kvm and qemu backends parsed from their groups. */
static const struct kvm_settings *kvm_of(const struct rt_config *c)
{
	return rt_config_backend_settings(c, &hv_kvm_ops);
}

static const struct qemu_settings *qemu_of(const struct rt_config *c)
{
	return rt_config_backend_settings(c, &hv_qemu_lite_ops);
}

int main(void)
{
	struct rt_config *c = NULL;
	struct rt_error *err = NULL;

	ok(rt_config_parse("", "empty", &c, &err) == 0 && c->vcpus == 1 && c->memory_mib == 256 &&
		   strcmp(c->backend, "auto") == 0 && kvm_of(c)->huge_pages,
	   "empty file gives the defaults");
	rt_config_free(c);
	ok(rt_config_parse("[runvm]\nbackend = qemu\nvcpus = 2\nmemory_mib=512\nkernel=/k\n[qemu]\nbinary=/q\n"
			   "[kvm]\nhuge_pages = false\n",
			   "t", &c, &err) == 0 &&
		   strcmp(c->backend, "qemu") == 0 && c->vcpus == 2 && c->memory_mib == 512 && !kvm_of(c)->huge_pages &&
		   strcmp(c->kernel, "/k") == 0 && strcmp(qemu_of(c)->binary, "/q") == 0,
	   "values override the defaults");
	rt_config_free(c);

	expect_error("[runvm]\nvcpu = 2\n", "unknown key `vcpu`");
	expect_error("[kvm]\nhuge_pages = yes\n", "must be true or false");
	expect_error("[nope]\nx = 1\n", "[nope]");
	expect_error("[runvm]\nvcpus = 0\n", "vcpus");
	expect_error("[runvm]\nmemory_mib = lots\n", "memory_mib");
	expect_error("[runvm]\naccel = hvf\n", "accel");
	expect_error("not a key file", "test.conf");
	expect_error("[runvm]\narch = sparc\n", "arch");
	/* A backend's group is the backend's to judge, in the same words as [runvm]. */
	expect_error("[qemu]\nbinry = /q\n", "config `test.conf`: unknown key `binry` in group [qemu]");
	expect_error("[kvm]\nhuge_page = true\n", "config `test.conf`: unknown key `huge_page` in group [kvm]");
	expect_error("[runvm]\nbinary = /q\n", "unknown key `binary` in group [runvm]");
	expect_error("[kvm]\nhuge_pages = yes\n",
		     "config `test.conf`: [kvm] huge_pages must be true or false, not `yes`");

	ok(rt_config_parse("[kvm]\nhuge_pages = false\n", "t", &c, &err) == 0 && !kvm_of(c)->huge_pages &&
		   strcmp(qemu_of(c)->microvm_binary, "") == 0,
	   "[kvm] huge_pages parses; [qemu] keeps its defaults");
	rt_config_free(c);
	ok(rt_config_parse("[qemu]\nmicrovm_binary = /m\nbinary_aarch64 = /a\n[kvm]\n", "t", &c, &err) == 0 &&
		   kvm_of(c)->huge_pages && strcmp(qemu_of(c)->microvm_binary, "/m") == 0 &&
		   strcmp(qemu_of(c)->foreign_binary[RV_ARCH_AARCH64], "/a") == 0,
	   "[qemu] keys reach the qemu backend's settings; an empty [kvm] keeps its defaults");
	rt_config_free(c);

	/* Every key configs/runvm.conf documents is one runvm knows, with a valid default. */
	{
		g_autofree char *dir = g_path_get_dirname(__FILE__);
		g_autofree char *path = g_build_filename(dir, "../../configs/runvm.conf", NULL);
		g_autofree char *doc = NULL;
		g_autoptr(GRegex) re = g_regex_new("^#([a-z_0-9]+ =)", G_REGEX_MULTILINE, 0, NULL);
		g_autofree char *active = NULL;

		ok(g_file_get_contents(path, &doc, NULL, NULL), "configs/runvm.conf is readable");
		active = g_regex_replace(re, doc ? doc : "", -1, 0, "\\1", 0, NULL);
		ok(active && strstr(active, "\nbinary_aarch64 =") && rt_config_parse(active, path, &c, &err) == 0 &&
			   strcmp(c->arch, "auto") == 0 &&
			   strcmp(c->foreign_kernel[RV_ARCH_AARCH64], "/usr/local/share/runvm/aarch64/Image") == 0,
		   "configs/runvm.conf with every documented key set parses");
		rt_config_free(c);
		c = NULL;
	}

	setenv("RUNVM_CONFIG", "/nonexistent/runvm.conf", 1);
	ok(rt_config_load(&c, &err) < 0 && err, "an explicit config file that is missing is an error");
	rt_error_free(&err);
	return tap_done();
}
