/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "base/arch.h"

const char *rv_arch_name(enum rv_arch arch)
{
	return arch == RV_ARCH_AARCH64 ? "aarch64" : "x86_64";
}

int rv_arch_from_name(const char *name)
{
	if (strcmp(name, "x86_64") == 0 || strcmp(name, "amd64") == 0)
		return RV_ARCH_X86_64;
	if (strcmp(name, "aarch64") == 0 || strcmp(name, "arm64") == 0)
		return RV_ARCH_AARCH64;
	return -1;
}
