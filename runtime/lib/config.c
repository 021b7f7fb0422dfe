/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "runtime/lib/config.h"
#include "base/error.h"

#ifndef RUNVM_DATADIR
#define RUNVM_DATADIR "/usr/local/share/runvm"
#endif

void rt_config_free(struct rt_config *c)
{
	if (!c)
		return;
	g_free(c->path);
	g_free(c->backend);
	g_free(c->accel);
	g_free(c->arch);
	g_free(c->kernel);
	g_free(c->initrd);
	for (int a = 0; a < _RV_ARCH_MAX; a++) {
		g_free(c->foreign_kernel[a]);
		g_free(c->foreign_initrd[a]);
		g_free(c->qemu_foreign_binary[a]);
	}
	g_free(c->kernel_cmdline);
	g_free(c->qemu_binary);
	g_free(c->qemu_microvm_binary);
	g_free(c);
}
typedef struct rt_config rt_config;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(rt_config, rt_config_free)

enum key_kind { KEY_STR, KEY_UINT, KEY_BOOL };
struct key_desc {
	const char *group, *name;
	enum key_kind kind;
	size_t offset;
	unsigned min, max;
};

#define STR(g, n, f) { g, n, KEY_STR, offsetof(struct rt_config, f), 0, 0 }
#define UINT(g, n, f, lo, hi) { g, n, KEY_UINT, offsetof(struct rt_config, f), lo, hi }
#define BOOL(g, n, f) { g, n, KEY_BOOL, offsetof(struct rt_config, f), 0, 0 }
static const struct key_desc keys[] = {
	STR("runvm", "backend", backend),
	STR("runvm", "accel", accel),
	STR("runvm", "arch", arch),
	STR("runvm", "kernel", kernel),
	STR("runvm", "initrd", initrd),
	STR("runvm", "kernel_x86_64", foreign_kernel[RV_ARCH_X86_64]),
	STR("runvm", "initrd_x86_64", foreign_initrd[RV_ARCH_X86_64]),
	STR("runvm", "kernel_aarch64", foreign_kernel[RV_ARCH_AARCH64]),
	STR("runvm", "initrd_aarch64", foreign_initrd[RV_ARCH_AARCH64]),
	STR("runvm", "kernel_cmdline", kernel_cmdline),
	UINT("runvm", "vcpus", vcpus, 1, 256),
	UINT("runvm", "memory_mib", memory_mib, 64, 1u << 20),
	UINT("runvm", "boot_timeout_s", boot_timeout_s, 1, 3600),
	STR("qemu", "binary", qemu_binary),
	STR("qemu", "microvm_binary", qemu_microvm_binary),
	STR("qemu", "binary_x86_64", qemu_foreign_binary[RV_ARCH_X86_64]),
	STR("qemu", "binary_aarch64", qemu_foreign_binary[RV_ARCH_AARCH64]),
	BOOL("kvm", "huge_pages", kvm_huge_pages),
};

static struct rt_config *config_defaults(void)
{
	struct rt_config *c = g_new0(struct rt_config, 1);

	c->backend = g_strdup("auto");
	c->accel = g_strdup("auto");
	c->arch = g_strdup("auto");
	c->kernel = g_strdup(RUNVM_DATADIR "/vmlinux");
	c->initrd = g_strdup(RUNVM_DATADIR "/initramfs.cpio");
	c->foreign_kernel[RV_ARCH_X86_64] = g_strdup(RUNVM_DATADIR "/x86_64/vmlinux");
	c->foreign_initrd[RV_ARCH_X86_64] = g_strdup(RUNVM_DATADIR "/x86_64/initramfs.cpio");
	c->foreign_kernel[RV_ARCH_AARCH64] = g_strdup(RUNVM_DATADIR "/aarch64/Image");
	c->foreign_initrd[RV_ARCH_AARCH64] = g_strdup(RUNVM_DATADIR "/aarch64/initramfs.cpio");
	c->kernel_cmdline = g_strdup("");
	c->vcpus = 1;
	c->memory_mib = 256;
	/* TCG boots in about 1.5 s here; the margin covers a loaded CI machine. */
	c->boot_timeout_s = 60;
	c->qemu_binary = g_strdup(rv_arch_host() == RV_ARCH_AARCH64 ? "qemu-system-aarch64" : "qemu-system-x86_64");
	c->qemu_foreign_binary[RV_ARCH_X86_64] = g_strdup("qemu-system-x86_64");
	c->qemu_foreign_binary[RV_ARCH_AARCH64] = g_strdup("qemu-system-aarch64");
	/* Unset: Debian's slim qemu-system-x86_64-microvm has no virtio-9p-device, which the
	 * rootfs share needs, so KVM uses the full binary too. */
	c->qemu_microvm_binary = g_strdup("");
	c->kvm_huge_pages = true;
	return c;
}

static const struct key_desc *find_key(const char *group, const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].group, group) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

int rt_config_parse(const char *data, const char *origin, struct rt_config **ret, struct rt_error **err)
{
	g_autoptr(rt_config) c = config_defaults();
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) gerr = NULL;
	g_auto(GStrv) groups = NULL;

	if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, &gerr))
		return rt_make_error(err, 0, "config `%s`: %s", origin, gerr->message);
	groups = g_key_file_get_groups(kf, NULL);
	/* Reject what we do not know: a typo should not silently fall back to a default. */
	for (char **g = groups; *g; g++) {
		g_auto(GStrv) names = g_key_file_get_keys(kf, *g, NULL, NULL);

		for (char **n = names; n && *n; n++) {
			const struct key_desc *k = find_key(*g, *n);
			g_autofree char *v = NULL;
			char *end;

			if (!k)
				return rt_make_error(err, 0, "config `%s`: unknown key `%s` in group [%s]", origin, *n, *g);
			v = g_key_file_get_string(kf, *g, *n, NULL);
			g_strstrip(v);
			if (k->kind == KEY_STR) {
				char **field = G_STRUCT_MEMBER_P(c, k->offset);

				g_free(*field);
				*field = g_steal_pointer(&v);
				continue;
			}
			if (k->kind == KEY_BOOL) {
				if (strcmp(v, "true") && strcmp(v, "false"))
					return rt_make_error(err, 0, "config `%s`: [%s] %s must be true or false, not `%s`",
							     origin, *g, *n, v);
				G_STRUCT_MEMBER(bool, c, k->offset) = strcmp(v, "true") == 0;
				continue;
			}
			errno = 0;
			unsigned long u = strtoul(v, &end, 10);
			if (errno || end == v || *end || u < k->min || u > k->max)
				return rt_make_error(err, 0, "config `%s`: [%s] %s must be an integer in %u..%u, not `%s`",
						     origin, *g, *n, k->min, k->max, v);
			G_STRUCT_MEMBER(unsigned, c, k->offset) = (unsigned)u;
		}
	}
	if (strcmp(c->arch, "auto") && rv_arch_from_name(c->arch) < 0)
		return rt_make_error(err, 0, "config `%s`: [runvm] arch must be auto, x86_64 or aarch64, not `%s`", origin, c->arch);
	if (strcmp(c->accel, "auto") && strcmp(c->accel, "kvm") && strcmp(c->accel, "tcg"))
		return rt_make_error(err, 0, "config `%s`: [runvm] accel must be auto, kvm or tcg, not `%s`", origin, c->accel);
	c->path = g_strdup(origin);
	*ret = g_steal_pointer(&c);
	return 0;
}

int rt_config_load(struct rt_config **ret, struct rt_error **err)
{
	const char *env = getenv("RUNVM_CONFIG");
	const char *path = env && *env ? env : RT_CONFIG_DEFAULT_PATH;
	g_autofree char *data = NULL;
	g_autoptr(GError) gerr = NULL;

	if (!g_file_get_contents(path, &data, NULL, &gerr)) {
		if (!(env && *env) && g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			*ret = config_defaults();
			return 0;
		}
		return rt_make_error(err, 0, "cannot read config: %s", gerr->message);
	}
	return rt_config_parse(data, path, ret, err);
}
