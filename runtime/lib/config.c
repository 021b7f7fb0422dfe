/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/error.h"
#include "hypervisor-backends/registry.h"
#include "hypervisor-backends/settings.h"
#include "runtime/lib/config.h"
#include "tdx/confidential.h"

#ifndef RUNVM_DATADIR
#define RUNVM_DATADIR "/usr/local/share/runvm"
#endif

/* [runvm]; the backends read their own groups (struct hv_backend_ops.parse_config). */
#define STR(n, f) HV_KEY_STR(struct rt_config, n, f)
#define UINT(n, f, lo, hi) HV_KEY_UINT(struct rt_config, n, f, lo, hi)
static const struct hv_key keys[] = {
	STR("backend", backend),
	STR("accel", accel),
	STR("arch", arch),
	STR("kernel", kernel),
	STR("initrd", initrd),
	STR("kernel_x86_64", foreign_kernel[RV_ARCH_X86_64]),
	STR("initrd_x86_64", foreign_initrd[RV_ARCH_X86_64]),
	STR("kernel_aarch64", foreign_kernel[RV_ARCH_AARCH64]),
	STR("initrd_aarch64", foreign_initrd[RV_ARCH_AARCH64]),
	STR("kernel_cmdline", kernel_cmdline),
	UINT("vcpus", vcpus, 1, 256),
	UINT("memory_mib", memory_mib, 64, 1u << 20),
	UINT("boot_timeout_s", boot_timeout_s, 1, 3600),
	HV_KEY_BOOL(struct rt_config, "template", template),
	HV_KEY_BOOL(struct rt_config, "backend_annotation", backend_annotation),
	STR("template_dir", template_dir),
	STR("confidential", confidential),
	STR("rootfs", rootfs),
	STR("rootfs_cache", rootfs_cache),
	STR("firmware_sev", firmware[HV_CONFIDENTIAL_SEV]),
	STR("firmware_sev_snp", firmware[HV_CONFIDENTIAL_SEV_SNP]),
	STR("firmware_tdx", firmware[HV_CONFIDENTIAL_TDX]),
};
G_STATIC_ASSERT(_RT_CONFIDENTIAL_MODES == _HV_CONFIDENTIAL_MAX);

void rt_config_free(struct rt_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->backend_settings && hv_backends[i]; i++)
		hv_backends[i]->free_config(c->backend_settings[i]);
	g_free(c->backend_settings);
	hv_settings_clear(keys, G_N_ELEMENTS(keys), c);
	g_free(c->path);
	g_free(c);
}
typedef struct rt_config rt_config;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(rt_config, rt_config_free)

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
	c->template = true;
	c->template_dir = g_strdup(RT_TEMPLATE_DIR_DEFAULT);
	c->confidential = g_strdup("none");
	c->rootfs = g_strdup("share");
	c->rootfs_cache = g_strdup("/var/cache/runvm/rootfs");
	/* Neither Debian 12 nor 13 packages these edk2 builds (tdx/README.md): OvmfPkg/AmdSev's,
	 * which holds the kernel hash table, and OvmfPkg/IntelTdx's (TDVF), by the names of their
	 * upstream builds. */
	c->firmware[HV_CONFIDENTIAL_SEV] = g_strdup("/usr/share/ovmf/OVMF.amdsev.fd");
	c->firmware[HV_CONFIDENTIAL_SEV_SNP] = g_strdup("/usr/share/ovmf/OVMF.amdsev.fd");
	c->firmware[HV_CONFIDENTIAL_TDX] = g_strdup("/usr/share/ovmf/OVMF.inteltdx.fd");
	c->backend_settings = g_new0(void *, hv_backend_count());
	return c;
}

/* Group @name of @kf as plain data: the strings live in @strings. */
static int read_group(GKeyFile *kf, const char *name, GPtrArray *strings, struct hv_config_group *ret,
		      struct rt_error **err)
{
	g_auto(GStrv) names = g_key_file_get_keys(kf, name, NULL, NULL);
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	g_autoptr(GPtrArray) values = g_ptr_array_new();

	for (char **n = names; n && *n; n++) {
		g_autoptr(GError) gerr = NULL;
		char *v = g_key_file_get_string(kf, name, *n, &gerr);

		if (!v)
			return rt_make_error(err, 0, "[%s] %s: %s", name, *n, gerr->message);
		g_ptr_array_add(strings, g_strdup(*n));
		g_ptr_array_add(keys, strings->pdata[strings->len - 1]);
		g_ptr_array_add(strings, g_strstrip(v));
		g_ptr_array_add(values, v);
	}
	*ret = (struct hv_config_group){ .name = name, .n_keys = keys->len };
	ret->keys = (const char *const *)g_ptr_array_free(g_steal_pointer(&keys), FALSE);
	ret->values = (const char *const *)g_ptr_array_free(g_steal_pointer(&values), FALSE);
	return 0;
}

/* The group @name of @kf (NULL: none) to its owner: [runvm] here, a backend's to the backend. */
static int parse_group(struct rt_config *c, GKeyFile *kf, const char *name, struct rt_error **err)
{
	g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func(g_free);
	struct hv_config_group group = { .name = name };
	int i = hv_backend_index(name), r;

	if (kf && read_group(kf, name, strings, &group, err) < 0)
		return -1;
	if (strcmp(name, "runvm") == 0)
		r = hv_settings_apply(keys, G_N_ELEMENTS(keys), &group, c, err);
	else if (i < 0)
		r = group.n_keys ? rt_make_error(err, 0, "unknown key `%s` in group [%s]", group.keys[0], name) : 0;
	else
		r = hv_backends[i]->parse_config(&group, &c->backend_settings[i], err);
	g_free((gpointer)group.keys);
	g_free((gpointer)group.values);
	return r;
}

/* @kf (NULL: built-in defaults) as a configuration. */
static int parse_keyfile(GKeyFile *kf, const char *origin, struct rt_config **ret, struct rt_error **err)
{
	g_autoptr(rt_config) c = config_defaults();
	g_auto(GStrv) groups = kf ? g_key_file_get_groups(kf, NULL) : NULL;

	/* Each group in the file's order (GKeyFile merges a group given twice), then the backends'
	 * groups it lacks, with their defaults. Reject what no one knows: a typo should not
	 * silently fall back to a default. */
	for (char **g = groups; g && *g; g++)
		if (parse_group(c, kf, *g, err) < 0)
			return rt_error_wrap(err, "config `%s`", origin);
	for (size_t i = 0; hv_backends[i]; i++)
		if (!c->backend_settings[i] && parse_group(c, NULL, hv_backends[i]->name, err) < 0)
			return rt_error_wrap(err, "config `%s`", origin ? origin : "built-in defaults");
	if (strcmp(c->arch, "auto") && rv_arch_from_name(c->arch) < 0)
		return rt_make_error(err, 0, "config `%s`: [runvm] arch must be auto, x86_64 or aarch64, not `%s`",
				     origin, c->arch);
	if (strcmp(c->accel, "auto") && strcmp(c->accel, "kvm") && strcmp(c->accel, "tcg"))
		return rt_make_error(err, 0, "config `%s`: [runvm] accel must be auto, kvm or tcg, not `%s`", origin,
				     c->accel);
	if (cc_mode_parse(c->confidential, &(enum hv_confidential){ 0 }) < 0)
		return rt_make_error(
			err, 0, "config `%s`: [runvm] confidential must be none, sev, sev-snp, tdx or auto, not `%s`",
			origin, c->confidential);
	if (strcmp(c->rootfs, "share") && strcmp(c->rootfs, "block"))
		return rt_make_error(err, 0, "config `%s`: [runvm] rootfs must be share or block, not `%s`", origin,
				     c->rootfs);
	if (!g_path_is_absolute(c->rootfs_cache))
		return rt_make_error(err, 0, "config `%s`: [runvm] rootfs_cache must be an absolute path, not `%s`",
				     origin, c->rootfs_cache);
	if (!g_path_is_absolute(c->template_dir))
		return rt_make_error(err, 0, "config `%s`: [runvm] template_dir must be an absolute path, not `%s`",
				     origin, c->template_dir);
	c->path = g_strdup(origin);
	*ret = g_steal_pointer(&c);
	return 0;
}

int rt_config_parse(const char *data, const char *origin, struct rt_config **ret, struct rt_error **err)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) gerr = NULL;

	if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, &gerr))
		return rt_make_error(err, 0, "config `%s`: %s", origin, gerr->message);
	return parse_keyfile(kf, origin, ret, err);
}

const void *rt_config_backend_settings(const struct rt_config *c, const struct hv_backend_ops *ops)
{
	for (size_t i = 0; hv_backends[i]; i++)
		if (hv_backends[i] == ops)
			return c->backend_settings[i];
	return NULL;
}

/* --config: the process's one configuration file, set once by main() before any verb runs. */
static const char *config_path;

void rt_config_set_path(const char *path)
{
	config_path = path;
}

int rt_config_load(struct rt_config **ret, struct rt_error **err)
{
	const char *env = getenv("RUNVM_CONFIG");
	const char *named = config_path ? config_path : env && *env ? env : NULL;
	const char *path = named ? named : RT_CONFIG_DEFAULT_PATH;
	g_autofree char *data = NULL;
	g_autoptr(GError) gerr = NULL;

	if (!g_file_get_contents(path, &data, NULL, &gerr)) {
		if (!named && g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return parse_keyfile(NULL, NULL, ret, err);
		return rt_make_error(err, 0, "cannot read config: %s", gerr->message);
	}
	return rt_config_parse(data, path, ret, err);
}
