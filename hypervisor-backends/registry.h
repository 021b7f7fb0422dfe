/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The static list of backends and the choice among them. */
#ifndef RUNVM_REGISTRY_H
#define RUNVM_REGISTRY_H

#include "hypervisor-backends/backend.h"

/* NULL-terminated, in order of preference for automatic selection. */
extern const struct hv_backend_ops *const hv_backends[];
/* How many there are (arrays parallel to hv_backends[] have this size). */
size_t hv_backend_count(void);

/* The backend called @name, or NULL; and its index in hv_backends[], or -1. */
const struct hv_backend_ops *hv_backend_find(const char *name);
int hv_backend_index(const char *name);

/*
 * Choose a backend for a guest of @arch: @name ("auto" or a backend name) and @accel
 * ("auto", "kvm", "tcg") come from the command line or configuration; @settings holds each
 * backend's parsed settings, parallel to hv_backends[]. Fails with the probe's reason when the
 * named backend cannot run here, and with every backend's reason when none can.
 */
int hv_backend_select(const struct hv_host_caps *caps, const char *name, const char *accel, enum rv_arch arch,
		      void *const settings[], const struct hv_backend_ops **ret_ops, struct hv_probe_result *ret_probe,
		      struct rt_error **err);

int hv_accel_parse(const char *s, enum hv_accel *ret);

#endif
