/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VM templates for the kvm backend (template.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "hypervisor-backends/template-store.h"
#include "kvm/arch.h"
#include "kvm/template.h"

/* The shape a key covers, in words: what vm_setup (kvm-backend.c) makes of the VM, device by
 * device in the order it adds them, and the host kernel whose KVM holds the vCPU and platform
 * state. The hypervisor is runvm itself: its VMM writes and reads the records. */
static struct hv_template_shape shape_of(const struct hv_vm_config *cfg, GPtrArray *words, char **ret_binary)
{
	struct utsname u;

	uname(&u);
	g_ptr_array_set_free_func(words, g_free);
	g_ptr_array_add(words, g_strdup_printf("arch %s", rv_arch_name(cfg->arch)));
	g_ptr_array_add(words, g_strdup_printf("host %s %s", u.release, u.machine));
	g_ptr_array_add(words, g_strdup_printf("vcpus %u memory %u", cfg->vcpus, cfg->memory_mib));
	g_ptr_array_add(words, g_strdup_printf("cmdline %s %s", vmm_arch_cmdline(), cfg->cmdline ? cfg->cmdline : ""));
	g_ptr_array_add(words, g_strdup("console"));
	for (size_t i = 0; i < cfg->n_shares; i++)
		g_ptr_array_add(words, g_strdup_printf("9p %s", cfg->shares[i].tag));
	for (size_t i = 0; i < cfg->n_nics; i++)
		g_ptr_array_add(words, g_strdup("net"));
	g_ptr_array_add(words, g_strdup("rng"));
	g_ptr_array_add(words, NULL);
	*ret_binary = g_file_read_link("/proc/self/exe", NULL);
	return (struct hv_template_shape){ .shape = (const char *const *)words->pdata, .hypervisor = *ret_binary };
}

static int boot(const void *ctx, const struct hv_vm_config *t, const char *build, struct hv_vm **ret_vm,
		struct rt_error **err)
{
	g_autofree char *state_path = g_build_filename(build, "state", NULL);
	g_autofree char *memory_path = g_build_filename(build, "memory", NULL);
	_cleanup_close_ int state_fd = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	_cleanup_close_ int memory_fd = open(memory_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	struct kvm_launch how = { .save_state_fd = state_fd, .save_memory_fd = memory_fd, .memory_fd = -1 };

	if (state_fd < 0 || memory_fd < 0)
		return rt_make_error(err, errno, "create the template's files in `%s`", build);
	/* The VMM process has its own copies of both. */
	return kvm_launch(ctx, t, &how, ret_vm, err);
}

static int save(const void *ctx, struct hv_vm *vm, const char *build, long long deadline, struct rt_error **err)
{
	(void)ctx;
	(void)build;
	return kvm_save(vm, deadline, err);
}

static int restore(const void *ctx, const struct hv_vm_config *cfg, const char *key, const struct hv_template_files *f,
		   struct hv_vm **ret_vm, struct rt_error **err)
{
	g_autofree char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, f->state, f->state_len);
	struct kvm_launch how = { .save_state_fd = -1, .save_memory_fd = -1, .memory_fd = f->memory_fd };
	struct rt_error *local = NULL;

	/* The state is small: checked whole before any of it is used. The memory is checked by
	 * its identity (template-store.h). */
	if (f->memory_fd < 0 || strcmp(sha, f->state_sha256) != 0)
		return 0;
	how.state = f->state;
	how.state_len = f->state_len;
	if (kvm_launch(ctx, cfg, &how, ret_vm, &local) == 0)
		return 1;
	if (local->status != KVM_RESTORE_REFUSED) {
		*err = local;
		return -1;
	}
	rt_debug("template %s: %s", key, local->msg);
	rt_error_free(&local);
	return 0;
}

static const struct hv_template_backend kvm_templates = {
	.name = "kvm",
	.ops = &hv_kvm_ops,
	.boot = boot,
	.save = save,
	.restore = restore,
};

int kvm_template_make(const struct kvm_settings *s, const struct hv_vm_config *cfg, struct rt_error **err)
{
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	g_autofree char *binary = NULL;
	struct hv_template_shape shape = shape_of(cfg, words, &binary);

	return hv_template_make(&kvm_templates, s, &shape, cfg, err);
}

int kvm_template_restore(const struct kvm_settings *s, const struct hv_vm_config *cfg, struct hv_vm **ret_vm,
			 struct rt_error **err)
{
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	g_autofree char *binary = NULL;
	struct hv_template_shape shape = shape_of(cfg, words, &binary);

	return hv_template_restore(&kvm_templates, s, &shape, cfg, ret_vm, err);
}
