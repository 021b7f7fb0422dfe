/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * x86_64 guest layout and the PVH boot structures of kvm/x86.c (which implements kvm/arch.h).
 *
 * PVH direct boot (xen/include/public/arch-x86/hvm/start_info.h, Linux's
 * arch/x86/platform/pvh/): vmlinux names its 32-bit entry in an ELF note
 * (XEN_ELFNOTE_PHYS32_ENTRY); the VMM loads the PT_LOAD segments at their physical addresses
 * and enters there in flat 32-bit protected mode, paging off, with EBX = the guest-physical
 * address of struct hvm_start_info, which points at the command line, the modules (the first
 * one is the initrd) and the memory map.
 *
 * Guest-physical layout:
 *   0x00500  GDT (null, code 0x08, data 0x10, TSS 0x18)
 *   0x06000  hvm_start_info, then the module list and the memory map
 *   0x20000  kernel command line
 *   0x9fc00  - 0x100000 reserved (EBDA and BIOS area by PC convention)
 *   0xf0000  MP table (Linux scans 0xf0000-0xfffff for it)
 *   1 MiB    RAM; vmlinux at its own physical addresses (16 MiB), initrd at the top of the
 *            RAM below the hole (at most 3 GiB, VMM_RAM_LOW_MAX)
 *   3.25 GiB VMM_MMIO_BASE (virtio-mmio), 0xfec00000 IOAPIC, 0xfee00000 LAPIC
 *   4 GiB    the rest of RAM, if any (VMM_RAM_HIGH_BASE)
 */
#ifndef RUNVM_KVM_X86_H
#define RUNVM_KVM_X86_H

#include <stdint.h>

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

#define X86_UART_PORT 0x3f8
#define X86_UART_IRQ 4
/* IOAPIC pins the MP table routes (KVM's in-kernel IOAPIC has 24). */
#define X86_IOAPIC_PINS 24

/* --- PVH (start_info.h, version 1) ------------------------------------------------------ */

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578u
#define XEN_HVM_MEMMAP_TYPE_RAM 1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry layout");

/* --- Intel MultiProcessor Specification 1.4 ---------------------------------------------- */

struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;  /* the configuration table */
	uint8_t length;    /* in 16-byte units: 1 */
	uint8_t specification; /* 4 */
	uint8_t checksum;
	uint8_t feature1;  /* 0: a configuration table follows */
	uint8_t feature2;  /* bit 7 IMCR: 0, virtual wire mode */
	uint8_t feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* of the base table, entries included */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount; /* number of entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

enum { MP_PROCESSOR = 0, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_IRQ_INT = 0, MP_IRQ_NMI, MP_IRQ_SMI, MP_IRQ_EXTINT };
#define MP_CPU_ENABLED 1
#define MP_CPU_BOOTPROCESSOR 2
#define MP_APIC_USABLE 1

struct mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature;  /* CPUID 1 EAX: family, model, stepping */
	uint32_t featureflag; /* CPUID 1 EDX */
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

/* MP_INTSRC and MP_LINTSRC */
struct mpc_intsrc {
	uint8_t type, irqtype;
	uint16_t irqflag; /* 0: polarity and trigger conform to the bus (ISA: edge, high) */
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16 && sizeof(struct mpc_table) == 44 && sizeof(struct mpc_cpu) == 20 &&
		       sizeof(struct mpc_bus) == 8 && sizeof(struct mpc_ioapic) == 8 && sizeof(struct mpc_intsrc) == 8,
	       "MP table layout");

#endif
