/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include <glib.h>

#include "kvm/kvm-backend.h"
#include "qemu-lite/qemu-lite.h"
#include "base/error.h"
#include "hypervisor-backends/registry.h"

/* In the order `auto` tries them: our own VMM where KVM runs standard guests (it passes the
 * integration suite in the nested host VM), else QEMU (KVM, or TCG: other architectures,
 * PVM hosts, no /dev/kvm). */
const struct hv_backend_ops *const hv_backends[] = {
	&hv_kvm_ops,
	&hv_qemu_lite_ops,
	NULL,
};

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

const struct hv_backend_ops *hv_backend_find(const char *name)
{
	for (size_t i = 0; hv_backends[i]; i++)
		if (strcmp(hv_backends[i]->name, name) == 0)
			return hv_backends[i];
	return NULL;
}

int hv_backend_select(const struct hv_host_caps *caps, const char *name, const char *accel, enum rv_arch arch,
		      const char *const binaries[2], const struct hv_backend_ops **ret_ops,
		      struct hv_probe_result *ret_probe, struct rt_error **err)
{
	g_autoptr(GString) reasons = g_string_new(NULL);
	enum hv_accel want;

	if (hv_accel_parse(accel, &want) < 0)
		return rt_make_error(err, 0, "unknown accelerator `%s` (known: auto, kvm, tcg)", accel);
	if (strcmp(name, "auto") != 0) {
		const struct hv_backend_ops *ops = hv_backend_find(name);
		struct hv_probe_result pr = { 0 };

		if (!ops) {
			g_autoptr(GString) known = g_string_new(NULL);

			for (size_t i = 0; hv_backends[i]; i++)
				g_string_append_printf(known, "%s%s", i ? ", " : "", hv_backends[i]->name);
			return rt_make_error(err, 0, "unknown backend `%s` (known: %s)", name, known->str);
		}
		if (ops->probe(caps, arch, want, binaries, &pr, err) < 0)
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

		if (hv_backends[i]->probe(caps, arch, want, binaries, &pr, err) < 0)
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
