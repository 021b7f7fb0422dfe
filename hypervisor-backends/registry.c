/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include <glib.h>

#include "hypervisor-backends/libvirt/libvirt-backend.h"
#include "kvm/kvm-backend.h"
#include "qemu-lite/qemu-lite.h"
#include "base/error.h"
#include "hypervisor-backends/registry.h"

/* In the order `auto` tries them: our own VMM where KVM runs standard guests (it passes the
 * integration suite in the nested host VM), else QEMU (KVM, or TCG: other architectures,
 * PVM hosts, no /dev/kvm). libvirt is `manual`: auto passes it by. A new backend is one line
 * here. */
const struct hv_backend_ops *const hv_backends[] = {
	&hv_kvm_ops,
	&hv_qemu_lite_ops,
	&hv_libvirt_ops,
	NULL,
};

size_t hv_backend_count(void)
{
	size_t n = 0;

	while (hv_backends[n])
		n++;
	return n;
}

const char *hv_accel_name(enum hv_accel accel)
{
	static const char *const names[_HV_ACCEL_MAX] = { "auto", "kvm", "tcg" };

	return accel < _HV_ACCEL_MAX ? names[accel] : "?";
}

int hv_accel_parse(const char *s, enum hv_accel *ret)
{
	for (enum hv_accel a = 0; a < _HV_ACCEL_MAX; a++)
		if (strcmp(s, hv_accel_name(a)) == 0) {
			*ret = a;
			return 0;
		}
	return -1;
}

int hv_backend_index(const char *name)
{
	for (int i = 0; hv_backends[i]; i++)
		if (strcmp(hv_backends[i]->name, name) == 0)
			return i;
	return -1;
}

const struct hv_backend_ops *hv_backend_find(const char *name)
{
	int i = hv_backend_index(name);

	return i < 0 ? NULL : hv_backends[i];
}

int hv_backend_select(const struct hv_host_caps *caps, const char *name, const char *accel, enum rv_arch arch,
		      void *const settings[], const struct hv_backend_ops **ret_ops, struct hv_probe_result *ret_probe,
		      struct rt_error **err)
{
	g_autoptr(GString) reasons = g_string_new(NULL);
	enum hv_accel want;

	if (hv_accel_parse(accel, &want) < 0)
		return rt_make_error(err, 0, "unknown accelerator `%s` (known: auto, kvm, tcg)", accel);
	if (strcmp(name, "auto") != 0) {
		int i = hv_backend_index(name);
		const struct hv_backend_ops *ops = i < 0 ? NULL : hv_backends[i];
		struct hv_probe_result pr = { 0 };

		if (!ops) {
			g_autoptr(GString) known = g_string_new(NULL);

			for (size_t j = 0; hv_backends[j]; j++)
				g_string_append_printf(known, "%s%s", j ? ", " : "", hv_backends[j]->name);
			return rt_make_error(err, 0, "unknown backend `%s` (known: %s)", name, known->str);
		}
		if (ops->probe(settings[i], caps, arch, want, &pr, err) < 0)
			return -1;
		if (!pr.usable)
			return rt_make_error(err, 0, "backend `%s` cannot run a %s guest here: %s", name,
					     rv_arch_name(arch), pr.reason);
		*ret_ops = ops;
		*ret_probe = pr;
		return 0;
	}
	for (size_t i = 0; hv_backends[i]; i++) {
		struct hv_probe_result pr = { 0 };

		if (hv_backends[i]->manual)
			continue;
		if (hv_backends[i]->probe(settings[i], caps, arch, want, &pr, err) < 0)
			return -1;
		if (pr.usable) {
			*ret_ops = hv_backends[i];
			*ret_probe = pr;
			return 0;
		}
		g_string_append_printf(reasons, "; %s: %s", hv_backends[i]->name, pr.reason);
	}
	return rt_make_error(err, 0, "no backend can run a %s guest here%s", rv_arch_name(arch), reasons->str);
}
