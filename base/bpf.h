/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A libseccomp filter as the classic BPF program the kernel loads: what the container's
 * seccomp profile compiles to (runtime/seccomp.c) and what the VMM jail loads
 * (hypervisor-backends/jail.c). */
#ifndef RUNVM_BASE_BPF_H
#define RUNVM_BASE_BPF_H

#include <stddef.h>
#include <stdint.h>

#include <seccomp.h>

struct rt_error;

/* Export @ctx into a g_malloc'ed program in *@ret_bpf of *@ret_len bytes (whole instructions,
 * at most @max_bytes). Returns 0, or < 0 with @err set. */
int rv_bpf_export(scmp_filter_ctx ctx, size_t max_bytes, uint8_t **ret_bpf, size_t *ret_len, struct rt_error **err);

#endif
