/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The x86_64 guest-physical layout (Firecracker's arch/x86_64/layout.rs), which kvm/x86/layout.c
 * gives the core through the layout hooks of kvm/arch.h:
 *
 *   0x00500  GDT (null, code 0x08, data 0x10, TSS 0x18)
 *   0x06000  hvm_start_info, then the module list and the memory map
 *   0x20000  kernel command line
 *   0x9fc00  - 0x100000 reserved (EBDA and BIOS area by PC convention)
 *   0xf0000  MP table (Linux scans 0xf0000-0xfffff for it)
 *   1 MiB    RAM; vmlinux at its own physical addresses (16 MiB), initrd at the top of the
 *            RAM below the hole (at most 3 GiB, X86_RAM_LOW_MAX)
 *   3.25 GiB X86_VIRTIO_MMIO_BASE (virtio-mmio), 0xfec00000 IOAPIC, 0xfee00000 LAPIC
 *   4 GiB    the rest of RAM, if any (X86_RAM_HIGH_BASE)
 *
 * The virtio-mmio devices sit in the hole, one page each; their interrupts are GSIs from
 * X86_VIRTIO_MMIO_IRQ_BASE (IOAPIC pins, edge-triggered; KVM's default routing is the identity,
 * and the MP table routes pin n to ISA IRQ n). Pins 0-4 are the PIT, the keyboard's, the
 * cascade and the serial ports'.
 */
#ifndef RUNVM_KVM_X86_LAYOUT_H
#define RUNVM_KVM_X86_LAYOUT_H

#define X86_RAM_LOW_MAX (3ULL << 30)   /* RAM below the hole: up to 3 GiB */
#define X86_RAM_HIGH_BASE (4ULL << 30) /* the rest, from 4 GiB */
#define X86_VIRTIO_MMIO_BASE 0xd0000000ULL
#define X86_VIRTIO_MMIO_SIZE 0x1000ULL
#define X86_VIRTIO_MMIO_IRQ_BASE 5
#define X86_VIRTIO_MMIO_SLOTS 16
/* 8-bit xAPIC ids, and one id left for the IOAPIC. */
#define X86_MAX_VCPUS 254

#define X86_GDT_ADDR 0x500ULL
#define X86_START_INFO_ADDR 0x6000ULL
#define X86_MODLIST_ADDR 0x6040ULL
#define X86_MEMMAP_ADDR 0x6080ULL
#define X86_MEMMAP_MAX 8
#define X86_CMDLINE_ADDR 0x20000ULL
/* COMMAND_LINE_SIZE of x86 Linux, with its NUL. */
#define X86_CMDLINE_MAX 2048
#define X86_EBDA_START 0x9fc00ULL
#define X86_MPTABLE_ADDR 0xf0000ULL
#define X86_HIMEM_START 0x100000ULL
#define X86_IOAPIC_ADDR 0xfec00000ULL
#define X86_LAPIC_ADDR 0xfee00000ULL
/* Three pages KVM on Intel needs for its real-mode TSS and one for the identity map: below
 * 4 GiB, outside RAM and every MMIO region (QEMU's addresses). */
#define X86_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define X86_TSS_ADDR 0xfffbd000ULL

/* The legacy devices (kvm/x86/legacy.c): ISA ports and IRQs. */
#define X86_UART_PORT 0x3f8
#define X86_UART_IRQ 4
#define X86_I8042_DATA_PORT 0x60
#define X86_I8042_COMMAND_PORT 0x64
#define X86_CMOS_PORT 0x70
#define X86_PCI_CONFIG_PORT 0xcf8
/* IOAPIC pins the MP table routes (KVM's in-kernel IOAPIC has 24). */
#define X86_IOAPIC_PINS 24

#endif
