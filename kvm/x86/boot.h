/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Booting vmlinux on x86_64 (kvm/x86/boot.c): the PVH loader, the boot structures and the MP
 * table, at the addresses of kvm/x86/layout.h.
 *
 * PVH direct boot (xen/include/public/arch-x86/hvm/start_info.h, Linux's
 * arch/x86/platform/pvh/): vmlinux names its 32-bit entry in an ELF note
 * (XEN_ELFNOTE_PHYS32_ENTRY); the VMM loads the PT_LOAD segments at their physical addresses
 * and enters there in flat 32-bit protected mode, paging off, with EBX = the guest-physical
 * address of struct hvm_start_info, which points at the command line, the modules (the first
 * one is the initrd) and the memory map.
 */
#ifndef RUNVM_KVM_X86_BOOT_H
#define RUNVM_KVM_X86_BOOT_H

#include <stdint.h>

struct rt_error;
struct vmm;

/* Load @kernel and @initrd (or NULL), write @cmdline, the memory map and the MP table (whose
 * CPU entries carry @cpu_signature and @cpu_features, CPUID 1 EAX and EDX), and set the boot
 * vCPU's PVH entry state. The hook vmm_arch_load() of kvm/arch.h. */
int x86_boot_load(struct vmm *vm, uint32_t cpu_signature, uint32_t cpu_features, const char *kernel, const char *initrd,
		  const char *cmdline, struct rt_error **err);

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
	char signature[4];     /* "_MP_" */
	uint32_t physptr;      /* the configuration table */
	uint8_t length;        /* in 16-byte units: 1 */
	uint8_t specification; /* 4 */
	uint8_t checksum;
	uint8_t feature1; /* 0: a configuration table follows */
	uint8_t feature2; /* bit 7 IMCR: 0, virtual wire mode */
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
