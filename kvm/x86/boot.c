/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PVH direct boot of vmlinux on x86_64 (kvm/x86/boot.h), and the MP table that lets the guest
 * find its CPUs and IOAPIC without ACPI.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "kvm/arch.h"
#include "kvm/x86/boot.h"
#include "kvm/x86/layout.h"

#define X86_CR0_PE 0x1ULL
#define X86_CR0_ET 0x10ULL

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The PVH entry in a PT_NOTE segment's notes, or 0. */
static uint64_t pvh_entry(const uint8_t *p, size_t len)
{
	while (len >= 12) {
		uint32_t namesz, descsz, type;
		size_t name_pad, desc_pad;

		memcpy(&namesz, p, 4);
		memcpy(&descsz, p + 4, 4);
		memcpy(&type, p + 8, 4);
		name_pad = ((size_t)namesz + 3) & ~(size_t)3;
		desc_pad = ((size_t)descsz + 3) & ~(size_t)3;
		if (name_pad > len - 12 || desc_pad > len - 12 - name_pad)
			return 0;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(p + 12, "Xen", 4) == 0) {
			const uint8_t *d = p + 12 + name_pad;
			uint32_t e32;
			uint64_t e64;

			/* Linux writes it as a .quad on x86_64 (_ASM_PTR), Xen's spec as 32 bits. */
			if (descsz == 4) {
				memcpy(&e32, d, 4);
				return e32;
			}
			if (descsz == 8) {
				memcpy(&e64, d, 8);
				return e64;
			}
			return 0;
		}
		p += 12 + name_pad + desc_pad;
		len -= 12 + name_pad + desc_pad;
	}
	return 0;
}

/* Load vmlinux's segments at their physical addresses; returns the PVH entry and the end of
 * the highest segment. */
static int load_elf(struct vmm *vm, const char *path, uint64_t *ret_entry, uint64_t *ret_end, struct rt_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	g_autofree Elf64_Phdr *ph = NULL;
	uint64_t entry = 0, end = 0;
	struct stat st;
	Elf64_Ehdr eh;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return rt_make_error(err, errno, "open kernel `%s`", path);
	r = pread_full(fd, &eh, sizeof(eh), 0);
	if (r < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return rt_make_error(err, 0, "kernel `%s` is not an x86_64 ELF vmlinux", path);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64)
		return rt_make_error(err, 0, "kernel `%s`: unexpected ELF program headers", path);
	ph = g_new(Elf64_Phdr, eh.e_phnum);
	r = pread_full(fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff);
	if (r < 0)
		return rt_make_error(err, -r, "read the program headers of `%s`", path);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type == PT_LOAD) {
			void *dst = vmm_guest_ptr(vm, p->p_paddr, p->p_memsz);

			/* Below 1 MiB live the boot structures; the rest of RAM starts zeroed, so
			 * the part beyond p_filesz (bss) needs no clearing. */
			if (p->p_offset > (uint64_t)st.st_size || p->p_filesz > (uint64_t)st.st_size - p->p_offset)
				return rt_make_error(
					err, 0, "kernel `%s` is truncated: a segment ends past the end of the file",
					path);
			if (!dst || p->p_paddr < X86_HIMEM_START || p->p_filesz > p->p_memsz)
				return rt_make_error(
					err, 0,
					"kernel `%s`: segment at 0x%llx (%llu bytes) does not fit in %llu MiB of guest RAM",
					path, (unsigned long long)p->p_paddr, (unsigned long long)p->p_memsz,
					(unsigned long long)(vmm_ram_slot(vm, 0)->size >> 20));
			r = pread_full(fd, dst, p->p_filesz, p->p_offset);
			if (r < 0)
				return rt_make_error(err, -r, "read kernel `%s`", path);
			end = MAX(end, p->p_paddr + p->p_memsz);
		} else if (p->p_type == PT_NOTE && !entry && p->p_filesz <= 65536) {
			g_autofree uint8_t *notes = g_malloc(p->p_filesz);

			r = pread_full(fd, notes, p->p_filesz, p->p_offset);
			if (r < 0)
				return rt_make_error(err, -r, "read kernel `%s`", path);
			entry = pvh_entry(notes, p->p_filesz);
		}
	}
	if (!entry)
		return rt_make_error(
			err, 0, "kernel `%s` has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY; CONFIG_PVH=y)", path);
	if (entry >= end || entry < X86_HIMEM_START)
		return rt_make_error(err, 0, "kernel `%s`: PVH entry 0x%llx is outside its segments", path,
				     (unsigned long long)entry);
	*ret_entry = entry;
	*ret_end = end;
	return 0;
}

/* The initrd at the top of RAM, page-aligned, above the kernel. */
static int load_initrd(struct vmm *vm, const char *path, uint64_t kernel_end, uint64_t *ret_addr, uint64_t *ret_size,
		       struct rt_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t ram = vmm_ram_slot(vm, 0)->size, addr, size;
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return rt_make_error(err, errno, "open initrd `%s`", path);
	size = (uint64_t)st.st_size;
	addr = (ram - MIN(size, ram)) & ~0xfffULL;
	if (size == 0 || size > ram || addr < ((kernel_end + 0xfff) & ~0xfffULL))
		return rt_make_error(err, 0, "initrd `%s` (%llu bytes) does not fit in guest RAM above the kernel",
				     path, (unsigned long long)size);
	r = pread_full(fd, vmm_guest_ptr(vm, addr, size), size, 0);
	if (r < 0)
		return rt_make_error(err, -r, "read initrd `%s`", path);
	*ret_addr = addr;
	*ret_size = size;
	return 0;
}

static uint8_t checksum(const void *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += ((const uint8_t *)p)[i];
	return (uint8_t)-sum;
}

/* The MP table: every vCPU (APIC id = vCPU id, 0 boots), one ISA bus, the IOAPIC, each IOAPIC
 * pin routed to the ISA IRQ of the same number (KVM's default GSI routing is the identity: the
 * PIT is GSI 0 on pin 0, the UART pin 4, virtio-mmio devices X86_VIRTIO_MMIO_IRQ_BASE up), and the
 * LAPICs' LINT0 as ExtINT (the PIC), LINT1 as NMI. Linux reads it without ACPI. */
static void write_mptable(struct vmm *vm, uint32_t cpu_signature, uint32_t cpu_features)
{
	unsigned ncpus = vmm_nr_vcpus(vm);
	size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) + ncpus * sizeof(struct mpc_cpu) +
		sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) + (X86_IOAPIC_PINS + 2) * sizeof(struct mpc_intsrc);
	uint8_t *base = vmm_guest_ptr(vm, X86_MPTABLE_ADDR, size), *p;
	struct mpf_intel *mpf = (struct mpf_intel *)base;
	struct mpc_table *mpc = (struct mpc_table *)(mpf + 1);
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t count = 0;

	memset(base, 0, size);
	p = (uint8_t *)(mpc + 1);
	for (unsigned i = 0; i < ncpus; i++, count++, p += sizeof(struct mpc_cpu))
		*(struct mpc_cpu *)p = (struct mpc_cpu){
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = 0x14, /* KVM's LAPIC */
			.cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BOOTPROCESSOR : 0),
			.cpufeature = cpu_signature,
			.featureflag = cpu_features,
		};
	*(struct mpc_bus *)p = (struct mpc_bus){ .type = MP_BUS, .busid = 0, .bustype = "ISA   " };
	p += sizeof(struct mpc_bus), count++;
	*(struct mpc_ioapic *)p = (struct mpc_ioapic){
		.type = MP_IOAPIC,
		.apicid = ioapic_id,
		.apicver = 0x11, /* KVM's IOAPIC */
		.flags = MP_APIC_USABLE,
		.apicaddr = (uint32_t)X86_IOAPIC_ADDR,
	};
	p += sizeof(struct mpc_ioapic), count++;
	for (uint8_t pin = 0; pin < X86_IOAPIC_PINS; pin++, count++, p += sizeof(struct mpc_intsrc))
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
			.type = MP_INTSRC,
			.irqtype = MP_IRQ_INT,
			.srcbus = 0,
			.srcbusirq = pin,
			.dstapic = ioapic_id,
			.dstirq = pin,
		};
	*(struct mpc_intsrc *)p = (struct mpc_intsrc){
		.type = MP_LINTSRC, .irqtype = MP_IRQ_EXTINT, .dstapic = 0xff, .dstirq = 0
	};
	p += sizeof(struct mpc_intsrc), count++;
	*(struct mpc_intsrc *)p = (struct mpc_intsrc){
		.type = MP_LINTSRC, .irqtype = MP_IRQ_NMI, .dstapic = 0xff, .dstirq = 1
	};
	p += sizeof(struct mpc_intsrc), count++;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "RUNVM   ", 8);
	memcpy(mpc->productid, "RUNVM KVM   ", 12);
	mpc->oemcount = count;
	mpc->lapic = (uint32_t)X86_LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(X86_MPTABLE_ADDR + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
}

/* The PVH entry state (start_info.h, "Start of day"): 32-bit protected mode, paging off, flat
 * 4 GiB code and data segments, a valid TR, EFLAGS.IF clear, EBX = start_info. The GDT in
 * memory matches the loaded segments, though Linux loads its own at once. */
static int set_boot_cpu(struct vmm *vm, uint64_t entry, struct rt_error **err)
{
	static const uint64_t gdt[] = {
		0, 0x00cf9b000000ffffULL, /* 0x08: code, base 0, limit 4 GiB, 32-bit, read/execute */
		0x00cf93000000ffffULL,    /* 0x10: data, base 0, limit 4 GiB, read/write */
		0x00008b0000000067ULL,    /* 0x18: TSS, base 0, limit 0x67, 32-bit busy */
	};
	struct kvm_segment code = { .base = 0,
				    .limit = 0xffffffff,
				    .selector = 0x08,
				    .type = 0xb,
				    .present = 1,
				    .dpl = 0,
				    .db = 1,
				    .s = 1,
				    .l = 0,
				    .g = 1 };
	struct kvm_segment data = code;
	struct kvm_segment tr = { .base = 0, .limit = 0x67, .selector = 0x18, .type = 0xb, .present = 1 };
	struct kvm_regs regs = { .rflags = 0x2, .rip = entry, .rbx = X86_START_INFO_ADDR };
	int fd = vmm_vcpu_fd(vm, 0);
	struct kvm_sregs sregs;

	memcpy(vmm_guest_ptr(vm, X86_GDT_ADDR, sizeof(gdt)), gdt, sizeof(gdt));
	data.selector = 0x10;
	data.type = 0x3;
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return rt_make_error(err, errno, "KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tr;
	sregs.gdt.base = X86_GDT_ADDR;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return rt_make_error(err, errno, "KVM_SET_SREGS");
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return rt_make_error(err, errno, "KVM_SET_REGS");
	/* The other vCPUs stay as KVM created them, waiting for the INIT-SIPI that Linux sends. */
	return 0;
}

int x86_boot_load(struct vmm *vm, uint32_t cpu_signature, uint32_t cpu_features, const char *kernel, const char *initrd,
		  const char *cmdline, struct rt_error **err)
{
	const struct vmm_ram_slot *high_slot = vmm_ram_slot(vm, 1);
	size_t cmdline_len = strlen(cmdline);
	uint64_t ram = vmm_ram_slot(vm, 0)->size, high = high_slot ? high_slot->size : 0, entry = 0, kernel_end = 0,
		 initrd_addr = 0, initrd_size = 0;
	struct hvm_start_info *si;
	struct hvm_memmap_table_entry *mm;
	unsigned n = 0;
	int r;

	if (cmdline_len >= X86_CMDLINE_MAX)
		return rt_make_error(err, 0, "the kernel command line is %zu bytes, x86 Linux takes at most %d",
				     cmdline_len, X86_CMDLINE_MAX - 1);
	if (ram <= X86_HIMEM_START)
		return rt_make_error(err, 0, "guest RAM too small to boot a kernel");
	r = load_elf(vm, kernel, &entry, &kernel_end, err);
	if (r < 0)
		return r;
	if (initrd) {
		r = load_initrd(vm, initrd, kernel_end, &initrd_addr, &initrd_size, err);
		if (r < 0)
			return r;
	}
	memcpy(vmm_guest_ptr(vm, X86_CMDLINE_ADDR, cmdline_len + 1), cmdline, cmdline_len + 1);

	/* RAM except the EBDA/BIOS hole below 1 MiB, which holds the MP table. Linux adds the
	 * ISA range 0xa0000-0x100000 as reserved itself. */
	mm = vmm_guest_ptr(vm, X86_MEMMAP_ADDR, X86_MEMMAP_MAX * sizeof(*mm));
	mm[n++] = (struct hvm_memmap_table_entry){ .addr = 0, .size = X86_EBDA_START, .type = XEN_HVM_MEMMAP_TYPE_RAM };
	mm[n++] = (struct hvm_memmap_table_entry){ .addr = X86_EBDA_START,
						   .size = X86_HIMEM_START - X86_EBDA_START,
						   .type = XEN_HVM_MEMMAP_TYPE_RESERVED };
	mm[n++] = (struct hvm_memmap_table_entry){ .addr = X86_HIMEM_START,
						   .size = ram - X86_HIMEM_START,
						   .type = XEN_HVM_MEMMAP_TYPE_RAM };
	if (high)
		mm[n++] = (struct hvm_memmap_table_entry){ .addr = high_slot->gpa,
							   .size = high,
							   .type = XEN_HVM_MEMMAP_TYPE_RAM };

	si = vmm_guest_ptr(vm, X86_START_INFO_ADDR, sizeof(*si));
	*si = (struct hvm_start_info){
		.magic = XEN_HVM_START_MAGIC_VALUE,
		.version = 1,
		.cmdline_paddr = X86_CMDLINE_ADDR,
		.memmap_paddr = X86_MEMMAP_ADDR,
		.memmap_entries = n,
	};
	if (initrd) {
		/* The first module is the initrd (Linux's init_pvh_bootparams). */
		*(struct hvm_modlist_entry *)vmm_guest_ptr(vm, X86_MODLIST_ADDR, sizeof(struct hvm_modlist_entry)) =
			(struct hvm_modlist_entry){ .paddr = initrd_addr, .size = initrd_size };
		si->nr_modules = 1;
		si->modlist_paddr = X86_MODLIST_ADDR;
	}
	write_mptable(vm, cpu_signature, cpu_features);
	rt_debug("kvm: vmlinux entry 0x%llx, end 0x%llx, initrd 0x%llx+%llu, cmdline: %s", (unsigned long long)entry,
		 (unsigned long long)kernel_end, (unsigned long long)initrd_addr, (unsigned long long)initrd_size,
		 cmdline);
	return set_boot_cpu(vm, entry, err);
}
