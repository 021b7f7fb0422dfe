/* SPDX-License-Identifier: GPL-2.0-or-later */
/* linux.seccomp from config.json compiled on the host, with libseccomp, into the classic BPF
 * program the guest agent installs: the agent needs no JSON or libseccomp of its own. */
#ifndef RUNVM_SECCOMP_H
#define RUNVM_SECCOMP_H

#include <stddef.h>
#include <stdint.h>

#include "base/arch.h"

struct rt_error;

/* Compile @json (an OCI LinuxSeccomp object) for a guest of @arch. *ret_bpf (g_free) holds
 * struct sock_filter[] of *ret_len bytes. */
int rt_seccomp_compile(const char *json, enum rv_arch arch, uint8_t **ret_bpf, size_t *ret_len, struct rt_error **err);

#endif
