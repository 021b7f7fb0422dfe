/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest and host architectures, as every layer names them. */
#ifndef RUNVM_BASE_ARCH_H
#define RUNVM_BASE_ARCH_H

enum rv_arch { RV_ARCH_X86_64, RV_ARCH_AARCH64, _RV_ARCH_MAX };

/* The kernel's spelling: "x86_64", "aarch64". */
const char *rv_arch_name(enum rv_arch arch);
/* "x86_64"/"amd64", "aarch64"/"arm64" (kernel, Debian and OCI spellings); -1 for others. */
int rv_arch_from_name(const char *name);

/* The architecture runvm itself was built for: the host's. */
static inline enum rv_arch rv_arch_host(void)
{
#if defined(__aarch64__)
	return RV_ARCH_AARCH64;
#else
	return RV_ARCH_X86_64;
#endif
}

#endif
