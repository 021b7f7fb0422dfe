/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The legacy PC devices of an x86 guest (kvm/x86/legacy.c): UART, i8042 reset, CMOS clock. In
 * kvm/x86/ rather than a shared hw/ folder because every one of them is an ISA device on port
 * I/O, which only x86 has; an arm64 port brings its own (a PL011 or an MMIO 16550, and PSCI for
 * the reset) where a shared folder starts to make sense.
 */
#ifndef RUNVM_KVM_X86_LEGACY_H
#define RUNVM_KVM_X86_LEGACY_H

struct vmm;
struct x86_legacy;

/* Create them and register their ports; the UART writes to vmm_console_fd(). *@ret is set
 * even on failure (-errno), for x86_legacy_free(). */
int x86_legacy_init(struct vmm *vm, struct x86_legacy **ret);
/* Flush the UART's last line and free. NULL-safe. After every vCPU has stopped. */
void x86_legacy_free(struct x86_legacy *l);

#endif
